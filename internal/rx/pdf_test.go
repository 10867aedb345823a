package rx

import (
	"bytes"
	"errors"
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

func samplePrescription() (*Prescription, PDFView) {
	issued := time.Date(2026, 3, 2, 10, 5, 0, 0, dates.Beijing)
	p := &Prescription{
		ID: 1024, VisitID: 77, Version: 2, Institution: "xuanwu", Department: "paed-skin",
		PatientID: 9, PatientName: "张小明", PatientSex: "male", PatientAge: "4岁2个月", WeightKg: 16.5,
		DoctorID: 3, DoctorName: "王医生",
		Items: []Item{
			{Drug: "cetirizine-oral-solution-1mg-ml", Dose: 2.5, DoseUnit: "ml", Frequency: "bid", Route: "oral", Days: 7, Quantity: 1,
				Name: "西替利嗪口服溶液", Strength: "1 mg/ml", Form: "口服溶液", Unit: "瓶", PriceFen: 2850},
			{Drug: "mometasone-cream-0.1", Dose: 1, DoseUnit: "g", Frequency: "qd", Route: "topical", Days: 7, Quantity: 1,
				Name: "糠酸莫米松乳膏", Strength: "0.1%（5 g）", Form: "乳膏", Unit: "支", PriceFen: 1800},
		},
		Diagnoses: []string{"L20.9", "J30.4"},
		Supply:    SupplyNormal, Status: Approved,
		IssuedAt: issued, ValidDays: 3, ValidUntil: ValidUntil(issued, 3),
		ReviewerID: 5, ReviewerName: "李药师", ReviewedAt: issued.Add(20 * time.Minute),
		TotalFen: 4650,
		Signatures: []Signature{
			{Role: RoleDoctor, PractitionerID: 3, Name: "王医生", PublicKey: "MFkw...", At: issued,
				Digest: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", Value: "MEUC..."},
			{Role: RolePharmacist, PractitionerID: 5, Name: "李药师", PublicKey: "MFkw...", At: issued.Add(20 * time.Minute),
				Digest: "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732", Value: "MEQC..."},
		},
	}
	v := PDFView{
		InstitutionName: "首都医科大学宣武医院",
		DepartmentName:  "儿童皮肤科",
		DiagnosisNames:  map[string]string{"L20.9": "特应性皮炎", "J30.4": "变应性鼻炎"},
		VerifyURL:       "https://yunyi.example.cn/rx/verify/1024-2?d=66c7f0f462eeedd9",
		PharmacistName:  "李药师",
	}
	return p, v
}

// render renders p, skipping the test when no CJK font is installed
// (unless YUNYI_REQUIRE_CHROMIUM=1, as in CI, which installs the fonts).
func render(t *testing.T, p *Prescription, v PDFView) []byte {
	t.Helper()
	var b bytes.Buffer
	err := RenderPDF(&b, p, v)
	if errors.Is(err, monitor.ErrNoFont) {
		if os.Getenv("YUNYI_REQUIRE_CHROMIUM") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b.Bytes(), []byte("%PDF")) {
		t.Fatalf("not a PDF: %q", b.Bytes()[:min(16, b.Len())])
	}
	return b.Bytes()
}

// pdfText extracts the text with pdftotext, all white space removed; ""
// when poppler-utils is not installed.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Log("pdftotext not installed: text not checked")
		return ""
	}
	path := filepath.Join(t.TempDir(), "rx.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return strings.Join(strings.Fields(string(out)), "")
}

func TestRenderPDF(t *testing.T) {
	p, v := samplePrescription()
	pdf := render(t, p, v)
	text := pdfText(t, pdf)
	if text != "" {
		for _, want := range []string{
			"首都医科大学宣武医院互联网医院电子处方笺",
			"处方编号：1024-v2", "科别：儿童皮肤科", "开具日期：2026-03-02",
			"张小明", "性别：男", "年龄：4岁2个月", "体重：16.5kg",
			"L20.9特应性皮炎；J30.4变应性鼻炎", "Rp.",
			"西替利嗪口服溶液", "糠酸莫米松乳膏", "×1瓶", "×1支",
			"用法：每次2.5ml，每日两次，口服，共7天", "用法：每次1g，每日一次，外用，共7天",
			"药品金额：46.50元",
			"医师：王医生已电子签名2026-03-0210:05", "审核药师：李药师已电子签名2026-03-0210:25",
			"有效期3天（至2026-03-04）", "扫码核验处方真伪",
		} {
			if !strings.Contains(text, strings.Join(strings.Fields(want), "")) {
				t.Errorf("text lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "待审核") {
			t.Error("a reviewed prescription must not say 待审核")
		}
	}
	if got := decodeQR(t, pdf); got != "" && got != v.VerifyURL {
		t.Fatalf("QR code holds %q, want %q", got, v.VerifyURL)
	}
}

func TestRenderPDFNotReviewed(t *testing.T) {
	for _, c := range []struct {
		status Status
		want   []string
	}{
		{PendingReview, []string{"审核药师：待审核", "有效期：开具当日有效", "扫码核验处方真伪"}},
		{Rejected, []string{"审核未通过，本处方作废", "审核药师：李药师审核未通过", "有效期：开具当日有效"}},
	} {
		t.Run(string(c.status), func(t *testing.T) {
			p, v := samplePrescription()
			p.Signatures = p.Signatures[:1]
			p.Status, p.ReviewedAt = c.status, time.Time{}
			if c.status == PendingReview {
				p.ReviewerName = ""
			}
			p.ValidDays, p.ValidUntil = 1, ValidUntil(p.IssuedAt, 1)
			p.WeightKg = 0
			v.PharmacistName = ""
			text := pdfText(t, render(t, p, v))
			if text == "" {
				return
			}
			for _, want := range c.want {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "体重") {
				t.Error("no weight, no 体重")
			}
		})
	}
}

// Many long items run onto a second page; the footer and the QR code
// follow them.
func TestRenderPDFLong(t *testing.T) {
	p, v := samplePrescription()
	for range 8 {
		it := p.Items[0]
		it.Name = strings.Repeat("复方甘草酸苷", 6)
		p.Items = append(p.Items, it)
	}
	p.Note = strings.Repeat("请遵医嘱用药，如出现皮疹加重请及时复诊。", 6)
	pdf := render(t, p, v)
	if text := pdfText(t, pdf); text != "" && !strings.Contains(text, "扫码核验处方真伪") {
		t.Fatal("the footer is missing")
	}
	if got := decodeQR(t, pdf); got != "" && got != v.VerifyURL {
		t.Fatalf("QR code holds %q", got)
	}
}

// decodeQR rasterizes the last page with pdftoppm and decodes the QR code
// on it; "" when poppler-utils is not installed.
func decodeQR(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Log("pdftoppm not installed: QR code not decoded")
		return ""
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "rx.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-r", "150", "-png", path, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pages) == 0 {
		t.Fatal("pdftoppm wrote no page")
	}
	f, err := os.Open(pages[len(pages)-1]) // names are zero-padded: the last sorts last
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no QR code found on the page: %v", err)
	}
	return res.GetText()
}

func TestPDFValidityAndAmount(t *testing.T) {
	issued := time.Date(2026, 12, 30, 23, 30, 0, 0, dates.Beijing)
	for _, c := range []struct {
		days  int
		until time.Time
		want  string
	}{
		{1, ValidUntil(issued, 1), "有效期：开具当日有效"},
		{0, time.Time{}, "有效期：开具当日有效"},
		{2, ValidUntil(issued, 2), "有效期 2 天（至 2026-12-31）"},
		{3, ValidUntil(issued, 3), "有效期 3 天（至 2027-01-01）"},
		{3, time.Time{}, "有效期 3 天（至 2027-01-01）"},
		{3, time.Date(2027, 1, 2, 0, 0, 0, 0, dates.Beijing), "有效期 3 天（至 2027-01-01）"}, // midnight: end of the day before
	} {
		p := &Prescription{IssuedAt: issued.UTC(), ValidDays: c.days, ValidUntil: c.until}
		if got := pdfValidity(p); got != c.want {
			t.Errorf("%d days until %v: %q, want %q", c.days, c.until, got, c.want)
		}
	}
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 4650: "46.50", 123456: "1234.56", -250: "-2.50"} {
		if got := pdfYuan(fen); got != want {
			t.Errorf("%d fen: %s, want %s", fen, got, want)
		}
	}
	for code := range Frequencies {
		if pdfFrequencyZH[code] == "" {
			t.Errorf("frequency %s has no Chinese", code)
		}
	}
}
