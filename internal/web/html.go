package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/visit"
)

func (s *Server) htmlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.pageHome)
	s.guestPages(mux) // a guest of a visit (html_guest.go)
	mux.HandleFunc("GET /lang/{lang}", s.pageLang)
	mux.HandleFunc("GET /register", s.pageRegister)
	mux.HandleFunc("POST /register", s.postRegister)
	mux.HandleFunc("GET /login", s.pageLogin)
	mux.HandleFunc("POST /login", s.postLogin)
	mux.HandleFunc("POST /logout", s.postLogout)
	s.securityRoutes(mux) // the login's second step, account security, N-7 (html_security.go)
	mux.HandleFunc("GET /me", s.requireLogin(s.pageMe))
	mux.HandleFunc("POST /me/children", s.requireLogin(s.postChild))
	mux.HandleFunc("POST /me/children/{id}/invite", s.requireLogin(s.postInvite))
	mux.HandleFunc("POST /me/link", s.requireLogin(s.submit("me", s.mePage,
		func(r *http.Request) error { _, err := s.redeem(r, r.PostFormValue("code")); return err },
		func(*http.Request) string { return "/me?ok=child_linked" })))
	mux.HandleFunc("POST /me/patients/{id}/insurance", s.requireLogin(s.submit("me", s.mePage,
		func(r *http.Request) error {
			_, err := s.bindInsurance(r.Context(), call{Actor: actor(r), r: r}, insuranceIn{CardNo: r.PostFormValue("card_no"),
				Region: r.PostFormValue("region"), Kind: r.PostFormValue("kind")})
			return err
		},
		func(*http.Request) string { return "/me?ok=card_bound" })))
	mux.HandleFunc("GET /institutions", s.pageInstitutions)
	mux.HandleFunc("GET /institutions/{code}", s.pageInstitution)
	mux.HandleFunc("GET /admin", s.requireLogin(s.pageAdminHome))
	mux.HandleFunc("GET /admin/institutions/{code}", s.requireLogin(s.pageAdmin))
	mux.HandleFunc("POST /admin/institutions/{code}/info", s.requireLogin(s.postAdminInfo))
	mux.HandleFunc("POST /admin/institutions/{code}/departments", s.requireLogin(s.postAdminDepartment))
	mux.HandleFunc("POST /admin/institutions/{code}/specialties", s.requireLogin(s.postAdminSpecialty))
	mux.HandleFunc("POST /admin/institutions/{code}/services", s.requireLogin(s.postAdminService))
	mux.HandleFunc("POST /admin/institutions/{code}/practitioners", s.requireLogin(s.postAdminPractitioner))
	mux.HandleFunc("GET /admin/practitioners/{id}", s.requireLogin(s.pagePractitioner))
	mux.HandleFunc("POST /admin/practitioners/{id}", s.requireLogin(s.postPractitioner))
	mux.HandleFunc("POST /admin/practitioners/{id}/suspend", s.requireLogin(s.postSuspend))
	mux.HandleFunc("POST /admin/practitioners/{id}/lift/{sid}", s.requireLogin(s.postLift))
	mux.HandleFunc("GET /regulator", s.requireLogin(s.pageRegulator))
	mux.HandleFunc("POST /regulator/{code}/qualification", s.requireLogin(s.postQualification))
	s.bookingRoutes(mux)
	s.visitRoutes(mux)
	s.rxRoutes(mux)
	s.invoiceRoutes(mux)
	s.adminBookingRoutes(mux)
	s.monitorRoutes(mux)
	s.qualificationRoutes(mux)
	s.oversightRoutes(mux)
	s.dashboardRoutes(mux)
	s.opsRoutes(mux)
	s.educationRoutes(mux)
	s.mrnPages(mux) // hospital cards and the institution's MRNs (html_mrn.go)
	s.referralRoutes(mux)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, errs.E(errs.NotFound)) })
}

func (s *Server) pageHome(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.home")
	list, err := s.dir.Institutions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Data = list
	s.render(w, r, http.StatusOK, "home", p)
}

func (s *Server) pageLang(w http.ResponseWriter, r *http.Request) {
	l := i18n.Parse(r.PathValue("lang"))
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 86400, SameSite: http.SameSiteLaxMode, Secure: s.cfg.SecureCookies})
	next := "/"
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
		if n := safeNext(ref.RequestURI()); n != "" {
			next = n
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) pageRegister(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "register", s.newPage(w, r, "title.register"))
}

// browserLogin opens a browser session and sets its cookie (a patient who
// just registered: no second factor).
func (s *Server) browserLogin(w http.ResponseWriter, r *http.Request, username, password string) error {
	res, err := s.login(r, identity.LoginRequest{Username: username, Password: password, Kind: identity.SessionBrowser})
	if err != nil {
		return err
	}
	s.setSessionCookie(w, res.Token, res.Session)
	return nil
}

func (s *Server) formCSRF(w http.ResponseWriter, r *http.Request) bool {
	if !info(r).cookie && !anonCSRFOK(r) {
		s.fail(w, r, errCSRF())
		return false
	}
	return true
}

func (s *Server) pageLogin(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.login")
	p.Form = url.Values{"next": {safeNext(r.URL.Query().Get("next"))}}
	p.DemoAccounts = s.demoInfo
	s.render(w, r, http.StatusOK, "login", p)
}

func (s *Server) postLogin(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.login")
	p.DemoAccounts = s.demoInfo
	if !s.formCSRF(w, r) {
		return
	}
	// The password first; an account with a second factor is asked for
	// its code on a second page (html_security.go).
	res, err := s.login(r, identity.LoginRequest{Username: strings.TrimSpace(r.PostFormValue("username")), Password: r.PostFormValue("password"),
		Kind: identity.SessionBrowser, Challenge: true})
	if err != nil {
		r.PostForm.Del("password")
		s.formErr(w, r, "login", p, err)
		return
	}
	s.loggedIn(w, r, res, r.PostFormValue("next"))
}

func (s *Server) postLogout(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	if ri.cookie {
		if err := s.ids.Logout(r.Context(), ri.token); err != nil {
			s.fail(w, r, err)
			return
		}
		s.loggedOut(ri.token)
		s.record(r, "auth.logout", "account", ri.account.Username, ri.account.Institution, "")
	}
	s.clearCookie(w, sessionCookie)
	http.Redirect(w, r, "/?ok=logged_out", http.StatusSeeOther)
}

type meData struct {
	Account  *identity.Account
	Patients []patientJSON
	Invite   *identity.Invite            // a code just made, shown once
	InviteTo string                      // the child it is for
	Cards    map[int64]*sqlstore.Binding // bound insurance cards by patient (M-3)
	// PhoneVerified: the account's phone was proved by a code; if not, adding
	// a child asks for one (N-5).
	PhoneVerified bool
}

func (s *Server) mePage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.me")
	a := info(r).account
	d := meData{Account: a}
	if a.Role == identity.RolePatient {
		ps, err := s.ids.Store.PatientsOf(r.Context(), a.ID)
		if err != nil {
			return nil, err
		}
		if d.PhoneVerified, err = s.rn.Store.PhoneVerified(r.Context(), a.ID, a.Phone); err != nil {
			return nil, err
		}
		d.Cards = map[int64]*sqlstore.Binding{}
		for i := range ps {
			d.Patients = append(d.Patients, s.patientOut(&ps[i]))
			if b, err := s.db.InsuranceOf(r.Context(), ps[i].ID); err == nil {
				d.Cards[ps[i].ID] = b
			}
		}
		if err := s.record(r, "patient.list", "patient", "", "", "page"); err != nil {
			return nil, err
		}
	}
	p.Data = d
	return p, nil
}

func (s *Server) pageMe(w http.ResponseWriter, r *http.Request) {
	p, err := s.mePage(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "me", p)
}

// postInvite makes a code for another guardian of a child and shows it
// once, on the page.
func (s *Server) postInvite(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	inv, err := s.invite(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.mePage(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := p.Data.(meData)
	d.Invite = inv
	for _, pt := range d.Patients {
		if pt.ID == id {
			d.InviteTo = pt.Name
		}
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "me", p)
}

func (s *Server) pageInstitutions(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.institutions")
	list, err := s.dir.Institutions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Data = list
	s.render(w, r, http.StatusOK, "institutions", p)
}

type institutionPage struct {
	Inst           *directory.Institution
	Practitioners  []practitionerView
	Full           bool
	Questionnaires []visit.Questionnaire // the admin's choice for services
}

type practitionerView struct {
	P          directory.Practitioner
	DeptName   string // the department's name in the page's language, not its code
	FirstVisit firstVisitJSON
	Online     bool
	Suspension *directory.Suspension
}

func (s *Server) institutionData(r *http.Request, lang i18n.Lang, code string) (*institutionPage, error) {
	inst, err := s.dir.Institution(r.Context(), code)
	if err != nil {
		return nil, err
	}
	ps, err := s.dir.Practitioners(r.Context(), code)
	if err != nil {
		return nil, err
	}
	d := &institutionPage{Inst: inst, Full: authz.SeeInstitutionStaff(actor(r), code)}
	for _, pr := range ps {
		v := practitionerView{P: pr, FirstVisit: firstVisit(&pr, s.today(), lang), Online: pr.MayWorkOnline(), DeptName: pr.Department}
		for _, dp := range inst.Departments {
			if dp.Code == pr.Department {
				v.DeptName = dp.Name
				if lang == i18n.EN && dp.NameEN != "" {
					v.DeptName = dp.NameEN
				}
			}
		}
		if sus, ok := pr.ActiveSuspension(); ok {
			v.Suspension = &sus
		}
		d.Practitioners = append(d.Practitioners, v)
	}
	return d, nil
}

func (s *Server) pageInstitution(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.institution")
	d, err := s.institutionData(r, p.Lang, r.PathValue("code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Title = d.Inst.Name
	if p.Lang == i18n.EN && d.Inst.NameEN != "" {
		p.Title = d.Inst.NameEN
	}
	p.Data = d
	s.render(w, r, http.StatusOK, "institution", p)
}

func (s *Server) pageAdminHome(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	switch {
	case a.Role == identity.RoleInstitutionAdmin:
		http.Redirect(w, r, "/admin/institutions/"+a.Institution, http.StatusSeeOther)
	case a.Role == identity.RoleRegulator:
		http.Redirect(w, r, "/regulator", http.StatusSeeOther)
	case a.Is(identity.RoleSysadmin, identity.RoleSecurityAdmin, identity.RoleAuditAdmin):
		http.Redirect(w, r, "/ops", http.StatusSeeOther)
	default:
		s.fail(w, r, errs.E(errs.Forbidden))
	}
}

func (s *Server) adminPage(w http.ResponseWriter, r *http.Request, code string) (*page, error) {
	if !authz.ManageInstitution(actor(r), code) {
		return nil, errs.E(errs.Forbidden)
	}
	p := s.newPage(w, r, "title.admin")
	d, err := s.institutionData(r, p.Lang, code)
	if err != nil {
		return nil, err
	}
	if d.Questionnaires, err = s.db.Questionnaires(r.Context()); err != nil {
		return nil, err
	}
	p.Data = d
	return p, nil
}

func (s *Server) pageAdmin(w http.ResponseWriter, r *http.Request) {
	p, err := s.adminPage(w, r, r.PathValue("code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin", p)
}

// adminPost runs an admin form action and answers with the admin page:
// a redirect on success, the page with the form's errors otherwise.
func (s *Server) adminPost(w http.ResponseWriter, r *http.Request, flash string, fn func(inst *directory.Institution) error) {
	code := r.PathValue("code")
	inst, err := s.manage(r)
	if err == nil {
		err = fn(inst)
	}
	if err != nil {
		p, perr := s.adminPage(w, r, code)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		s.formErr(w, r, "admin", p, err)
		return
	}
	http.Redirect(w, r, "/admin/institutions/"+code+"?ok="+flash, http.StatusSeeOther)
}

func checked(r *http.Request, name string) bool { return r.PostFormValue(name) != "" }

func (s *Server) postAdminInfo(w http.ResponseWriter, r *http.Request) {
	s.adminPost(w, r, "saved", func(inst *directory.Institution) error {
		inst.NameEN = r.PostFormValue("name_en")
		inst.Channel = r.PostFormValue("channel")
		inst.OnlineSince = r.PostFormValue("online_since")
		inst.Delivery = r.PostFormValue("delivery")
		inst.DeliveryArea = r.PostFormValue("delivery_area")
		inst.Insurance = checked(r, "insurance")
		if err := inst.Validate(); err != nil {
			return err
		}
		if err := s.dir.SaveInstitution(r.Context(), inst); err != nil {
			return err
		}
		return s.record(r, "institution.update", "institution", inst.Code, inst.Code, "")
	})
}

func (s *Server) postAdminDepartment(w http.ResponseWriter, r *http.Request) {
	s.adminPost(w, r, "saved", func(inst *directory.Institution) error {
		d := &directory.Department{Institution: inst.Code, Code: strings.TrimSpace(r.PostFormValue("code")),
			Name: strings.TrimSpace(r.PostFormValue("name")), NameEN: strings.TrimSpace(r.PostFormValue("name_en")), Online: checked(r, "online")}
		return s.saveDepartment(r, d)
	})
}

func (s *Server) postAdminSpecialty(w http.ResponseWriter, r *http.Request) {
	s.adminPost(w, r, "saved", func(inst *directory.Institution) error {
		if r.PostForm.Has("pilot") { // G-2: the regulator's designation, not the institution's
			return &errs.Error{Code: errs.Forbidden, Fields: []errs.FieldError{{Field: "pilot", Code: "field_not_allowed"}}}
		}
		sp := &directory.Specialty{Institution: inst.Code, Department: r.PostFormValue("department"), Code: strings.TrimSpace(r.PostFormValue("code")),
			Name: strings.TrimSpace(r.PostFormValue("name")), NameEN: strings.TrimSpace(r.PostFormValue("name_en"))}
		return s.saveSpecialty(r, inst, sp)
	})
}

func (s *Server) postAdminService(w http.ResponseWriter, r *http.Request) {
	s.adminPost(w, r, "saved", func(inst *directory.Institution) error {
		var f errs.Fields
		in := serviceIn{Department: r.PostFormValue("department"), Name: strings.TrimSpace(r.PostFormValue("name")),
			NameEN: strings.TrimSpace(r.PostFormValue("name_en")), Kind: directory.ServiceKind(r.PostFormValue("kind")),
			Specialty: r.PostFormValue("specialty"), Questionnaire: r.PostFormValue("questionnaire")}
		active := checked(r, "active")
		in.Active = &active
		if v := strings.TrimSpace(r.PostFormValue("price")); v != "" {
			price, err := strconv.ParseFloat(v, 64)
			if err != nil {
				f.Add("price", "number")
			}
			in.Price = &price
		}
		days, ok := directory.ParseWeekdays(r.PostFormValue("days"))
		if !ok {
			f.Add("days", "days_format")
		}
		in.Days = days
		sv, err := in.service(inst.Code, strings.TrimSpace(r.PostFormValue("code")))
		if err != nil {
			return mergeFields(&f, err)
		}
		if err := f.Err(); err != nil {
			return err
		}
		return s.saveService(r, inst, sv)
	})
}

func readPractitionerForm(r *http.Request) practitionerIn {
	acct, _ := strconv.ParseInt(r.PostFormValue("account_id"), 10, 64)
	return practitionerIn{
		Department: r.PostFormValue("department"), AccountID: acct, Name: strings.TrimSpace(r.PostFormValue("name")),
		Profession: directory.Profession(r.PostFormValue("profession")), Title: directory.Title(r.PostFormValue("title")),
		LicenceNo: strings.TrimSpace(r.PostFormValue("licence_no")), PracticeSince: r.PostFormValue("practice_since"),
		InternetSince: r.PostFormValue("internet_since"), TrainingPassedOn: r.PostFormValue("training_passed_on"),
		Bio: strings.TrimSpace(r.PostFormValue("bio")),
	}
}

func (s *Server) postAdminPractitioner(w http.ResponseWriter, r *http.Request) {
	s.adminPost(w, r, "saved", func(inst *directory.Institution) error {
		p := &directory.Practitioner{Institution: inst.Code}
		readPractitionerForm(r).apply(p)
		return s.savePractitioner(r, inst, p)
	})
}

type practitionerPage struct {
	P      practitionerView
	Inst   *directory.Institution
	Titles []directory.Title
}

func (s *Server) practitionerPage(w http.ResponseWriter, r *http.Request) (*page, *directory.Practitioner, *directory.Institution, error) {
	pr, inst, err := s.managedPractitioner(r)
	if err != nil {
		return nil, nil, nil, err
	}
	p := s.newPage(w, r, "title.practitioner")
	v := practitionerView{P: *pr, FirstVisit: firstVisit(pr, s.today(), p.Lang), Online: pr.MayWorkOnline()}
	if sus, ok := pr.ActiveSuspension(); ok {
		v.Suspension = &sus
	}
	p.Data = practitionerPage{P: v, Inst: inst}
	return p, pr, inst, nil
}

func (s *Server) pagePractitioner(w http.ResponseWriter, r *http.Request) {
	p, _, _, err := s.practitionerPage(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "practitioner", p)
}

// practitionerPost runs a form action on a practitioner.
func (s *Server) practitionerPost(w http.ResponseWriter, r *http.Request, flash string, fn func(p *directory.Practitioner, inst *directory.Institution) error) {
	p, pr, inst, err := s.practitionerPage(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := fn(pr, inst); err != nil {
		s.formErr(w, r, "practitioner", p, err)
		return
	}
	http.Redirect(w, r, "/admin/practitioners/"+strconv.FormatInt(pr.ID, 10)+"?ok="+flash, http.StatusSeeOther)
}

func (s *Server) postPractitioner(w http.ResponseWriter, r *http.Request) {
	s.practitionerPost(w, r, "saved", func(p *directory.Practitioner, inst *directory.Institution) error {
		readPractitionerForm(r).apply(p)
		return s.savePractitioner(r, inst, p)
	})
}

func (s *Server) postSuspend(w http.ResponseWriter, r *http.Request) {
	s.practitionerPost(w, r, "suspended", func(p *directory.Practitioner, _ *directory.Institution) error {
		_, err := s.suspend(r, p, suspendIn{Scope: directory.SuspensionScope(r.PostFormValue("scope")), Reason: strings.TrimSpace(r.PostFormValue("reason"))})
		return err
	})
}

func (s *Server) postLift(w http.ResponseWriter, r *http.Request) {
	s.practitionerPost(w, r, "lifted", func(p *directory.Practitioner, _ *directory.Institution) error {
		sid, _ := strconv.ParseInt(r.PathValue("sid"), 10, 64)
		return s.liftSuspension(r, p, sid)
	})
}

func (s *Server) pageRegulator(w http.ResponseWriter, r *http.Request) {
	s.show("regulator", s.regulatorPage)(w, r)
}

// regulatorPage lists the institutions with their qualification and the
// latest visits terminated and referred offline (V-3), for supervision.
func (s *Server) regulatorPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	if !authz.Qualify(actor(r)) {
		return nil, errs.E(errs.Forbidden)
	}
	p := s.newPage(w, r, "title.regulator")
	list, err := s.dir.Institutions(r.Context())
	if err != nil {
		return nil, err
	}
	ts, err := s.db.Terminations(r.Context(), visit.TerminationFilter{Limit: 50})
	if err != nil {
		return nil, err
	}
	var terms []*terminationJSON
	for i := range ts {
		tj, err := s.terminationOut(r.Context(), &ts[i], p.Lang)
		if err != nil {
			return nil, err
		}
		terms = append(terms, tj)
	}
	s.record(r, "oversight.terminations", "termination", "", "", "page")
	// The regulator's side (issue 13): what is overdue, linking to 监管事项.
	var overdue *oversightCounts
	if actor(r).Role == identity.RoleRegulator {
		c, err := s.overdueCounts(r.Context(), "")
		if err != nil {
			return nil, err
		}
		overdue = &c
	}
	p.Data = struct {
		Institutions []directory.Institution
		Terminations []*terminationJSON
		Overdue      *oversightCounts
	}{list, terms, overdue}
	return p, nil
}

func (s *Server) postQualification(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	err := s.setQualification(r, code, qualificationIn{
		Status: directory.Qualification(r.PostFormValue("status")), ApprovedOn: strings.TrimSpace(r.PostFormValue("approved_on")),
		Note: strings.TrimSpace(r.PostFormValue("note")),
	})
	if err != nil {
		if errs.Code(err) != errs.Invalid {
			s.fail(w, r, err)
			return
		}
		p, perr := s.regulatorPage(w, r)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		r.PostForm.Set("institution", code) // the row that shows the errors
		s.formErr(w, r, "regulator", p, err)
		return
	}
	http.Redirect(w, r, "/regulator?ok=saved", http.StatusSeeOther)
}
