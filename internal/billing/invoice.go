package billing

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/signintech/gopdf"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

// CodePDFFont is the error code of a PDF the server cannot make for want
// of a CJK font (the same code as the prescription's and the report's).
const CodePDFFont = "pdf_font_missing"

// Invoice is the electronic bill for medical charges (医疗收费电子票据) of
// one paid payment: numbered per institution without gaps, the number
// taken in the transaction that records the payment. A refund that
// succeeds issues a reversing invoice (红字票据, 红冲) of the same payment
// in the transaction that records the refund: its own number in the same
// sequence, minus the refunded amount, naming the original, which stays.
type Invoice struct {
	ID          int64         `json:"id"`
	Institution string        `json:"institution"` // 收款单位 (its code)
	Number      int64         `json:"number"`      // 票据号码: 1, 2, … per institution
	Code        string        `json:"code"`        // 票据代码 (InvoiceCode)
	CheckCode   string        `json:"check_code"`  // 校验码 (CheckCode)
	PaymentID   int64         `json:"payment_id"`  // 业务流水号
	PatientID   int64         `json:"patient_id"`  // 交款人
	PayerName   string        `json:"payer_name"`  // 交款人 as printed: the patient's name
	AmountFen   int64         `json:"amount_fen"`  // 合计: negative on a reversing invoice
	Items       []InvoiceItem `json:"items"`       // 项目
	IssuedAt    time.Time     `json:"issued_at"`   // 开票日期

	// A reversing invoice's refund (0 on an original), its original and
	// why (the refund's reason).
	RefundID       int64  `json:"refund_id,omitempty"`
	OriginalID     int64  `json:"original_id,omitempty"`
	OriginalCode   string `json:"original_code,omitempty"`   // 原票据代码
	OriginalNumber int64  `json:"original_number,omitempty"` // 原票据号码
	Reason         string `json:"reason,omitempty"`          // 冲红原因
}

// Kinds of invoice.
const (
	KindOriginal = "original" // 蓝字: the bill of a payment
	KindReversal = "reversal" // 红字: a refund's reversal of (part of) it
)

// IsReversal reports whether inv is a reversing invoice (红字票据).
func (inv *Invoice) IsReversal() bool { return inv.RefundID != 0 }

// Kind is KindOriginal or KindReversal.
func (inv *Invoice) Kind() string {
	if inv.IsReversal() {
		return KindReversal
	}
	return KindOriginal
}

// OriginalNumberText is the original's number as printed (a reversing
// invoice's; "" on an original).
func (inv *Invoice) OriginalNumberText() string {
	if !inv.IsReversal() {
		return ""
	}
	return fmt.Sprintf("%010d", inv.OriginalNumber)
}

// InvoiceFilter selects invoices: an institution's (and of a period), or
// those a patient account may see. Zero fields select everything.
type InvoiceFilter struct {
	Institution string
	From, To    time.Time // issued at From ≤ t < To
	AccountID   int64     // of payments this account made, or made for a patient linked to it (itself, its children)
	Limit       int       // 0: 500
}

// InvoiceItem is one line of an invoice.
type InvoiceItem struct {
	Name      string `json:"name"`             // 项目名称, e.g. 诊查费
	Detail    string `json:"detail,omitempty"` // 备注: what was paid for
	Quantity  int    `json:"quantity"`
	AmountFen int64  `json:"amount_fen"`
}

// NumberText is the number as printed: ten digits.
func (inv *Invoice) NumberText() string { return fmt.Sprintf("%010d", inv.Number) }

// InvoiceCode is the 票据代码 of a bill issued at: eight digits as the
// Ministry of Finance's codes are made, the region (11, Beijing), the
// bill's class (06, medical charges, in this simplified scheme), the year
// of issue (two digits, Beijing time) and the batch (01). The number runs
// on per institution across years; a (code, number, check code) triple
// names one bill.
func InvoiceCode(at time.Time) string {
	return fmt.Sprintf("1106%02d01", at.In(dates.Beijing).Year()%100)
}

// CheckCode is the 校验码 printed with a bill: the last six hexadecimal
// digits of the SM3 digest of "code|institution|number|amount_fen" (the
// number as its ten digits). It is a checksum that ties the printed
// fields together (a mistyped or altered number or amount does not
// match), not a secret: a bill is genuine when the platform holds it.
func CheckCode(code, institution string, number, amountFen int64) string {
	sum := sm3.Sum([]byte(fmt.Sprintf("%s|%s|%010d|%d", code, institution, number, amountFen)))
	h := hex.EncodeToString(sum[:])
	return h[len(h)-6:]
}

// InvoiceItems are the lines a payment is billed as: one line of its
// purpose's charge class (诊查费 for a visit's fee, 药品费 for a
// prescription), its description as the remark.
func InvoiceItems(p *Payment) []InvoiceItem {
	name := "医疗服务费"
	switch p.Purpose {
	case ForAppointment:
		name = "诊查费"
	case ForPrescription:
		name = "药品费"
	}
	return []InvoiceItem{{Name: name, Detail: p.Description, Quantity: 1, AmountFen: p.AmountFen}}
}

// NewInvoice is the invoice of a paid payment with its number: the code
// of the day of issue, the check code, the items.
func NewInvoice(p *Payment, payerName string, number int64, at time.Time) *Invoice {
	code := InvoiceCode(at)
	return &Invoice{Institution: p.Institution, Number: number, Code: code, CheckCode: CheckCode(code, p.Institution, number, p.AmountFen),
		PaymentID: p.ID, PatientID: p.PatientID, PayerName: payerName, AmountFen: p.AmountFen, Items: InvoiceItems(p), IssuedAt: at}
}

// NewReversal is the reversing invoice (红字票据) of refund r of the
// payment orig bills, with its number: the code of its own day of issue,
// minus the refunded amount (a partial refund reverses part of the bill),
// the original's code and number, the refund's reason.
func NewReversal(orig *Invoice, r *Refund, number int64, at time.Time) *Invoice {
	code := InvoiceCode(at)
	amount := -r.AmountFen
	return &Invoice{Institution: orig.Institution, Number: number, Code: code, CheckCode: CheckCode(code, orig.Institution, number, amount),
		PaymentID: orig.PaymentID, PatientID: orig.PatientID, PayerName: orig.PayerName, AmountFen: amount,
		Items: ReversalItems(orig.Items, r.AmountFen), IssuedAt: at, RefundID: r.ID, OriginalID: orig.ID, OriginalCode: orig.Code,
		OriginalNumber: orig.Number, Reason: r.Reason}
}

// ReversalItems are the lines of a reversal of refundFen of a bill of
// items: the items in turn, each reversed up to its amount, as negative
// lines; a line reversed whole keeps its quantity (negative), a line
// reversed in part counts one (-1). What the items do not cover (none
// should) is one more line, 医疗服务费.
func ReversalItems(items []InvoiceItem, refundFen int64) []InvoiceItem {
	out := []InvoiceItem{}
	left := refundFen
	for _, it := range items {
		if left <= 0 {
			break
		}
		if it.AmountFen <= 0 {
			continue
		}
		amount, qty := it.AmountFen, -it.Quantity
		if left < it.AmountFen {
			amount, qty = left, -1
		}
		out = append(out, InvoiceItem{Name: it.Name, Detail: it.Detail, Quantity: qty, AmountFen: -amount})
		left -= amount
	}
	if left > 0 {
		out = append(out, InvoiceItem{Name: "医疗服务费", Quantity: -1, AmountFen: -left})
	}
	return out
}

// Yuan writes an amount in fen as yuan with two decimals (46.50).
func Yuan(fen int64) string {
	sign := ""
	u := uint64(fen)
	if fen < 0 {
		sign, u = "-", uint64(-(fen+1))+1
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

var (
	capitalDigits = []rune("零壹贰叁肆伍陆柒捌玖")
	capitalPlaces = []string{"", "拾", "佰", "仟"}
)

// CapitalYuan writes an amount in fen in Chinese capital numerals
// (人民币大写) as the People's Bank's rules for filling in bills ask
// (《支付结算办法》附件一, 正确填写票据和结算凭证的基本规定), taking their
// first form where they allow two:
//   - 整 after 元 when there are no 角 or 分 (叁拾元整); none after 角 or
//     分 (壹仟肆佰零玖元伍角);
//   - one 零 for a run of zeros inside a group of four digits (陆仟零柒元);
//     between groups only when the lower group's thousands digit is zero
//     (壹佰万零伍元, but 壹拾万柒仟元);
//   - 零 after 元 when the yuan digit is zero and 角 is not (壹仟陆佰捌拾元
//     零叁角贰分), and when 角 is zero and 分 is not (叁佰贰拾伍元零肆分);
//   - 壹拾 for ten (壹拾元整); below a yuan, no 元 (伍角, 壹分); 零元整 for 0;
//   - 负 before a negative amount.
func CapitalYuan(fen int64) string {
	var b strings.Builder
	u := uint64(fen)
	if fen < 0 {
		b.WriteString("负")
		u = uint64(-(fen + 1)) + 1
	}
	yuan, jiao, fenDigit := u/100, u/10%10, u%10
	if yuan == 0 && jiao == 0 && fenDigit == 0 {
		return b.String() + "零元整"
	}
	if yuan > 0 {
		capitalInt(&b, yuan)
		b.WriteString("元")
	}
	switch {
	case jiao == 0 && fenDigit == 0:
		b.WriteString("整")
		return b.String()
	case jiao != 0:
		if yuan > 0 && yuan%10 == 0 {
			b.WriteRune(capitalDigits[0])
		}
		b.WriteRune(capitalDigits[jiao])
		b.WriteString("角")
	case yuan > 0: // 角 is zero, 分 is not
		b.WriteRune(capitalDigits[0])
	}
	if fenDigit != 0 {
		b.WriteRune(capitalDigits[fenDigit])
		b.WriteString("分")
	}
	return b.String()
}

// capitalInt writes n > 0 in groups of four digits (万, 亿, 万亿, 亿亿):
// a 零 before a lower part whose highest group is short of its thousands.
func capitalInt(b *strings.Builder, n uint64) {
	for _, u := range []struct {
		size uint64
		name string
	}{{1e8, "亿"}, {1e4, "万"}} {
		if n < u.size {
			continue
		}
		hi, lo := n/u.size, n%u.size
		capitalInt(b, hi)
		b.WriteString(u.name)
		if lo > 0 {
			if lo < u.size/10 {
				b.WriteRune(capitalDigits[0])
			}
			capitalInt(b, lo)
		}
		return
	}
	capitalGroup(b, n)
}

// capitalGroup writes 1..9999: one 零 for a run of zeros between digits,
// none after the last one.
func capitalGroup(b *strings.Builder, g uint64) {
	zero := false
	for place := 3; place >= 0; place-- {
		d := g / pow10[place] % 10
		if d == 0 {
			zero = zero || g/pow10[place] > 0 // a zero after a digit written
			continue
		}
		if zero {
			b.WriteRune(capitalDigits[0])
			zero = false
		}
		b.WriteRune(capitalDigits[d])
		b.WriteString(capitalPlaces[place])
	}
}

var pow10 = []uint64{1, 10, 100, 1000}

// Page geometry of the bill, in points: A5 landscape (210 × 148 mm, the
// usual size of a printed 医疗收费票据), 12 mm margins.
const (
	invPageW  = 595.28
	invPageH  = 419.53
	invMargin = 34.0
	invWidth  = invPageW - 2*invMargin
	// invItemsEnd is where the table's lines stop (room is kept below for
	// the total, the institution and the note).
	invItemsEnd = invPageH - invMargin - 130
)

// RenderInvoicePDF prints inv as an electronic bill for medical charges
// (医疗收费电子票据) on A5 landscape: the title, 票据代码, 票据号码, 交款人,
// 校验码, 开票日期, the items with their amounts, 合计 in figures and in
// capitals (大写), 收款单位 (institutionName, the code when empty),
// 复核人 and 收款人. A reversing invoice is titled 红字, names its
// original (原票据代码, 原票据号码) and why (冲红原因), and its total is
// negative (负… in capitals). The fonts are monitor.Fonts, embedded so the
// text extracts; without them the error has the code pdf_font_missing.
func RenderInvoicePDF(inv *Invoice, institutionName string) ([]byte, error) {
	if inv == nil {
		return nil, errors.New("billing: render invoice: no invoice")
	}
	pdf, err := monitor.NewPDF(&gopdf.Rect{W: invPageW, H: invPageH})
	if err != nil {
		if errors.Is(err, monitor.ErrNoFont) {
			return nil, errs.Wrap(CodePDFFont, err)
		}
		return nil, err
	}
	if institutionName == "" {
		institutionName = inv.Institution
	}
	title := "医疗收费电子票据"
	if inv.IsReversal() {
		title += "（红字）"
	}
	pdf.SetInfo(gopdf.PdfInfo{Title: title + " " + inv.Code + "-" + inv.NumberText(), Creator: "Yunyi", Producer: "Yunyi"})
	pdf.AddPage()
	pen := &invPen{PDFText: monitor.PDFText{PDF: pdf}, pdf: pdf, y: invMargin}

	// Title, double-underlined as the printed bills are.
	pdf.SetTextColor(150, 20, 20)
	tw := pen.Measure(title, 18)
	if err := pen.text((invWidth-tw)/2, pen.y, title, 18); err != nil {
		return nil, err
	}
	pdf.SetStrokeColor(150, 20, 20)
	pdf.SetLineWidth(0.6)
	for _, dy := range []float64{22, 24.5} {
		pdf.Line(invMargin+(invWidth-tw)/2-6, pen.y+dy, invMargin+(invWidth+tw)/2+6, pen.y+dy)
	}
	pdf.SetTextColor(0, 0, 0)
	pdf.SetStrokeColor(0, 0, 0)
	pen.y += 36

	// Header: code, number, check code, date, payer, serial number.
	if err := pen.cells(9.5, []string{"票据代码：" + inv.Code, "交款人：" + inv.PayerName, "票据号码：" + inv.NumberText()}, []float64{0, 0.36, 0.68}); err != nil {
		return nil, err
	}
	if err := pen.cells(9.5, []string{"校验码：" + inv.CheckCode, "业务流水号：" + strconv.FormatInt(inv.PaymentID, 10), "开票日期：" + invDate(inv.IssuedAt)},
		[]float64{0, 0.36, 0.68}); err != nil {
		return nil, err
	}
	if inv.IsReversal() {
		// What it reverses, and why.
		pdf.SetTextColor(150, 20, 20)
		err := pen.cells(9.5, []string{"原票据代码：" + inv.OriginalCode, "原票据号码：" + inv.OriginalNumberText(), "红字票据（红冲）"}, []float64{0, 0.36, 0.68})
		if err == nil {
			err = pen.cells(9.5, []string{"冲红原因：" + inv.Reason}, []float64{0})
		}
		pdf.SetTextColor(0, 0, 0)
		if err != nil {
			return nil, err
		}
	}
	pen.y += 4

	// The table of items.
	cols := []float64{0, 0.34, 0.46, 0.64, 1}
	top := pen.y
	pdf.SetLineWidth(0.8)
	pen.hline(top)
	pen.y += 5
	if err := pen.row(10, cols, []string{"项目名称", "数量", "金额（元）", "备注"}, true); err != nil {
		return nil, err
	}
	pdf.SetLineWidth(0.4)
	pen.hline(pen.y - 3)
	pen.y += 2
	for _, it := range inv.Items {
		if pen.y > invItemsEnd {
			// One page: the rest is on the statement of charges.
			if err := pen.row(10, cols, []string{fmt.Sprintf("……（共 %d 项，余见清单）", len(inv.Items)), "", "", ""}, false); err != nil {
				return nil, err
			}
			break
		}
		detail := pen.Wrap(it.Detail, 9, (cols[4]-cols[3])*invWidth-10)
		if len(detail) == 0 {
			detail = []string{""}
		}
		if err := pen.row(10, cols, []string{it.Name, strconv.Itoa(it.Quantity), Yuan(it.AmountFen), detail[0]}, false); err != nil {
			return nil, err
		}
		for _, l := range detail[1:] {
			if err := pen.row(10, cols, []string{"", "", "", l}, false); err != nil {
				return nil, err
			}
		}
	}
	// Room for a few lines, as on the printed form, then the total.
	pen.y = max(pen.y, top+110)
	itemsBottom := pen.y - 3
	pen.hline(itemsBottom)
	pen.y += 3
	if err := pen.text(6, pen.y, "合计（大写）："+CapitalYuan(inv.AmountFen), 10.5); err != nil {
		return nil, err
	}
	total := "（小写）¥" + Yuan(inv.AmountFen)
	if err := pen.text(invWidth-6-pen.Measure(total, 10.5), pen.y, total, 10.5); err != nil {
		return nil, err
	}
	pen.y += 10.5*1.6 + 2
	pdf.SetLineWidth(0.8)
	pen.hline(pen.y - 3)
	bottom := pen.y - 3
	for _, x := range []float64{0, invWidth} {
		pdf.Line(invMargin+x, top, invMargin+x, bottom)
	}
	pdf.SetLineWidth(0.4)
	for _, c := range cols[1:4] {
		pdf.Line(invMargin+c*invWidth, top, invMargin+c*invWidth, itemsBottom)
	}
	pen.y += 8

	// Who took the money.
	if err := pen.cells(9.5, []string{"收款单位（章）：" + institutionName, "复核人：系统复核", "收款人：互联网医院"}, []float64{0, 0.56, 0.78}); err != nil {
		return nil, err
	}
	pdf.SetTextColor(90, 90, 90)
	note := "本票据由云医平台按医疗收费电子票据的格式开具，凭票据代码、票据号码和校验码核验。"
	err = pen.text(0, invPageH-invMargin-8, note, 7.5)
	pdf.SetTextColor(0, 0, 0)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := pdf.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// invPen writes the bill's text, x positions from the left margin and y
// the top of the line.
type invPen struct {
	monitor.PDFText
	pdf *gopdf.GoPdf
	y   float64
}

func (pen *invPen) text(x, y float64, s string, size float64) error {
	return pen.Write(invMargin+x, y, s, size)
}

func (pen *invPen) hline(y float64) {
	pen.pdf.Line(invMargin, y, invMargin+invWidth, y)
}

// cells writes one line, each cell from its fraction of the width; a cell
// too wide for its column is cut to fit.
func (pen *invPen) cells(size float64, cells []string, at []float64) error {
	for i, c := range cells {
		end := 1.0
		if i+1 < len(at) {
			end = at[i+1]
		}
		if l := pen.Wrap(c, size, (end-at[i])*invWidth-6); len(l) > 1 {
			c = l[0]
		}
		if err := pen.text(at[i]*invWidth, pen.y, c, size); err != nil {
			return err
		}
	}
	pen.y += size * 1.6
	return nil
}

// row writes one row of the table, the cells inside their columns
// (bounds: the columns' edges as fractions of the width), centred when
// head, amounts (the third column) aligned right.
func (pen *invPen) row(size float64, bounds []float64, cells []string, head bool) error {
	for i, c := range cells {
		left, right := bounds[i]*invWidth+6, bounds[i+1]*invWidth-6
		if l := pen.Wrap(c, size, right-left); len(l) > 1 {
			c = l[0]
		}
		x := left
		switch {
		case head || i == 1:
			x = left + (right-left-pen.Measure(c, size))/2
		case i == 2:
			x = right - pen.Measure(c, size)
		}
		if err := pen.text(x, pen.y, c, size); err != nil {
			return err
		}
	}
	pen.y += size * 1.7
	return nil
}

func invDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dates.Beijing).Format(dates.Layout)
}
