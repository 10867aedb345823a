package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/crawl"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/monitor"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// CrawlRun is one run of the collection, stored with its progress.
type CrawlRun = crawl.Run

type crawls struct {
	busy sync.Mutex // one collection at a time
}

func (s *Server) crawler() *crawl.Crawler {
	o := crawl.DefaultOptions
	if s.cfg.Crawl != nil {
		o = *s.cfg.Crawl // given options decide (tests with fixture sites on loopback)
	} else {
		o.AllowPrivate = os.Getenv("YUNYI_MONITOR_ALLOW_PRIVATE") == "1"
	}
	return &crawl.Crawler{Fetch: crawl.NewFetcher(o), Store: s.db, Now: s.cfg.Now, OnNew: s.alertNegative}
}

// alertNegative tells the regulators of a negative item about a Beijing
// institution of the directory (G-3, G-5).
func (s *Server) alertNegative(ctx context.Context, it *monitor.Item) {
	if it.Sentiment != monitor.Negative {
		return
	}
	insts, err := s.dir.Institutions(ctx)
	if err != nil {
		return
	}
	var names []string
	for _, i := range insts {
		names = append(names, i.Name)
		for _, a := range strings.FieldsFunc(i.Alias, func(r rune) bool { return r == '（' || r == '）' || r == '、' }) {
			names = append(names, a)
		}
	}
	hit := monitor.MentionedInstitutions(it.Title+"\n"+it.Text, names)
	if len(hit) == 0 {
		return
	}
	accts, err := s.db.Accounts(ctx, "")
	if err != nil {
		return
	}
	for _, a := range accts {
		if a.Role != identity.RoleRegulator {
			continue
		}
		s.db.Notify(ctx, &notify.Notification{AccountID: a.ID, Kind: "monitor_alert", CreatedAt: s.cfg.Now(), Ref: "monitor_item/" + strconv.FormatInt(it.ID, 10),
			Title:   "负面舆情提醒：" + strings.Join(hit, "、"),
			Body:    fmt.Sprintf("%s（%s，%s）涉及%s，判定为负面（%s）。%s", it.Title, it.Media, it.Published, strings.Join(hit, "、"), strings.Join(it.Feeling, "、"), it.URL),
			TitleEN: "Negative coverage: " + strings.Join(hit, ", "),
			BodyEN:  fmt.Sprintf("%s (%s, %s) about %s is negative (%s). %s", it.Title, it.Media, it.Published, strings.Join(hit, ", "), strings.Join(it.Feeling, ", "), it.URL)})
	}
}

func (s *Server) apiLexicon(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	l, err := s.db.Lexicon(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) apiSaveLexicon(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	var l monitor.Lexicon
	if err := decode(w, r, &l); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := l.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.SaveLexicon(r.Context(), l); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.lexicon.save", "monitor_lexicon", "", "", "")
	writeJSON(w, http.StatusOK, l)
}

// Crawl runs the collection once (the scheduler and `yunyi monitor crawl`
// call it too).
// The run's progress is stored after each source; r is the caller's copy
// and is final when Crawl returns.
func (s *Server) Crawl(r *CrawlRun) {
	s.crawls.busy.Lock()
	defer s.crawls.busy.Unlock()
	ctx := context.Background()
	res, err := s.crawler().Run(ctx, func(p []crawl.SourceResult) {
		progress := *r
		progress.Sources = append([]crawl.SourceResult{}, p...)
		if err := s.db.UpdateRun(ctx, &progress); err != nil {
			s.log.Warn("monitor crawl progress", "run", r.ID, "err", err)
		}
	})
	r.Finished, r.Status, r.Sources = s.cfg.Now(), crawl.RunDone, res
	if err != nil {
		r.Status, r.Error = crawl.RunFailed, err.Error()
	}
	if r.Sources == nil {
		r.Sources = []crawl.SourceResult{}
	}
	if err := s.db.UpdateRun(ctx, r); err != nil {
		s.log.Error("monitor crawl", "run", r.ID, "err", err)
	}
}

// newCrawl stores a new run.
func (s *Server) newCrawl(by int64) (*CrawlRun, error) {
	r := &CrawlRun{Status: crawl.RunRunning, Started: s.cfg.Now(), Sources: []crawl.SourceResult{}, By: by}
	return r, s.db.CreateRun(context.Background(), r)
}

func (s *Server) regulator(w http.ResponseWriter, r *http.Request) bool {
	if !authz.Qualify(actor(r)) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return false
	}
	return true
}

func (s *Server) apiSources(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	list, err := s.db.Sources(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (s *Server) apiSaveSource(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	src := monitor.Source{Active: true}
	if err := decode(w, r, &src); err != nil {
		s.fail(w, r, err)
		return
	}
	src.ID = 0
	status := http.StatusCreated
	if id := r.PathValue("id"); id != "" {
		src.ID, _ = strconv.ParseInt(id, 10, 64)
		status = http.StatusOK
	}
	if err := src.Validate(crawl.CheckSelector); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.SaveSource(r.Context(), &src); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.source.save", "monitor_source", strconv.FormatInt(src.ID, 10), "", src.URL)
	writeJSON(w, status, src)
}

func (s *Server) apiCrawl(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	run, err := s.newCrawl(actor(r).ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.crawl", "monitor_crawl", strconv.FormatInt(run.ID, 10), "", "")
	if r.URL.Query().Get("async") == "1" {
		go s.Crawl(run)
		writeJSON(w, http.StatusAccepted, map[string]any{"id": run.ID, "status": "running"})
		return
	}
	s.Crawl(run)
	writeJSON(w, http.StatusOK, run)
}

func (s *Server) apiCrawlStatus(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	run, err := s.db.Run(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Server) apiItems(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	q := r.URL.Query()
	f := monitor.ItemFilter{From: q.Get("from"), To: q.Get("to")}
	switch q.Get("relevant") {
	case "true":
		v := true
		f.Relevant = &v
	case "false":
		v := false
		f.Relevant = &v
	}
	items, err := s.db.Items(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) apiOverride(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	var in struct {
		Relevant *bool `json:"relevant"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := s.keep(r.Context(), id, in.Relevant); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.item.override", "monitor_item", r.PathValue("id"), "", "")
	w.WriteHeader(http.StatusNoContent)
}

// keep records the editor's verdict on an item; an item kept without a
// summary (it was dropped when collected) gets one now.
func (s *Server) keep(ctx context.Context, id int64, relevant *bool) error {
	if err := s.db.SetOverride(ctx, id, relevant); err != nil {
		return err
	}
	if relevant == nil || !*relevant {
		return nil
	}
	it, err := s.db.Item(ctx, id)
	if err != nil {
		return err
	}
	if it.EnsureSummary() {
		return s.db.SetItemSummary(ctx, id, it.Summary)
	}
	return nil
}

func (s *Server) apiTaxonomy(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	t, err := s.db.Taxonomy(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) apiSaveTaxonomy(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	var t monitor.Taxonomy
	if err := decode(w, r, &t); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := t.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.SaveTaxonomy(r.Context(), t); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.taxonomy.save", "monitor_taxonomy", "", "", "")
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) apiDraftReport(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	var in struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Number int    `json:"number"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := monitor.DraftReport(r.Context(), s.db, in.From, in.To, in.Number, s.cfg.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.report.draft", "monitor_report", strconv.FormatInt(rep.ID, 10), "", "")
	writeJSON(w, http.StatusCreated, rep)
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) (*monitor.Report, bool) {
	if !s.regulator(w, r) {
		return nil, false
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	rep, err := s.db.Report(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return rep, true
}

func (s *Server) apiReport(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.report(w, r)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		switch r.Header.Get("Accept") {
		case "text/plain":
			format = "txt"
		case "text/html":
			format = "html"
		case "application/pdf":
			format = "pdf"
		case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
			format = "docx"
		}
	}
	switch format {
	case "txt":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rep.WriteText(w)
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		rep.WriteHTML(w)
	case "pdf":
		var buf bytes.Buffer
		if err := rep.WritePDF(&buf); err != nil {
			if errors.Is(err, monitor.ErrNoFont) {
				s.fail(w, r, errs.Wrap("pdf_font_missing", err))
				return
			}
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="yunyi-monitor-%d.pdf"`, rep.Number))
		w.Write(buf.Bytes())
	case "docx":
		var buf bytes.Buffer
		if err := rep.WriteDOCX(&buf); err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="yunyi-monitor-%d.docx"`, rep.Number))
		w.Write(buf.Bytes())
	case "", "json":
		writeJSON(w, http.StatusOK, rep)
	default:
		var f errs.Fields
		f.Add("format", "format_unknown")
		s.fail(w, r, f.Err())
	}
}

func (s *Server) apiReports(w http.ResponseWriter, r *http.Request) {
	if !s.regulator(w, r) {
		return
	}
	list, err := s.db.Reports(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

// apiEditReport lets the editor include, exclude, reorder and edit the
// entries of a draft.
func (s *Server) apiEditReport(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.report(w, r)
	if !ok {
		return
	}
	var in struct {
		Date  string               `json:"date"`
		Scope string               `json:"scope"`
		Items []monitor.ReportItem `json:"items"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if rep.Status != monitor.Draft {
		s.fail(w, r, errs.E("report_published"))
		return
	}
	if in.Date != "" {
		rep.Date = in.Date
	}
	if in.Scope != "" {
		rep.Scope = in.Scope
	}
	if in.Items != nil {
		known := map[int64]monitor.ReportItem{}
		for _, it := range rep.Items {
			known[it.ItemID] = it
		}
		var f errs.Fields
		for i, it := range in.Items {
			old, ok := known[it.ItemID]
			if !ok {
				f.Add("items."+strconv.Itoa(i), "not_found")
				continue
			}
			if it.Title == "" {
				in.Items[i].Title = old.Title
			}
			if it.Summary == "" {
				in.Items[i].Summary = old.Summary
			}
			in.Items[i].Media, in.Items[i].Published, in.Items[i].URL = old.Media, old.Published, old.URL
		}
		if err := f.Err(); err != nil {
			s.fail(w, r, err)
			return
		}
		rep.Items = in.Items
	}
	if err := s.db.SaveReport(r.Context(), rep); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.report.edit", "monitor_report", r.PathValue("id"), "", "")
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) apiPublishReport(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.report(w, r)
	if !ok {
		return
	}
	if err := monitor.PublishReport(r.Context(), s.db, rep, s.cfg.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "monitor.report.publish", "monitor_report", r.PathValue("id"), "", strconv.Itoa(rep.Number))
	writeJSON(w, http.StatusOK, rep)
}

// CrawlDue collects when a source's interval has passed (the scheduler
// inside serve calls it every minute).
func (s *Server) CrawlDue(ctx context.Context) error {
	sources, err := s.db.Sources(ctx)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	for _, src := range sources {
		if src.Active && now.Sub(src.LastCrawl) >= time.Duration(src.IntervalMin)*time.Minute {
			_, err := s.CrawlNow()
			return err
		}
	}
	return nil
}

// CrawlNow runs a collection and returns its results (`yunyi monitor crawl`).
func (s *Server) CrawlNow() (*CrawlRun, error) {
	run, err := s.newCrawl(0)
	if err != nil {
		return nil, err
	}
	s.Crawl(run)
	return run, nil
}

// InterruptedCrawls marks the runs a stopped process left running as
// failed (at start).
func (s *Server) InterruptedCrawls(ctx context.Context) (int, error) {
	return s.db.InterruptRuns(ctx, s.cfg.Now(), "interrupted: the server stopped during the run")
}
