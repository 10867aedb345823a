package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/pay"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/visit"
)

func (s *Server) bookingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /book/services/{svc}", s.pageServiceSlots)
	mux.HandleFunc("GET /book/slots/{id}", s.requireLogin(s.pageSlot))
	mux.HandleFunc("POST /book/slots/{id}/check", s.requireLogin(s.postSlotCheck))
	mux.HandleFunc("POST /book/slots/{id}", s.requireLogin(s.postSlotBook))
	mux.HandleFunc("GET /appointments", s.requireLogin(s.pageAppointments))
	mux.HandleFunc("POST /appointments/{id}/cancel", s.requireLogin(s.postCancel))
	mux.HandleFunc("POST /appointments/{id}/pay", s.requireLogin(s.postPay))
	mux.HandleFunc("GET /inbox", s.requireLogin(s.pageInbox))
}

type dayGroup struct {
	Day   string
	Slots []schedule.Slot
}

type servicePage struct {
	Inst    *directory.Institution
	Service *directory.Service
	Names   catalogNames
	Days    []dayGroup
	Opens   string // when the next closed slot opens, if any
}

// catalogNames are the names of a service and of where it belongs, in the
// page's language: in English the name_en where one is set, else the
// Chinese name.
type catalogNames struct {
	Institution, Department, Specialty, Service string
}

// localName is en in English when set, else zh.
func localName(lang i18n.Lang, zh, en string) string {
	if lang == i18n.EN && en != "" {
		return en
	}
	return zh
}

func namesOf(lang i18n.Lang, inst *directory.Institution, svc *directory.Service) catalogNames {
	n := catalogNames{Institution: localName(lang, inst.Name, inst.NameEN), Department: svc.Department, Service: localName(lang, svc.Name, svc.NameEN)}
	for _, d := range inst.Departments {
		if d.Code != svc.Department {
			continue
		}
		n.Department = localName(lang, d.Name, d.NameEN)
		for _, sp := range d.Specialties {
			if svc.Specialty != "" && sp.Code == svc.Specialty {
				n.Specialty = localName(lang, sp.Name, sp.NameEN)
			}
		}
	}
	return n
}

func (s *Server) pageServiceSlots(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.slots")
	svc, err := s.bk.Service(r.Context(), r.PathValue("svc"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inst, err := s.dir.Institution(r.Context(), svc.Institution)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	slots, err := s.db.ListSlots(r.Context(), schedule.SlotFilter{Service: svc.Code, OnlyOpen: true, After: now,
		From: now.In(dates.Beijing).Format(dates.Layout), To: now.AddDate(0, 0, svc.MaxDays).In(dates.Beijing).Format(dates.Layout)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := servicePage{Inst: inst, Service: svc, Names: namesOf(p.Lang, inst, svc)}
	for _, sl := range slots {
		if err := svc.Release.Bookable(sl.Start, now); err != nil {
			if errs.Code(err) == directory.CodeNotOpen && d.Opens == "" {
				d.Opens = svc.Release.OpensFor(sl.Start).In(dates.Beijing).Format("2006-01-02 15:04")
			}
			continue
		}
		if n := len(d.Days); n == 0 || d.Days[n-1].Day != sl.Day {
			d.Days = append(d.Days, dayGroup{Day: sl.Day})
		}
		d.Days[len(d.Days)-1].Slots = append(d.Days[len(d.Days)-1].Slots, sl)
	}
	p.Title = d.Names.Service
	p.Data = d
	s.render(w, r, http.StatusOK, "slots", p)
}

type slotPage struct {
	Slot      *schedule.Slot
	Service   *directory.Service
	Inst      *directory.Institution
	Names     catalogNames
	Patients  []identity.Patient
	Questions []questionJSON
	Answers   map[string]string // question → "yes", "no", or "" while unanswered (nothing is chosen for the family)
	PatientID int64
	Checked   bool
	Failed    []verdictJSON // the rules that refuse, shown first with what to do
	Passed    []verdictJSON // the conditions met, folded under their count
	Eligible  bool
	IdemKey   string
}

// setVerdicts splits the verdicts: failed first, then those met.
func (d *slotPage) setVerdicts(vs []verdictJSON) {
	d.Checked, d.Failed, d.Passed = true, nil, nil
	for _, v := range vs {
		if v.Passed {
			d.Passed = append(d.Passed, v)
		} else {
			d.Failed = append(d.Failed, v)
		}
	}
}

func (s *Server) slotPage(w http.ResponseWriter, r *http.Request) (*page, *slotPage, error) {
	a := info(r).account
	if a.Role != identity.RolePatient {
		return nil, nil, errs.E(errs.Forbidden)
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	slot, err := s.db.Slot(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	svc, err := s.bk.Service(r.Context(), slot.Service)
	if err != nil {
		return nil, nil, err
	}
	inst, err := s.dir.Institution(r.Context(), slot.Institution)
	if err != nil {
		return nil, nil, err
	}
	ps, err := s.ids.Store.PatientsOf(r.Context(), a.ID)
	if err != nil {
		return nil, nil, err
	}
	p := s.newPage(w, r, "title.book")
	d := &slotPage{Slot: slot, Service: svc, Inst: inst, Names: namesOf(p.Lang, inst, svc), Patients: ps, Questions: questions(p.Lang), Answers: map[string]string{}}
	p.Data = d
	return p, d, nil
}

func (s *Server) pageSlot(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.slotPage(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "book", p)
}

// formAnswers reads the yes/no answers of the booking form: for the page,
// each as "yes", "no" or "" (not chosen), and for the check, only those
// chosen (one not chosen is refused by name, never taken as "no").
func formAnswers(r *http.Request) (shown map[string]string, given map[string]*bool) {
	shown, given = map[string]string{}, map[string]*bool{}
	for _, k := range policy.AnswerKeys {
		switch v := r.PostFormValue("q_" + k); v {
		case "yes", "no":
			yes := v == "yes"
			shown[k], given[k] = v, &yes
		}
	}
	return shown, given
}

func newIdemKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// postSlotCheck shows every rule's verdict before the patient confirms.
func (s *Server) postSlotCheck(w http.ResponseWriter, r *http.Request) {
	p, d, err := s.slotPage(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var given map[string]*bool
	d.Answers, given = formAnswers(r)
	d.PatientID, _ = strconv.ParseInt(r.PostFormValue("patient_id"), 10, 64)
	res, err := s.check(r, checkIn{PatientID: d.PatientID, SlotID: d.Slot.ID, Answers: given})
	if err != nil {
		s.formErr(w, r, "book", p, err)
		return
	}
	d.setVerdicts(verdictsOut(res.Rules, p.Lang))
	d.Eligible, d.IdemKey = res.Eligible, newIdemKey()
	status := http.StatusOK
	if !res.Eligible {
		status = http.StatusUnprocessableEntity
	}
	s.render(w, r, status, "book", p)
}

func (s *Server) postSlotBook(w http.ResponseWriter, r *http.Request) {
	p, d, err := s.slotPage(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var given map[string]*bool
	d.Answers, given = formAnswers(r)
	d.PatientID, _ = strconv.ParseInt(r.PostFormValue("patient_id"), 10, 64)
	_, err = s.book(r, bookIn{SlotID: d.Slot.ID, PatientID: d.PatientID, Answers: given}, r.PostFormValue("idem"))
	if ie, ok := err.(*booking.IneligibleError); ok {
		d.setVerdicts(verdictsOut(ie.Result.Rules, p.Lang))
		s.render(w, r, http.StatusUnprocessableEntity, "book", p)
		return
	}
	if err != nil {
		code := errs.Code(err)
		if statusOf(code) == http.StatusConflict || code == errs.Invalid || code == errs.RateLimited {
			p.setErr(err)
			s.render(w, r, statusOf(code), "book", p)
			return
		}
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/appointments?ok=booked", http.StatusSeeOther)
}

type apptView struct {
	schedule.Appointment
	CanCancel bool
	Payment   *billing.Payment // the held booking's payment, or the paid one
	FeeYuan   string
	Where     string // institution · department, in the page's language (ServiceName is too)
}

func (s *Server) pageAppointments(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.appointments")
	if actor(r).Role != identity.RolePatient {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	list, err := s.myAppointments(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out []apptView
	insts := map[string]*directory.Institution{} // read once each
	for _, a := range list {
		v := apptView{Appointment: a}
		started := a.VisitState != "" && visit.State(a.VisitState).AnswersLocked() // in progress or ended
		svc, err := s.bk.Service(r.Context(), a.Service)
		if err == nil {
			inst, ok := insts[a.Institution]
			if !ok {
				inst, _ = s.dir.Institution(r.Context(), a.Institution)
				insts[a.Institution] = inst
			}
			if inst != nil {
				n := namesOf(p.Lang, inst, svc)
				v.ServiceName, v.Where = n.Service, n.Institution+" · "+n.Department
			}
		}
		if err == nil && !started {
			v.CanCancel = a.CanCancel(s.cfg.Now(), svc.CancelCutoffM) == nil
		}
		if err == nil && svc.PaidAtBooking() {
			v.FeeYuan = pay.Yuan(svc.PriceFen)
		}
		if p, err := s.db.LatestPayment(r.Context(), billing.ForAppointment, a.ID); err == nil {
			// Back from the cashier: ask the provider rather than wait for
			// its notification.
			if p, err = s.bill.Refresh(r.Context(), p); err == nil {
				v.Payment = p
				if p.Status == billing.Paid && v.Status == schedule.Held {
					v.Status = schedule.Booked
				}
			}
		}
		out = append(out, v)
	}
	p.Data = out
	s.render(w, r, http.StatusOK, "appointments", p)
}

func (s *Server) postCancel(w http.ResponseWriter, r *http.Request) {
	if _, err := s.cancelAppointment(r, strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/appointments?ok=cancelled", http.StatusSeeOther)
}

// postPay starts paying a held booking's fee and sends the payer to the
// provider's cashier.
func (s *Server) postPay(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, errs.E(errs.NotFound))
		return
	}
	p, err := s.createPayment(r.Context(), call{Actor: actor(r), r: r}, payIn{AppointmentID: id, Method: r.PostFormValue("method"), Channel: r.PostFormValue("channel")})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.Status == billing.Paid {
		http.Redirect(w, r, "/appointments?ok=paid", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, p.CashierURL, http.StatusSeeOther)
}

func (s *Server) pageInbox(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.inbox")
	list, err := s.db.Inbox(r.Context(), actor(r).ID, 100)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p.Data = list
	s.render(w, r, http.StatusOK, "inbox", p)
}

// --- institution admin: rules, schedules, history import, usage ---

func (s *Server) adminBookingRoutes(mux *http.ServeMux) {
	back := func(sub string) func(r *http.Request) string {
		return func(r *http.Request) string {
			return "/admin/institutions/" + r.PathValue("code") + "/" + sub + "?ok=saved"
		}
	}
	mux.HandleFunc("GET /admin/institutions/{code}/rules", s.requireLogin(s.show("rules", s.rulesPage)))
	mux.HandleFunc("POST /admin/institutions/{code}/rules", s.requireLogin(s.submit("rules", s.rulesPage, s.postRule, back("rules"))))
	mux.HandleFunc("POST /admin/institutions/{code}/doctor-reach", s.requireLogin(s.submit("rules", s.rulesPage, s.postReach, back("rules"))))
	mux.HandleFunc("GET /admin/institutions/{code}/schedules", s.requireLogin(s.show("schedules", s.schedulesPage)))
	mux.HandleFunc("POST /admin/institutions/{code}/schedules", s.requireLogin(s.submit("schedules", s.schedulesPage, s.postSchedule, back("schedules"))))
	mux.HandleFunc("POST /admin/institutions/{code}/schedules/{id}/delete", s.requireLogin(s.postDeleteSchedule))
	mux.HandleFunc("GET /admin/institutions/{code}/history", s.requireLogin(s.pageHistory))
	mux.HandleFunc("POST /admin/institutions/{code}/history", s.requireLogin(s.postHistory))
	mux.HandleFunc("GET /admin/institutions/{code}/history/{id}", s.requireLogin(s.pageImport))
	mux.HandleFunc("POST /admin/institutions/{code}/history/mrn-links", s.requireLogin(s.postMRNLinks))
	mux.HandleFunc("GET /admin/institutions/{code}/usage", s.requireLogin(s.pageUsage))
}

type rulesPage struct {
	Inst      *directory.Institution
	Platform  []policy.Rule
	Own       []policy.Rule
	Variables any
	Reach     map[string]string // the doctors' reach: "" the institution's, else by department (authz.ReachRule)
}

func (s *Server) rulesPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	inst, err := s.manage(r)
	if err != nil {
		return nil, err
	}
	rules, err := s.db.Rules(r.Context(), inst.Code)
	if err != nil {
		return nil, err
	}
	reach, err := s.db.DoctorReach(r.Context(), inst.Code)
	if err != nil {
		return nil, err
	}
	d := &rulesPage{Inst: inst, Variables: policy.Variables, Reach: map[string]string{"": string(authz.ReachOwn)}}
	for _, ru := range reach {
		d.Reach[ru.Department] = string(ru.Reach)
	}
	for _, ru := range rules {
		if ru.Institution == "" {
			d.Platform = append(d.Platform, ru)
		} else {
			d.Own = append(d.Own, ru)
		}
	}
	p := s.newPage(w, r, "title.rules")
	p.Data = d
	return p, nil
}

func (s *Server) postRule(r *http.Request) error {
	code := r.PathValue("code")
	id, _ := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	pos, _ := strconv.Atoi(r.PostFormValue("position"))
	rule := &policy.Rule{ID: id, Institution: code, Department: r.PostFormValue("department"), Service: strings.TrimSpace(r.PostFormValue("service")),
		Code: r.PostFormValue("code"), Source: strings.TrimSpace(r.PostFormValue("source")), MessageZH: strings.TrimSpace(r.PostFormValue("message_zh")),
		MessageEN: strings.TrimSpace(r.PostFormValue("message_en")), PassedZH: r.PostFormValue("passed_zh"), PassedEN: r.PostFormValue("passed_en"),
		Expr: strings.TrimSpace(r.PostFormValue("expr")), Position: pos, Active: checked(r, "active")}
	return s.saveRule(r, rule)
}

type schedulesPage struct {
	Inst      *directory.Institution
	Services  []directory.Service
	Schedules map[string][]schedule.Schedule
	Doctors   []directory.Practitioner
	DoctorOf  map[int64]string
}

func (s *Server) schedulesPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	inst, err := s.manage(r)
	if err != nil {
		return nil, err
	}
	d := &schedulesPage{Inst: inst, Schedules: map[string][]schedule.Schedule{}, DoctorOf: map[int64]string{}}
	prs, err := s.dir.Practitioners(r.Context(), inst.Code)
	if err != nil {
		return nil, err
	}
	for _, pr := range prs {
		if pr.Profession == directory.Doctor {
			d.Doctors = append(d.Doctors, pr)
			d.DoctorOf[pr.ID] = pr.Name
		}
	}
	for _, dep := range inst.Departments {
		for _, sv := range dep.Services {
			d.Services = append(d.Services, sv)
			list, err := s.db.Schedules(r.Context(), sv.Code)
			if err != nil {
				return nil, err
			}
			d.Schedules[sv.Code] = list
		}
	}
	p := s.newPage(w, r, "title.schedules")
	p.Data = d
	return p, nil
}

func (s *Server) postSchedule(r *http.Request) error {
	inst, err := s.manage(r)
	if err != nil {
		return err
	}
	svc, err := s.dir.Service(r.Context(), r.PostFormValue("service"))
	if err != nil || svc.Institution != inst.Code {
		var f errs.Fields
		f.Add("service", "not_found")
		return f.Err()
	}
	doc, _ := strconv.ParseInt(r.PostFormValue("practitioner_id"), 10, 64)
	wd, _ := strconv.Atoi(r.PostFormValue("weekday"))
	capacity, _ := strconv.Atoi(r.PostFormValue("capacity"))
	return s.saveSchedule(r, svc, &schedule.Schedule{PractitionerID: doc, Weekday: wd, StartTime: r.PostFormValue("start_time"), Capacity: capacity, Active: true})
}

func (s *Server) postDeleteSchedule(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if _, err := s.manage(r); err != nil {
		s.fail(w, r, err)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	svc, err := s.dir.Service(r.Context(), r.PostFormValue("service"))
	if err != nil || svc.Institution != code {
		s.fail(w, r, errs.E(errs.NotFound))
		return
	}
	if err := s.db.DeleteSchedule(r.Context(), id, svc.Code); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "schedule.delete", "schedule", r.PathValue("id"), code, svc.Code)
	http.Redirect(w, r, "/admin/institutions/"+code+"/schedules?ok=saved", http.StatusSeeOther)
}

func (s *Server) pageHistory(w http.ResponseWriter, r *http.Request) {
	inst, err := s.manage(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := s.newPage(w, r, "title.history")
	if p.Data, err = s.historyData(r, inst, nil); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "history", p)
}

type usageRow struct {
	Day      string
	Services []schedule.DayUsage
}

func (s *Server) pageUsage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !authz.SeeInstitutionStaff(actor(r), code) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	now := s.cfg.Now()
	u, err := s.db.SlotUsage(r.Context(), code, now.In(dates.Beijing).Format(dates.Layout), now.AddDate(0, 0, 14).In(dates.Beijing).Format(dates.Layout))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rows []usageRow
	for _, x := range u {
		if n := len(rows); n == 0 || rows[n-1].Day != x.Day {
			rows = append(rows, usageRow{Day: x.Day})
		}
		rows[len(rows)-1].Services = append(rows[len(rows)-1].Services, x)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Day < rows[j].Day })
	p := s.newPage(w, r, "title.usage")
	p.Data = map[string]any{"Code": code, "Rows": rows}
	s.render(w, r, http.StatusOK, "usage", p)
}
