package web

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/qualification"
)

// The regulator's pages (issue 13): the public directory, the
// applications and their decisions, the pilot designations, and the
// institution's application form.
func (s *Server) qualificationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /directory", s.show("directory", s.directoryPage))
	mux.HandleFunc("GET /regulator/applications", s.requireLogin(s.show("applications", s.applicationsPage)))
	mux.HandleFunc("GET /applications/{id}", s.requireLogin(s.show("application", s.applicationPage)))
	mux.HandleFunc("POST /applications/{id}/decision", s.requireLogin(s.submit("application", s.applicationPage, s.postDecision,
		func(r *http.Request) string { return "/applications/" + r.PathValue("id") + "?ok=decided" })))
	mux.HandleFunc("POST /applications/{id}/documents", s.requireLogin(s.postDocument))
	mux.HandleFunc("GET /admin/institutions/{code}/applications", s.requireLogin(s.show("apply", s.applyPage)))
	mux.HandleFunc("POST /admin/institutions/{code}/applications", s.requireLogin(s.postApply))
	mux.HandleFunc("GET /regulator/pilots", s.requireLogin(s.show("pilots", s.pilotsPage)))
	mux.HandleFunc("POST /regulator/pilots", s.requireLogin(s.submit("pilots", s.pilotsPage, s.postPilot,
		func(*http.Request) string { return "/regulator/pilots?ok=pilot_saved" })))
	mux.HandleFunc("POST /regulator/pilots/{institution}/{specialty}/withdraw", s.requireLogin(s.submit("pilots", s.pilotsPage,
		func(r *http.Request) error {
			return s.withdrawPilot(r, r.PathValue("institution"), r.PathValue("specialty"))
		},
		func(*http.Request) string { return "/regulator/pilots?ok=pilot_withdrawn" })))
}

// directoryPage is the public directory (N-8, N-21): no login.
func (s *Server) directoryPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.directory")
	d, err := s.directoryOf(r.Context(), p.Lang)
	if err != nil {
		return nil, err
	}
	p.Data = d
	return p, nil
}

// applicationsPage is the regulator's list: those waiting first (oldest
// first), then the decided ones.
func (s *Server) applicationsPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	if !authz.DecideApplications(actor(r)) {
		return nil, errs.E(errs.Forbidden)
	}
	p := s.newPage(w, r, "title.applications")
	all, err := s.db.Applications(r.Context(), qualification.Filter{})
	if err != nil {
		return nil, err
	}
	var waiting, decided []qualification.Application
	for _, a := range all {
		if a.Status == qualification.Pending {
			waiting = append([]qualification.Application{a}, waiting...) // oldest first
		} else {
			decided = append(decided, a)
		}
	}
	names, err := s.qualInstitutionNames(r.Context())
	if err != nil {
		return nil, err
	}
	p.Data = struct {
		Waiting, Decided []qualification.Application
		Names            map[string]string
	}{waiting, decided, names}
	return p, nil
}

func (s *Server) qualInstitutionNames(ctx context.Context) (map[string]string, error) {
	list, err := s.dir.Institutions(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, i := range list {
		out[i.Code] = i.Name
	}
	return out, nil
}

// applicationPage shows an application to the regulator (with the
// decision form while it waits) or to its institution's admin (who may
// add documents while it waits).
func (s *Server) applicationPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	app, err := s.seeApplication(r.Context(), call{Actor: actor(r), r: r})
	if err != nil {
		return nil, err
	}
	v, err := s.applicationView(r.Context(), app)
	if err != nil {
		return nil, err
	}
	p := s.newPage(w, r, "title.application")
	p.Data = struct {
		App       *applicationView
		CanDecide bool
		CanAdd    bool
	}{v, authz.DecideApplications(actor(r)) && app.Status == qualification.Pending,
		authz.ApplyForQualification(actor(r), app.Institution) && app.Status == qualification.Pending}
	return p, nil
}

func (s *Server) postDecision(r *http.Request) error {
	// Who may decide first, then the form: an institution's admin was told
	// the form was incomplete rather than refused (the authorisation
	// matrix test, issue 15).
	if !authz.DecideApplications(actor(r)) {
		return errs.E(errs.Forbidden)
	}
	approve := r.PostFormValue("approve")
	var f errs.Fields
	if approve != "1" && approve != "0" {
		f.Add("approve", "required")
		return f.Err()
	}
	yes := approve == "1"
	_, err := s.decide(r.Context(), call{Actor: actor(r), r: r}, decisionIn{Approve: &yes, Reasons: r.PostFormValue("reasons"),
		ValidUntil: strings.TrimSpace(r.PostFormValue("valid_until"))})
	return err
}

// postDocument adds a document from the application page (a multipart
// form: the CSRF token is in its action).
func (s *Server) postDocument(w http.ResponseWriter, r *http.Request) {
	c := call{Actor: actor(r), r: r}
	app, err := s.seeApplication(r.Context(), c)
	if err == nil {
		r.Body = http.MaxBytesReader(w, r.Body, qualification.MaxDocumentBytes+1<<20)
		var name string
		var body io.Reader
		var closeFn func()
		if name, body, closeFn, err = readUpload(r); err == nil {
			_, err = s.addDocument(r, app, upload{name: name, body: body})
			closeFn()
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/applications/"+strconv.FormatInt(app.ID, 10)+"?ok=document_added", http.StatusSeeOther)
}

// applyPage is the institution's page of its applications and the form
// to apply (or re-validate).
func (s *Server) applyPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	code := r.PathValue("code")
	if !authz.ApplyForQualification(actor(r), code) {
		return nil, errs.E(errs.Forbidden)
	}
	inst, err := s.dir.Institution(r.Context(), code)
	if err != nil {
		return nil, err
	}
	doctors, err := s.dir.Practitioners(r.Context(), code)
	if err != nil {
		return nil, err
	}
	apps, err := s.db.Applications(r.Context(), qualification.Filter{Institution: code})
	if err != nil {
		return nil, err
	}
	var docs []directory.Practitioner
	for _, d := range doctors {
		if d.Profession == directory.Doctor {
			docs = append(docs, d)
		}
	}
	kind := qualification.KindQualification
	if inst.ApprovedOn != "" {
		kind = qualification.KindRevalidation
	}
	waiting := false
	for _, a := range apps {
		waiting = waiting || a.Status == qualification.Pending
	}
	p := s.newPage(w, r, "title.apply")
	p.Data = struct {
		Inst    *directory.Institution
		Doctors []directory.Practitioner
		Apps    []qualification.Application
		Kind    qualification.Kind
		Waiting bool
		DueOn   string
	}{inst, docs, apps, kind, waiting, qualification.DueOn(inst.ValidUntil)}
	return p, nil
}

// postApply submits the application form: a multipart form (the CSRF
// token in its action) with the kind, the departments, services and
// doctors ticked, the statement and the documents.
func (s *Server) postApply(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !authz.ApplyForQualification(actor(r), code) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	in, docs, err := s.readApplicationForm(w, r, code)
	if err == nil {
		_, err = s.createApplication(r, code, in, docs)
	}
	if err != nil {
		if errs.Code(err) != errs.Invalid {
			s.fail(w, r, err)
			return
		}
		p, perr := s.applyPage(w, r)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		s.formErr(w, r, "apply", p, err)
		return
	}
	http.Redirect(w, r, "/admin/institutions/"+code+"/applications?ok=applied", http.StatusSeeOther)
}

// readApplicationForm reads the application form's parts.
func (s *Server) readApplicationForm(w http.ResponseWriter, r *http.Request, code string) (applicationIn, []qualification.Document, error) {
	var in applicationIn
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return in, nil, errs.E("bad_file")
	}
	r.Body = http.MaxBytesReader(w, r.Body, qualification.MaxTotalBytes+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return in, nil, errs.E("bad_file")
	}
	var docs []qualification.Document
	fail := func(err error) (applicationIn, []qualification.Document, error) {
		s.dropDocuments(r.Context(), docs)
		return in, nil, err
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(errs.E("bad_file"))
		}
		name := part.FormName()
		if name == "file" {
			if part.FileName() == "" { // no file chosen
				part.Close()
				continue
			}
			if len(docs) >= qualification.MaxDocuments {
				part.Close()
				return fail(errs.E("document_count", qualification.MaxDocuments))
			}
			d, err := s.storeDocument(r.Context(), code, upload{name: part.FileName(), body: part}, actor(r).ID)
			part.Close()
			if err != nil {
				return fail(err)
			}
			docs = append(docs, d)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, 8<<10))
		part.Close()
		if err != nil {
			return fail(errs.E("bad_file"))
		}
		v := string(b)
		if strings.ContainsRune(v, 0) {
			var f errs.Fields
			f.Add(name, "nul_character")
			return fail(f.Err())
		}
		switch name {
		case "kind":
			in.Kind = qualification.Kind(v)
		case "department":
			in.Departments = append(in.Departments, v)
		case "service":
			in.Services = append(in.Services, v)
		case "practitioner":
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				var f errs.Fields
				f.Add("practitioners", "not_found")
				return fail(f.Err())
			}
			in.Practitioners = append(in.Practitioners, id)
		case "note":
			in.Note = v
		}
	}
	return in, docs, nil
}

// pilotsPage lists the designations and the form to designate (G-2).
func (s *Server) pilotsPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	if !authz.DesignatePilots(actor(r)) {
		return nil, errs.E(errs.Forbidden)
	}
	p := s.newPage(w, r, "title.pilots")
	list, err := s.dir.Institutions(r.Context())
	if err != nil {
		return nil, err
	}
	type target struct{ Value, Label string }
	type row struct {
		directory.Designation
		InstName, SpecName string
	}
	var targets []target
	var rows []row
	for _, li := range list {
		inst, err := s.dir.Institution(r.Context(), li.Code)
		if err != nil {
			return nil, err
		}
		names := map[string]string{}
		for _, d := range inst.Departments {
			for _, sp := range d.Specialties {
				names[sp.Code] = sp.Name
				targets = append(targets, target{inst.Code + "/" + sp.Code, inst.Name + " · " + d.Name + " · " + sp.Name})
			}
		}
		for _, d := range inst.Pilots {
			rows = append(rows, row{d, inst.Name, names[d.Specialty]})
		}
	}
	p.Data = struct {
		Targets []target
		Rows    []row
	}{targets, rows}
	return p, nil
}

func (s *Server) postPilot(r *http.Request) error {
	code, spec, ok := strings.Cut(r.PostFormValue("target"), "/")
	if !ok {
		var f errs.Fields
		f.Add("target", "required")
		return f.Err()
	}
	from, to := r.PostFormValue("from"), r.PostFormValue("to")
	_, err := s.designate(r.Context(), call{Actor: actor(r), r: r}, code, spec, pilotIn{From: &from, To: &to})
	return err
}
