package rx

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/signintech/gopdf"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

// PDFView is what the printed prescription needs besides the prescription:
// names the prescription holds only as codes, and where to verify it.
type PDFView struct {
	InstitutionName string            // e.g. 首都医科大学宣武医院; the institution code when empty
	DepartmentName  string            // 科别; the department code when empty
	DiagnosisNames  map[string]string // ICD-10 code → Chinese name
	VerifyURL       string            // encoded in the QR code; no QR code when empty
	PharmacistName  string            // the reviewing pharmacist; the signature's or ReviewerName when empty
}

// pdfFrequencyZH is how a prescription prints each of Frequencies.
var pdfFrequencyZH = map[string]string{
	"qd": "每日一次", "bid": "每日两次", "tid": "每日三次", "qid": "每日四次", "qn": "每晚一次",
	"q12h": "每12小时一次", "q8h": "每8小时一次", "q6h": "每6小时一次", "qod": "隔日一次", "qw": "每周一次", "prn": "必要时",
}

// pdfRouteZH is how a prescription prints each route of Drug.Route.
var pdfRouteZH = map[string]string{
	"oral": "口服", "topical": "外用", "inhaled": "吸入", "nasal": "鼻用", "ophthalmic": "滴眼",
	"rectal": "直肠给药", "injection": "注射", "transdermal": "经皮贴敷", "sublingual": "舌下含服",
}

// Page geometry of the prescription, in points: A5 portrait (148 × 210 mm,
// the usual size of a 处方笺), 10 mm margins, a 30 mm QR code.
const (
	pdfPageW   = 419.53
	pdfPageH   = 595.28
	pdfMargin  = 28.35
	pdfQRSize  = 85.04
	pdfWidth   = pdfPageW - 2*pdfMargin
	pdfBottom  = pdfPageH - pdfMargin
	pdfQRLabel = "扫码核验处方真伪"
)

// RenderPDF writes p as an outpatient prescription (电子处方笺) on A5: the
// header (number, department, date), the patient, the diagnoses, Rp. with
// each item and its directions, the amount, the doctor's and the
// pharmacist's electronic signatures, the validity (N-13) and a QR code of
// v.VerifyURL at the bottom right. The fonts are monitor.Fonts (a CJK
// TrueType font and a Latin one), embedded so the text extracts.
func RenderPDF(w io.Writer, p *Prescription, v PDFView) error {
	if p == nil {
		return fmt.Errorf("rx: render PDF: no prescription")
	}
	pdf, err := monitor.NewPDF(gopdf.PageSizeA5)
	if err != nil {
		return err
	}
	number := fmt.Sprintf("%d-v%d", p.ID, p.Version)
	pdf.SetInfo(gopdf.PdfInfo{Title: "电子处方笺 " + number, Creator: "Yunyi", Producer: "Yunyi"})
	pen := &pdfPen{PDFText: monitor.PDFText{PDF: pdf}, pdf: pdf}
	if err := pen.newPage(); err != nil {
		return err
	}
	pen.cont = fmt.Sprintf("（续）处方编号：%s　姓名：%s", number, p.PatientName)

	// Title.
	inst := v.InstitutionName
	if inst == "" {
		inst = p.Institution
	}
	title := "电子处方笺"
	if !strings.Contains(inst, "互联网医院") {
		title = "互联网医院 " + title
	}
	if inst != "" {
		title = inst + " " + title
	}
	if err := pen.para(title, 15, 0, pdfWidth, true); err != nil {
		return err
	}
	if s := pdfStatusNote(p.Status); s != "" {
		pdf.SetTextColor(180, 0, 0)
		err := pen.para(s, 10, 0, pdfWidth, true)
		pdf.SetTextColor(0, 0, 0)
		if err != nil {
			return err
		}
	}
	pen.y += 4

	// Header line.
	dept := v.DepartmentName
	if dept == "" {
		dept = p.Department
	}
	if err := pen.columns(10, []string{"处方编号：" + number, "科别：" + dept, "开具日期：" + pdfDate(p.IssuedAt)}, []float64{0, 0.36, 0.64}); err != nil {
		return err
	}
	pen.rule(0.8)

	// Patient.
	patient := []string{"姓名：" + p.PatientName, "性别：" + pdfSex(p.PatientSex), "年龄：" + p.PatientAge}
	cols := []float64{0, 0.36, 0.55}
	if p.WeightKg > 0 {
		patient = append(patient, "体重："+strconv.FormatFloat(p.WeightKg, 'f', -1, 64)+" kg")
		cols = append(cols, 0.78)
	}
	if err := pen.columns(10, patient, cols); err != nil {
		return err
	}
	var diags []string
	for _, code := range p.Diagnoses {
		if name := v.DiagnosisNames[code]; name != "" {
			code += " " + name
		}
		diags = append(diags, code)
	}
	if err := pen.labelled("临床诊断：", strings.Join(diags, "；"), 10, pdfWidth); err != nil {
		return err
	}
	pen.rule(0.5)

	// Rp. and the items.
	pen.y += 2
	if err := pen.room(16 + 11*1.6); err != nil {
		return err
	}
	if err := pen.text(0, pen.y, "Rp.", 16); err != nil {
		return err
	}
	pen.y += 16 * 1.4
	for i, it := range p.Items {
		if err := pen.item(i+1, it); err != nil {
			return err
		}
	}
	pdf.SetTextColor(110, 110, 110)
	err = pen.para("（以下空白）", 8, 0, pdfWidth, true)
	pdf.SetTextColor(0, 0, 0)
	if err != nil {
		return err
	}
	if p.Supply == SupplyLongTerm {
		if err := pen.labelled("长期处方：", pdfOr(p.LongTermWhy, "病情稳定的慢性病"), 9, pdfWidth); err != nil {
			return err
		}
	}
	if p.Note != "" {
		if err := pen.labelled("备注：", p.Note, 9, pdfWidth); err != nil {
			return err
		}
	}
	pen.y += 2
	amount := fmt.Sprintf("药品金额：%s 元", pdfYuan(p.TotalFen))
	if err := pen.room(10.5); err != nil {
		return err
	}
	if err := pen.text(pdfWidth-pen.Measure(amount, 10.5), pen.y, amount, 10.5); err != nil {
		return err
	}
	pen.y += 10.5 * 1.6

	return pen.footer(p, v, w)
}

// footer lays out the signatures, the validity and the QR code at the
// bottom of the page (of a new page when the items leave no room), then
// writes the document.
func (pen *pdfPen) footer(p *Prescription, v PDFView, w io.Writer) error {
	var doctor, pharmacist *Signature
	for i := range p.Signatures {
		switch p.Signatures[i].Role {
		case RoleDoctor:
			doctor = &p.Signatures[i]
		case RolePharmacist:
			pharmacist = &p.Signatures[i]
		}
	}
	doctorName := p.DoctorName
	if doctorName == "" && doctor != nil {
		doctorName = doctor.Name
	}
	doctorLine := "医师：" + doctorName + "　未签名"
	if doctor != nil {
		doctorLine = "医师：" + doctorName + "　已电子签名 " + pdfDateTime(doctor.At)
	}
	reviewLine := "审核药师：待审核"
	switch {
	case pharmacist == nil && p.Status == Rejected:
		reviewLine = "审核药师：" + pdfOr(v.PharmacistName, p.ReviewerName) + "　审核未通过"
	case pharmacist != nil:
		name := pdfOr(v.PharmacistName, pdfOr(pharmacist.Name, p.ReviewerName))
		reviewLine = "审核药师：" + name + "　已电子签名 " + pdfDateTime(pharmacist.At)
	}
	lines := []pdfLine{
		{doctorLine, 10, false},
		{reviewLine, 10, false},
		{pdfValidity(p), 10, false},
		{"调配：__________　核对/发药：__________", 9, false},
	}
	if doctor != nil && doctor.Digest != "" {
		lines = append(lines, pdfLine{"处方 SM3 摘要（医师签名）：", 6.5, true}, pdfLine{doctor.Digest, 6.5, true})
	}
	lines = append(lines, pdfLine{"本处方为电子处方，经医师电子签名、药师审核后有效，请在有效期内取药。", 7.5, true})

	leftW := pdfWidth
	if v.VerifyURL != "" {
		leftW = pdfWidth - pdfQRSize - 10
	}
	height := 0.0
	for _, l := range lines {
		height += float64(len(pen.Wrap(l.s, l.size, leftW))) * l.size * 1.6
	}
	if v.VerifyURL != "" {
		height = max(height, pdfQRSize+14)
	}
	top := pdfBottom - height
	if pen.y+6 > top {
		if err := pen.newPage(); err != nil {
			return err
		}
	}
	pen.y = top - 6
	pen.rule(0.8)
	pen.y = top
	for _, l := range lines {
		if l.gray {
			pen.pdf.SetTextColor(90, 90, 90)
		}
		err := pen.para(l.s, l.size, 0, leftW, false)
		pen.pdf.SetTextColor(0, 0, 0)
		if err != nil {
			return err
		}
	}
	if v.VerifyURL != "" {
		png, err := qrcode.Encode(v.VerifyURL, qrcode.Medium, -8)
		if err != nil {
			return fmt.Errorf("rx: QR code: %w", err)
		}
		img, err := gopdf.ImageHolderByBytes(png)
		if err != nil {
			return fmt.Errorf("rx: QR code: %w", err)
		}
		x, y := pdfMargin+pdfWidth-pdfQRSize, pdfBottom-pdfQRSize-12
		if err := pen.pdf.ImageByHolder(img, x, y, &gopdf.Rect{W: pdfQRSize, H: pdfQRSize}); err != nil {
			return fmt.Errorf("rx: QR code: %w", err)
		}
		if err := pen.text(pdfWidth-pdfQRSize+(pdfQRSize-pen.Measure(pdfQRLabel, 8))/2, pdfBottom-10, pdfQRLabel, 8); err != nil {
			return err
		}
	}
	_, err := pen.pdf.WriteTo(w)
	return err
}

// pdfLine is a line of the footer.
type pdfLine struct {
	s    string
	size float64
	gray bool
}

// item writes one line of Rp.: the drug and the quantity, then its
// directions.
func (pen *pdfPen) item(n int, it Item) error {
	head := strings.Join(pdfNonEmpty(pdfOr(it.Name, it.Drug), it.Strength, it.Form), "　")
	qty := fmt.Sprintf("×%d%s", it.Quantity, it.Unit)
	qw := pen.Measure(qty, 11)
	if err := pen.room((11 + 9.5) * 1.6); err != nil { // keep the drug and its directions together
		return err
	}
	if err := pen.text(pdfWidth-qw, pen.y, qty, 11); err != nil {
		return err
	}
	if err := pen.labelled(fmt.Sprintf("%d. ", n), head, 11, pdfWidth-qw-12); err != nil {
		return err
	}
	use := []string{
		"每次 " + strconv.FormatFloat(it.Dose, 'f', -1, 64) + " " + it.DoseUnit,
		pdfOr(pdfFrequencyZH[it.Frequency], it.Frequency),
		pdfOr(pdfRouteZH[it.Route], it.Route),
	}
	if it.Days > 0 {
		use = append(use, fmt.Sprintf("共 %d 天", it.Days))
	}
	if err := pen.para("用法："+strings.Join(pdfNonEmpty(use...), "，"), 9.5, 16, pdfWidth-16, false); err != nil {
		return err
	}
	pen.y += 4
	return nil
}

// pdfValidity is the validity as printed (N-13: an extension is printed
// with its last day).
func pdfValidity(p *Prescription) string {
	if p.ValidDays <= 1 {
		return "有效期：开具当日有效"
	}
	until := p.ValidUntil
	if until.IsZero() {
		until = ValidUntil(p.IssuedAt, p.ValidDays)
	}
	// ValidUntil is the end of the last day; an exact midnight is read as
	// the end of the day before.
	u := until.In(dates.Beijing)
	if u.Hour() == 0 && u.Minute() == 0 && u.Second() == 0 && u.Nanosecond() == 0 {
		u = u.Add(-time.Nanosecond)
	}
	return fmt.Sprintf("有效期 %d 天（至 %s）", p.ValidDays, u.Format(dates.Layout))
}

func pdfStatusNote(s Status) string {
	switch s {
	case Rejected:
		return "（审核未通过，本处方作废）"
	case Expired:
		return "（已过有效期，本处方作废）"
	}
	return ""
}

func pdfSex(s string) string {
	switch strings.ToLower(s) {
	case "male", "m":
		return "男"
	case "female", "f":
		return "女"
	}
	return s
}

// pdfYuan writes an amount in fen as yuan with two decimals.
func pdfYuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

func pdfDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dates.Beijing).Format(dates.Layout)
}

func pdfDateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dates.Beijing).Format("2006-01-02 15:04")
}

func pdfOr(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}

func pdfNonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// pdfPen writes text in two embedded fonts, each rune in the one that has
// it (the CJK fallback fonts lack Latin glyphs, or have poor ones), with y
// the top of the next line. x positions are relative to the left margin.
type pdfPen struct {
	monitor.PDFText
	pdf  *gopdf.GoPdf
	y    float64
	cont string // heads each page after the first
}

// room starts a new page unless height fits above the bottom margin.
func (pen *pdfPen) room(height float64) error {
	if pen.y+height <= pdfBottom {
		return nil
	}
	return pen.newPage()
}

// newPage starts a page, headed by cont.
func (pen *pdfPen) newPage() error {
	pen.pdf.AddPage()
	pen.y = pdfMargin
	if pen.cont == "" {
		return nil
	}
	pen.pdf.SetTextColor(90, 90, 90)
	err := pen.text(0, pen.y, pen.cont, 8)
	pen.pdf.SetTextColor(0, 0, 0)
	pen.y += 8 * 1.6
	pen.rule(0.5)
	return err
}

// text writes one line at (x, y), x from the left margin, y its top.
func (pen *pdfPen) text(x, y float64, text string, size float64) error {
	return pen.Write(x+pdfMargin, y, text, size)
}

// para writes text wrapped to width from x, centred on the page if center,
// starting a new page when the bottom is reached.
func (pen *pdfPen) para(text string, size, x, width float64, center bool) error {
	for _, l := range pen.Wrap(text, size, width) {
		if err := pen.room(size); err != nil {
			return err
		}
		lx := x
		if center {
			lx = x + (width-pen.Measure(l, size))/2
		}
		if err := pen.text(lx, pen.y, l, size); err != nil {
			return err
		}
		pen.y += size * 1.6
	}
	return nil
}

// labelled writes "label text" with the continuation lines indented
// under the text.
func (pen *pdfPen) labelled(label, text string, size, width float64) error {
	lw := pen.Measure(label, size)
	if err := pen.text(0, pen.y, label, size); err != nil {
		return err
	}
	if text == "" {
		pen.y += size * 1.6
		return nil
	}
	return pen.para(text, size, lw, width-lw, false)
}

// columns writes the cells on one line, each from its fraction of the
// width, or, when one does not fit its column, as a paragraph.
func (pen *pdfPen) columns(size float64, cells []string, at []float64) error {
	fits := true
	for i, c := range cells {
		end := 1.0
		if i+1 < len(at) {
			end = at[i+1]
		}
		if pen.Measure(c, size) > (end-at[i])*pdfWidth-6 {
			fits = false
		}
	}
	if !fits {
		return pen.para(strings.Join(cells, "　"), size, 0, pdfWidth, false)
	}
	for i, c := range cells {
		if err := pen.text(at[i]*pdfWidth, pen.y, c, size); err != nil {
			return err
		}
	}
	pen.y += size * 1.6
	return nil
}

// rule draws a horizontal line across the page below the current line.
func (pen *pdfPen) rule(width float64) {
	pen.pdf.SetLineWidth(width)
	pen.pdf.Line(pdfMargin, pen.y, pdfMargin+pdfWidth, pen.y)
	pen.y += 6
}
