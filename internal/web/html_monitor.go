package web

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/crawl"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/monitor"
)

func (s *Server) monitorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /monitor", s.requireLogin(s.show("monitor", s.monitorPage)))
	mux.HandleFunc("POST /monitor/sources", s.requireLogin(s.submit("monitor", s.monitorPage, s.postSource, func(*http.Request) string { return "/monitor?ok=saved" })))
	mux.HandleFunc("POST /monitor/crawl", s.requireLogin(s.postCrawl))
	mux.HandleFunc("POST /monitor/taxonomy", s.requireLogin(s.submit("monitor", s.monitorPage, s.postTaxonomy, func(*http.Request) string { return "/monitor?ok=saved#rules" })))
	mux.HandleFunc("POST /monitor/items/{id}/override", s.requireLogin(s.postOverride))
	mux.HandleFunc("POST /monitor/reports", s.requireLogin(s.submit("monitor", s.monitorPage, s.postDraft, func(r *http.Request) string { return "/monitor?ok=saved" })))
	mux.HandleFunc("GET /monitor/reports/{id}", s.requireLogin(s.show("report", s.reportPage)))
	mux.HandleFunc("POST /monitor/reports/{id}", s.requireLogin(s.submit("report", s.reportPage, s.postReportEdit, func(r *http.Request) string { return "/monitor/reports/" + r.PathValue("id") + "?ok=saved" })))
	mux.HandleFunc("POST /monitor/reports/{id}/publish", s.requireLogin(s.submit("report", s.reportPage, s.postPublish, func(r *http.Request) string { return "/monitor/reports/" + r.PathValue("id") + "?ok=published" })))
}

// monthBar is the items of a month by sentiment, for the chart.
type monthBar struct {
	Month                       string
	Positive, Neutral, Negative int
	Total                       int
	Topics                      map[string]int
}

type monitorData struct {
	Sources            []monitor.Source
	Items              []monitor.Item
	Reports            []monitor.Report
	Month              string
	Relevant           string
	Bars               []monthBar
	Charts             template.HTML // the bars as SVG charts
	Max                int
	Topics             []string
	Crawl              *CrawlRun
	Taxonomy           string // one "topic,term,weight" a line, for editing
	Threshold          float64
	Positive, Negative string
	Margin             int
}

func (s *Server) monitorPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	if !authz.Qualify(actor(r)) {
		return nil, errs.E(errs.Forbidden)
	}
	ctx := r.Context()
	d := &monitorData{Month: r.URL.Query().Get("month"), Relevant: r.URL.Query().Get("relevant")}
	var err error
	if d.Sources, err = s.db.Sources(ctx); err != nil {
		return nil, err
	}
	if d.Reports, err = s.db.Reports(ctx); err != nil {
		return nil, err
	}
	all, err := s.db.Items(ctx, monitor.ItemFilter{Limit: 5000})
	if err != nil {
		return nil, err
	}
	tax, err := s.db.Taxonomy(ctx)
	if err != nil {
		return nil, err
	}
	topicOf := map[string]string{}
	seen := map[string]bool{}
	for _, t := range tax.Terms {
		topicOf[t.Term] = t.Topic
		if !seen[t.Topic] {
			seen[t.Topic] = true
			d.Topics = append(d.Topics, t.Topic)
		}
	}
	bars := map[string]*monthBar{}
	for _, it := range all {
		m := it.Published[:min(7, len(it.Published))]
		if (d.Month == "" || m == d.Month) && (d.Relevant == "" || strconv.FormatBool(it.Relevant) == d.Relevant) {
			d.Items = append(d.Items, it)
		}
		if !it.Relevant {
			continue
		}
		b := bars[m]
		if b == nil {
			b = &monthBar{Month: m, Topics: map[string]int{}}
			bars[m] = b
		}
		b.Total++
		switch it.Sentiment {
		case monitor.Positive:
			b.Positive++
		case monitor.Negative:
			b.Negative++
		default:
			b.Neutral++
		}
		counted := map[string]bool{}
		for _, t := range it.Terms {
			if tp := topicOf[t]; tp != "" && !counted[tp] {
				counted[tp] = true
				b.Topics[tp]++
			}
		}
	}
	for _, b := range bars {
		d.Bars = append(d.Bars, *b)
		d.Max = max(d.Max, b.Total)
	}
	sort.Slice(d.Bars, func(i, j int) bool { return d.Bars[i].Month > d.Bars[j].Month })
	if len(d.Bars) > 12 {
		d.Bars = d.Bars[:12]
	}
	d.Charts = monthCharts(uiLang(r), d.Bars, d.Topics)
	if id, err := strconv.ParseInt(r.URL.Query().Get("crawl"), 10, 64); err == nil {
		if run, err := s.db.Run(ctx, id); err == nil {
			d.Crawl = run
		} else if !errs.Is(err, errs.NotFound) {
			return nil, err
		}
	}
	var lines []string
	for _, t := range tax.Terms {
		lines = append(lines, t.Topic+","+t.Term+","+strconv.FormatFloat(t.Weight, 'f', -1, 64))
	}
	d.Taxonomy, d.Threshold = strings.Join(lines, "\n"), tax.Threshold
	lex, err := s.db.Lexicon(ctx)
	if err != nil {
		return nil, err
	}
	d.Positive, d.Negative, d.Margin = strings.Join(lex.Positive, "、"), strings.Join(lex.Negative, "、"), lex.Margin
	if d.Crawl != nil && d.Crawl.Status == "running" {
		w.Header().Set("Refresh", "2") // the page follows the collection
	}
	p := s.newPage(w, r, "title.monitor")
	p.Data = d
	return p, nil
}

// postTaxonomy saves the editor's taxonomy and lexicon (one term a line:
// topic,term,weight; words separated by 、 or commas).
func (s *Server) postTaxonomy(r *http.Request) error {
	if !authz.Qualify(actor(r)) {
		return errs.E(errs.Forbidden)
	}
	var f errs.Fields
	var tax monitor.Taxonomy
	for i, line := range strings.Split(r.PostFormValue("taxonomy"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		parts := strings.Split(strings.ReplaceAll(line, "，", ","), ",")
		if len(parts) != 3 {
			f.Add("taxonomy", "term_line", i+1)
			continue
		}
		w, err := strconv.ParseFloat(strings.TrimSpace(parts[2]), 64)
		if err != nil || w <= 0 || strings.TrimSpace(parts[0]) == "" || strings.TrimSpace(parts[1]) == "" {
			f.Add("taxonomy", "term_line", i+1)
			continue
		}
		tax.Terms = append(tax.Terms, monitor.Term{Topic: strings.TrimSpace(parts[0]), Term: strings.TrimSpace(parts[1]), Weight: w})
	}
	tax.Threshold, _ = strconv.ParseFloat(strings.TrimSpace(r.PostFormValue("threshold")), 64)
	words := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '、' || r == ',' || r == '，' || r == ' ' || r == '\n' })
	}
	lex := monitor.Lexicon{Positive: words(r.PostFormValue("positive")), Negative: words(r.PostFormValue("negative"))}
	lex.Margin, _ = strconv.Atoi(r.PostFormValue("margin"))
	// The same checks as the API's, reported on the form's fields.
	if err := tax.Validate(); err != nil {
		lineErrors := f.Has("taxonomy")
		for _, fe := range err.(*errs.Error).Fields {
			if strings.HasPrefix(fe.Field, "terms") {
				if lineErrors {
					continue // the lines' own errors say it better
				}
				fe.Field = "taxonomy"
			}
			f.Add(fe.Field, fe.Code, fe.Args...)
		}
	}
	mergeFields(&f, lex.Validate())
	if err := f.Err(); err != nil {
		return err
	}
	if err := s.db.SaveTaxonomy(r.Context(), tax); err != nil {
		return err
	}
	if err := s.db.SaveLexicon(r.Context(), lex); err != nil {
		return err
	}
	return s.record(r, "monitor.taxonomy.save", "monitor_taxonomy", "", "", "")
}

func (s *Server) postSource(r *http.Request) error {
	if !authz.Qualify(actor(r)) {
		return errs.E(errs.Forbidden)
	}
	src := &monitor.Source{Name: r.PostFormValue("name"), Media: r.PostFormValue("media"), Kind: monitor.SourceKind(r.PostFormValue("kind")),
		URL: r.PostFormValue("url"), LinkSelector: strings.TrimSpace(r.PostFormValue("link_selector")), TitleSelector: strings.TrimSpace(r.PostFormValue("title_selector")),
		DateSelector: strings.TrimSpace(r.PostFormValue("date_selector")), BodySelector: strings.TrimSpace(r.PostFormValue("body_selector")), Active: true}
	src.IntervalMin, _ = strconv.Atoi(r.PostFormValue("interval_minutes"))
	if err := src.Validate(crawl.CheckSelector); err != nil {
		return err
	}
	if err := s.db.SaveSource(r.Context(), src); err != nil {
		return err
	}
	return s.record(r, "monitor.source.save", "monitor_source", strconv.FormatInt(src.ID, 10), "", src.URL)
}

// postCrawl starts a collection; the page follows its progress.
func (s *Server) postCrawl(w http.ResponseWriter, r *http.Request) {
	if !authz.Qualify(actor(r)) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	run, err := s.newCrawl(actor(r).ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.crawl", "monitor_crawl", strconv.FormatInt(run.ID, 10), "", "")
	go s.Crawl(run)
	http.Redirect(w, r, "/monitor?crawl="+strconv.FormatInt(run.ID, 10), http.StatusSeeOther)
}

func (s *Server) postOverride(w http.ResponseWriter, r *http.Request) {
	if !authz.Qualify(actor(r)) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var v *bool
	switch r.PostFormValue("relevant") {
	case "true":
		t := true
		v = &t
	case "false":
		f := false
		v = &f
	}
	if err := s.keep(r.Context(), id, v); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.item.override", "monitor_item", r.PathValue("id"), "", r.PostFormValue("relevant"))
	back := "/monitor?ok=saved"
	if m := r.PostFormValue("month"); m != "" {
		back += "&month=" + m
	}
	http.Redirect(w, r, back+"#items", http.StatusSeeOther)
}

func (s *Server) postDraft(r *http.Request) error {
	if !authz.Qualify(actor(r)) {
		return errs.E(errs.Forbidden)
	}
	number, _ := strconv.Atoi(r.PostFormValue("number"))
	rep, err := monitor.DraftReport(r.Context(), s.db, r.PostFormValue("from"), r.PostFormValue("to"), number, s.cfg.Now())
	if err != nil {
		return err
	}
	return s.record(r, "monitor.report.draft", "monitor_report", strconv.FormatInt(rep.ID, 10), "", "")
}

func (s *Server) reportPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	if !authz.Qualify(actor(r)) {
		return nil, errs.E(errs.Forbidden)
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	rep, err := s.db.Report(r.Context(), id)
	if err != nil {
		return nil, err
	}
	p := s.newPage(w, r, "title.report")
	p.Title = "北京卫生信息化舆情监测月报（第" + monitor.ChineseNumber(rep.Number) + "期）"
	p.Data = rep
	return p, nil
}

// postReportEdit saves the editor's choices: which entries, in which order,
// with which titles and summaries.
func (s *Server) postReportEdit(r *http.Request) error {
	if !authz.Qualify(actor(r)) {
		return errs.E(errs.Forbidden)
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	rep, err := s.db.Report(r.Context(), id)
	if err != nil {
		return err
	}
	type ordered struct {
		pos int
		it  monitor.ReportItem
	}
	var list []ordered
	for i, it := range rep.Items {
		k := strconv.FormatInt(it.ItemID, 10)
		pos, err := strconv.Atoi(r.PostFormValue("pos_" + k))
		if err != nil {
			pos = i + 1
		}
		it.Included = r.PostFormValue("inc_"+k) != ""
		if t := strings.TrimSpace(r.PostFormValue("title_" + k)); t != "" {
			it.Title = t
		}
		if sm := strings.TrimSpace(r.PostFormValue("summary_" + k)); sm != "" {
			it.Summary = sm
		}
		list = append(list, ordered{pos, it})
	}
	sort.SliceStable(list, func(a, b int) bool { return list[a].pos < list[b].pos })
	rep.Items = rep.Items[:0]
	for _, o := range list {
		rep.Items = append(rep.Items, o.it)
	}
	if sc := strings.TrimSpace(r.PostFormValue("scope")); sc != "" {
		rep.Scope = sc
	}
	if err := s.db.SaveReport(r.Context(), rep); err != nil {
		return err
	}
	return s.record(r, "monitor.report.edit", "monitor_report", r.PathValue("id"), "", "")
}

func (s *Server) postPublish(r *http.Request) error {
	if !authz.Qualify(actor(r)) {
		return errs.E(errs.Forbidden)
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	rep, err := s.db.Report(r.Context(), id)
	if err != nil {
		return err
	}
	if err := monitor.PublishReport(r.Context(), s.db, rep, s.cfg.Now()); err != nil {
		return err
	}
	return s.record(r, "monitor.report.publish", "monitor_report", r.PathValue("id"), "", strconv.Itoa(rep.Number))
}
