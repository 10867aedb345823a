// Package booking runs the booking use cases over the domain stores: the
// eligibility check (hospital rules as data, over the patient's facts), the
// booking itself with group commit, cancellation, slot generation and the
// effects of a doctor's suspension (D-2).
package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/history"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/metrics"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/ttl"
)

// Store is everything booking reads and writes.
type Store interface {
	directory.Store
	identity.Store
	policy.Store
	history.Store
	schedule.Store
	notify.Store
	// InsuranceBound says whether a verified social-security card is bound
	// to the patient (M-3).
	InsuranceBound(ctx context.Context, patientID int64) (bool, error)
	// ReferredIn is the newest acceptance of a referral of the patient to
	// the institution's department at or before at (zero: none; N-24).
	ReferredIn(ctx context.Context, patientID int64, institution, department string, at time.Time) (time.Time, error)
}

// Service runs bookings.
type Service struct {
	st     Store
	Engine *policy.Engine
	Now    func() time.Time
	cache  *ttl.Cache
	batch  *batcher
	visits *visitReader
	fullMu sync.Mutex
	fullAt map[int64]time.Time // slots seen full, by when
}

// New starts a booking service; Close stops its writer.
func New(st Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, Engine: policy.NewEngine(), Now: now, cache: ttl.New(2*time.Second, 200_000), batch: newBatcher(st),
		visits: newVisitReader(st), fullAt: map[int64]time.Time{}}
}

// Close stops the group-commit writer after the queued bookings, and the
// history reader.
func (s *Service) Close() {
	s.batch.close()
	s.visits.close()
}

// Invalidate drops cached directory data and rules (after an edit).
func (s *Service) Invalidate() { s.cache.Clear() }

// Answers are the patient's answers to the pre-booking questions.
type Answers map[string]bool

// ParseAnswers checks that every pre-booking question is answered, yes
// (true) or no (false), and nothing else: a question left out (or null) is
// refused (answers.<key>: required), never read as "no", so a family cannot
// book without reading the questions (S-4). The check and the booking both
// take their answers from here; it reads nothing from the store.
func ParseAnswers(m map[string]*bool) (Answers, error) {
	var f errs.Fields
	out := make(Answers, len(policy.AnswerKeys))
	for _, k := range policy.AnswerKeys {
		if v := m[k]; v != nil {
			out[k] = *v
		} else {
			f.Add("answers."+k, "required")
		}
	}
	for k := range m {
		if _, known := out[k]; !known && !f.Has("answers."+k) {
			f.Add("answers."+k, "unknown_field")
		}
	}
	return out, f.Err()
}

func (s *Service) institution(ctx context.Context, code string) (*directory.Institution, error) {
	v, err := s.cache.Get(ctx, "inst:"+code, func(ctx context.Context) (any, error) { return s.st.Institution(ctx, code) })
	if err != nil {
		return nil, err
	}
	return v.(*directory.Institution), nil
}

// Service returns a service of the catalogue (cached).
func (s *Service) Service(ctx context.Context, code string) (*directory.Service, error) {
	v, err := s.cache.Get(ctx, "svc:"+code, func(ctx context.Context) (any, error) { return s.st.Service(ctx, code) })
	if err != nil {
		return nil, err
	}
	return v.(*directory.Service), nil
}

func (s *Service) rules(ctx context.Context, institution string) ([]policy.Rule, error) {
	v, err := s.cache.Get(ctx, "rules:"+institution, func(ctx context.Context) (any, error) { return s.st.Rules(ctx, institution) })
	if err != nil {
		return nil, err
	}
	return v.([]policy.Rule), nil
}

func (s *Service) practitioner(ctx context.Context, id int64) (*directory.Practitioner, error) {
	v, err := s.cache.Get(ctx, fmt.Sprintf("pr:%d", id), func(ctx context.Context) (any, error) { return s.st.Practitioner(ctx, id) })
	if err != nil {
		return nil, err
	}
	return v.(*directory.Practitioner), nil
}

// Result of an eligibility check.
type Result struct {
	Eligible bool             `json:"eligible"`
	Rules    []policy.Verdict `json:"rules"`
}

// Check evaluates every rule that governs the service for the patient. day
// is the visit day (today when zero); slot, when given, brings its doctor
// (D-1, D-2).
func (s *Service) Check(ctx context.Context, p *identity.Patient, svc *directory.Service, slot *schedule.Slot, day time.Time, answers Answers) (*Result, error) {
	if day.IsZero() {
		day = s.Now()
	}
	inst, err := s.institution(ctx, svc.Institution)
	if err != nil {
		return nil, err
	}
	f := policy.Facts{
		Age: int64(p.Age(day)), Sex: string(p.Sex), Pregnant: answers[policy.AnswerPregnant], Critical: answers[policy.AnswerCritical],
		Difficult: answers[policy.AnswerDifficult], FirstVisit: answers[policy.AnswerFirstVisit], Kind: string(svc.Kind),
		Institution: svc.Institution, Department: svc.Department, Specialty: svc.Specialty,
		InstitutionApproved: inst.Open(), DaysSinceLastVisit: -1, DoctorOnline: true, DoctorFirstVisitOK: true, DaysSinceReferral: -1,
		// S-5, G-2: the regulator's designations valid on the visit's day.
		InstitutionPilot: inst.PilotOn(day), SpecialtyPilot: inst.SpecialtyPilotOn(svc.Specialty, day),
	}
	dayStr := day.In(dates.Beijing).Format(dates.Layout)
	lv, err := s.cache.Get(ctx, "visit:"+p.ResidentID+"|"+svc.Institution+"|"+svc.Department+"|"+dayStr, func(ctx context.Context) (any, error) {
		return s.visits.last(ctx, history.Query{ResidentID: p.ResidentID, Institution: svc.Institution, Department: svc.Department, OnOrBefore: dayStr})
	})
	if err != nil {
		return nil, err
	}
	last := lv.(history.Last)
	if last.Found {
		f.HasHistory, f.LastDiagnosis = true, last.DiagnosisCode
		if t, err := time.ParseInLocation(dates.Layout, last.Date, dates.Beijing); err == nil {
			f.DaysSinceLastVisit = int64(directory.DayStart(day).Sub(t).Hours() / 24)
		}
	}
	if slot != nil {
		doc, err := s.practitioner(ctx, slot.PractitionerID)
		if err != nil {
			return nil, err
		}
		f.DoctorFirstVisitOK, _ = doc.FirstVisitCheck(day)
		f.DoctorOnline = doc.MayWorkOnline()
	}
	rules, err := s.rules(ctx, svc.Institution)
	if err != nil {
		return nil, err
	}
	applicable := policy.Applicable(rules, svc.Institution, svc.Department, svc.Code)
	if policy.Uses(applicable, "insurance_bound") {
		// Read afresh, never cached: a card bound a moment ago counts.
		if f.InsuranceBound, err = s.st.InsuranceBound(ctx, p.ID); err != nil {
			return nil, err
		}
	}
	if policy.Uses(applicable, "referred_in") || policy.Uses(applicable, "days_since_referral") {
		// N-24: an accepted referral counts where the rules say so; read
		// afresh, an acceptance a moment ago counts.
		at, err := s.st.ReferredIn(ctx, p.ID, svc.Institution, svc.Department, s.Now())
		if err != nil {
			return nil, err
		}
		if !at.IsZero() {
			f.ReferredIn = true
			f.DaysSinceReferral = int64(directory.DayStart(day).Sub(directory.DayStart(at)).Hours() / 24)
		}
	}
	ok, verdicts := s.Engine.Evaluate(ctx, applicable, f)
	return &Result{Eligible: ok, Rules: verdicts}, nil
}

// writerRefusal is a booking the store refused after finding that its
// idempotency key had booked nothing.
type writerRefusal struct{ error }

func (w writerRefusal) Unwrap() error { return w.error }

// IneligibleError carries every rule's verdict of a refused booking.
type IneligibleError struct{ Result *Result }

func (e *IneligibleError) Error() string { return schedule.CodeIneligible }

// Request is a booking as the patient asks for it.
type Request struct {
	Account   *identity.Account
	PatientID int64
	SlotID    int64
	Answers   Answers
	IdemKey   string
	Audit     *audit.Entry // written with the booking
	// Hold keeps the place held (status held) for the service's payment
	// window even when nothing is to be paid: the FHIR API's $hold. The
	// hold expires as an unpaid one does and its place returns.
	Hold bool
}

// Booked is the outcome of a booking.
type Booked struct {
	Appointment *schedule.Appointment
	Replayed    bool
}

// Book books a slot for one of the account's patients. The checks read
// (mostly from short-lived caches); the write is one conditional update,
// batched with concurrent bookings. A refusal first looks whether the
// idempotency key had booked already, so a retry answers the same.
//
// A key names one request: used again with another slot, patient or
// answers it is refused (idempotency_key_reused), never answered with the
// first booking as if it were the second one's.
func (s *Service) Book(ctx context.Context, r Request, patient *identity.Patient) (b *Booked, err error) {
	defer func() { countOutcome(b, err) }()
	b, err = s.book(ctx, r, patient)
	var w writerRefusal
	if errors.As(err, &w) {
		return nil, w.error // the writer looked the key up already
	}
	if err != nil && r.IdemKey != "" {
		if prev, perr := s.st.AppointmentByKey(ctx, r.Account.ID, r.IdemKey); perr == nil {
			b, err = &Booked{Appointment: prev, Replayed: true}, nil
		}
	}
	if err == nil && b.Replayed && !sameRequest(b.Appointment, r) {
		return nil, errs.E(CodeKeyReused)
	}
	return b, err
}

// CodeKeyReused: an idempotency key used again for a different booking.
const CodeKeyReused = "idempotency_key_reused"

// sameRequest says whether a booking a key made is the one now asked for.
func sameRequest(a *schedule.Appointment, r Request) bool {
	return a.SlotID == r.SlotID && a.PatientID == r.PatientID && maps.Equal(a.Answers, r.Answers)
}

func (s *Service) book(ctx context.Context, r Request, patient *identity.Patient) (*Booked, error) {
	now := s.Now()
	slot, err := s.slot(ctx, r.SlotID)
	if err != nil {
		return nil, err
	}
	if slot.Status != schedule.SlotOpen {
		return nil, errs.E(schedule.CodeSlotClosed)
	}
	if s.full(slot.ID) {
		return nil, errs.E(schedule.CodeSlotFull) // fast refusal; the write re-checks atomically
	}
	if now.After(slot.Start) {
		return nil, errs.E(directory.CodeClosed, 0)
	}
	svc, err := s.Service(ctx, slot.Service)
	if err != nil {
		return nil, err
	}
	if err := svc.Release.Bookable(slot.Start, now); err != nil {
		return nil, err
	}
	res, err := s.Check(ctx, patient, svc, slot, slot.Start, r.Answers)
	if err != nil {
		return nil, err
	}
	if !res.Eligible {
		return nil, &IneligibleError{Result: res}
	}
	if s.full(slot.ID) {
		return nil, errs.E(schedule.CodeSlotFull) // filled while the rules were checked
	}
	answers, _ := json.Marshal(r.Answers)
	key := r.IdemKey
	if key == "" {
		key = fmt.Sprintf("auto-%d-%d-%d", r.PatientID, r.SlotID, now.UnixNano())
	}
	var payBy time.Time
	var notice *notify.Notification
	if r.Hold && !svc.PaidAtBooking() {
		// A hold asked for ($hold): kept until confirmed ($book) or expired.
		payBy = now.Add(time.Duration(svc.PaymentWindow()) * time.Minute).Truncate(time.Microsecond)
		by := payBy.In(dates.Beijing).Format("15:04")
		notice = &notify.Notification{AccountID: r.Account.ID, Kind: "held", CreatedAt: now, Title: "号源已为您保留，请按时确认", TitleEN: "Place held: please confirm",
			Body: fmt.Sprintf("%s 的 %s（%s，%s 医师）已为您保留，请在 %s 前确认预约，逾期号源将释放。", patient.Name, svc.Name,
				fmtNumbered(slot.Start), slot.DoctorName, by),
			BodyEN: fmt.Sprintf("%s: %s, %s, with Dr %s is held for you: confirm the booking by %s or the place is released.", patient.Name,
				svc.NameEN, fmtNumberedEN(slot.Start), slot.DoctorName, by)}
	} else if svc.PaidAtBooking() {
		// M-1: the place is held until the fee is paid.
		payBy = now.Add(time.Duration(svc.PaymentWindow()) * time.Minute).Truncate(time.Microsecond)
		by, fee := payBy.In(dates.Beijing).Format("15:04"), float64(svc.PriceFen)/100
		notice = &notify.Notification{AccountID: r.Account.ID, Kind: "held", CreatedAt: now, Title: "号源已为您保留，请按时支付", TitleEN: "Place held: please pay",
			Body: fmt.Sprintf("%s 的 %s（%s，%s 医师）已为您保留，请在 %s 前支付挂号费 %.2f 元，逾期号源将释放。", patient.Name, svc.Name,
				fmtNumbered(slot.Start), slot.DoctorName, by, fee),
			BodyEN: fmt.Sprintf("%s: %s, %s, with Dr %s is held for you: pay the fee of %.2f yuan by %s or the place is released.", patient.Name,
				svc.NameEN, fmtNumberedEN(slot.Start), slot.DoctorName, fee, by)}
	} else {
		notice = &notify.Notification{AccountID: r.Account.ID, Kind: "booked", CreatedAt: now,
			Title: "预约成功", Body: fmt.Sprintf("%s 的 %s（%s，%s 医师）已预约成功。", patient.Name, svc.Name, fmtNumbered(slot.Start), slot.DoctorName),
			TitleEN: "Booked", BodyEN: fmt.Sprintf("%s: %s, %s, with Dr %s is booked.", patient.Name, svc.NameEN, fmtNumberedEN(slot.Start), slot.DoctorName)}
	}
	out, err := s.batch.book(ctx, schedule.BookRequest{SlotID: r.SlotID, PatientID: r.PatientID, AccountID: r.Account.ID, IdemKey: key,
		Answers: string(answers), At: now, PayBy: payBy, Notice: notice, VisitLength: svc.VisitLength(), Audit: r.Audit})
	if err != nil {
		return nil, err
	}
	if out.Code != "" {
		if out.Code == schedule.CodeSlotFull {
			s.markFull(slot.ID)
		}
		return nil, writerRefusal{errs.E(out.Code)}
	}
	if out.Filled {
		s.markFull(slot.ID) // those who come next are refused at once
	}
	a := out.Appointment
	a.DoctorName, a.ServiceName, a.PatientName = slot.DoctorName, svc.Name, patient.Name
	return &Booked{Appointment: a, Replayed: out.Replayed}, nil
}

// slot returns a slot's fixed facts (service, doctor, time) from a cache;
// its remaining places are only a hint, the write decides.
func (s *Service) slot(ctx context.Context, id int64) (*schedule.Slot, error) {
	v, err := s.cache.Get(ctx, fmt.Sprintf("slot:%d", id), func(ctx context.Context) (any, error) { return s.st.Slot(ctx, id) })
	if err != nil {
		return nil, err
	}
	sl := v.(*schedule.Slot)
	if sl.Remaining <= 0 && sl.Status == schedule.SlotOpen {
		s.markFull(id)
	}
	return sl, nil
}

// full reports whether the slot was seen full in the last second.
func (s *Service) full(id int64) bool {
	s.fullMu.Lock()
	defer s.fullMu.Unlock()
	at, ok := s.fullAt[id]
	return ok && time.Since(at) < time.Second
}

func (s *Service) markFull(id int64) {
	s.fullMu.Lock()
	defer s.fullMu.Unlock()
	if len(s.fullAt) > 100_000 {
		s.fullAt = map[int64]time.Time{}
	}
	s.fullAt[id] = time.Now()
}

// PlaceFreed forgets what this server knows of a slot's places (a place
// was given back, maybe through another server).
func (s *Service) PlaceFreed(id int64) {
	s.fullMu.Lock()
	delete(s.fullAt, id)
	s.fullMu.Unlock()
	s.cache.Drop(fmt.Sprintf("slot:%d", id))
}

func fmtStart(t time.Time) string { return t.In(dates.Beijing).Format("2006-01-02 15:04") }

// fmtNumbered is a booking's day, number and estimated time as a notice
// says them; the number and the time are filled in when the booking is
// written (schedule.FillNotice).
func fmtNumbered(start time.Time) string {
	return start.In(dates.Beijing).Format("2006-01-02") + " 第 " + schedule.NoticeNumber + " 号，预计 " + schedule.NoticeAt + " 就诊"
}

func fmtNumberedEN(start time.Time) string {
	return start.In(dates.Beijing).Format("2006-01-02") + " No. " + schedule.NoticeNumber + ", expected at " + schedule.NoticeAt
}

func (s *Service) notify(ctx context.Context, account int64, kind string, a *schedule.Appointment, title, body, titleEN, bodyEN string) {
	// The inbox is best effort: a booking is not undone for a failed notice.
	_ = s.st.Notify(ctx, &notify.Notification{AccountID: account, Kind: kind, Title: title, Body: body, TitleEN: titleEN, BodyEN: bodyEN,
		Ref: fmt.Sprintf("appointment/%d", a.ID), CreatedAt: s.Now()})
}

// Cancel cancels an appointment before the service's cutoff.
func (s *Service) Cancel(ctx context.Context, a *schedule.Appointment, reason string) error {
	svc, err := s.Service(ctx, a.Service)
	if err != nil {
		return err
	}
	if err := a.CanCancel(s.Now(), svc.CancelCutoffM); err != nil {
		return err
	}
	if err := s.st.Cancel(ctx, a.ID, reason, s.Now()); err != nil {
		return err
	}
	s.PlaceFreed(a.SlotID)
	a.Status = schedule.Cancelled
	return nil
}

// Generate makes the slots of a service from day from to day to.
func (s *Service) Generate(ctx context.Context, code string, from, to time.Time) (int, error) {
	svc, err := s.st.Service(ctx, code)
	if err != nil {
		return 0, err
	}
	scheds, err := s.st.Schedules(ctx, code)
	if err != nil {
		return 0, err
	}
	docs := map[int64]directory.Practitioner{}
	for _, sc := range scheds {
		if _, ok := docs[sc.PractitionerID]; ok {
			continue
		}
		p, err := s.st.Practitioner(ctx, sc.PractitionerID)
		if err != nil {
			return 0, err
		}
		docs[p.ID] = *p
	}
	return s.st.InsertSlots(ctx, schedule.Generate(*svc, scheds, docs, from, to))
}

// GenerateAll makes the slots of every active service of every approved
// institution for its whole booking window.
func (s *Service) GenerateAll(ctx context.Context) (int, error) {
	insts, err := s.st.Institutions(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	now := s.Now()
	for _, i := range insts {
		inst, err := s.st.Institution(ctx, i.Code)
		if err != nil {
			return total, err
		}
		for _, d := range inst.Departments {
			for _, sv := range d.Services {
				n, err := s.Generate(ctx, sv.Code, now, now.AddDate(0, 0, sv.MaxDays))
				if err != nil {
					return total, err
				}
				total += n
			}
		}
	}
	return total, nil
}

// DoctorSuspended applies a suspension (D-2): the doctor's future
// first-visit bookings (all bookings when suspended from all internet
// work) are cancelled, their slots closed, and each patient told why.
func (s *Service) DoctorSuspended(ctx context.Context, p *directory.Practitioner, scope directory.SuspensionScope, reason string) ([]schedule.Appointment, error) {
	s.Invalidate()
	cancelled, err := s.st.CancelFirstVisitsOf(ctx, p.ID, scope == directory.SuspendAll, s.Now(), "doctor_suspended: "+reason)
	if err != nil {
		return nil, err
	}
	for i := range cancelled {
		a := &cancelled[i]
		s.notify(ctx, a.AccountID, "cancelled", a, "预约已取消",
			fmt.Sprintf("很抱歉，%s 预约的 %s（%s，%s 医师）已取消：医师暂停出诊（%s）。费用将全额退还，请重新预约。", a.PatientName, a.ServiceName, fmtStart(a.Start), a.DoctorName, reason),
			"Appointment cancelled",
			fmt.Sprintf("Sorry: %s's appointment %s (%s, Dr %s) is cancelled because the doctor is suspended (%s). Any fee is refunded; please book again.", a.PatientName, a.Service, fmtStart(a.Start), a.DoctorName, reason))
	}
	return cancelled, nil
}

// Days lists the days from from to to with slots of a service, for the
// patient's date picker.
func Days(slots []schedule.Slot) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range slots {
		if !seen[s.Day] {
			seen[s.Day] = true
			out = append(out, s.Day)
		}
	}
	sort.Strings(out)
	return out
}

// bookings counts bookings by outcome (issue 17: watch a release rush):
// booked or held, replayed (an idempotent retry), the refusal's stable
// code (slot_full, ineligible, already_booked, ...), or error.
var bookings = metrics.NewCounter("yunyi_bookings_total", "Bookings by outcome: booked, held, replayed, a refusal's code, or error.", "outcome")

func countOutcome(b *Booked, err error) {
	switch {
	case err == nil && b.Replayed:
		bookings.With("replayed").Inc()
	case err == nil && b.Appointment.Status == schedule.Held:
		bookings.With("held").Inc()
	case err == nil:
		bookings.With("booked").Inc()
	default:
		var e *errs.Error
		if errors.As(err, &e) {
			bookings.With(e.Code).Inc()
		} else {
			bookings.With("error").Inc()
		}
	}
}
