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
