// Package summary is the visit summary (门诊病历) the family keeps after an
// online visit: the institution, the patient (resident ID masked), the
// doctor, the department and time, the latest signed version of the record
// with its ICD-10 diagnoses and advice, the visit's prescriptions that a
// pharmacist approved or dispensed, the health-education articles the
// doctor attached (W-6), and the earlier versions of the record with the
// reason of each amendment. It is made from the stores by the web layer and
// printed here as an A4 PDF.
package summary

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/signintech/gopdf"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/monitor"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Patient is the patient as the summary shows them.
type Patient struct {
	Name       string `json:"name"`
	Sex        string `json:"sex"` // male | female
	SexText    string `json:"sex_text"`
	Age        string `json:"age"`         // at the visit, e.g. "4岁2个月"
	ResidentID string `json:"resident_id"` // masked (identity.MaskResidentID)
}

// Doctor is the visit's doctor.
type Doctor struct {
	Name      string `json:"name"`
	Title     string `json:"title"`
	TitleText string `json:"title_text"`
}

// Drug is one line of a prescription.
type Drug struct {
	Name     string `json:"name"`
	Strength string `json:"strength"`
	Form     string `json:"form,omitempty"`
	Usage    string `json:"usage"` // directions, in Chinese
	Quantity int    `json:"quantity"`
	Unit     string `json:"unit"`
}

// Prescription is an approved or dispensed prescription of the visit.
type Prescription struct {
	ID         int64     `json:"id"`
	Version    int       `json:"version"`
	Status     rx.Status `json:"status"`
	StatusText string    `json:"status_text"`
	IssuedAt   time.Time `json:"issued_at"`
	Drugs      []Drug    `json:"drugs"`
}

// Version is a signed version of the record, with the reason of its
// amendment (none for the first).
type Version struct {
	Version     int       `json:"version"`
	SignedAt    time.Time `json:"signed_at"`
	Author      string    `json:"author"`
	AmendReason string    `json:"amend_reason,omitempty"`
}

// Article is a health-education article attached to the visit.
type Article struct {
	ID     int64  `json:"id"`
	Title  string `json:"title"`
	Source string `json:"source"`
}

// Summary is the visit summary.
type Summary struct {
	VisitID         int64          `json:"visit_id"`
	Institution     string         `json:"institution"`
	InstitutionName string         `json:"institution_name"`
	Department      string         `json:"department"`
	DepartmentName  string         `json:"department_name"`
	ServiceName     string         `json:"service_name"`
	VisitTime       time.Time      `json:"visit_time"` // when the doctor called in (the slot's time if never)
	EndedAt         time.Time      `json:"ended_at,omitzero"`
	Patient         Patient        `json:"patient"`
	Doctor          Doctor         `json:"doctor"`
	Record          visit.Record   `json:"record"`           // the latest signed version
	Earlier         []Version      `json:"earlier_versions"` // older versions, newest first
	Prescriptions   []Prescription `json:"prescriptions"`
	Education       []Article      `json:"education"`
	GeneratedAt     time.Time      `json:"generated_at"`
}

// Dispensable reports whether a prescription belongs in the summary:
// approved by the pharmacist or dispensed.
func Dispensable(s rx.Status) bool { return s == rx.Approved || s == rx.Dispensed }

// FromRx is a prescription as the summary lists it.
func FromRx(p rx.Prescription, statusText string) Prescription {
	out := Prescription{ID: p.ID, Version: p.Version, Status: p.Status, StatusText: statusText, IssuedAt: p.IssuedAt, Drugs: []Drug{}}
	for _, it := range p.Items {
		name := it.Name
		if name == "" {
			name = it.Drug
		}
		out.Drugs = append(out.Drugs, Drug{Name: name, Strength: it.Strength, Form: it.Form, Usage: rx.UsageZH(it), Quantity: it.Quantity, Unit: it.Unit})
	}
	return out
}

// Versions splits the signed versions (oldest first) into the latest and
// the earlier ones, newest first.
func Versions(recs []visit.Record) (visit.Record, []Version) {
	if len(recs) == 0 {
		return visit.Record{}, []Version{}
	}
	earlier := []Version{}
	for i := len(recs) - 2; i >= 0; i-- {
		r := recs[i]
		earlier = append(earlier, Version{Version: r.Version, SignedAt: r.SignedAt, Author: r.AuthorName, AmendReason: r.AmendReason})
	}
	return recs[len(recs)-1], earlier
}

// Page geometry: A4 portrait, 20 mm margins.
const (
	pageW  = 595.28
	pageH  = 841.89
	margin = 56.7
	width  = pageW - 2*margin
	bottom = pageH - margin
)

// RenderPDF writes the summary as an A4 PDF, its fonts (monitor.Fonts)
// embedded so that the text extracts.
func (s *Summary) RenderPDF(w io.Writer) error {
	pdf, err := monitor.NewPDF(gopdf.PageSizeA4)
	if err != nil {
		return err
	}
	pdf.SetInfo(gopdf.PdfInfo{Title: fmt.Sprintf("门诊病历 %d", s.VisitID), Creator: "Yunyi", Producer: "Yunyi"})
	pen := &pen{PDFText: monitor.PDFText{PDF: pdf}, pdf: pdf}
	pen.newPage()
	pen.cont = fmt.Sprintf("（续）门诊病历　就诊号：%d　姓名：%s", s.VisitID, s.Patient.Name)

	inst := s.InstitutionName
	if inst == "" {
		inst = s.Institution
	}
	if err := pen.para(inst, 16, true); err != nil {
		return err
	}
	if err := pen.para("门诊病历（互联网诊疗）", 13, true); err != nil {
		return err
	}
	pen.y += 4
	r := &s.Record
	lines := [][]string{
		{"就诊号：" + fmt.Sprint(s.VisitID), "科别：" + or(s.DepartmentName, s.Department), "就诊时间：" + dateTime(s.VisitTime)},
		{"姓名：" + s.Patient.Name, "性别：" + s.Patient.SexText, "年龄：" + s.Patient.Age},
		{"身份证号：" + s.Patient.ResidentID, "接诊医师：" + s.Doctor.Name + "（" + s.Doctor.TitleText + "）", "病历版本：第 " + fmt.Sprint(r.Version) + " 版"},
	}
	for _, l := range lines {
		if err := pen.columns(10, l, []float64{0, 0.36, 0.64}); err != nil {
			return err
		}
	}
	if s.ServiceName != "" {
		if err := pen.labelled("服务：", s.ServiceName, 10); err != nil {
			return err
		}
	}
	pen.rule(0.8)

	var dx []string
	for _, d := range r.Diagnoses {
		dx = append(dx, strings.TrimSpace(d.Code+" "+d.Name))
	}
	for _, f := range []struct{ label, text string }{
		{"主诉：", r.ChiefComplaint}, {"现病史：", r.PresentIllness}, {"既往史：", r.History},
		{"检查所见：", r.Observations}, {"诊断：", strings.Join(dx, "；")}, {"处理意见：", r.Advice},
	} {
		if f.text == "" {
			continue
		}
		if err := pen.labelled(f.label, f.text, 11); err != nil {
			return err
		}
		pen.y += 3
	}

	if len(s.Prescriptions) > 0 {
		pen.rule(0.5)
		if err := pen.para("处方", 12, false); err != nil {
			return err
		}
		for _, p := range s.Prescriptions {
			head := fmt.Sprintf("处方编号 %d-v%d（%s，%s）", p.ID, p.Version, p.StatusText, date(p.IssuedAt))
			if err := pen.para(head, 10, false); err != nil {
				return err
			}
			for i, d := range p.Drugs {
				line := fmt.Sprintf("%d. %s　×%d%s", i+1, strings.Join(nonEmpty(d.Name, d.Strength, d.Form), "　"), d.Quantity, d.Unit)
				if err := pen.indented(line, 10.5, 10); err != nil {
					return err
				}
				if err := pen.indented("用法："+d.Usage, 9.5, 24); err != nil {
					return err
				}
			}
			pen.y += 3
		}
	}

	if len(s.Education) > 0 {
		pen.rule(0.5)
		if err := pen.para("健康教育资料（可在问诊页面阅读全文）", 12, false); err != nil {
			return err
		}
		for i, a := range s.Education {
			if err := pen.indented(fmt.Sprintf("%d. %s", i+1, a.Title), 10, 10); err != nil {
				return err
			}
		}
	}

	pen.rule(0.5)
	sign := fmt.Sprintf("医师：%s　已电子签名 %s", or(r.AuthorName, s.Doctor.Name), dateTime(r.SignedAt))
	if r.Version > 1 {
		sign += fmt.Sprintf("（第 %d 版，修订原因：%s）", r.Version, r.AmendReason)
	}
	if err := pen.para(sign, 10, false); err != nil {
		return err
	}
	if len(s.Earlier) > 0 {
		if err := pen.para("历次版本：", 10, false); err != nil {
			return err
		}
		for _, v := range s.Earlier {
			line := fmt.Sprintf("第 %d 版　%s　%s", v.Version, dateTime(v.SignedAt), v.Author)
			if v.AmendReason != "" {
				line += "　修订原因：" + v.AmendReason
			} else {
				line += "　首次签署"
			}
			if err := pen.indented(line, 9.5, 10); err != nil {
				return err
			}
		}
	}
	pen.y += 6
	pdf.SetTextColor(90, 90, 90)
	err = pen.para("本病历由云医互联网医院平台生成，生成时间 "+dateTime(s.GeneratedAt)+"。如病情变化或加重，请及时到医院线下就诊。", 8.5, false)
	pdf.SetTextColor(0, 0, 0)
	if err != nil {
		return err
	}
	_, err = pdf.WriteTo(w)
	return err
}

// pen lays out lines top to bottom in the two embedded fonts; x is
// relative to the left margin, y the top of the next line.
type pen struct {
	monitor.PDFText
	pdf  *gopdf.GoPdf
	y    float64
	cont string // heads each page after the first
}

func (p *pen) newPage() {
	p.pdf.AddPage()
	p.y = margin
	if p.cont != "" {
		p.pdf.SetTextColor(90, 90, 90)
		p.text(0, p.y, p.cont, 8)
		p.pdf.SetTextColor(0, 0, 0)
		p.y += 8 * 1.6
		p.rule(0.5)
	}
}

func (p *pen) room(h float64) {
	if p.y+h > bottom {
		p.newPage()
	}
}

func (p *pen) text(x, y float64, s string, size float64) error { return p.Write(x+margin, y, s, size) }

// wrapped writes text wrapped to w from x, centred if center.
func (p *pen) wrapped(text string, size, x, w float64, center bool) error {
	for _, l := range p.Wrap(text, size, w) {
		p.room(size)
		lx := x
		if center {
			lx = x + (w-p.Measure(l, size))/2
		}
		if err := p.text(lx, p.y, l, size); err != nil {
			return err
		}
		p.y += size * 1.6
	}
	return nil
}

func (p *pen) para(text string, size float64, center bool) error {
	return p.wrapped(text, size, 0, width, center)
}

func (p *pen) indented(text string, size, x float64) error {
	return p.wrapped(text, size, x, width-x, false)
}

// labelled writes "label text", the continuation lines under the text.
func (p *pen) labelled(label, text string, size float64) error {
	lw := p.Measure(label, size)
	p.room(size)
	if err := p.text(0, p.y, label, size); err != nil {
		return err
	}
	return p.wrapped(text, size, lw, width-lw, false)
}

// columns writes cells on one line, each from its fraction of the width,
// or as one paragraph when one does not fit.
func (p *pen) columns(size float64, cells []string, at []float64) error {
	for i, c := range cells {
		end := 1.0
		if i+1 < len(at) {
			end = at[i+1]
		}
		if p.Measure(c, size) > (end-at[i])*width-6 {
			return p.para(strings.Join(cells, "　"), size, false)
		}
	}
	p.room(size)
	for i, c := range cells {
		if err := p.text(at[i]*width, p.y, c, size); err != nil {
			return err
		}
	}
	p.y += size * 1.6
	return nil
}

func (p *pen) rule(w float64) {
	p.room(8)
	p.pdf.SetLineWidth(w)
	p.pdf.Line(margin, p.y, margin+width, p.y)
	p.y += 6
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dates.Beijing).Format(dates.Layout)
}

func dateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dates.Beijing).Format("2006-01-02 15:04")
}

func or(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
