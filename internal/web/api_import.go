package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/fhir"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/i18n"
)

// Offline-history imports (issue 15). A CSV is read as a stream and
// written in batches as it arrives (history.Importer): the server's memory
// does not grow with the file. A FHIR Bundle is read entry by entry,
// keeping a few strings of each resource. Both are bounded by
// Config.ImportMaxBytes: a Content-Length over it is refused (413) before
// a byte is read, and a body without one (chunked) is cut when it passes
// it.
//
// Synchronously (the default), the answer comes when the import is done;
// its row in history_imports shows its progress meanwhile (at most a
// second old), and a long import's connection is kept open as long as
// rows come in. With ?async=1 (and from the upload page), the body is
// first copied to a temporary file, then the import runs in the background
// from it: the answer (202, Location) names the import, whose progress is
// read at GET /api/v1/institutions/{code}/history/imports/{id}. Progress
// is also logged every 10 seconds.

// DefaultImportMaxBytes is the size limit of an import when
// Config.ImportMaxBytes is not set (`yunyi serve --import-max-bytes`).
const DefaultImportMaxBytes int64 = 512 << 20

// importIdle is how long an import may go without progress before its
// connection times out: the server's read and write timeouts are moved on
// after every batch, so that a long import is not cut at their minute.
const importIdle = 60 * time.Second

// importFormSlack is what an upload form may add to its file (the
// multipart boundaries and the other fields).
const importFormSlack = 64 << 10

func (s *Server) importMaxBytes() int64 {
	if s.cfg.ImportMaxBytes > 0 {
		return s.cfg.ImportMaxBytes
	}
	return DefaultImportMaxBytes
}

// importLang is the language of an import's texts: the API's or the
// page's.
func importLang(r *http.Request) i18n.Lang {
	if isAPI(r) {
		return apiLang(r)
	}
	return uiLang(r)
}

// sizeText writes a number of bytes for people.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// importTooLarge is the 413 of a file over the limit; rep, when the import
// had begun, says how far it went (what it wrote stays).
func importTooLarge(r *http.Request, limit int64, rep *history.Report) error {
	lang := importLang(r)
	what := i18n.T(lang, "import.too_large.none")
	if rep != nil && rep.ID != 0 {
		what = i18n.T(lang, "import.too_large.partial", rep.ID, rep.Total, rep.Imported+rep.Duplicates)
	}
	return &errs.Error{Code: "import_too_large", Args: []any{sizeText(limit), what}}
}

// importErr is the answer's error of a failed import.
func importErr(r *http.Request, err error, limit int64, rep *history.Report) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return importTooLarge(r, limit, rep)
	}
	var fe *history.FileError
	if errors.As(err, &fe) {
		return &errs.Error{Code: "bad_file", Args: []any{fe.Text(importLang(r))}}
	}
	return err
}

// importFormat is the import format of a media type.
func importFormat(contentType string) (string, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "text/csv":
		return "csv", nil
	case "application/fhir+json", "application/json":
		return "fhir", nil
	}
	return "", errs.E(errs.Unsupported)
}

func importDepartments(inst *directory.Institution, department string) (map[string]bool, error) {
	known := map[string]bool{}
	for _, d := range inst.Departments {
		known[d.Code] = true
	}
	if department != "" && !known[department] {
		var f errs.Fields
		f.Add("department", "not_found")
		return nil, f.Err()
	}
	return known, nil
}

// importRun is one import: the institution, what is read and how.
type importRun struct {
	r          *http.Request // of the upload: its actor and audit
	inst       *directory.Institution
	known      map[string]bool
	format     string
	department string
	expected   int                   // rows the file is expected to have (0: unknown), for the progress
	tick       func()                // after every batch (nil: none)
	begun      func(*history.Report) // once the import's row exists (nil: none)
}

// runImport reads body into the store. The import's row is made (and the
// upload audited) once the file is known to be an import; it is updated at
// most every second and at the end. The report is returned even with an
// error (its ID is 0 when the import had not begun).
func (s *Server) runImport(ctx context.Context, x *importRun, body io.Reader) (*history.Report, error) {
	rep := &history.Report{Status: "running", Format: x.format, Problems: []history.Problem{}}
	started := time.Now()
	lastSave, lastLog := started, started
	snapshot := func(p *history.Report) *history.Report {
		c := *p
		c.Total = max(c.Total, x.expected)
		return &c
	}
	im := &history.Importer{Store: s.db, Institution: x.inst.Code, Departments: x.known, Department: x.department, Now: s.cfg.Now()}
	im.Begin = func() error {
		id, err := s.db.CreateImport(ctx, x.inst.Code, x.format, actor(x.r).ID, s.cfg.Now())
		if err != nil {
			return err
		}
		rep.ID = id
		if err := s.record(x.r, "history.import", "history_import", strconv.FormatInt(id, 10), x.inst.Code, x.format); err != nil {
			return err
		}
		if x.begun != nil {
			x.begun(snapshot(rep))
		}
		return nil
	}
	im.Progress = func(p *history.Report) {
		if x.tick != nil {
			x.tick()
		}
		now := time.Now()
		if now.Sub(lastSave) >= time.Second {
			lastSave = now
			if err := s.db.UpdateImport(ctx, x.inst.Code, snapshot(p), time.Time{}); err != nil {
				s.log.Warn("history import progress", "id", p.ID, "err", err)
			}
		}
		if now.Sub(lastLog) >= 10*time.Second {
			lastLog = now
			s.log.Info("history import progress", "id", p.ID, "institution", x.inst.Code, "rows", p.Total, "expected", x.expected,
				"imported", p.Imported, "duplicates", p.Duplicates, "failed", p.Failed)
		}
	}
	var err error
	switch x.format {
	case "csv":
		err = im.CSV(ctx, body, rep)
	case "fhir":
		var res *fhir.Result
		if res, err = fhir.ReadBundle(body, x.inst.Code, x.department, x.known); err == nil {
			x.expected = len(res.Visits) + len(res.Problems)
			for t, n := range res.Ignored {
				rep.Ignored = append(rep.Ignored, history.Ignored{ResourceType: t, Count: n})
			}
			slices.SortFunc(rep.Ignored, func(a, b history.Ignored) int { return strings.Compare(a.ResourceType, b.ResourceType) })
			rep.Notes, rep.NotesOmitted = res.Notes, res.NotesOmitted
			err = im.Visits(ctx, res.Visits, res.Index, res.Problems, rep)
		}
	}
	if rep.ID == 0 {
		return rep, err // refused before it began: nothing written, nothing recorded
	}
	rep.Status = "done"
	if err != nil {
		rep.Status = "failed"
		var fe *history.FileError
		var mbe *http.MaxBytesError
		if !errors.As(err, &fe) && !errors.As(err, &mbe) {
			s.log.Error("history import", "id", rep.ID, "institution", x.inst.Code, "err", err)
		}
	}
	s.invalidateBooking()
	if uerr := s.db.UpdateImport(detach(ctx), x.inst.Code, rep, s.cfg.Now()); uerr != nil && err == nil {
		err = uerr
	}
	d := time.Since(started)
	s.log.Info("history import", "id", rep.ID, "institution", x.inst.Code, "format", x.format, "status", rep.Status, "rows", rep.Total,
		"imported", rep.Imported, "duplicates", rep.Duplicates, "failed", rep.Failed, "seconds", d.Round(time.Millisecond).Seconds(),
		"rows_per_second", int(float64(rep.Total)/max(d.Seconds(), 1e-3)))
	return rep, err
}

// spooled is an upload copied to a temporary file, for an import that
// runs on after the answer.
type spooled struct {
	f     *os.File
	size  int64
	lines int
}

// spool copies r to a temporary file, refusing more than max bytes (an
// *http.MaxBytesError), and counts its lines (the rows a CSV is expected
// to have, for the progress); tick, when set, is called every megabyte.
func spool(r io.Reader, max int64, tick func()) (*spooled, error) {
	f, err := os.CreateTemp("", "yunyi-import-*")
	if err != nil {
		return nil, err
	}
	sp := &spooled{f: f}
	buf := make([]byte, 64<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			sp.size += int64(n)
			if sp.size > max {
				sp.remove()
				return nil, &http.MaxBytesError{Limit: max}
			}
			if tick != nil && (sp.size-int64(n))>>20 != sp.size>>20 {
				tick()
			}
			sp.lines += bytes.Count(buf[:n], []byte{'\n'})
			if _, err := f.Write(buf[:n]); err != nil {
				sp.remove()
				return nil, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			sp.remove()
			return nil, rerr
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		sp.remove()
		return nil, err
	}
	return sp, nil
}

func (sp *spooled) remove() {
	sp.f.Close()
	os.Remove(sp.f.Name())
}

// importJob runs the import of a spooled file in the background, and
// answers once it has begun (its row exists), or failed before (a file
// that is not an import). The job owns sp.
func (s *Server) importJob(x *importRun, sp *spooled) (*history.Report, error) {
	if x.format == "csv" && sp.lines > 0 {
		x.expected = sp.lines - 1 // the header
	}
	begun := make(chan *history.Report, 1)
	x.begun = func(rep *history.Report) { begun <- rep }
	done := make(chan error, 1)
	ctx := detach(x.r.Context())
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer sp.remove()
		_, err := s.runImport(ctx, x, sp.f)
		done <- err
	}()
	select {
	case rep := <-begun:
		return rep, nil
	case err := <-done:
		select {
		case rep := <-begun: // it began, then ended: its row says how
			return rep, nil
		default:
			return nil, err
		}
	}
}

func (s *Server) apiImportHistory(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit := s.importMaxBytes()
	if r.ContentLength > limit {
		s.fail(w, r, importTooLarge(r, limit, nil)) // before reading a byte
		return
	}
	format, err := importFormat(r.Header.Get("Content-Type"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	department := r.URL.Query().Get("department")
	known, err := importDepartments(inst, department)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	x := &importRun{r: r, inst: inst, known: known, format: format, department: department}
	body := http.MaxBytesReader(w, r.Body, limit)
	rc := http.NewResponseController(w)
	moveOn := func() {
		d := time.Now().Add(importIdle)
		rc.SetReadDeadline(d)
		rc.SetWriteDeadline(d)
	}
	moveOn()
	if r.URL.Query().Get("async") == "1" {
		sp, err := spool(body, limit, moveOn)
		if err != nil {
			s.fail(w, r, importErr(r, err, limit, nil))
			return
		}
		rep, err := s.importJob(x, sp)
		if err != nil {
			s.fail(w, r, importErr(r, err, limit, nil))
			return
		}
		rep.Localize(apiLang(r))
		w.Header().Set("Location", fmt.Sprintf("/api/v1/institutions/%s/history/imports/%d", inst.Code, rep.ID))
		writeJSON(w, http.StatusAccepted, rep)
		return
	}
	x.tick = moveOn
	rep, err := s.runImport(r.Context(), x, body)
	if err != nil {
		s.fail(w, r, importErr(r, err, limit, rep))
		return
	}
	rep.Localize(apiLang(r))
	writeJSON(w, http.StatusCreated, rep)
}

func (s *Server) apiImport(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !authz.ManageInstitution(actor(r), code) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	rep, err := s.db.Import(r.Context(), code, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep.Localize(apiLang(r))
	writeJSON(w, http.StatusOK, rep)
}
