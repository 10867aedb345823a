package web

// IHE ITI Scheduling on the FHIR API: $find offers the places the booking
// rules let the patient book; $hold keeps one for the service's payment
// window (the hold expires as an unpaid one does and the place returns);
// $book books on the JSON API's one burst-proof path (booking.Service.Book:
// the same rules, the same refusals, as OperationOutcome issues).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/fhir/r4"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// opParams are an operation's parameters by name: from the query string
// (GET), or a Parameters resource (POST), each value as text (a reference
// its reference, a coding system|code); resources apart.
type opParams struct {
	values    map[string][]string
	resources map[string]json.RawMessage
}

// readOpParams reads and checks an operation's parameters against allowed.
func readOpParams(w http.ResponseWriter, r *http.Request, allowed ...string) (*opParams, error) {
	p := &opParams{values: map[string][]string{}, resources: map[string]json.RawMessage{}}
	allowed = append(allowed, "_format")
	for k, vs := range r.URL.Query() {
		p.values[k] = append(p.values[k], vs...)
	}
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/fhir+json" && mt != "application/json") {
			return nil, errs.E(errs.Unsupported)
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			return nil, errs.E(errs.PayloadTooBig)
		}
		if bytes.Contains(body, []byte(`\u0000`)) {
			if field := nulField(body); field != "" {
				var f errs.Fields
				f.Add(field, "nul_character")
				return nil, f.Err()
			}
		}
		var in r4.Parameters
		if err := json.Unmarshal(body, &in); err != nil || in.ResourceType != "Parameters" {
			return nil, &errs.Error{Code: "bad_json", Err: err}
		}
		for _, prm := range in.Parameter {
			if len(prm.Resource) > 0 {
				p.resources[prm.Name] = prm.Resource
				continue
			}
			v, ok := paramText(prm)
			if !ok {
				return nil, errs.E(codeFHIRParamValue, prm.Name)
			}
			p.values[prm.Name] = append(p.values[prm.Name], v)
		}
	}
	for k := range p.values {
		if !slices.Contains(allowed, k) {
			return nil, errs.E(codeFHIRParam, k)
		}
	}
	for k := range p.resources {
		if !slices.Contains(allowed, k) {
			return nil, errs.E(codeFHIRParam, k)
		}
	}
	return p, nil
}

// paramText is a parameter's value as text.
func paramText(p r4.Parameter) (string, bool) {
	switch {
	case p.ValueReference != nil:
		return p.ValueReference.Reference, true
	case p.ValueBoolean != nil:
		return strconv.FormatBool(*p.ValueBoolean), true
	case p.ValueInteger != nil:
		return strconv.Itoa(*p.ValueInteger), true
	case p.ValueCoding != nil:
		return p.ValueCoding.System + "|" + p.ValueCoding.Code, true
	case p.ValueIdentifier != nil:
		return p.ValueIdentifier.System + "|" + p.ValueIdentifier.Value, true
	}
	for _, v := range []string{p.ValueDate, p.ValueDateTime, p.ValueString, p.ValueCode} {
		if v != "" {
			return v, true
		}
	}
	return "", false
}

// one is a parameter given at most once ("" when absent).
func (p *opParams) one(name string) (string, error) {
	switch vs := p.values[name]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", errs.E(codeFHIRParamRepeat, name)
}

// answers are the four pre-booking questions as boolean parameters; a
// question left out is refused by name (S-4), as the JSON API does.
func (p *opParams) answers(f *errs.Fields) booking.Answers {
	in := map[string]*bool{}
	for _, k := range policy.AnswerKeys {
		v, err := p.one(k)
		switch {
		case err != nil:
			f.Add(k, "fhir_param_repeated")
		case v == "true" || v == "false":
			b := v == "true"
			in[k] = &b
		case v != "":
			f.Add(k, "invalid")
		}
	}
	out, err := booking.ParseAnswers(in)
	var e *errs.Error
	if errors.As(err, &e) {
		for _, fe := range e.Fields {
			name := strings.TrimPrefix(fe.Field, "answers.")
			if !f.Has(name) {
				f.Add(name, fe.Code)
			}
		}
	}
	return out
}

// findParams are $find's parameters: the IHE ones Yunyi supports, its own
// service, and the pre-booking questions.
var findParams = append([]string{"start", "end", "patient", "service", "organization", "practitioner", "specialty", "visit-type", "_count"},
	policy.AnswerKeys...)

// fhirFind is $find (IHE ITI-115): the places of the date range that the
// patient may book now: open, not held or taken, released (S-2), on a day
// the patient has no booking in that department, and passing every rule
// of the service (as a booking would check them).
func (s *Server) fhirFind(w http.ResponseWriter, r *http.Request) {
	out, err := s.find(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeFHIR(w, http.StatusOK, out)
}

func (s *Server) find(w http.ResponseWriter, r *http.Request) (*r4.Bundle, error) {
	if err := patientOnly(r); err != nil {
		return nil, err
	}
	// Each place found is checked against the rules: as costly as a
	// booking, and limited as bookings are.
	if !s.limits.allow("booking-account", strconv.FormatInt(actor(r).ID, 10)) {
		return nil, errs.E(errs.RateLimited)
	}
	p, err := readOpParams(w, r, findParams...)
	if err != nil {
		return nil, err
	}
	var f errs.Fields
	var span r4.Range
	for _, k := range []string{"start", "end"} {
		v, err := p.one(k)
		if err != nil {
			return nil, err
		}
		if v == "" {
			f.Add(k, "required")
			continue
		}
		rg, err := r4.ParseDate(v)
		if err != nil || v[0] < '0' || v[0] > '9' { // a date, no search prefix
			f.Add(k, "date_format")
			continue
		}
		if k == "start" {
			span.From = rg.From
		} else {
			span.To = rg.To
		}
	}
	patientRef, err := p.one("patient")
	if err != nil {
		return nil, err
	}
	if patientRef == "" {
		f.Add("patient", "required")
	}
	answers := p.answers(&f)
	count := fhirDefaultCount
	if v, _ := p.one("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			f.Add("_count", "invalid")
		}
		count = min(n, fhirMaxCount)
	}
	sq := sqlstore.FHIRSlotQuery{Statuses: []string{r4.SlotFree}}
	var kinds, specialties []r4.Token
	for name, dst := range map[string]*string{"service": &sq.Service, "organization": &sq.Institution} {
		v, err := p.one(name)
		if err != nil {
			return nil, err
		}
		typ := map[string]string{"service": "HealthcareService", "organization": "Organization"}[name]
		if v != "" {
			id, ok := r4.ParseRef(typ, v)
			if !ok {
				f.Add(name, "invalid")
			}
			*dst = id
		}
	}
	if v, err := p.one("practitioner"); err != nil {
		return nil, err
	} else if v != "" {
		id, ok := r4.ParseRef("Practitioner", v)
		n, isNum := r4.ParseInt(id)
		if !ok || !isNum {
			f.Add("practitioner", "invalid")
		}
		sq.PractitionerID = n
	}
	for _, v := range p.values["specialty"] {
		specialties = append(specialties, r4.ParseToken(v))
	}
	for _, v := range p.values["visit-type"] {
		kinds = append(kinds, r4.ParseToken(v))
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if span.To.Before(span.From) || span.To.Sub(span.From) > 92*24*time.Hour {
		f.Add("end", "date_format")
		return nil, f.Err()
	}
	pid, ok := r4.ParseRef("Patient", patientRef)
	if !ok {
		return nil, errs.E(errs.NotFound)
	}
	pt, err := s.patientOf(r, pid) // the caller's own or child's, else not_found (audited)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	sq.From, sq.To = span.From, span.To
	if sq.From.Before(now) {
		sq.From = now
	}
	slots, _, err := s.db.FHIRSlots(r.Context(), sq, sqlstore.Page{Limit: 1000})
	if err != nil {
		return nil, err
	}
	// One active booking per patient, department and day: those days are
	// not offered.
	busy := map[string]bool{}
	mine, _, err := s.db.FHIRAppointments(r.Context(), sqlstore.FHIRApptQuery{PatientIDs: []int64{pt.ID}, From: span.From, To: span.To},
		sqlstore.Page{Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, a := range mine {
		if a.Status == schedule.Booked || a.Status == schedule.Held {
			busy[a.Institution+"|"+a.Department+"|"+a.Day] = true
		}
	}
	d := s.dirView(r.Context())
	var offered []*r4.Appointment
	for i := range slots {
		sl := &slots[i]
		if busy[sl.Institution+"|"+sl.Department+"|"+sl.Day] || !sl.Start.After(now) {
			continue
		}
		svc, dep, _, err := d.service(sl.Service)
		if err != nil {
			return nil, err
		}
		if !matchesAny(kinds, r4.Coding{System: r4.SystemServiceKind, Code: string(svc.Kind)}, r4.Coding{System: "http://terminology.hl7.org/CodeSystem/v2-0276", Code: v20276(svc.Kind)}) ||
			!matchesAny(specialties, r4.Coding{System: r4.SystemDepartment, Code: svc.Department}, r4.Coding{System: r4.SystemSpecialty, Code: svc.Specialty}) {
			continue
		}
		if svc.Release.Bookable(sl.Start, now) != nil {
			continue
		}
		res, err := s.bk.Check(r.Context(), pt, svc, sl, sl.Start, answers)
		if err != nil {
			return nil, err
		}
		if res.Eligible {
			offered = append(offered, r4.Proposed(r4.Proposal{SlotID: sl.ID, PatientID: pt.ID, Answers: answers}, sl, svc, dep.Name, pt.Name))
		}
	}
	if err := s.record(r, "appointment.find", "patient", pid, "", fmt.Sprintf("fhir %d offered", len(offered))); err != nil {
		return nil, err
	}
	total := len(offered)
	b := &r4.Bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Timestamp: r4.Instant(now),
		Link: []r4.BundleLink{{Relation: "self", URL: fhirBaseURL(r) + "/Appointment/$find"}}}
	for _, a := range offered[:min(count, len(offered))] {
		b.Entry = append(b.Entry, r4.BundleEntry{FullURL: fhirBaseURL(r) + "/Appointment/" + a.ID, Resource: a, Search: &r4.BundleSearch{Mode: "match"}})
	}
	return b, nil
}

func matchesAny(ts []r4.Token, cs ...r4.Coding) bool {
	if len(ts) == 0 {
		return true
	}
	for _, t := range ts {
		for _, c := range cs {
			if c.Code != "" && t.Matches(c.System, c.Code) {
				return true
			}
		}
	}
	return false
}

func v20276(k directory.ServiceKind) string {
	if k == directory.FollowUp {
		return "FOLLOWUP"
	}
	return "ROUTINE"
}

// fhirHold is $hold (IHE ITI-116): the proposed place is taken on the
// booking path and held (pending) until the service's payment window
// ends; then it expires and the place returns to its slot.
func (s *Server) fhirHold(w http.ResponseWriter, r *http.Request) {
	a, err := s.hold(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeAppointment(w, r, a)
}

func (s *Server) hold(w http.ResponseWriter, r *http.Request) (*schedule.Appointment, error) {
	if err := patientOnly(r); err != nil {
		return nil, err
	}
	p, err := readOpParams(w, r, "appointment-reference")
	if err != nil {
		return nil, err
	}
	ref, err := p.one("appointment-reference")
	if err != nil {
		return nil, err
	}
	if ref == "" {
		var f errs.Fields
		f.Add("appointment-reference", "required")
		return nil, f.Err()
	}
	id, _ := r4.ParseRef("Appointment", ref)
	prop, ok := r4.ParseProposal(id)
	if !ok {
		return nil, errs.E(codeFHIRParamValue, "appointment-reference")
	}
	return s.bookProposal(r, prop, true)
}

// bookProposal books (or holds) a proposed place for the caller on the
// JSON API's path: the same checks, rules, refusals and audit.
func (s *Server) bookProposal(r *http.Request, p r4.Proposal, hold bool) (*schedule.Appointment, error) {
	acct := info(r).account
	if !s.limits.allow("booking-account", strconv.FormatInt(acct.ID, 10)) {
		return nil, errs.E(errs.RateLimited)
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 128 {
		var f errs.Fields
		f.Add("Idempotency-Key", "too_long")
		return nil, f.Err()
	}
	pt, err := s.patientOf(r, strconv.FormatInt(p.PatientID, 10))
	if err != nil {
		return nil, err
	}
	action := "appointment.create"
	if hold {
		action = "appointment.hold"
	}
	entry := &audit.Entry{At: s.cfg.Now().UTC().Truncate(time.Microsecond), ActorID: acct.ID, ActorRole: string(acct.Role), Action: action,
		ObjectType: "appointment", IP: clientIP(r), Detail: "patient " + strconv.FormatInt(pt.ID, 10) + " fhir"}
	b, err := s.bk.Book(r.Context(), booking.Request{Account: acct, PatientID: pt.ID, SlotID: p.SlotID, Answers: booking.Answers(p.Answers),
		IdemKey: key, Audit: entry, Hold: hold}, pt)
	if err != nil {
		return nil, err
	}
	return b.Appointment, nil
}

// writeAppointment answers an operation with a bundle of the appointment
// as it is now.
func (s *Server) writeAppointment(w http.ResponseWriter, r *http.Request, a *schedule.Appointment) {
	list, _, err := s.db.FHIRAppointments(r.Context(), sqlstore.FHIRApptQuery{IDs: []int64{a.ID}}, sqlstore.Page{Limit: 1})
	if err == nil && len(list) == 0 {
		err = errs.E(errs.NotFound)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.appointmentOf(s.dirView(r.Context()), &list[0])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	one := 1
	writeFHIR(w, http.StatusOK, &r4.Bundle{ResourceType: "Bundle", Type: "searchset", Total: &one, Timestamp: r4.Instant(s.cfg.Now()),
		Entry: []r4.BundleEntry{{FullURL: fhirBaseURL(r) + "/Appointment/" + m.ID, Resource: m, Search: &r4.BundleSearch{Mode: "match"}}}})
}

// fhirBook is $book (IHE ITI-117). appointment-reference names a place
// $find proposed (booked now) or one $hold holds (confirmed);
// appointment-resource is a pending Appointment naming its slot, patient
// and answers (booked now), or an existing one sent booked (a hold
// confirmed) or cancelled (cancelled, before the service's cutoff).
func (s *Server) fhirBook(w http.ResponseWriter, r *http.Request) {
	a, err := s.bookOp(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeAppointment(w, r, a)
}

func (s *Server) bookOp(w http.ResponseWriter, r *http.Request) (*schedule.Appointment, error) {
	if err := patientOnly(r); err != nil {
		return nil, err
	}
	p, err := readOpParams(w, r, "appointment-reference", "appointment-resource")
	if err != nil {
		return nil, err
	}
	ref, err := p.one("appointment-reference")
	if err != nil {
		return nil, err
	}
	raw, hasResource := p.resources["appointment-resource"]
	switch {
	case ref == "" && !hasResource:
		var f errs.Fields
		f.Add("appointment-reference", "required")
		return nil, f.Err()
	case ref != "" && hasResource:
		return nil, errs.E(codeFHIRParamValue, "appointment-resource") // one or the other
	}
	if ref != "" {
		id, _ := r4.ParseRef("Appointment", ref)
		if prop, ok := r4.ParseProposal(id); ok {
			return s.bookProposal(r, prop, false)
		}
		n, ok := r4.ParseInt(id)
		if !ok {
			return nil, errs.E(codeFHIRParamValue, "appointment-reference")
		}
		return s.confirmHold(r, n)
	}
	var in r4.Appointment
	if err := json.Unmarshal(raw, &in); err != nil || in.ResourceType != "Appointment" {
		return nil, errs.E(codeFHIRParamValue, "appointment-resource")
	}
	if n, ok := r4.ParseInt(in.ID); ok {
		switch in.Status {
		case "booked":
			return s.confirmHold(r, n)
		case "cancelled":
			return s.cancelByFHIR(r, n)
		}
		var f errs.Fields
		f.Add("Appointment.status", "invalid")
		return nil, f.Err()
	}
	return s.bookResource(r, &in)
}

// bookResource books a new Appointment: status pending, one slot, the
// patient as a participant, the answers as the screening extension.
func (s *Server) bookResource(r *http.Request, in *r4.Appointment) (*schedule.Appointment, error) {
	var f errs.Fields
	if in.Status != "pending" {
		f.Add("Appointment.status", "invalid")
	}
	var prop r4.Proposal
	if len(in.Slot) != 1 {
		f.Add("Appointment.slot", "required")
	} else if id, ok := r4.ParseRef("Slot", in.Slot[0].Reference); !ok {
		f.Add("Appointment.slot", "invalid")
	} else if n, ok := r4.ParseInt(id); ok {
		prop.SlotID = n
	} else {
		f.Add("Appointment.slot", "invalid")
	}
	for _, pa := range in.Participant {
		if pa.Actor == nil || !strings.Contains(pa.Actor.Reference, "Patient/") {
			continue
		}
		id, ok := r4.ParseRef("Patient", pa.Actor.Reference)
		n, isNum := r4.ParseInt(id)
		if !ok || !isNum {
			f.Add("Appointment.participant", "invalid")
		}
		prop.PatientID = n
	}
	if prop.PatientID == 0 && !f.Has("Appointment.participant") {
		f.Add("Appointment.participant", "required")
	}
	given, _ := r4.ScreeningOf(in.Extension)
	answers, err := booking.ParseAnswers(given)
	var e *errs.Error
	if errors.As(err, &e) {
		for _, fe := range e.Fields {
			f.Add(strings.Replace(fe.Field, "answers.", "Appointment.extension:screening-answers.", 1), fe.Code)
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	prop.Answers = answers
	return s.bookProposal(r, prop, false)
}

// confirmHold books a place held by $hold: a compare-and-set on the hold
// (still held, not expired). A booked one answers as it is; one whose
// fee confirms it (M-1) waits for its payment.
func (s *Server) confirmHold(r *http.Request, id int64) (*schedule.Appointment, error) {
	fa, err := s.fhirAppointment(r, id)
	if err != nil {
		return nil, err
	}
	a := &fa.Appointment
	switch a.Status {
	case schedule.Booked:
		return a, nil
	case schedule.Held:
	default:
		return nil, errs.E(sqlstore.CodeHoldGone)
	}
	svc, err := s.bk.Service(r.Context(), a.Service)
	if err != nil {
		return nil, err
	}
	if svc.PaidAtBooking() {
		return nil, errs.E(codeFHIRPaymentFirst)
	}
	acct := info(r).account
	now := s.cfg.Now()
	n := &notify.Notification{AccountID: acct.ID, Kind: "booked", CreatedAt: now, Title: "预约成功", TitleEN: "Booked",
		Body:   fmt.Sprintf("%s 的 %s（%s 第 %d 号，%s 医师）已预约成功。", a.PatientName, a.ServiceName, a.Day, a.Number, a.DoctorName),
		BodyEN: fmt.Sprintf("%s: %s, %s No. %d, with Dr %s is booked.", a.PatientName, svc.NameEN, a.Day, a.Number, a.DoctorName)}
	entry := &audit.Entry{At: now.UTC().Truncate(time.Microsecond), ActorID: acct.ID, ActorRole: string(acct.Role), Action: "appointment.confirm",
		ObjectType: "appointment", Institution: a.Institution, IP: clientIP(r), Detail: "patient " + strconv.FormatInt(a.PatientID, 10) + " fhir"}
	return s.db.ConfirmHold(r.Context(), id, now, n, entry)
}

// cancelByFHIR cancels a booking or hold as the JSON API's cancel does:
// before the service's cutoff, the place back, a paid fee refunded.
func (s *Server) cancelByFHIR(r *http.Request, id int64) (*schedule.Appointment, error) {
	fa, err := s.fhirAppointment(r, id)
	if err != nil {
		return nil, err
	}
	a := &fa.Appointment
	if actor(r).Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	if err := s.bk.Cancel(r.Context(), a, "patient"); err != nil {
		return nil, err
	}
	s.changed("slot", "", a.SlotID)
	if err := s.refundAppointment(r.Context(), a.ID, billing.ReasonCancelled, "取消预约，退还挂号费"); err != nil {
		s.log.Warn("cancelled booking not refunded yet", "appointment", a.ID, "err", err)
	}
	return a, s.record(r, "appointment.cancel", "appointment", strconv.FormatInt(id, 10), a.Institution, "fhir")
}
