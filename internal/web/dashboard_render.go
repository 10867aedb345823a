package web

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"

	"github.com/signintech/gopdf"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/monitor"
	"github.com/yunyi-health/yunyi/internal/oversight"
)

// The dashboard's figures as sections: a chart (chart.go's bar charts)
// and a table beside it with the same numbers. The dashboard page, the
// bulletin's HTML and its PDF all draw the same sections.

// figSection is one chart and its numbers, or a table alone.
type figSection struct {
	ID    string
	Title string
	Chart *chart
	Head  []string
	Rows  [][]string
}

// SVG is the section's chart as HTML ("" without one).
func (f figSection) SVG() template.HTML {
	if f.Chart == nil {
		return ""
	}
	return f.Chart.SVG()
}

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

func mmss(sec int64) string { return fmt.Sprintf("%d:%02d", sec/60, sec%60) }

func minutes(sec int64) float64 { return float64(int(float64(sec)/60*10+0.5)) / 10 }

func oneDecimal(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func itoa(n int) string { return strconv.Itoa(n) }

// name picks a name in the language.
func nameIn(l i18n.Lang, zh, en string) string {
	if l == i18n.EN && en != "" {
		return en
	}
	return zh
}

// periodSections are one figures' charts by period: visits by kind,
// first visits terminated, prescriptions rejected, times, satisfaction,
// complaints and adverse events.
func periodSections(l i18n.Lang, f *oversight.Figures, idPrefix string) []figSection {
	T := func(k string) string { return i18n.T(l, k) }
	var cols []string
	for _, c := range f.Periods {
		cols = append(cols, c.Period)
	}
	ps := append(append([]oversight.Counts(nil), f.Periods...), f.Total)
	label := func(c oversight.Counts) string {
		if c.Period == "" {
			return T("dash.total")
		}
		return c.Period
	}
	percent := func(v float64) string { return oneDecimal(v) + "%" }
	var out []figSection

	visits := &barChart{label: T("dash.visits"), columns: cols, series: []string{T("dash.first_visits"), T("dash.follow_ups")}, stacked: true,
		colors: []string{"#1f5aa6", "#0f766e"}}
	term := &barChart{label: T("dash.termination"), columns: cols, series: []string{T("dash.termination_rate")}, colors: []string{"#b42318"},
		format: percent}
	rej := &barChart{label: T("dash.rejection"), columns: cols, series: []string{T("dash.rejection_rate")}, colors: []string{"#c2410c"}, format: percent}
	times := &barChart{label: T("dash.times"), columns: cols, series: []string{T("dash.wait_p50"), T("dash.wait_p90"), T("dash.talk_p50"), T("dash.talk_p90")},
		colors: []string{"#93c5fd", "#1f5aa6", "#86efac", "#0f766e"}, format: oneDecimal}
	sat := &barChart{label: T("dash.satisfaction"), columns: cols, series: []string{T("dash.average")}, colors: []string{"#0b6e4f"}, top: 5,
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }}
	cases := &barChart{label: T("dash.cases"), columns: cols, series: []string{T("dash.complaints"), T("dash.complaints_overdue"), T("dash.events"),
		T("dash.events_overdue")}, colors: []string{"#7c3aed", "#be185d", "#a16207", "#b42318"}}
	for _, c := range f.Periods {
		visits.values = append(visits.values, []float64{float64(c.FirstVisits), float64(c.FollowUps)})
		term.values = append(term.values, []float64{c.TerminationRate * 100})
		rej.values = append(rej.values, []float64{c.RejectionRate * 100})
		times.values = append(times.values, []float64{minutes(c.WaitP50), minutes(c.WaitP90), minutes(c.TalkP50), minutes(c.TalkP90)})
		sat.values = append(sat.values, []float64{c.Satisfaction})
		cases.values = append(cases.values, []float64{float64(c.Complaints), float64(c.ComplaintsOverdue), float64(c.AdverseEvents),
			float64(c.AdverseEventsOverdue)})
	}
	sec := func(id string, bc *barChart, head []string, row func(c oversight.Counts) []string) {
		s := figSection{ID: idPrefix + id, Title: bc.label, Chart: bc.layout(), Head: append([]string{T("dash.period")}, head...)}
		for _, c := range ps {
			s.Rows = append(s.Rows, append([]string{label(c)}, row(c)...))
		}
		out = append(out, s)
	}
	sec("visits", visits, []string{T("dash.first_visits"), T("dash.follow_ups"), T("dash.total"), T("dash.completed"), T("dash.terminated"), T("dash.no_shows")},
		func(c oversight.Counts) []string {
			return []string{itoa(c.FirstVisits), itoa(c.FollowUps), itoa(c.Visits), itoa(c.Completed), itoa(c.Terminated), itoa(c.NoShows)}
		})
	sec("termination", term, []string{T("dash.ended"), T("dash.terminated"), T("dash.termination_rate")}, func(c oversight.Counts) []string {
		return []string{itoa(c.FirstVisitsEnded), itoa(c.FirstVisitsTerminated), pct(c.TerminationRate)}
	})
	sec("rejection", rej, []string{T("dash.reviewed"), T("dash.rejected"), T("dash.rejection_rate")}, func(c oversight.Counts) []string {
		return []string{itoa(c.Reviewed), itoa(c.Rejected), pct(c.RejectionRate)}
	})
	sec("times", times, []string{T("dash.wait_p50"), T("dash.wait_p90"), T("dash.talk_p50"), T("dash.talk_p90")}, func(c oversight.Counts) []string {
		return []string{mmss(c.WaitP50), mmss(c.WaitP90), mmss(c.TalkP50), mmss(c.TalkP90)}
	})
	sec("satisfaction", sat, []string{T("dash.ratings"), T("dash.average")}, func(c oversight.Counts) []string {
		return []string{itoa(c.Ratings), strconv.FormatFloat(c.Satisfaction, 'f', 2, 64)}
	})
	sec("cases", cases, []string{T("dash.complaints"), T("dash.open"), T("dash.overdue"), T("dash.events"), T("dash.open"), T("dash.overdue")},
		func(c oversight.Counts) []string {
			return []string{itoa(c.Complaints), itoa(c.ComplaintsOpen), itoa(c.ComplaintsOverdue), itoa(c.AdverseEvents), itoa(c.AdverseEventsOpen),
				itoa(c.AdverseEventsOverdue)}
		})
	return out
}

// institutionSections compare the institutions over the whole range: a
// column an institution.
func institutionSections(l i18n.Lang, d *oversight.Dashboard) []figSection {
	T := func(k string) string { return i18n.T(l, k) }
	if len(d.Institutions) < 2 {
		return nil
	}
	var cols []string
	for _, f := range d.Institutions {
		cols = append(cols, nameIn(l, f.Name, f.NameEN))
	}
	percent := func(v float64) string { return oneDecimal(v) + "%" }
	visits := &barChart{label: T("dash.visits") + " · " + T("dash.by_institution"), columns: cols, series: []string{T("dash.first_visits"), T("dash.follow_ups")},
		stacked: true, colors: []string{"#1f5aa6", "#0f766e"}}
	rates := &barChart{label: T("dash.quality") + " · " + T("dash.by_institution"), columns: cols, series: []string{T("dash.termination_rate"),
		T("dash.rejection_rate")}, colors: []string{"#b42318", "#c2410c"}, format: percent}
	sat := &barChart{label: T("dash.satisfaction") + " · " + T("dash.by_institution"), columns: cols, series: []string{T("dash.average")},
		colors: []string{"#0b6e4f"}, top: 5, format: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }}
	cases := &barChart{label: T("dash.cases") + " · " + T("dash.by_institution"), columns: cols, series: []string{T("dash.complaints"), T("dash.events")},
		colors: []string{"#7c3aed", "#a16207"}}
	for _, f := range d.Institutions {
		t := f.Total
		visits.values = append(visits.values, []float64{float64(t.FirstVisits), float64(t.FollowUps)})
		rates.values = append(rates.values, []float64{t.TerminationRate * 100, t.RejectionRate * 100})
		sat.values = append(sat.values, []float64{t.Satisfaction})
		cases.values = append(cases.values, []float64{float64(t.Complaints), float64(t.AdverseEvents)})
	}
	all := append(append([]oversight.Figures(nil), d.Institutions...), d.Overall)
	sec := func(id string, bc *barChart, head []string, row func(t oversight.Counts) []string) figSection {
		s := figSection{ID: "inst-" + id, Title: bc.label, Chart: bc.layout(), Head: append([]string{T("f.institution")}, head...)}
		for _, f := range all {
			s.Rows = append(s.Rows, append([]string{nameIn(l, f.Name, f.NameEN)}, row(f.Total)...))
		}
		return s
	}
	return []figSection{
		sec("visits", visits, []string{T("dash.first_visits"), T("dash.follow_ups"), T("dash.total"), T("dash.no_shows")}, func(t oversight.Counts) []string {
			return []string{itoa(t.FirstVisits), itoa(t.FollowUps), itoa(t.Visits), itoa(t.NoShows)}
		}),
		sec("quality", rates, []string{T("dash.termination_rate"), T("dash.rejection_rate"), T("dash.wait_p50"), T("dash.talk_p50")}, func(t oversight.Counts) []string {
			return []string{pct(t.TerminationRate), pct(t.RejectionRate), mmss(t.WaitP50), mmss(t.TalkP50)}
		}),
		sec("satisfaction", sat, []string{T("dash.ratings"), T("dash.average")}, func(t oversight.Counts) []string {
			return []string{itoa(t.Ratings), strconv.FormatFloat(t.Satisfaction, 'f', 2, 64)}
		}),
		sec("cases", cases, []string{T("dash.complaints"), T("dash.overdue"), T("dash.events"), T("dash.overdue")}, func(t oversight.Counts) []string {
			return []string{itoa(t.Complaints), itoa(t.ComplaintsOverdue), itoa(t.AdverseEvents), itoa(t.AdverseEventsOverdue)}
		}),
	}
}

// firstVisitSection is the first-visit quality indicators of each
// institution (G-4): first visits, how many ended and were terminated,
// the rate, and the reasons.
func firstVisitSection(l i18n.Lang, d *oversight.Dashboard) figSection {
	T := func(k string) string { return i18n.T(l, k) }
	s := figSection{ID: "first-visit-quality", Title: T("dash.first_visit_quality"),
		Head: []string{T("f.institution"), T("dash.first_visits"), T("dash.ended"), T("dash.terminated"), T("dash.termination_rate"), T("dash.term_reasons")}}
	all := append(append([]oversight.Figures(nil), d.Institutions...), d.Overall)
	for _, f := range all {
		var reasons []string
		for _, r := range f.TerminationReasons {
			reasons = append(reasons, nameIn(l, r.Name, r.NameEN)+" "+itoa(r.N))
		}
		t := f.Total
		s.Rows = append(s.Rows, []string{nameIn(l, f.Name, f.NameEN), itoa(t.FirstVisits), itoa(t.FirstVisitsEnded), itoa(t.FirstVisitsTerminated),
			pct(t.TerminationRate), strings.Join(reasons, i18n.T(l, "list.sep"))})
	}
	return s
}

// breakdownSections are one figures' breakdowns of the range, as tables.
func breakdownSections(l i18n.Lang, f *oversight.Figures, idPrefix string) []figSection {
	T := func(k string) string { return i18n.T(l, k) }
	table := func(id, title string, list []oversight.Count) figSection {
		s := figSection{ID: idPrefix + id, Title: title, Head: []string{T("dash.item"), T("dash.count")}}
		for _, c := range list {
			s.Rows = append(s.Rows, []string{nameIn(l, c.Name, c.NameEN), itoa(c.N)})
		}
		return s
	}
	scores := figSection{ID: idPrefix + "scores", Title: T("dash.by_score"), Head: []string{T("dash.score"), T("dash.count")}}
	for i := 4; i >= 0; i-- {
		scores.Rows = append(scores.Rows, []string{strings.Repeat("★", i+1), itoa(f.RatingsByScore[i])})
	}
	return []figSection{table("kinds", T("dash.by_kind"), f.ByKind), table("departments", T("dash.by_department"), f.ByDepartment),
		table("term-reasons", T("dash.term_reasons"), f.TerminationReasons), table("rej-reasons", T("dash.rej_reasons"), f.RejectionReasons), scores}
}

// --- the bulletin ---

// bulletinView is what the bulletin's HTML and PDF show, in order.
type bulletinView struct {
	B           *oversight.Bulletin
	Lang        i18n.Lang
	Publisher   string
	Date        string // the publication's, or "draft"
	Lead        string
	Overall     []figSection
	Compare     []figSection
	FirstVisits figSection
	Breakdowns  []figSection
	Headings    [5]string
}

func newBulletinView(b *oversight.Bulletin, l i18n.Lang) *bulletinView {
	d := b.Figures
	v := &bulletinView{B: b, Lang: l, Publisher: i18n.T(l, "bul.publisher"), Overall: periodSections(l, &d.Overall, "all-"),
		Compare: institutionSections(l, d), FirstVisits: firstVisitSection(l, d), Breakdowns: breakdownSections(l, &d.Overall, "all-")}
	if b.Published() {
		v.Date = b.PublishedAt.In(dates.Beijing).Format(i18n.T(l, "bul.date_layout"))
	} else {
		v.Date = i18n.T(l, "bul.state.draft")
	}
	t := d.Overall.Total
	v.Lead = i18n.T(l, "bul.lead_text", b.From, b.To, len(d.Institutions), t.Visits, t.FirstVisits, pct(t.TerminationRate), pct(t.RejectionRate),
		strconv.FormatFloat(t.Satisfaction, 'f', 2, 64), t.Ratings, t.Complaints, t.AdverseEvents)
	for i := range v.Headings {
		v.Headings[i] = i18n.T(l, fmt.Sprintf("bul.h%d", i+1))
	}
	return v
}

var bulletinHTML = template.Must(template.New("bulletin").Parse(`<!doctype html>
<html lang="{{if eq .Lang "en"}}en{{else}}zh-CN{{end}}"><head><meta charset="utf-8"><title>{{.B.Title}}</title>
<style>body{font-family:"Noto Serif CJK SC","Songti SC",serif;max-width:52rem;margin:2rem auto;line-height:1.8;padding:0 1rem}
h1,.publisher,.date,.period{text-align:center}h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}h3{font-size:1rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1.5rem}td,th{border:1px solid #d0d7de;padding:.15rem .5rem;text-align:right}
td:first-child,th:first-child{text-align:left}.legend{font-size:.8rem;color:#57606a;margin:.2rem 0}svg.chart{max-width:720px;display:block}
.commentary{white-space:pre-wrap}</style></head><body>
<h1>{{.B.Title}}</h1>
<p class="publisher">{{.Publisher}}</p>
<p class="date">{{.Date}}</p>
<p class="period">{{.B.From}} — {{.B.To}}</p>
<p class="lead">{{.Lead}}</p>
{{define "sec"}}<section class="figure" id="{{.ID}}"><h3>{{.Title}}</h3>{{.SVG}}
<table><thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead><tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody></table></section>{{end}}
<h2>{{index .Headings 0}}</h2>
{{range .Overall}}{{template "sec" .}}{{end}}
{{if .Compare}}<h2>{{index .Headings 1}}</h2>
{{range .Compare}}{{template "sec" .}}{{end}}{{end}}
<h2>{{index .Headings 2}}</h2>
{{template "sec" .FirstVisits}}
<h2>{{index .Headings 3}}</h2>
{{range .Breakdowns}}{{template "sec" .}}{{end}}
<h2>{{index .Headings 4}}</h2>
<p class="commentary">{{.B.Commentary}}</p>
</body></html>
`))

// writeBulletinHTML writes the bulletin as a standalone page, in the
// style of the monitoring report, with its charts as SVG.
func writeBulletinHTML(w io.Writer, b *oversight.Bulletin, l i18n.Lang) error {
	return bulletinHTML.Execute(w, newBulletinView(b, l))
}

// bulletinPDF lays out a bulletin on A4 pages.
type bulletinPDF struct {
	monitor.PDFText
	left, width, bottom, y float64
}

func (p *bulletinPDF) room(h float64) {
	if p.y+h > p.bottom {
		p.PDF.AddPage()
		p.y = 50
	}
}

func (p *bulletinPDF) line(text string, size float64, center bool) error {
	for _, l := range p.Wrap(text, size, p.width) {
		p.room(size * 1.6)
		x := p.left
		if center {
			x += (p.width - p.Measure(l, size)) / 2
		}
		if err := p.Write(x, p.y, l, size); err != nil {
			return err
		}
		p.y += size * 1.6
	}
	return nil
}

// table writes rows in columns: the first column wider, each cell cut to
// its column.
func (p *bulletinPDF) table(head []string, rows [][]string) error {
	const size = 8
	n := len(head)
	first := p.width * 0.28
	if n <= 2 {
		first = p.width * 0.6
	}
	rest := (p.width - first) / float64(max(n-1, 1))
	row := func(cells []string, bold bool) error {
		p.room(size * 1.7)
		x := p.left
		for i, c := range cells {
			w := rest
			if i == 0 {
				w = first
			}
			lines := p.Wrap(c, size, w-4)
			if len(lines) > 0 {
				if err := p.Write(x, p.y, lines[0], size); err != nil {
					return err
				}
			}
			x += w
		}
		p.y += size * 1.7
		if bold {
			p.PDF.SetStrokeColor(0x8a, 0x9a, 0xa9)
			p.PDF.Line(p.left, p.y-2, p.left+p.width, p.y-2)
		}
		return nil
	}
	if err := row(head, true); err != nil {
		return err
	}
	for _, r := range rows {
		if err := row(r, false); err != nil {
			return err
		}
	}
	p.y += 6
	return nil
}

func (p *bulletinPDF) section(s figSection) error {
	if s.Chart != nil {
		p.room(11*1.6 + 14 + chartH*p.width/chartW) // the title stays with its chart
	} else {
		p.room(40)
	}
	if err := p.line(s.Title, 11, false); err != nil {
		return err
	}
	if s.Chart != nil {
		p.room(14 + chartH*p.width/chartW)
		h, err := s.Chart.pdf(p.PDFText, p.left, p.y, p.width)
		if err != nil {
			return err
		}
		p.y += h + 6
	}
	return p.table(s.Head, s.Rows)
}

// writeBulletinPDF writes the bulletin as an A4 PDF in the style of the
// monitoring report (its fonts embedded, so its text extracts), with the
// same charts as the HTML drawn as vectors.
func writeBulletinPDF(w io.Writer, b *oversight.Bulletin, l i18n.Lang) error {
	v := newBulletinView(b, l)
	pdf, err := monitor.NewPDF(gopdf.PageSizeA4)
	if err != nil {
		return err
	}
	pdf.AddPage()
	p := &bulletinPDF{PDFText: monitor.PDFText{PDF: pdf}, left: 60, width: 475, bottom: 790, y: 60}
	steps := []func() error{
		func() error { return p.line(b.Title, 16, true) },
		func() error { return p.line(v.Publisher, 12, true) },
		func() error { return p.line(v.Date, 12, true) },
		func() error { return p.line(b.From+" — "+b.To, 11, true) },
		func() error { p.y += 6; return p.line(v.Lead, 10, false) },
		func() error { p.y += 6; return p.line(v.Headings[0], 13, false) },
	}
	for _, s := range v.Overall {
		steps = append(steps, func() error { return p.section(s) })
	}
	if len(v.Compare) > 0 {
		steps = append(steps, func() error { return p.line(v.Headings[1], 13, false) })
		for _, s := range v.Compare {
			steps = append(steps, func() error { return p.section(s) })
		}
	}
	steps = append(steps, func() error { return p.line(v.Headings[2], 13, false) }, func() error { return p.section(v.FirstVisits) },
		func() error { return p.line(v.Headings[3], 13, false) })
	for _, s := range v.Breakdowns {
		steps = append(steps, func() error { return p.section(s) })
	}
	steps = append(steps, func() error { return p.line(v.Headings[4], 13, false) }, func() error {
		for _, para := range strings.Split(b.Commentary, "\n") {
			if err := p.line(para, 10, false); err != nil {
				return err
			}
		}
		return nil
	})
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	_, err = pdf.WriteTo(w)
	return err
}
