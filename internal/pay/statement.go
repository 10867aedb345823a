package pay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// ErrNoStatement is WeChat Pay's NO_STATEMENT_EXIST: a day without any
// payment or refund has no bill. Reconciliation treats it as an empty bill.
var ErrNoStatement = errors.New("pay: no statement for that day (no trade)")

// StatementLine is one line of a provider's trade bill: a payment (State
// SUCCESS, AmountFen paid) or a refund (State REFUND, RefundFen refunded,
// AmountFen 0).
type StatementLine struct {
	OutTradeNo    string
	TransactionID string
	State         State
	AmountFen     int64
	RefundFen     int64
	OutRefundNo   string
	RefundID      string
	At            time.Time // payment or refund time
}

const billTime = "2006-01-02 15:04:05"

// weChatBillHeader is the header of WeChat Pay's trade bill (bill_type ALL).
var weChatBillHeader = []string{
	"交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型", "交易状态",
	"付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态",
	"商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注",
}

var weChatBillSummary = []string{"总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"}

// billText keeps a free text from breaking the bill's fields.
func billText(s string) string {
	return strings.NewReplacer(",", "，", "`", "'", "\r", " ", "\n", " ").Replace(s)
}

// fee5 formats a fee in fen as yuan with five decimals, as WeChat's bill.
func fee5(fen int64) string { return Yuan(fen) + "000" }

// Statement returns the day's trade bill (bill_type ALL) as WeChat Pay
// publishes it — published at 10:00 Beijing time the next day
// (ErrStatementNotYet before; ErrNoStatement for a day without trades):
//
//   - UTF-8 CSV; the first line is the header (交易时间,公众账号ID,商户号,…);
//   - one line per payment made that day (交易状态 SUCCESS) and one per refund
//     that succeeded that day (交易状态 REFUND, 退款状态 SUCCESS); every field is
//     prefixed with a backtick (`2026-01-05 10:00:00,`wx…); free texts have
//     their commas replaced by full-width ones;
//   - amounts in yuan with two decimals, fees with five; on a refund line
//     应结订单金额 is 0.00 and 退款金额 is the refund, 订单金额 is the order's amount;
//   - then the line 总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
//     and a backtick-prefixed line with the totals over the lines above.
func (w *SandboxWeChat) Statement(ctx context.Context, day time.Time) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_, pays, refunds, err := w.statementRows(day, 10)
	if err != nil {
		return nil, err
	}
	if len(pays)+len(refunds) == 0 {
		return nil, ErrNoStatement
	}
	var b bytes.Buffer
	b.WriteString(strings.Join(weChatBillHeader, ",") + "\r\n")
	line := func(f []string) { b.WriteString("`" + strings.Join(f, ",`") + "\r\n") }
	var settle, refund, fees, total, asked int64
	for _, o := range pays {
		fee := (o.AmountFen*6 + 500) / 1000 // 0.6 %, rounded to the fen
		line([]string{
			o.PaidAt.In(dates.Beijing).Format(billTime), w.cfg.AppID, w.cfg.MchID, "0", "", o.TransactionID, o.OutTradeNo,
			openID(o.OutTradeNo), wxTradeType(o.Channel), string(StateSuccess), "OTHERS", "CNY", Yuan(o.AmountFen), "0.00", "0", "0",
			"0.00", "0.00", "", "", billText(o.Description), "", fee5(fee), "0.60%", Yuan(o.AmountFen), "0.00", "",
		})
		settle += o.AmountFen
		fees += fee
		total += o.AmountFen
	}
	for _, x := range refunds {
		r, o := x.r, x.o
		line([]string{
			r.SuccessAt.In(dates.Beijing).Format(billTime), w.cfg.AppID, w.cfg.MchID, "0", "", o.TransactionID, o.OutTradeNo,
			openID(o.OutTradeNo), wxTradeType(o.Channel), string(StateRefund), "OTHERS", "CNY", "0.00", "0.00", r.RefundID, r.OutRefundNo,
			Yuan(r.RefundFen), "0.00", "ORIGINAL", string(RefundSuccess), billText(o.Description), "", fee5(0), "0.60%", Yuan(o.AmountFen), Yuan(r.RefundFen), "",
		})
		refund += r.RefundFen
		asked += r.RefundFen
	}
	b.WriteString(strings.Join(weChatBillSummary, ",") + "\r\n")
	line([]string{strconv.Itoa(len(pays) + len(refunds)), Yuan(settle), Yuan(refund), "0.00", fee5(fees), Yuan(total), Yuan(asked)})
	return b.Bytes(), nil
}

// ParseStatement parses a WeChat Pay trade bill (see SandboxWeChat.Statement)
// and checks its lines against its totals line.
func ParseStatement(b []byte) ([]StatementLine, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	var col map[string]int
	var out []StatementLine
	var settle, refund int64
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			continue
		case col == nil:
			hdr := strings.Split(l, ",")
			col = map[string]int{}
			for j, h := range hdr {
				col[strings.TrimSpace(h)] = j
			}
			for _, need := range []string{"交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "微信退款单号", "商户退款单号", "退款金额"} {
				if _, ok := col[need]; !ok {
					return nil, fmt.Errorf("pay: statement header lacks %s", need)
				}
			}
		case strings.HasPrefix(l, "总交易单数"):
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "`") {
				return nil, errors.New("pay: statement totals line missing")
			}
			f := strings.Split(strings.TrimPrefix(lines[i+1], "`"), ",`")
			if len(f) < 3 {
				return nil, errors.New("pay: statement totals line too short")
			}
			n, err1 := strconv.Atoi(f[0])
			s, err2 := ParseYuan(f[1])
			r, err3 := ParseYuan(f[2])
			if err := errors.Join(err1, err2, err3); err != nil {
				return nil, fmt.Errorf("pay: statement totals: %w", err)
			}
			if n != len(out) || s != settle || r != refund {
				return nil, fmt.Errorf("pay: statement totals (%d lines, %s, %s) do not match its lines (%d, %s, %s)",
					n, Yuan(s), Yuan(r), len(out), Yuan(settle), Yuan(refund))
			}
			return out, nil
		case strings.HasPrefix(l, "`"):
			f := strings.Split(strings.TrimPrefix(l, "`"), ",`")
			if len(f) != len(col) {
				return nil, fmt.Errorf("pay: statement line %d has %d fields, the header %d", i+1, len(f), len(col))
			}
			get := func(name string) string { return strings.TrimSpace(f[col[name]]) }
			at, err := time.ParseInLocation(billTime, get("交易时间"), dates.Beijing)
			if err != nil {
				return nil, fmt.Errorf("pay: statement line %d: %w", i+1, err)
			}
			amt, err1 := ParseYuan(get("应结订单金额"))
			ref, err2 := ParseYuan(get("退款金额"))
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("pay: statement line %d: %w", i+1, err)
			}
			sl := StatementLine{
				OutTradeNo: get("商户订单号"), TransactionID: get("微信订单号"), State: State(get("交易状态")),
				AmountFen: amt, RefundFen: ref, At: at,
			}
			if sl.State == StateRefund {
				sl.OutRefundNo, sl.RefundID = get("商户退款单号"), get("微信退款单号")
			}
			settle += amt
			refund += ref
			out = append(out, sl)
		default:
			return nil, fmt.Errorf("pay: statement line %d is not a bill line", i+1)
		}
	}
	return nil, errors.New("pay: statement has no totals line (truncated?)")
}

// alipayBillHeader is the header of Alipay's business detail bill
// (业务明细, bill_type trade).
var alipayBillHeader = []string{
	"支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员", "终端号", "对方账户",
	"订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称",
	"商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
}

const alipayDay = "2006年01月02日 15:04:05"

// Statement returns the day's business detail bill as Alipay publishes it
// (alipay.data.dataservice.bill.downloadurl.query, bill_type trade), from
// 09:00 Beijing time the next day (ErrStatementNotYet before). Alipay
// serves it as a zip of CSV files; this is the detail file alone:
//
//   - GBK-encoded CSV; comment lines start with '#' (account, period,
//     start and end of the list, totals, export time);
//   - the header 支付宝交易号,商户订单号,业务类型,…; then one line per payment
//     (业务类型 交易, 商家实收 the amount) and per refund (业务类型 退款, 商家实收
//     minus the refund, 退款批次号/请求号 the out_request_no); each field is
//     followed by a tab, as Alipay does to keep spreadsheets from mangling
//     numbers;
//   - "#交易合计：N笔，商家实收共X元" and "#退款合计：M笔，商家实收退款共Y元".
//
// A day without trades gives a bill with no lines.
func (a *SandboxAlipay) Statement(ctx context.Context, day time.Time) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	from, pays, refunds, err := a.statementRows(day, 9)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	p("#支付宝业务明细查询")
	p("#账号：[%s]", a.cfg.MchID)
	p("#起始日期：[%s]   终止日期：[%s]", from.Format(alipayDay), from.AddDate(0, 0, 1).Format(alipayDay))
	p("#-----------------------------------------业务明细列表----------------------------------------")
	p("%s", strings.Join(alipayBillHeader, ","))
	line := func(f []string) { b.WriteString(strings.Join(f, "\t,") + "\t\r\n") }
	var paid, refunded int64
	for _, o := range pays {
		line([]string{o.TransactionID, o.OutTradeNo, "交易", billText(o.Description), o.CreatedAt.In(dates.Beijing).Format(billTime),
			o.PaidAt.In(dates.Beijing).Format(billTime), "", "", "", "", "sandbox_buyer@alipay.com", Yuan(o.AmountFen), Yuan(o.AmountFen),
			"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", Yuan(-((o.AmountFen*6 + 500) / 1000)), "0.00", ""})
		paid += o.AmountFen
	}
	for _, x := range refunds {
		r, o := x.r, x.o
		line([]string{o.TransactionID, o.OutTradeNo, "退款", billText(o.Description), r.CreatedAt.In(dates.Beijing).Format(billTime),
			r.SuccessAt.In(dates.Beijing).Format(billTime), "", "", "", "", "sandbox_buyer@alipay.com", Yuan(o.AmountFen), Yuan(-r.RefundFen),
			"0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", r.OutRefundNo, "0.00", "0.00", billText(r.Reason)})
		refunded += r.RefundFen
	}
	p("#-----------------------------------------业务明细列表结束------------------------------------")
	p("#交易合计：%d笔，商家实收共%s元，商家优惠共0.00元", len(pays), Yuan(paid))
	p("#退款合计：%d笔，商家实收退款共%s元，商家优惠退款共0.00元", len(refunds), Yuan(-refunded))
	p("#导出时间：[%s]", a.now().In(dates.Beijing).Format(alipayDay))
	out, _, err := transform.Bytes(simplifiedchinese.GBK.NewEncoder(), []byte(b.String()))
	return out, err
}

// ParseAlipayStatement parses an Alipay business detail bill (see
// SandboxAlipay.Statement) and checks it against its totals lines.
func ParseAlipayStatement(b []byte) ([]StatementLine, error) {
	utf, err := io.ReadAll(transform.NewReader(bytes.NewReader(b), simplifiedchinese.GBK.NewDecoder()))
	if err != nil {
		return nil, fmt.Errorf("pay: alipay statement is not GBK: %w", err)
	}
	var col map[string]int
	out := []StatementLine{}
	var paid, refunded int64
	var nPaid, nRefund int
	totals := 0
	for i, l := range strings.Split(strings.ReplaceAll(string(utf), "\r\n", "\n"), "\n") {
		switch {
		case strings.TrimSpace(l) == "":
		case strings.HasPrefix(l, "#交易合计："):
			var n int
			var y string
			if _, err := fmt.Sscanf(strings.TrimPrefix(l, "#交易合计："), "%d笔，商家实收共%s", &n, &y); err != nil {
				return nil, fmt.Errorf("pay: alipay statement totals: %v", err)
			}
			amt, err := ParseYuan(strings.SplitN(y, "元", 2)[0])
			if err != nil || n != nPaid || amt != paid {
				return nil, fmt.Errorf("pay: alipay statement payment totals (%d, %s) do not match its lines (%d, %s)", n, y, nPaid, Yuan(paid))
			}
			totals++
		case strings.HasPrefix(l, "#退款合计："):
			var n int
			var y string
			if _, err := fmt.Sscanf(strings.TrimPrefix(l, "#退款合计："), "%d笔，商家实收退款共%s", &n, &y); err != nil {
				return nil, fmt.Errorf("pay: alipay statement totals: %v", err)
			}
			amt, err := ParseYuan(strings.SplitN(y, "元", 2)[0])
			if err != nil || n != nRefund || -amt != refunded {
				return nil, fmt.Errorf("pay: alipay statement refund totals (%d, %s) do not match its lines (%d, %s)", n, y, nRefund, Yuan(-refunded))
			}
			totals++
		case strings.HasPrefix(l, "#"):
		case col == nil:
			col = map[string]int{}
			for j, h := range strings.Split(l, ",") {
				col[strings.TrimSpace(h)] = j
			}
			for _, need := range []string{"支付宝交易号", "商户订单号", "业务类型", "完成时间", "商家实收（元）", "退款批次号/请求号"} {
				if _, ok := col[need]; !ok {
					return nil, fmt.Errorf("pay: alipay statement header lacks %s", need)
				}
			}
		default:
			f := strings.Split(l, ",")
			if len(f) != len(col) {
				return nil, fmt.Errorf("pay: alipay statement line %d has %d fields, the header %d", i+1, len(f), len(col))
			}
			get := func(name string) string { return strings.TrimSpace(f[col[name]]) }
			at, err := time.ParseInLocation(billTime, get("完成时间"), dates.Beijing)
			if err != nil {
				return nil, fmt.Errorf("pay: alipay statement line %d: %w", i+1, err)
			}
			amt, err := ParseYuan(get("商家实收（元）"))
			if err != nil {
				return nil, fmt.Errorf("pay: alipay statement line %d: %w", i+1, err)
			}
			sl := StatementLine{OutTradeNo: get("商户订单号"), TransactionID: get("支付宝交易号"), At: at}
			switch get("业务类型") {
			case "交易":
				sl.State, sl.AmountFen = StateSuccess, amt
				paid += amt
				nPaid++
			case "退款":
				sl.State, sl.RefundFen, sl.OutRefundNo = StateRefund, -amt, get("退款批次号/请求号")
				refunded += -amt
				nRefund++
			default:
				return nil, fmt.Errorf("pay: alipay statement line %d: business type %q", i+1, get("业务类型"))
			}
			out = append(out, sl)
		}
	}
	if col == nil || totals != 2 {
		return nil, errors.New("pay: alipay statement has no header or totals (truncated?)")
	}
	return out, nil
}
