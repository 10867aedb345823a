package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/schedule"
)

// verdictJSON is one booking rule's verdict with both of its texts:
// Message says what refuses and what to do, MessagePassed what is met.
type verdictJSON struct {
	Code          string `json:"code"`
	Source        string `json:"source,omitempty"`
	Passed        bool   `json:"passed"`
	Message       string `json:"message"`
	MessagePassed string `json:"message_passed"`
}

func verdictsOut(vs []policy.Verdict, lang i18n.Lang) []verdictJSON {
	out := make([]verdictJSON, 0, len(vs))
	for _, v := range vs {
		m, mp := v.MessageZH, v.PassedZH
		if lang == i18n.EN {
			m, mp = v.MessageEN, v.PassedEN
		}
		out = append(out, verdictJSON{Code: v.Code, Source: v.Source, Passed: v.Passed, Message: m, MessagePassed: mp})
	}
	return out
}

type questionJSON struct {
	Key  string `json:"key"`
	Text string `json:"text"`
}

func questions(lang i18n.Lang) []questionJSON {
	out := make([]questionJSON, 0, len(policy.AnswerKeys))
	for _, k := range policy.AnswerKeys {
		out = append(out, questionJSON{Key: k, Text: i18n.T(lang, "q."+k)})
	}
	return out
}

func (s *Server) apiService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.dir.Service(r.Context(), r.PathValue("svc"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"service": svc, "questions": questions(apiLang(r))})
}

// ownPatient loads a patient of the actor's account, or not_found.
func (s *Server) ownPatient(r *http.Request, id int64) (*identity.Patient, error) {
	return s.loadPatient(r, strconv.FormatInt(id, 10))
}

// checkIn is an eligibility check. Answers must answer every pre-booking
// question (booking.ParseAnswers).
type checkIn struct {
	PatientID int64            `json:"patient_id"`
	Service   string           `json:"service"`
	SlotID    int64            `json:"slot_id"`
	Date      string           `json:"date"`
	Answers   map[string]*bool `json:"answers"`
}

// check runs the eligibility check of a request.
func (s *Server) check(r *http.Request, in checkIn) (*booking.Result, error) {
	var f errs.Fields
	if in.PatientID == 0 {
		f.Add("patient_id", "required")
	}
	if in.Service == "" && in.SlotID == 0 {
		f.Add("service", "required")
	}
	answers, err := booking.ParseAnswers(in.Answers)
	if err != nil {
		mergeFields(&f, err)
	}
	var day time.Time
	if in.Date != "" {
		if day, err = schedule.ParseDay(in.Date); err != nil {
			f.Add("date", "date_format")
		}
	}
	var svc *directory.Service
	if in.Service != "" {
		if svc, err = s.bk.Service(r.Context(), in.Service); errs.Is(err, errs.NotFound) {
			f.Add("service", "not_found")
		} else if err != nil {
			return nil, err
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	p, err := s.ownPatient(r, in.PatientID)
	if err != nil {
		return nil, err
	}
	var slot *schedule.Slot
	if in.SlotID != 0 {
		if slot, err = s.db.Slot(r.Context(), in.SlotID); err != nil {
			return nil, err
		}
		day = slot.Start
		if svc, err = s.bk.Service(r.Context(), slot.Service); err != nil {
			return nil, err
		}
	}
	return s.bk.Check(r.Context(), p, svc, slot, day, answers)
}

func (s *Server) apiEligibility(w http.ResponseWriter, r *http.Request) {
	var in checkIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.check(r, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"eligible": res.Eligible, "rules": verdictsOut(res.Rules, apiLang(r))})
}

func (s *Server) apiSlots(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := schedule.SlotFilter{Institution: q.Get("institution"), Department: q.Get("department"), Service: q.Get("service"), From: q.Get("from"), To: q.Get("to"),
		OnlyOpen: true, After: s.cfg.Now()}
	var fe errs.Fields
	for _, k := range []string{"from", "to"} {
		if v := q.Get(k); v != "" && !dates.Valid(v) {
			fe.Add(k, "date_format")
		}
	}
	if err := fe.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.From == "" {
		f.From = s.today().In(dates.Beijing).Format(dates.Layout)
	}
	slots, err := s.db.ListSlots(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Each slot says whether it can be booked now under its service's release
	// (S-2), and when it opens if not yet.
	now := s.cfg.Now()
	out := make([]slotOut, len(slots))
	for i, sl := range slots {
		out[i].Slot = sl
		svc, err := s.bk.Service(r.Context(), sl.Service)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch err := svc.Release.Bookable(sl.Start, now); {
		case err == nil:
			out[i].Bookable = sl.Remaining > 0
		case errs.Code(err) == directory.CodeNotOpen:
			out[i].OpensAt = svc.Release.OpensFor(sl.Start)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out, "questions": questions(apiLang(r))})
}

// slotOut is a listed slot with whether it can be booked now.
type slotOut struct {
	schedule.Slot
	Bookable bool      `json:"bookable"`
	OpensAt  time.Time `json:"opens_at,omitzero"`
}

// bookIn is a booking. Answers must answer every pre-booking question
// (booking.ParseAnswers).
type bookIn struct {
	SlotID    int64            `json:"slot_id"`
	PatientID int64            `json:"patient_id"`
	Answers   map[string]*bool `json:"answers"`
}

// book books for the actor, shared by the API and the booking page.
func (s *Server) book(r *http.Request, in bookIn, idemKey string) (*booking.Booked, error) {
	a := info(r).account
	if a.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	if !s.limits.allow("booking-account", strconv.FormatInt(a.ID, 10)) {
		return nil, errs.E(errs.RateLimited)
	}
	var f errs.Fields
	if in.SlotID == 0 {
		f.Add("slot_id", "required")
	}
	if in.PatientID == 0 {
		f.Add("patient_id", "required")
	}
	answers, err := booking.ParseAnswers(in.Answers)
	if err != nil {
		mergeFields(&f, err)
	}
	if len(idemKey) > 128 {
		f.Add("Idempotency-Key", "too_long")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	p, err := s.patientOf(r, strconv.FormatInt(in.PatientID, 10))
	if err != nil {
		return nil, err
	}
	// The audit entry commits with the booking itself.
	entry := &audit.Entry{At: s.cfg.Now().UTC().Truncate(time.Microsecond), ActorID: a.ID, ActorRole: string(a.Role), Action: "appointment.create",
		ObjectType: "appointment", IP: clientIP(r), Detail: "patient " + strconv.FormatInt(p.ID, 10)}
	b, err := s.bk.Book(r.Context(), booking.Request{Account: a, PatientID: p.ID, SlotID: in.SlotID, Answers: answers, IdemKey: idemKey, Audit: entry}, p)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (s *Server) apiBook(w http.ResponseWriter, r *http.Request) {
	var in bookIn
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.book(r, in, r.Header.Get("Idempotency-Key"))
	if err != nil {
		s.failBooking(w, r, err)
		return
	}
	status := http.StatusCreated
	if b.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, status, b.Appointment)
}

// failBooking answers a refused booking: an ineligible one lists every
// rule's verdict.
func (s *Server) failBooking(w http.ResponseWriter, r *http.Request, err error) {
	var ie *booking.IneligibleError
	if errors.As(err, &ie) {
		lang := apiLang(r)
		rules := verdictsOut(ie.Result.Rules, lang)
		var reasons []string
		for _, v := range rules {
			if !v.Passed {
				reasons = append(reasons, v.Message)
			}
		}
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":    map[string]any{"code": schedule.CodeIneligible, "message": i18n.T(lang, schedule.CodeIneligible, strings.Join(reasons, i18n.T(lang, "reason.sep"))), "rules": rules},
			"eligible": false, "rules": rules,
		})
		return
	}
	s.fail(w, r, err)
}

// visibleAppointment loads an appointment the actor may see: the
// patient's account (or guardian), or staff of its institution.
func (s *Server) visibleAppointment(r *http.Request) (*schedule.Appointment, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, errs.E(errs.NotFound)
	}
	return s.appointmentFor(r, id)
}

// appointmentFor reads an appointment the caller may see (their own or
// their children's, or one in their sight at their institution: a
// doctor's own sessions, an admin's institution), auditing the access
// (and a read through a widening as such); any other is not_found.
func (s *Server) appointmentFor(r *http.Request, id int64) (*schedule.Appointment, error) {
	a, err := s.db.Appointment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	act := actor(r)
	ok, detail := false, ""
	if act.Role == identity.RolePatient {
		linked, err := s.ids.Store.LinkedAccounts(r.Context(), a.PatientID)
		if err != nil {
			return nil, err
		}
		ok = authz.SeePatient(act, linked)
	} else {
		sight, seen, err := s.bookingSight(r.Context(), act)
		if err != nil {
			return nil, err
		}
		ok = seen && sight.Covers(a.Institution, a.Department, a.PractitionerID)
		detail = widened(sight, a.PractitionerID)
	}
	if !ok {
		s.record(r, "appointment.read.denied", "appointment", strconv.FormatInt(id, 10), a.Institution, "")
		return nil, errs.E(errs.NotFound)
	}
	return a, s.record(r, "appointment.read", "appointment", strconv.FormatInt(id, 10), a.Institution, detail)
}

func (s *Server) apiAppointment(w http.ResponseWriter, r *http.Request) {
	a, err := s.visibleAppointment(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	minimumNecessary(actor(r), a)
	writeJSON(w, http.StatusOK, a)
}

// minimumNecessary trims an appointment to what the caller's work needs
// (issue 15, N-19, PIPL's minimum necessary): an institution's admin runs
// the schedules (who, when, which service) and does not see the
// pre-booking health answers (pregnancy, critical illness); the patient's
// family and the doctors keep them. Every answer of an appointment to
// staff passes here (the JSON API and FHIR).
func minimumNecessary(act authz.Actor, a *schedule.Appointment) {
	if act.Role == identity.RoleInstitutionAdmin {
		a.Answers = nil
	}
}

// myAppointments lists the appointments of the account's patients.
func (s *Server) myAppointments(r *http.Request) ([]schedule.Appointment, error) {
	ps, err := s.ids.Store.PatientsOf(r.Context(), actor(r).ID)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	if len(ids) == 0 {
		return []schedule.Appointment{}, nil
	}
	list, err := s.db.Appointments(r.Context(), schedule.AppointmentFilter{PatientIDs: ids})
	if err != nil {
		return nil, err
	}
	return list, s.record(r, "appointment.list", "appointment", "", "", "")
}

func (s *Server) apiAppointments(w http.ResponseWriter, r *http.Request) {
	act := actor(r)
	var list []schedule.Appointment
	var err error
	if act.Role == identity.RolePatient {
		list, err = s.myAppointments(r)
	} else {
		var sight authz.Sight
		var seen bool
		sight, seen, err = s.bookingSight(r.Context(), act)
		switch {
		case err != nil:
		case !seen:
			err = errs.E(errs.Forbidden)
		default:
			list, err = s.db.Appointments(r.Context(), schedule.AppointmentFilter{Institution: sight.Institution,
				PractitionerID: sight.PractitionerID, Department: sight.Department, Day: r.URL.Query().Get("day")})
			prs := make([]int64, len(list))
			for i := range list {
				prs[i] = list[i].PractitionerID
				minimumNecessary(act, &list[i])
			}
			if err == nil {
				err = s.record(r, "appointment.list", "appointment", "", act.Institution, joinDetail(r.URL.Query().Get("day"), widened(sight, prs...)))
			}
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

func (s *Server) cancelAppointment(r *http.Request, reason string) (*schedule.Appointment, error) {
	a, err := s.visibleAppointment(r)
	if err != nil {
		return nil, err
	}
	if actor(r).Role != identity.RolePatient && !authz.ManageInstitution(actor(r), a.Institution) {
		return nil, errs.E(errs.Forbidden)
	}
	if reason == "" {
		reason = "patient"
	}
	if err := s.bk.Cancel(r.Context(), a, reason); err != nil {
		return nil, err
	}
	s.changed("slot", "", a.SlotID)
	// A paid fee goes back (a pending payment closes).
	if err := s.refundAppointment(r.Context(), a.ID, billing.ReasonCancelled, "取消预约，退还挂号费"); err != nil {
		s.log.Warn("cancelled booking not refunded yet", "appointment", a.ID, "err", err)
	}
	return a, s.record(r, "appointment.cancel", "appointment", r.PathValue("id"), a.Institution, reason)
}

func (s *Server) apiCancel(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	a, err := s.cancelAppointment(r, in.Reason)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// --- institution admin: rules, schedules, slots, history ---

func (s *Server) apiRules(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !authz.SeeInstitutionStaff(actor(r), code) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	rules, err := s.db.Rules(r.Context(), code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": rules, "variables": policy.Variables})
}

// saveRule validates (compiling the expression) and stores a rule of the
// institution in the path, or a platform rule for the regulator.
func (s *Server) saveRule(r *http.Request, rule *policy.Rule) error {
	if rule.Institution == "" {
		if !authz.Qualify(actor(r)) {
			return errs.E(errs.Forbidden)
		}
	} else if !authz.ManageInstitution(actor(r), rule.Institution) {
		return errs.E(errs.Forbidden)
	}
	if err := s.bk.Engine.Validate(rule); err != nil {
		return err
	}
	if err := s.db.SaveRule(r.Context(), rule); err != nil {
		return err
	}
	s.invalidateBooking()
	return s.record(r, "rule.save", "rule", strconv.FormatInt(rule.ID, 10), rule.Institution, rule.Code+": "+rule.Expr)
}

// ruleIn is a booking rule as the API takes it. Its passed texts
// (passed_zh, passed_en) are optional, so that clients written before them
// keep working: left out of a PUT, the stored ones stay (never cleared);
// left out of a POST, the rule has none and its verdict says neutrally
// that the condition is met (policy.DefaultPassedZH). "" clears them.
type ruleIn struct {
	policy.Rule
	PassedZH *string `json:"passed_zh"`
	PassedEN *string `json:"passed_en"`
}

func (s *Server) apiSaveRule(w http.ResponseWriter, r *http.Request) {
	var in ruleIn
	in.Active = true
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	rule := in.Rule
	rule.Institution = r.PathValue("code")
	if id := r.PathValue("id"); id != "" {
		rule.ID, _ = strconv.ParseInt(id, 10, 64)
	} else {
		rule.ID = 0
	}
	if rule.ID != 0 && (in.PassedZH == nil || in.PassedEN == nil) {
		stored, err := s.db.Rules(r.Context(), rule.Institution)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, x := range stored {
			if x.ID == rule.ID && x.Institution == rule.Institution {
				rule.PassedZH, rule.PassedEN = x.PassedZH, x.PassedEN
			}
		}
	}
	if in.PassedZH != nil {
		rule.PassedZH = *in.PassedZH
	}
	if in.PassedEN != nil {
		rule.PassedEN = *in.PassedEN
	}
	if err := s.saveRule(r, &rule); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rule)
}

func (s *Server) apiDeleteRule(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !authz.ManageInstitution(actor(r), code) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := s.db.DeleteRule(r.Context(), id, code); err != nil {
		s.fail(w, r, err)
		return
	}
	s.invalidateBooking()
	s.record(r, "rule.delete", "rule", r.PathValue("id"), code, "")
	w.WriteHeader(http.StatusNoContent)
}

// managedService loads the service in the path for its institution's admin.
func (s *Server) managedService(r *http.Request) (*directory.Service, error) {
	svc, err := s.dir.Service(r.Context(), r.PathValue("svc"))
	if err != nil {
		return nil, err
	}
	if !authz.ManageInstitution(actor(r), svc.Institution) {
		return nil, errs.E(errs.Forbidden)
	}
	return svc, nil
}

func (s *Server) apiSchedules(w http.ResponseWriter, r *http.Request) {
	svc, err := s.managedService(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, err := s.db.Schedules(r.Context(), svc.Code)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

// saveSchedule checks the doctor belongs to the service's institution and
// generates the slots of the booking window.
func (s *Server) saveSchedule(r *http.Request, svc *directory.Service, sc *schedule.Schedule) error {
	sc.Service = svc.Code
	if err := sc.Validate(); err != nil {
		return err
	}
	doc, err := s.dir.Practitioner(r.Context(), sc.PractitionerID)
	if err != nil || doc.Institution != svc.Institution || doc.Profession != directory.Doctor {
		var f errs.Fields
		f.Add("practitioner_id", "not_found")
		return f.Err()
	}
	if err := s.db.SaveSchedule(r.Context(), sc); err != nil {
		return err
	}
	if _, err := s.bk.Generate(r.Context(), svc.Code, s.cfg.Now(), s.cfg.Now().AddDate(0, 0, svc.MaxDays)); err != nil {
		return err
	}
	return s.record(r, "schedule.save", "schedule", strconv.FormatInt(sc.ID, 10), svc.Institution, svc.Code)
}

func (s *Server) apiSaveSchedule(w http.ResponseWriter, r *http.Request) {
	svc, err := s.managedService(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sc := schedule.Schedule{Active: true}
	if err := decode(w, r, &sc); err != nil {
		s.fail(w, r, err)
		return
	}
	sc.ID = 0
	if err := s.saveSchedule(r, svc, &sc); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sc)
}

func (s *Server) apiDeleteSchedule(w http.ResponseWriter, r *http.Request) {
	svc, err := s.managedService(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := s.db.DeleteSchedule(r.Context(), id, svc.Code); err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "schedule.delete", "schedule", r.PathValue("id"), svc.Institution, svc.Code)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiGenerate(w http.ResponseWriter, r *http.Request) {
	svc, err := s.managedService(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	var f errs.Fields
	from, err1 := schedule.ParseDay(in.From)
	to, err2 := schedule.ParseDay(in.To)
	if err1 != nil {
		f.Add("from", "date_format")
	}
	if err2 != nil {
		f.Add("to", "date_format")
	}
	if err1 == nil && err2 == nil && (to.Before(from) || to.Sub(from) > 92*24*time.Hour) {
		f.Add("to", "period_invalid")
	}
	if err := f.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := s.bk.Generate(r.Context(), svc.Code, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.record(r, "slots.generate", "service", svc.Code, svc.Institution, in.From+".."+in.To)
	writeJSON(w, http.StatusOK, map[string]int{"created": n})
}

func (s *Server) apiUsage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if !authz.SeeInstitutionStaff(actor(r), code) {
		s.fail(w, r, errs.E(errs.Forbidden))
		return
	}
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	if from == "" {
		from = s.today().In(dates.Beijing).Format(dates.Layout)
	}
	if to == "" {
		to = s.today().AddDate(0, 0, 14).In(dates.Beijing).Format(dates.Layout)
	}
	u, err := s.db.SlotUsage(r.Context(), code, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": u})
}

func (s *Server) apiNotifications(w http.ResponseWriter, r *http.Request) {
	list, err := s.db.Inbox(r.Context(), actor(r).ID, 100)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}
