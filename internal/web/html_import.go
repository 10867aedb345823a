package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// postHistory takes an uploaded file and starts its import; the progress
// page follows it. The form is read as a stream: its file is copied to a
// temporary file (never held in memory), which the import reads in the
// background (api_import.go).
func (s *Server) postHistory(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	formErr := func(err error) {
		p := s.newPage(w, r, "title.history")
		p.Data = map[string]any{"Inst": inst}
		s.formErr(w, r, "history", p, err)
	}
	fileRequired := func() {
		var f errs.Fields
		f.Add("file", "required")
		formErr(f.Err())
	}
	limit := s.importMaxBytes()
	if r.ContentLength > limit+importFormSlack {
		s.fail(w, r, importTooLarge(r, limit, nil)) // before reading a byte
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+importFormSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		fileRequired()
		return
	}
	rc := http.NewResponseController(w)
	moveOn := func() {
		d := time.Now().Add(importIdle)
		rc.SetReadDeadline(d)
		rc.SetWriteDeadline(d)
	}
	moveOn()
	var sp *spooled
	var name string
	defer func() {
		if sp != nil {
			sp.remove() // not handed to an import
		}
	}()
	values := url.Values{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err == nil && part.FormName() == "file" && sp == nil {
			name = part.FileName()
			sp, err = spool(part, limit, moveOn)
		} else if err == nil {
			var b []byte
			b, err = io.ReadAll(io.LimitReader(part, 4<<10))
			values.Add(part.FormName(), string(b))
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.fail(w, r, importTooLarge(r, limit, nil))
				return
			}
			fileRequired()
			return
		}
	}
	if err := nulValues(values); err != nil {
		formErr(err)
		return
	}
	if sp == nil || name == "" {
		fileRequired()
		return
	}
	format := "csv"
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		format = "fhir"
	}
	department := values.Get("department")
	known, err := importDepartments(inst, department)
	if err != nil {
		formErr(err)
		return
	}
	job := sp
	sp = nil // the job's now
	rep, err := s.importJob(&importRun{r: r, inst: inst, known: known, format: format, department: department}, job)
	if err != nil {
		formErr(importErr(r, err, limit, nil))
		return
	}
	http.Redirect(w, r, "/admin/institutions/"+inst.Code+"/history/"+strconv.FormatInt(rep.ID, 10), http.StatusSeeOther)
}

// postMRNLinks takes an uploaded link file (CSV mrn,resident_id), links
// its MRNs as the API does (apiMRNLinks), reading the file part as a
// stream, and shows the history page with the report.
func (s *Server) postMRNLinks(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := s.newPage(w, r, "title.history")
	p.Data = map[string]any{"Inst": inst}
	fileRequired := func() {
		var f errs.Fields
		f.Add("links_file", "required")
		s.formErr(w, r, "history", p, f.Err())
	}
	limit := s.importMaxBytes()
	if r.ContentLength > limit+importFormSlack {
		s.fail(w, r, importTooLarge(r, limit, nil))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+importFormSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		fileRequired()
		return
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			fileRequired() // the end of the form before a file, or a broken one
			return
		}
		if part.FormName() != "file" || part.FileName() == "" {
			continue
		}
		rep, err := s.linkFile(r, inst, part)
		if err != nil {
			s.fail(w, r, importErr(r, err, limit, nil)) // as a history file's
			return
		}
		rep.Localize(uiLang(r))
		if p.Data, err = s.historyData(r, inst, rep); err != nil {
			s.fail(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "history", p)
		return
	}
}

func (s *Server) pageImport(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	rep, err := s.db.Import(r.Context(), inst.Code, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep.Localize(uiLang(r))
	p := s.newPage(w, r, "title.import")
	pct := 100
	if rep.Total > 0 {
		pct = min(100, rep.Processed*100/rep.Total)
	}
	p.Data = map[string]any{"Inst": inst, "Report": rep, "Percent": pct}
	if rep.Status == "running" {
		w.Header().Set("Refresh", "1") // the page follows the import
	}
	s.render(w, r, http.StatusOK, "import", p)
}
