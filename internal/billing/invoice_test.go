package billing

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

func TestCapitalYuan(t *testing.T) {
	for _, c := range []struct {
		fen  int64
		want string
	}{
		{0, "零元整"},
		{1, "壹分"},                 // 0.01
		{5, "伍分"},                 // 0.05
		{50, "伍角"},                // 0.50
		{56, "伍角陆分"},              // 0.56
		{100, "壹元整"},              // 1.00
		{1000, "壹拾元整"},            // 10.00
		{3000, "叁拾元整"},            // 30.00
		{1001, "壹拾元零壹分"},          // 10.01
		{1010, "壹拾元零壹角"},          // 10.10: the yuan digit is zero, 角 is not
		{1500, "壹拾伍元整"},           // 15.00
		{10050, "壹佰元零伍角"},         // 100.50
		{10100, "壹佰零壹元整"},         // 101.00
		{32504, "叁佰贰拾伍元零肆分"},      // 325.04: 角 zero, 分 not
		{140950, "壹仟肆佰零玖元伍角"},     // 1409.50
		{600714, "陆仟零柒元壹角肆分"},     // 6007.14
		{168032, "壹仟陆佰捌拾元零叁角贰分"},  // 1680.32
		{1640902, "壹万陆仟肆佰零玖元零贰分"}, // 16409.02
		{10700053, "壹拾万柒仟元零伍角叁分"}, // 107000.53
		{100000507, "壹佰万零伍元零柒分"},  // 1,000,005.07
		{100000000, "壹佰万元整"},      // 1,000,000.00
		{101000000, "壹佰零壹万元整"},    // 1,010,000.00
		{1010000000, "壹仟零壹拾万元整"},  // 10,100,000.00
		{1000100000, "壹仟万壹仟元整"},   // 10,001,000.00
		{10000000000, "壹亿元整"},     // 100,000,000.00
		{10000000500, "壹亿零伍元整"},   // 100,000,005.00
		{10000100000, "壹亿零壹仟元整"},  // 100,001,000.00
		{10001000000, "壹亿零壹万元整"},  // 100,010,000.00
		{10010000000, "壹亿零壹拾万元整"}, // 100,100,000.00
		{100000000000, "壹拾亿元整"},   // 1,000,000,000.00
		{123456789012, "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾元零壹角贰分"},
		{100000000000000, "壹万亿元整"},    // 10^12 yuan
		{100010000000000, "壹万零壹亿元整"},  // 1,0001,0000,0000 yuan
		{100000000050000, "壹万亿零伍佰元整"}, // 1,0000,0000,0500 yuan
		{-3000, "负叁拾元整"},
		{math.MaxInt64, "玖亿贰仟贰佰叁拾叁万柒仟贰佰零叁亿陆仟捌佰伍拾肆万柒仟柒佰伍拾捌元零柒分"},
	} {
		if got := CapitalYuan(c.fen); got != c.want {
			t.Errorf("%d fen (%s): %s, want %s", c.fen, Yuan(c.fen), got, c.want)
		}
	}
	if got := CapitalYuan(math.MinInt64); got != "负玖亿贰仟贰佰叁拾叁万柒仟贰佰零叁亿陆仟捌佰伍拾肆万柒仟柒佰伍拾捌元零捌分" {
		t.Errorf("MinInt64: %s", got)
	}
}

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 3000: "30.00", 123456: "1234.56", -250: "-2.50"} {
		if got := Yuan(fen); got != want {
			t.Errorf("%d fen: %s, want %s", fen, got, want)
		}
	}
}

func TestCheckCode(t *testing.T) {
	a := CheckCode("11062601", "ccmc", 1, 3000)
	if len(a) != 6 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("check code %q", a)
	}
	if a != CheckCode("11062601", "ccmc", 1, 3000) {
		t.Fatal("not deterministic")
	}
	for _, other := range []string{CheckCode("11062601", "ccmc", 2, 3000), CheckCode("11062601", "ccmc", 1, 3001),
		CheckCode("11062701", "ccmc", 1, 3000), CheckCode("11062601", "bch", 1, 3000)} {
		if other == a {
			t.Fatalf("a changed field keeps the check code %s", a)
		}
	}
	if got := InvoiceCode(time.Date(2026, 12, 31, 16, 30, 0, 0, time.UTC)); got != "11062701" { // 2027-01-01 in Beijing
		t.Fatalf("code %s", got)
	}
}

func sampleInvoice() *Invoice {
	at := time.Date(2026, 3, 2, 10, 5, 0, 0, dates.Beijing)
	p := &Payment{ID: 4711, Purpose: ForAppointment, RefID: 9, PatientID: 12, Institution: "ccmc", AmountFen: 10050,
		Description: "过敏反应复诊 挂号费（2026-03-02）"}
	return NewInvoice(p, "李小雨", 27, at)
}

func TestRenderInvoicePDF(t *testing.T) {
	inv := sampleInvoice()
	if inv.CheckCode != CheckCode(inv.Code, "ccmc", 27, 10050) || inv.Code != "11062601" || inv.NumberText() != "0000000027" {
		t.Fatalf("invoice %+v", inv)
	}
	pdf, err := RenderInvoicePDF(inv, "首都儿童医学中心")
	if errors.Is(err, monitor.ErrNoFont) {
		if errs.Code(err) != "pdf_font_missing" {
			t.Fatalf("no font: code %s", errs.Code(err))
		}
		if os.Getenv("YUNYI_REQUIRE_CHROMIUM") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pdf), "%PDF") {
		t.Fatalf("not a PDF: %q", pdf[:min(16, len(pdf))])
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Log("pdftotext not installed: text not checked")
		return
	}
	path := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	text := strings.Join(strings.Fields(string(out)), "")
	for _, want := range []string{
		"医疗收费电子票据", "票据代码：11062601", "票据号码：0000000027", "校验码：" + inv.CheckCode,
		"交款人：李小雨", "开票日期：2026-03-02", "业务流水号：4711",
		"诊查费", "100.50", "过敏反应复诊",
		"合计（大写）：壹佰元零伍角", "¥100.50",
		"收款单位（章）：首都儿童医学中心", "复核人", "收款人",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

func TestRenderInvoicePDFNoFont(t *testing.T) {
	t.Setenv("YUNYI_CJK_FONT", "")
	old := monitor.FontCandidates
	monitor.FontCandidates = []string{filepath.Join(t.TempDir(), "none.ttf")}
	defer func() { monitor.FontCandidates = old }()
	_, err := RenderInvoicePDF(sampleInvoice(), "")
	if errs.Code(err) != "pdf_font_missing" || !errors.Is(err, monitor.ErrNoFont) {
		t.Fatalf("without a font: %v", err)
	}
}

func TestReversalItems(t *testing.T) {
	two := []InvoiceItem{{Name: "诊查费", Detail: "复诊", Quantity: 1, AmountFen: 3000}, {Name: "药品费", Detail: "布洛芬", Quantity: 2, AmountFen: 1250}}
	for _, c := range []struct {
		name   string
		items  []InvoiceItem
		refund int64
		want   []InvoiceItem
	}{
		{"whole", two[:1], 3000, []InvoiceItem{{Name: "诊查费", Detail: "复诊", Quantity: -1, AmountFen: -3000}}},
		{"part", two[:1], 1000, []InvoiceItem{{Name: "诊查费", Detail: "复诊", Quantity: -1, AmountFen: -1000}}},
		{"two whole", two, 4250, []InvoiceItem{{Name: "诊查费", Detail: "复诊", Quantity: -1, AmountFen: -3000},
			{Name: "药品费", Detail: "布洛芬", Quantity: -2, AmountFen: -1250}}},
		{"first and part of the second", two, 3500, []InvoiceItem{{Name: "诊查费", Detail: "复诊", Quantity: -1, AmountFen: -3000},
			{Name: "药品费", Detail: "布洛芬", Quantity: -1, AmountFen: -500}}},
		{"no items", nil, 700, []InvoiceItem{{Name: "医疗服务费", Quantity: -1, AmountFen: -700}}},
		{"more than the items", two[:1], 3200, []InvoiceItem{{Name: "诊查费", Detail: "复诊", Quantity: -1, AmountFen: -3000},
			{Name: "医疗服务费", Quantity: -1, AmountFen: -200}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ReversalItems(c.items, c.refund)
			if len(got) != len(c.want) {
				t.Fatalf("%+v, want %+v", got, c.want)
			}
			var sum int64
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("line %d: %+v, want %+v", i, got[i], c.want[i])
				}
				sum += got[i].AmountFen
			}
			if sum != -c.refund {
				t.Fatalf("the lines sum to %d, want %d", sum, -c.refund)
			}
		})
	}
}

func sampleReversal(refundFen int64) (*Invoice, *Invoice) {
	orig := sampleInvoice()
	orig.ID = 90
	r := &Refund{ID: 5, PaymentID: orig.PaymentID, AmountFen: refundFen, Reason: "预约取消，全额退款"}
	return orig, NewReversal(orig, r, 31, time.Date(2027, 1, 4, 9, 0, 0, 0, dates.Beijing))
}

// A refund's reversing invoice (红字票据): its own number and code (of its
// day), minus the refunded amount (a partial refund reverses part), the
// original named, the refund's reason.
func TestNewReversal(t *testing.T) {
	for _, c := range []struct {
		name   string
		refund int64
	}{{"full", 10050}, {"partial", 2000}} {
		t.Run(c.name, func(t *testing.T) {
			orig, rev := sampleReversal(c.refund)
			if !rev.IsReversal() || rev.Kind() != KindReversal || orig.IsReversal() || orig.Kind() != KindOriginal {
				t.Fatalf("kinds: %s %s", orig.Kind(), rev.Kind())
			}
			if rev.Number != 31 || rev.NumberText() != "0000000031" || rev.Code != "11062701" || rev.AmountFen != -c.refund ||
				rev.CheckCode != CheckCode("11062701", "ccmc", 31, -c.refund) || rev.RefundID != 5 || rev.OriginalID != 90 ||
				rev.OriginalCode != "11062601" || rev.OriginalNumber != 27 || rev.OriginalNumberText() != "0000000027" ||
				rev.Reason != "预约取消，全额退款" || rev.PaymentID != 4711 || rev.PatientID != 12 || rev.PayerName != "李小雨" ||
				rev.Institution != "ccmc" || len(rev.Items) != 1 || rev.Items[0].AmountFen != -c.refund || rev.Items[0].Name != "诊查费" {
				t.Fatalf("reversal %+v", rev)
			}
			if orig.OriginalNumberText() != "" {
				t.Fatal("an original names an original")
			}
		})
	}
}

// The reversing invoice prints 红字, the original's code and number, the
// reason, and its negative total in figures and in capitals (负…).
func TestRenderReversalPDF(t *testing.T) {
	_, rev := sampleReversal(2000)
	pdf, err := RenderInvoicePDF(rev, "首都儿童医学中心")
	if errors.Is(err, monitor.ErrNoFont) {
		if os.Getenv("YUNYI_REQUIRE_CHROMIUM") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Log("pdftotext not installed: text not checked")
		return
	}
	path := filepath.Join(t.TempDir(), "reversal.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	text := strings.Join(strings.Fields(string(out)), "")
	for _, want := range []string{
		"医疗收费电子票据（红字）", "票据代码：11062701", "票据号码：0000000031", "校验码：" + rev.CheckCode, "开票日期：2027-01-04",
		"原票据代码：11062601", "原票据号码：0000000027", "冲红原因：预约取消，全额退款",
		"诊查费", "-20.00", "合计（大写）：负贰拾元整", "¥-20.00", "收款单位（章）：首都儿童医学中心",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}
