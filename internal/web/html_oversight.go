package web

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/oversight"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// The pages of the regulator's side (issue 13): 监管事项 (/oversight) for
// the regulator (every institution) and an institution's admin and quality
// staff (their own), where doctors and pharmacists also report adverse
// events; a case's page with its next step; a rectification order's page
// with the institution's response and the regulator's verdict; 我的投诉
// (/complaints) for patients and guardians, with the visits they may still
// rate; and a visit's rating page. They call the API's functions, so the
// same rules, audit and notices apply.
func (s *Server) oversightRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /oversight", s.requireLogin(s.show("oversight", s.oversightPage)))
	mux.HandleFunc("POST /oversight/rectifications", s.requireLogin(s.submit("oversight", s.oversightPage, s.postIssueRect,
		func(*http.Request) string { return "/oversight?ok=rect_issued" })))
	mux.HandleFunc("POST /oversight/adverse-events", s.requireLogin(s.submit("oversight", s.oversightPage, s.postAdverseEvent,
		func(*http.Request) string { return "/oversight?ok=event_reported" })))
	mux.HandleFunc("GET /complaints", s.requireLogin(s.show("complaints", s.complaintsPage)))
	mux.HandleFunc("POST /complaints", s.requireLogin(s.submit("complaints", s.complaintsPage, s.postComplaint,
		func(*http.Request) string { return "/complaints?ok=complaint_filed" })))
	for _, k := range []struct {
		path string
		kind oversight.Kind
	}{{"complaints", oversight.KindComplaint}, {"adverse-events", oversight.KindAdverseEvent}} {
		mux.HandleFunc("GET /"+k.path+"/{id}", s.requireLogin(s.show("oversight_case", s.casePage(k.kind))))
		mux.HandleFunc("POST /"+k.path+"/{id}/step", s.requireLogin(s.submit("oversight_case", s.casePage(k.kind), s.postStep(k.kind),
			func(r *http.Request) string { return "/" + k.path + "/" + r.PathValue("id") + "?ok=step_saved" })))
	}
	mux.HandleFunc("GET /rectifications/{id}", s.requireLogin(s.show("rectification", s.rectPage)))
	back := func(r *http.Request) string { return "/rectifications/" + r.PathValue("id") + "?ok=saved" }
	mux.HandleFunc("POST /rectifications/{id}/response", s.requireLogin(s.submit("rectification", s.rectPage, s.postRectResponse, back)))
	mux.HandleFunc("POST /rectifications/{id}/verify", s.requireLogin(s.submit("rectification", s.rectPage, s.postRectVerify, back)))
	mux.HandleFunc("POST /rectifications/{id}/suspend", s.requireLogin(s.submit("rectification", s.rectPage, s.postRectSuspend, back)))
	mux.HandleFunc("GET /visits/{id}/rating", s.requireLogin(s.show("rating", s.ratingPage)))
	mux.HandleFunc("POST /visits/{id}/rating", s.requireLogin(s.submit("rating", s.ratingPage, s.postRating,
		func(r *http.Request) string { return "/visits/" + r.PathValue("id") + "/rating?ok=rated" })))
}

func pageCall(r *http.Request) call { return call{Actor: actor(r), r: r} }

// oversightCounts are the overdue cases and orders, for the regulator's
// page and the institution's.
type oversightCounts struct {
	Complaints, Events, Rects int
}

func (c oversightCounts) Any() bool { return c.Complaints+c.Events+c.Rects > 0 }

// overdueCounts counts what is overdue now, of one institution or all.
func (s *Server) overdueCounts(ctx context.Context, institution string) (oversightCounts, error) {
	now := s.cfg.Now()
	var out oversightCounts
	for _, k := range []struct {
		kind oversight.Kind
		n    *int
	}{{oversight.KindComplaint, &out.Complaints}, {oversight.KindAdverseEvent, &out.Events}} {
		list, err := s.db.Cases(ctx, oversight.Filter{Kind: k.kind, Institution: institution, OverdueAt: now, Limit: 500})
		if err != nil {
			return out, err
		}
		*k.n = len(list)
	}
	rects, err := s.db.Rectifications(ctx, oversight.RectFilter{Institution: institution, OverdueAt: now, Limit: 500})
	out.Rects = len(rects)
	return out, err
}

type oversightData struct {
	Regulator    bool // every institution's
	Handler      bool // an institution's admin or quality staff
	Reporter     bool // may report adverse events
	Responder    bool // answers rectification orders
	Institution  string
	OnlyOverdue  bool
	Complaints   []*caseOut
	Events       []*caseOut
	Rects        []*rectOut
	Ratings      []ratingSummaryOut
	Overdue      oversightCounts
	Institutions []directory.Institution // the order form's choice
	Cats         *categoriesOut
	Today        string
}

// oversightPage is 监管事项: complaints, adverse events, rectification
// orders and satisfaction; overdue ones first in red. ?overdue=1 lists
// only those.
func (s *Server) oversightPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	a := actor(r)
	c := pageCall(r)
	d := &oversightData{Regulator: a.Role == identity.RoleRegulator, Handler: a.Is(identity.RoleInstitutionAdmin, identity.RoleQuality),
		Institution: a.Institution, OnlyOverdue: c.Query("overdue") == "1" || c.Query("overdue") == "true",
		Today: s.cfg.Now().In(dates.Beijing).Format(dates.Layout)}
	d.Reporter = a.Institution != "" && a.Is(identity.RoleDoctor, identity.RolePharmacist, identity.RoleInstitutionAdmin, identity.RoleQuality)
	d.Responder = a.Role == identity.RoleInstitutionAdmin
	if !d.Regulator && !d.Reporter {
		return nil, errs.E(errs.Forbidden)
	}
	ctx := r.Context()
	p := s.newPage(w, r, "title.oversight")
	var err error
	if d.Cats, err = s.oversightCategories(ctx, c, none{}); err != nil {
		return nil, err
	}
	if d.Regulator || d.Handler {
		cs, err := s.listCases(ctx, c, oversight.KindComplaint)
		if err != nil {
			return nil, err
		}
		d.Complaints = cs.Items
		rs, err := s.listRectifications(ctx, c, none{})
		if err != nil {
			return nil, err
		}
		d.Rects = rs.Items
		rt, err := s.ratingSummaries(ctx, c, none{})
		if err != nil {
			return nil, err
		}
		d.Ratings = rt["items"].([]ratingSummaryOut)
		inst := a.Institution
		if d.Regulator {
			inst = ""
		}
		if d.Overdue, err = s.overdueCounts(ctx, inst); err != nil {
			return nil, err
		}
	}
	es, err := s.listCases(ctx, c, oversight.KindAdverseEvent)
	if err != nil {
		return nil, err
	}
	d.Events = es.Items
	if d.Regulator {
		if d.Institutions, err = s.dir.Institutions(ctx); err != nil {
			return nil, err
		}
	}
	p.Data = d
	return p, nil
}

func (s *Server) postIssueRect(r *http.Request) error {
	_, err := s.issueRectification(r.Context(), pageCall(r), oversight.Order{Institution: r.PostFormValue("institution"),
		InspectedOn: r.PostFormValue("inspected_on"), Findings: r.PostFormValue("findings"), Deadline: r.PostFormValue("deadline")})
	return err
}

func (s *Server) postAdverseEvent(r *http.Request) error {
	visitID, err := formID(r, "visit_id")
	if err != nil {
		return err
	}
	_, err = s.reportAdverseEvent(r.Context(), pageCall(r), adverseIn{Institution: actor(r).Institution, VisitID: visitID,
		Category: r.PostFormValue("category"), Severity: r.PostFormValue("severity"), Description: r.PostFormValue("description")})
	return err
}

// formID reads an optional id field of a form (empty: 0).
func formID(r *http.Request, name string) (int64, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		var f errs.Fields
		f.Add(name, "number")
		return 0, f.Err()
	}
	return id, nil
}

// --- a case's page ---

type casePageData struct {
	Case      *caseOut
	Next      oversight.State // the step the handler may take ("" none)
	Steps     []caseStepRow
	Kind      string
	Path      string // complaints or adverse-events
	HasVisit  bool
	VisitLink bool // the caller may open the visit's page (a patient's own)
}

type caseStepRow struct {
	State               oversight.State
	Due, At, Text       string
	Done, Late, Overdue bool
}

func (s *Server) casePage(kind oversight.Kind) pageBuilder {
	return func(w http.ResponseWriter, r *http.Request) (*page, error) {
		title := "title.complaint"
		path := "complaints"
		if kind == oversight.KindAdverseEvent {
			title, path = "title.adverse_event", "adverse-events"
		}
		p := s.newPage(w, r, title)
		c := pageCall(r)
		cs, err := s.getCase(r.Context(), c, kind)
		if err != nil {
			return nil, err
		}
		d := &casePageData{Case: cs, Kind: string(kind), Path: path, HasVisit: cs.VisitID != 0,
			VisitLink: cs.VisitID != 0 && actor(r).Role == identity.RolePatient}
		if cs.MayHandle {
			d.Next = cs.State.Next()
		}
		late := map[oversight.State]bool{}
		for _, st := range cs.Late {
			late[st] = true
		}
		for _, st := range []oversight.State{oversight.Triaged, oversight.Investigating, oversight.Closed} {
			sm := cs.steps[st]
			d.Steps = append(d.Steps, caseStepRow{State: st, Due: sm.Due, At: sm.At, Text: sm.Text, Done: sm.At != "", Late: late[st],
				Overdue: cs.Overdue && st == cs.State.Next()})
		}
		p.Data = d
		return p, nil
	}
}

func (s *Server) postStep(kind oversight.Kind) func(r *http.Request) error {
	return func(r *http.Request) error {
		_, err := s.stepCase(r.Context(), pageCall(r), kind, oversight.Step{To: oversight.State(r.PostFormValue("state")),
			Note: r.PostFormValue("note"), Findings: r.PostFormValue("findings")})
		return err
	}
}

// --- 我的投诉 ---

type complaintsData struct {
	Items        []*caseOut
	Institutions []directory.Institution
	Visits       []schedule.Appointment // visits of theirs a complaint may be about
	ToRate       []schedule.Appointment // completed visits not rated yet
	Cats         *categoriesOut
}

func (s *Server) complaintsPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	if actor(r).Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	ctx := r.Context()
	c := pageCall(r)
	p := s.newPage(w, r, "title.complaints")
	d := &complaintsData{}
	cs, err := s.listCases(ctx, c, oversight.KindComplaint)
	if err != nil {
		return nil, err
	}
	d.Items = cs.Items
	if d.Institutions, err = s.dir.Institutions(ctx); err != nil {
		return nil, err
	}
	if d.Cats, err = s.oversightCategories(ctx, c, none{}); err != nil {
		return nil, err
	}
	appts, err := s.myAppointments(r)
	if err != nil {
		return nil, err
	}
	for _, a := range appts {
		if a.VisitState == "" {
			continue
		}
		d.Visits = append(d.Visits, a)
		if visit.State(a.VisitState) == visit.Completed {
			if _, err := s.db.Rating(ctx, a.ID); errs.Is(err, errs.NotFound) {
				d.ToRate = append(d.ToRate, a)
			} else if err != nil {
				return nil, err
			}
		}
	}
	p.Data = d
	return p, nil
}

func (s *Server) postComplaint(r *http.Request) error {
	visitID, err := formID(r, "visit_id")
	if err != nil {
		return err
	}
	_, err = s.fileComplaint(r.Context(), pageCall(r), complaintIn{Institution: r.PostFormValue("institution"), VisitID: visitID,
		Category: r.PostFormValue("category"), Text: r.PostFormValue("text")})
	return err
}

// --- a rectification order's page ---

type rectPageData struct {
	Rect       *rectOut
	Events     []rectEventRow
	Pending    []oversight.File // uploaded, not yet sent
	MayRespond bool
	MayVerify  bool
	MaySuspend bool
	Suspended  bool // the institution is suspended now
	Today      string
}

func (s *Server) rectPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.rectification")
	c := pageCall(r)
	rj, err := s.getRectification(r.Context(), c, none{})
	if err != nil {
		return nil, err
	}
	a := actor(r)
	d := &rectPageData{Rect: rj, MayRespond: a.Role == identity.RoleInstitutionAdmin && rj.State.Awaiting(),
		MayVerify:  a.Role == identity.RoleRegulator && rj.State == oversight.RectResponded,
		MaySuspend: a.Role == identity.RoleRegulator && rj.State != oversight.RectVerified, Today: s.cfg.Now().In(dates.Beijing).Format(dates.Layout)}
	for _, ev := range rj.Events {
		d.Events = append(d.Events, rectEventRow{Event: ev, AtLocal: beijingTime(ev.At)})
	}
	for _, f := range rj.Files {
		if f.EventID == 0 {
			d.Pending = append(d.Pending, f)
		}
	}
	if inst, err := s.dir.Institution(r.Context(), rj.Institution); err == nil {
		d.Suspended = inst.Status == directory.QualSuspended
	}
	p.Data = d
	return p, nil
}

type rectEventRow struct {
	oversight.Event
	AtLocal string
}

// postRectResponse reads the response form as a stream (multipart: the
// measures first, then the files; the CSRF token in the action): each file
// is stored as it comes, then the response is sent with them.
func (s *Server) postRectResponse(r *http.Request) error {
	c := pageCall(r)
	rect, err := s.responder(r.Context(), c)
	if err != nil {
		return err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		// A plain form: the measures alone (files uploaded before).
		return s.sendResponse(r, c, rect, r.PostFormValue("measures"), nil)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, oversight.MaxResponseFiles*(oversight.MaxFileBytes+1<<20))
	mr, err := r.MultipartReader()
	if err != nil {
		return errs.E("bad_file")
	}
	var measures string
	var files []int64
	form := map[string][]string{}
	for {
		part, err := mr.NextPart()
		if err != nil {
			break
		}
		switch {
		case part.FormName() == "file" && part.FileName() != "":
			if strings.TrimSpace(measures) == "" { // refused before any file is kept
				part.Close()
				var f errs.Fields
				f.Add("measures", "required")
				return f.Err()
			}
			f, err := s.addRectFile(r, rect, part.FileName(), part)
			part.Close()
			if err != nil {
				return err
			}
			files = append(files, f.ID)
		case part.FormName() == "measures":
			b := make([]byte, oversight.MaxText*4+1)
			n, _ := io.ReadFull(part, b)
			measures = string(b[:n])
			form["measures"] = []string{measures}
			part.Close()
		default:
			part.Close()
		}
	}
	r.PostForm = form
	return s.sendResponse(r, c, rect, measures, files)
}

func (s *Server) sendResponse(r *http.Request, c call, rect *oversight.Rectification, measures string, files []int64) error {
	_, err := s.respond(r.Context(), c, rect, responseIn{Measures: measures, Files: files})
	return err
}

func (s *Server) postRectVerify(r *http.Request) error {
	_, err := s.verifyRectification(r.Context(), pageCall(r), verifyIn{Accept: r.PostFormValue("accept") == "true",
		Comment: r.PostFormValue("comment"), Deadline: r.PostFormValue("deadline")})
	return err
}

func (s *Server) postRectSuspend(r *http.Request) error {
	_, err := s.suspendForRectification(r.Context(), pageCall(r), rectSuspendIn{Reason: r.PostFormValue("reason")})
	return err
}

// --- a visit's rating ---

type ratingPageData struct {
	VisitID     int64
	ServiceName string
	DoctorName  string
	Start       string
	Rating      *oversight.Rating
	CanRate     bool
	NotOpen     bool
}

func (s *Server) ratingPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.rating")
	vc, err := s.loadVisit(r, true)
	if err != nil {
		return nil, err
	}
	v := vc.v
	d := &ratingPageData{VisitID: v.ID, ServiceName: v.ServiceName, DoctorName: v.DoctorName, Start: beijingTime(v.Start)}
	rt, err := s.db.Rating(r.Context(), v.ID)
	switch {
	case err == nil:
		d.Rating = rt
	case !errs.Is(err, errs.NotFound):
		return nil, err
	case vc.party == visit.PartyPatient && v.State == visit.Completed:
		d.CanRate = true
	default:
		d.NotOpen = true
	}
	p.Data = d
	return p, nil
}

func (s *Server) postRating(r *http.Request) error {
	// A score that is no number is 0, which rateVisit refuses as out of
	// range after it has checked who rates (its patient): the form is
	// not judged before the caller (the authorisation matrix test found
	// the visit's doctor told the score was missing, issue 15).
	score, _ := strconv.Atoi(r.PostFormValue("score"))
	_, err := s.rateVisit(r.Context(), pageCall(r), ratingIn{Score: score, Comment: r.PostFormValue("comment")})
	return err
}
