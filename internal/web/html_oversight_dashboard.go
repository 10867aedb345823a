package web

import (
	"net/http"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/oversight"
)

// The pages of the dashboard and the bulletins (issue 13): 监管看板
// (/oversight/dashboard) for the regulator and an institution's quality
// staff; a visit's drill-down (/oversight/visits/{id}: the reason first,
// then the visit); 评价通报 (/bulletins, public: the published ones; the
// regulator also drafts there) and a bulletin's page, where the regulator
// edits a draft's commentary and publishes it. They call the API's
// functions, so the same rules and audit apply.
func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /oversight/dashboard", s.requireLogin(s.show("oversight_dashboard", s.dashboardPage)))
	mux.HandleFunc("GET /oversight/visits/{id}", s.requireLogin(s.show("oversight_visit", s.inspectPage)))
	mux.HandleFunc("POST /oversight/visits/{id}", s.requireLogin(s.postInspect))
	mux.HandleFunc("GET /bulletins", s.show("bulletins", s.bulletinsPage))
	mux.HandleFunc("POST /bulletins", s.requireLogin(s.postDraftBulletin))
	mux.HandleFunc("GET /bulletins/{id}", s.show("bulletin", s.bulletinPage))
	back := func(ok string) func(r *http.Request) string {
		return func(r *http.Request) string { return "/bulletins/" + r.PathValue("id") + "?ok=" + ok }
	}
	mux.HandleFunc("POST /bulletins/{id}", s.requireLogin(s.submit("bulletin", s.bulletinPage, s.postEditBulletin, back("bulletin_saved"))))
	mux.HandleFunc("POST /bulletins/{id}/publish", s.requireLogin(s.submit("bulletin", s.bulletinPage, s.postPublishBulletin, back("bulletin_published"))))
}

// instFigures is one institution's sections on the dashboard page.
type instFigures struct {
	Code, Name string
	Sections   []figSection
	Breakdowns []figSection
}

// visitRow is a visit to drill into, with its names.
type visitRow struct {
	oversight.VisitRef
	InstitutionName, DepartmentName string
}

// doctorRow is a doctor's prescribing figures, with the institution's name.
type doctorRow struct {
	oversight.DoctorFigures
	InstitutionName string
}

type dashboardData struct {
	Q            oversight.DashboardQuery
	Regulator    bool
	Institutions []directory.Institution // the regulator's choice
	Lead         string
	Overall      []figSection
	Compare      []figSection
	FirstVisits  figSection
	Breakdowns   []figSection
	Each         []instFigures
	Doctors      []doctorRow
	Visits       []visitRow
	ShowDoctors  bool
}

// dashboardPage is 监管看板: the period's charts with their numbers,
// overall and per institution; the per-doctor figures (N-15) and the
// visits to drill into.
func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	c := pageCall(r)
	d, err := s.buildDashboard(r.Context(), c, dashboardQuery(c))
	if err != nil {
		if errs.Code(err) != errs.Invalid {
			return nil, err
		}
		// A bad range: the page with the defaults and the error.
		p, perr := s.dashboardPageFor(w, r, c, oversight.DashboardQuery{})
		if perr != nil {
			return nil, perr
		}
		p.setErr(err)
		p.Form = r.URL.Query()
		return p, nil
	}
	return s.dashboardPageOf(w, r, d)
}

func (s *Server) dashboardPageFor(w http.ResponseWriter, r *http.Request, c call, q oversight.DashboardQuery) (*page, error) {
	d, err := s.buildDashboard(r.Context(), c, q)
	if err != nil {
		return nil, err
	}
	return s.dashboardPageOf(w, r, d)
}

func (s *Server) dashboardPageOf(w http.ResponseWriter, r *http.Request, d *oversight.Dashboard) (*page, error) {
	l := uiLang(r)
	p := s.newPage(w, r, "title.dashboard")
	a := actor(r)
	data := &dashboardData{Q: d.DashboardQuery, Regulator: a.Role == identity.RoleRegulator, Overall: periodSections(l, &d.Overall, "all-"),
		Compare: institutionSections(l, d), FirstVisits: firstVisitSection(l, d), Breakdowns: breakdownSections(l, &d.Overall, "all-"),
		ShowDoctors: d.Doctors != nil}
	ctx := r.Context()
	for _, doc := range d.Doctors {
		data.Doctors = append(data.Doctors, doctorRow{DoctorFigures: doc, InstitutionName: s.instNameOf(ctx, doc.Institution).in(l)})
	}
	for _, v := range d.Visits {
		data.Visits = append(data.Visits, visitRow{VisitRef: v, InstitutionName: s.instNameOf(ctx, v.Institution).in(l),
			DepartmentName: s.deptNameOf(ctx, v.Institution, v.Department, l)})
	}
	if data.Regulator {
		var err error
		if data.Institutions, err = s.dir.Institutions(r.Context()); err != nil {
			return nil, err
		}
	}
	if len(d.Institutions) > 1 {
		for i := range d.Institutions {
			f := &d.Institutions[i]
			data.Each = append(data.Each, instFigures{Code: f.Institution, Name: nameIn(l, f.Name, f.NameEN),
				Sections: periodSections(l, f, f.Institution+"-"), Breakdowns: breakdownSections(l, f, f.Institution+"-")})
		}
	}
	scope := nameIn(l, d.Overall.Name, d.Overall.NameEN)
	if d.Institution != "" {
		scope = s.instNameOf(r.Context(), d.Institution).in(l)
	}
	data.Lead = i18n.T(l, "dash.lead", scope, d.From, d.To, i18n.T(l, "dash.by."+string(d.By)))
	p.Data = data
	return p, nil
}

// --- a visit's drill-down ---

type inspectData struct {
	ID     int64
	Result *inspectOut
	Rx     []inspectRx
}

type inspectRx struct {
	ID                 int64
	Version            int
	Status, Doctor     string
	Issued             string
	Items, Reasons     []string
	Note, ReviewerName string
}

func (s *Server) inspectPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	if !authz.InspectVisit(actor(r)) {
		return nil, errs.E(errs.Forbidden)
	}
	id, err := pageCall(r).PathID("id")
	if err != nil {
		return nil, err
	}
	p := s.newPage(w, r, "title.visit_inspect")
	p.Data = &inspectData{ID: id}
	return p, nil
}

// postInspect opens the visit with the reason given and shows it (the
// result is a page of its own: nothing to redirect to, each look needs
// its reason).
func (s *Server) postInspect(w http.ResponseWriter, r *http.Request) {
	c := pageCall(r)
	out, err := s.inspectVisit(r.Context(), c, inspectIn{Reason: r.PostFormValue("reason")})
	if err != nil {
		p, perr := s.inspectPage(w, r)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		s.formErr(w, r, "oversight_visit", p, err)
		return
	}
	p := s.newPage(w, r, "title.visit_inspect")
	// The page's language, not the browser's Accept-Language the API follows.
	v := &out.Visit
	v.InstitutionName, v.StateText = s.instNameOf(r.Context(), v.Institution).in(p.Lang), i18n.T(p.Lang, "state."+v.State)
	v.DepartmentName = s.deptNameOf(r.Context(), v.Institution, v.Department, p.Lang)
	d := &inspectData{ID: out.Visit.ID, Result: out}
	for _, pr := range out.Prescriptions {
		ln := inspectRx{ID: pr.ID, Version: pr.Version, Status: i18n.T(p.Lang, "rx.status."+string(pr.Status)), Doctor: pr.DoctorName,
			Issued: beijingTime(pr.IssuedAt), Reasons: pr.ReviewReasons, Note: pr.ReviewNote, ReviewerName: pr.ReviewerName}
		for _, it := range pr.Items {
			ln.Items = append(ln.Items, it.Name+" "+it.Strength)
		}
		d.Rx = append(d.Rx, ln)
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "oversight_visit", p)
}

// --- bulletins ---

type bulletinsData struct {
	Items     []bulletinSummary
	Regulator bool
	Year      int
}

func (s *Server) bulletinsPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	c := pageCall(r)
	list, err := s.listBulletins(r.Context(), c, none{})
	if err != nil {
		return nil, err
	}
	p := s.newPage(w, r, "title.bulletins")
	p.Data = &bulletinsData{Items: list.Items, Regulator: authz.EditBulletins(c.Actor), Year: s.cfg.Now().In(dates.Beijing).Year()}
	return p, nil
}

func (s *Server) postDraftBulletin(w http.ResponseWriter, r *http.Request) {
	year, _ := strconv.Atoi(r.PostFormValue("year"))
	number, _ := strconv.Atoi(r.PostFormValue("number"))
	b, err := s.draftBulletin(r.Context(), pageCall(r), oversight.BulletinIn{Period: oversight.BulletinPeriod(r.PostFormValue("period")), Year: year,
		Number: number, Commentary: r.PostFormValue("commentary")})
	if err != nil {
		p, perr := s.bulletinsPage(w, r)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		if errs.Code(err) == oversight.CodeBulletinExists {
			p.setErr(err)
			p.Form = r.PostForm
			s.render(w, r, http.StatusConflict, "bulletins", p)
			return
		}
		s.formErr(w, r, "bulletins", p, err)
		return
	}
	http.Redirect(w, r, "/bulletins/"+strconv.FormatInt(b.ID, 10)+"?ok=bulletin_drafted", http.StatusSeeOther)
}

type bulletinPageData struct {
	*bulletinView
	ID      int64
	MayEdit bool
	Charts  int
}

func (s *Server) bulletinPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	c := pageCall(r)
	b, err := s.visibleBulletin(r.Context(), c)
	if err != nil {
		return nil, err
	}
	if _, err := s.bulletinJSON(r.Context(), b); err != nil {
		return nil, err
	}
	p := s.newPage(w, r, "title.bulletin")
	p.Title = b.Title
	v := newBulletinView(b, p.Lang)
	p.Data = &bulletinPageData{bulletinView: v, ID: b.ID, MayEdit: authz.EditBulletins(c.Actor) && !b.Published()}
	return p, nil
}

func (s *Server) postEditBulletin(r *http.Request) error {
	title, commentary := r.PostFormValue("title"), r.PostFormValue("commentary")
	_, err := s.editBulletin(r.Context(), pageCall(r), oversight.BulletinEdit{Title: &title, Commentary: &commentary})
	return err
}

func (s *Server) postPublishBulletin(r *http.Request) error {
	_, err := s.publishBulletin(r.Context(), pageCall(r), none{})
	return err
}

// Pct writes a rate as a percentage, for the page.
func (d *dashboardData) Pct(f float64) string { return pct(f) }
