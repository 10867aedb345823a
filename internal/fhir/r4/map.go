package r4

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Instant renders a time as FHIR dateTime in Beijing time, to the second.
func Instant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dates.Beijing).Truncate(time.Second).Format(time.RFC3339)
}

// Date renders a time's day in Beijing as a FHIR date.
func Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(dates.Beijing).Format(dates.Layout)
}

// zh is the Chinese text of a catalog key, or fallback when there is none.
func zh(key, fallback string) string {
	if i18n.Has(key) {
		return i18n.T(i18n.ZH, key)
	}
	return fallback
}

func concept(system, code, display string) CodeableConcept {
	return CodeableConcept{Coding: []Coding{{System: system, Code: code, Display: display}}}
}

func concepts(system, code, display string) []CodeableConcept {
	return []CodeableConcept{concept(system, code, display)}
}

// --- the directory (public) ---

// OrganizationOf is an institution. Active says whether it may offer
// internet diagnosis now (S-1); the qualification itself is an extension.
func OrganizationOf(i *directory.Institution) *Organization {
	o := &Organization{ResourceType: "Organization", ID: i.Code, Active: ptr(i.Open()), Name: i.Name,
		Identifier: []Identifier{{Use: "official", System: SystemInstitution, Value: i.Code}},
		Type:       concepts(SystemOrgType, "prov", "Healthcare Provider"),
		Extension:  []Extension{{URL: ExtQualified, ValueCode: string(i.Status)}}}
	for _, a := range []string{i.NameEN, i.Alias} {
		if a != "" {
			o.Alias = append(o.Alias, a)
		}
	}
	return o
}

var weekdays = []string{"", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// departmentConcept codes a department as the history import reads it.
func departmentConcept(code, name string) CodeableConcept {
	return concept(SystemDepartment, code, name)
}

func serviceConcept(code, name string) CodeableConcept { return concept(SystemService, code, name) }

// serviceSpecialties are a service's department and, for a first visit, its
// specialty.
func serviceSpecialties(dept, deptName, specialty, specialtyName string) []CodeableConcept {
	out := []CodeableConcept{departmentConcept(dept, deptName)}
	if specialty != "" {
		out = append(out, concept(SystemSpecialty, specialty, specialtyName))
	}
	return out
}

// HealthcareServiceOf is a service of a department's catalogue.
func HealthcareServiceOf(inst *directory.Institution, d *directory.Department, s *directory.Service) *HealthcareService {
	spName := ""
	for _, sp := range d.Specialties {
		if sp.Code == s.Specialty {
			spName = sp.Name
		}
	}
	h := &HealthcareService{ResourceType: "HealthcareService", ID: s.Code, Active: ptr(s.Active && d.Online && inst.Open()),
		Identifier: []Identifier{{System: SystemService, Value: s.Code}},
		ProvidedBy: &Reference{Reference: "Organization/" + inst.Code, Display: inst.Name},
		Category:   []CodeableConcept{{Text: "互联网诊疗"}},
		Type:       []CodeableConcept{serviceConcept(s.Code, s.Name)},
		Specialty:  serviceSpecialties(d.Code, d.Name, s.Specialty, spName), Name: s.Name,
		Characteristic:      concepts(SystemServiceKind, string(s.Kind), zh("kind."+string(s.Kind), string(s.Kind))),
		AppointmentRequired: ptr(true)}
	var days []string
	for _, d := range s.Days {
		if d >= 1 && d <= 7 {
			days = append(days, weekdays[d])
		}
	}
	if len(days) > 0 {
		h.AvailableTime = []AvailableTime{{DaysOfWeek: days}}
	}
	if s.PriceFen > 0 {
		h.Extension = []Extension{{URL: ExtPrice, ValueMoney: &Money{Value: ptr(float64(s.PriceFen) / 100), Currency: "CNY"}}}
	}
	return h
}

// PractitionerOf is a doctor or pharmacist as the institution publishes them
// (N-8); full adds the licence and the dates D-1 is decided on, which only
// the institution's administrators and the regulator see.
func PractitionerOf(p *directory.Practitioner, full bool) *Practitioner {
	q := Qualification{Code: concept(SystemTitle, string(p.Title), zh("title."+string(p.Title), string(p.Title)))}
	out := &Practitioner{ResourceType: "Practitioner", ID: strconv.FormatInt(p.ID, 10), Active: ptr(p.MayWorkOnline()),
		Name: []HumanName{{Use: "official", Text: p.Name}}}
	if full {
		if p.LicenceNo != "" {
			id := Identifier{Use: "official", System: SystemLicence, Value: p.LicenceNo}
			out.Identifier = []Identifier{id}
			q.Identifier = []Identifier{id}
		}
		if p.PracticeSince != "" {
			q.Period = &Period{Start: p.PracticeSince}
		}
	}
	out.Qualification = []Qualification{q}
	return out
}

// PractitionerRoleOf is what a practitioner does at its institution: its
// profession, its department and the services it has sessions of.
func PractitionerRoleOf(p *directory.Practitioner, inst *directory.Institution, services []string) *PractitionerRole {
	role := &PractitionerRole{ResourceType: "PractitionerRole", ID: strconv.FormatInt(p.ID, 10), Active: ptr(p.MayWorkOnline()),
		Practitioner: &Reference{Reference: "Practitioner/" + strconv.FormatInt(p.ID, 10), Display: p.Name},
		Organization: &Reference{Reference: "Organization/" + inst.Code, Display: inst.Name},
		Code:         concepts(SystemPractitionerRol, string(p.Profession), zh("profession."+string(p.Profession), string(p.Profession)))}
	for _, d := range inst.Departments {
		if d.Code == p.Department {
			role.Specialty = []CodeableConcept{departmentConcept(d.Code, d.Name)}
		}
	}
	for _, s := range services {
		role.HealthcareService = append(role.HealthcareService, *Ref("HealthcareService", s))
	}
	return role
}

// ScheduleOf is a practitioner's sessions of a service; its planning horizon
// is the service's booking window seen from now (S-2).
func ScheduleOf(s *directory.Service, deptName string, p *directory.Practitioner, now time.Time) *Schedule {
	from := directory.DayStart(now).AddDate(0, 0, s.MinDays)
	to := directory.DayStart(now).AddDate(0, 0, s.MaxDays+1).Add(-time.Second)
	return &Schedule{ResourceType: "Schedule", ID: ScheduleID(s.Code, p.ID), Active: ptr(s.Active && p.MayWorkOnline()),
		ServiceType: []CodeableConcept{serviceConcept(s.Code, s.Name)},
		Specialty:   []CodeableConcept{departmentConcept(s.Department, deptName)},
		Actor: []Reference{{Reference: "Practitioner/" + strconv.FormatInt(p.ID, 10), Display: p.Name},
			{Reference: "HealthcareService/" + s.Code, Display: s.Name}},
		PlanningHorizon: &Period{Start: Instant(from), End: Instant(to)}}
}

// Slot statuses.
const (
	SlotFree        = "free"
	SlotBusy        = "busy"
	SlotUnavailable = "busy-unavailable"
)

// SlotStatus is a session's FHIR status: free while a place is left, busy
// when full, busy-unavailable when closed (a suspended doctor, D-2) or
// when its institution may not offer internet diagnosis (S-1).
func SlotStatus(sl *schedule.Slot, instOpen bool) string {
	switch {
	case sl.Status != schedule.SlotOpen || !instOpen:
		return SlotUnavailable
	case sl.Capacity-sl.Booked <= 0:
		return SlotBusy
	}
	return SlotFree
}

// SlotOf is a session of a doctor (号源): it lasts its capacity times the
// service's visit length; its places are extensions.
func SlotOf(sl *schedule.Slot, s *directory.Service, deptName string, instOpen bool) *Slot {
	remaining := max(sl.Capacity-sl.Booked, 0)
	if sl.Status != schedule.SlotOpen || !instOpen {
		remaining = 0
	}
	return &Slot{ResourceType: "Slot", ID: strconv.FormatInt(sl.ID, 10),
		ServiceType: []CodeableConcept{serviceConcept(s.Code, s.Name)},
		Specialty:   []CodeableConcept{departmentConcept(sl.Department, deptName)},
		Schedule:    Reference{Reference: "Schedule/" + ScheduleID(sl.Service, sl.PractitionerID)},
		Status:      SlotStatus(sl, instOpen), Start: Instant(sl.Start), End: Instant(sl.Start.Add(time.Duration(sl.Capacity) * s.VisitLength())),
		Extension: []Extension{{URL: ExtCapacity, ValueInteger: ptr(sl.Capacity)}, {URL: ExtRemaining, ValueInteger: ptr(remaining)}}}
}

// --- patients (never public) ---

// PatientOf is a real-name patient. The resident ID is not shown: its
// identifier says a number exists and is masked (issue 15, N-19); a
// client who knows it may still search by it. contact adds the phone
// number, which only the patient's own accounts see.
func PatientOf(p *identity.Patient, contact bool) *Patient {
	out := &Patient{ResourceType: "Patient", ID: strconv.FormatInt(p.ID, 10), Active: ptr(true),
		Name: []HumanName{{Use: "official", Text: p.Name}}, Gender: string(p.Sex), BirthDate: Date(p.Birth)}
	if p.ResidentID != "" {
		out.Identifier = []Identifier{{Use: "official", System: SystemResidentID, Extension: []Extension{{URL: ExtAbsent, ValueCode: "masked"}}}}
	}
	if out.Gender != "male" && out.Gender != "female" {
		out.Gender = "unknown"
	}
	if contact && p.Phone != "" {
		out.Telecom = []ContactPoint{{System: "phone", Value: p.Phone, Use: "mobile"}}
	}
	return out
}

// MRNSystem is the identifier system of an institution's medical record
// numbers (病案号): SystemMRN and the institution's code.
func MRNSystem(institution string) string { return SystemMRN + institution }

// AddMRN adds an institution's medical record number linked to the
// patient as an identifier of type MR (v2-0203), in the institution's
// system, assigned by its Organization.
func (p *Patient) AddMRN(institution, mrn string) {
	p.Identifier = append(p.Identifier, Identifier{Use: "usual", Type: &CodeableConcept{Coding: []Coding{{System: SystemIdentifierType, Code: "MR",
		Display: "Medical record number"}}}, System: MRNSystem(institution), Value: mrn, Assigner: Ref("Organization", institution)})
}

// RelatedPersonOf is a guardian of a child: an account linked to the child,
// named by that account's own profile.
func RelatedPersonOf(childID, accountID int64, guardian *identity.Patient, phone string) *RelatedPerson {
	out := &RelatedPerson{ResourceType: "RelatedPerson", ID: RelatedPersonID(childID, accountID), Active: ptr(true),
		Patient:      *RefInt("Patient", childID),
		Relationship: concepts(SystemRoleCode, "GUARD", "guardian")}
	if guardian != nil {
		out.Name = []HumanName{{Use: "official", Text: guardian.Name}}
		out.Gender = string(guardian.Sex)
	}
	if phone != "" {
		out.Telecom = []ContactPoint{{System: "phone", Value: phone, Use: "mobile"}}
	}
	return out
}

// AppointmentStatus maps an appointment, and once it moved the state of
// its visit, onto Appointment.status: a hold is pending, an expired hold
// cancelled, a visit in the waiting room checked-in, one called in
// arrived, one ended fulfilled.
func AppointmentStatus(status, visitState string) string {
	switch status {
	case schedule.Held:
		return "pending"
	case schedule.Cancelled, schedule.Expired:
		return "cancelled"
	}
	switch visit.State(visitState) {
	case visit.CheckedIn, visit.Waiting:
		return "checked-in"
	case visit.InProgress:
		return "arrived"
	case visit.Completed, visit.Terminated:
		return "fulfilled"
	case visit.NoShow:
		return "noshow"
	case visit.Cancelled:
		return "cancelled"
	}
	return "booked"
}

// Screening is the pre-booking answers as a complex extension.
func Screening(answers map[string]bool) Extension {
	e := Extension{URL: ExtScreening}
	for _, k := range policy.AnswerKeys {
		if v, ok := answers[k]; ok {
			e.Extension = append(e.Extension, Extension{URL: k, ValueBoolean: ptr(v)})
		}
	}
	return e
}

// ScreeningOf reads the pre-booking answers of an Appointment's
// extensions; a question left out is absent from the map.
func ScreeningOf(exts []Extension) (map[string]*bool, bool) {
	for _, e := range exts {
		if e.URL != ExtScreening {
			continue
		}
		out := map[string]*bool{}
		for _, sub := range e.Extension {
			out[sub.URL] = sub.ValueBoolean
		}
		return out, true
	}
	return nil, false
}

func appointmentType(kind directory.ServiceKind) *CodeableConcept {
	v2 := "ROUTINE"
	if kind == directory.FollowUp {
		v2 = "FOLLOWUP"
	}
	return &CodeableConcept{Coding: []Coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0276", Code: v2},
		{System: SystemServiceKind, Code: string(kind), Display: zh("kind."+string(kind), string(kind))}}}
}

// AppointmentOf is a booking. Its start is the estimated time of its number
// in the session; a held booking (pending) says until when its place is
// kept.
func AppointmentOf(a *schedule.Appointment, practitionerID int64, deptName string, visitLength time.Duration) *Appointment {
	out := &Appointment{ResourceType: "Appointment", ID: strconv.FormatInt(a.ID, 10), Status: AppointmentStatus(a.Status, a.VisitState),
		ServiceType: []CodeableConcept{serviceConcept(a.Service, a.ServiceName)}, Specialty: []CodeableConcept{departmentConcept(a.Department, deptName)},
		AppointmentType: appointmentType(a.Kind), Start: Instant(a.EstimatedAt), End: Instant(a.EstimatedAt.Add(visitLength)),
		Slot: []Reference{*RefInt("Slot", a.SlotID)}, Created: Instant(a.CreatedAt)}
	if out.Start == "" {
		out.Start, out.End = Instant(a.Start), Instant(a.Start.Add(visitLength))
	}
	if a.Number > 0 {
		out.Extension = append(out.Extension, Extension{URL: ExtNumber, ValueInteger: ptr(a.Number)})
	}
	if a.Status == schedule.Held && !a.PayBy.IsZero() {
		out.Extension = append(out.Extension, Extension{URL: ExtHoldExpires, ValueDateTime: Instant(a.PayBy)})
	}
	if len(a.Answers) > 0 {
		out.Extension = append(out.Extension, Screening(a.Answers))
	}
	if out.Status == "cancelled" {
		reason := a.CancelReason
		if a.Status == schedule.Expired {
			reason = "hold_expired"
		}
		if reason != "" {
			out.CancelationReason = &CodeableConcept{Text: reason}
		}
	}
	part := "accepted"
	if out.Status == "pending" {
		part = "tentative"
	}
	out.Participant = []AppointmentParticipant{
		{Actor: &Reference{Reference: "Patient/" + strconv.FormatInt(a.PatientID, 10), Display: a.PatientName}, Required: "required", Status: part},
		{Actor: &Reference{Reference: "Practitioner/" + strconv.FormatInt(practitionerID, 10), Display: a.DoctorName}, Required: "required", Status: part,
			Type: concepts(SystemParticipantType, "PPRF", "primary performer")},
	}
	return out
}

// Proposed is a place $find offers (status proposed): the session's next
// number's estimated time, for the patient, with the answers it was
// checked with.
func Proposed(p Proposal, sl *schedule.Slot, s *directory.Service, deptName, patientName string) *Appointment {
	length := s.VisitLength()
	start := sl.Start.Add(time.Duration(sl.Booked) * length)
	return &Appointment{ResourceType: "Appointment", ID: p.ID(), Status: "proposed",
		Extension:   []Extension{Screening(p.Answers)},
		ServiceType: []CodeableConcept{serviceConcept(s.Code, s.Name)}, Specialty: []CodeableConcept{departmentConcept(sl.Department, deptName)},
		AppointmentType: appointmentType(s.Kind), Start: Instant(start), End: Instant(start.Add(length)),
		Slot: []Reference{*RefInt("Slot", sl.ID)},
		Participant: []AppointmentParticipant{
			{Actor: &Reference{Reference: "Patient/" + strconv.FormatInt(p.PatientID, 10), Display: patientName}, Required: "required", Status: "needs-action"},
			{Actor: &Reference{Reference: "Practitioner/" + strconv.FormatInt(sl.PractitionerID, 10), Display: sl.DoctorName}, Required: "required",
				Status: "needs-action", Type: concepts(SystemParticipantType, "PPRF", "primary performer")},
		}}
}

// EncounterStatus maps a visit's state onto Encounter.status. A visit
// terminated and referred offline (V-3) finished (the doctor ended it; its
// state is in the visit-state extension); a no-show never took place.
func EncounterStatus(v *visit.Visit) string {
	switch v.State {
	case visit.Booked:
		return "planned"
	case visit.CheckedIn, visit.Waiting:
		return "arrived"
	case visit.InProgress:
		return "in-progress"
	case visit.Completed:
		return "finished"
	case visit.Terminated:
		return "finished" // ended by the doctor and referred offline (V-3)
	case visit.NoShow, visit.Cancelled:
		return "cancelled"
	}
	return "unknown"
}

// EncounterOf is the online visit of an appointment (same id). diagnoses is
// how many diagnoses its signed record has (each a Condition). withSubject
// is false for the regulator, who supervises visits but not patients.
func EncounterOf(v *visit.Visit, deptName string, diagnoses int, withSubject bool) *Encounter {
	id := strconv.FormatInt(v.ID, 10)
	e := &Encounter{ResourceType: "Encounter", ID: id, Status: EncounterStatus(v),
		Extension:   []Extension{{URL: ExtVisitState, ValueCode: string(v.State)}},
		Class:       Coding{System: SystemActCode, Code: "VR", Display: "virtual"},
		Type:        concepts(SystemServiceKind, string(v.Kind), zh("kind."+string(v.Kind), string(v.Kind))),
		ServiceType: ptr(departmentConcept(v.Department, deptName)),
		Participant: []EncounterParticipant{{Type: concepts(SystemParticipantType, "PPRF", "primary performer"),
			Individual: &Reference{Reference: "Practitioner/" + strconv.FormatInt(v.DoctorID, 10), Display: v.DoctorName}}},
		ServiceProvider: Ref("Organization", v.Institution)}
	if withSubject {
		e.Subject = &Reference{Reference: "Patient/" + strconv.FormatInt(v.PatientID, 10), Display: v.PatientName}
		e.Appointment = []Reference{*Ref("Appointment", id)}
		for n := 1; n <= diagnoses; n++ {
			e.Diagnosis = append(e.Diagnosis, EncounterDiagnosis{Condition: *Ref("Condition", ConditionID(v.ID, n)), Rank: n})
		}
	}
	if !v.StartedAt.IsZero() {
		e.Period = &Period{Start: Instant(v.StartedAt), End: Instant(v.EndedAt)}
	}
	return e
}

// ConditionOf is the n-th (1-based) diagnosis of a visit's signed record
// (its latest version), coded in ICD-10.
func ConditionOf(v *visit.Visit, rec *visit.Record, n int) *Condition {
	d := rec.Diagnoses[n-1]
	return &Condition{ResourceType: "Condition", ID: ConditionID(v.ID, n),
		ClinicalStatus:     ptr(concept(SystemConditionClin, "active", "Active")),
		VerificationStatus: ptr(concept(SystemConditionVer, "confirmed", "Confirmed")),
		Category:           concepts(SystemConditionCat, "encounter-diagnosis", "Encounter Diagnosis"),
		Code:               &CodeableConcept{Coding: []Coding{{System: SystemICD10, Code: d.Code, Display: d.Name}}, Text: d.Name},
		Subject:            Reference{Reference: "Patient/" + strconv.FormatInt(v.PatientID, 10), Display: v.PatientName},
		Encounter:          RefInt("Encounter", v.ID), RecordedDate: Instant(rec.SignedAt),
		Recorder: &Reference{Reference: "Practitioner/" + strconv.FormatInt(v.DoctorID, 10), Display: v.DoctorName}}
}

// timings are the repeat of each prescription frequency (rx.Frequencies).
var timings = map[string]Repeat{
	"qd": {1, ptr(1.0), "d"}, "bid": {2, ptr(1.0), "d"}, "tid": {3, ptr(1.0), "d"}, "qid": {4, ptr(1.0), "d"}, "qn": {1, ptr(1.0), "d"},
	"q12h": {1, ptr(12.0), "h"}, "q8h": {1, ptr(8.0), "h"}, "q6h": {1, ptr(6.0), "h"}, "qod": {1, ptr(2.0), "d"}, "qw": {1, ptr(1.0), "wk"},
}

// MedicationRequestOf is the n-th (1-based) line of a prescription; the
// lines of one prescription share its group identifier. The status is the
// prescription's (rx.Status.FHIRStatus).
func MedicationRequestOf(p *rx.Prescription, n int) *MedicationRequest {
	it := p.Items[n-1]
	name := strings.TrimSpace(it.Name + " " + it.Strength)
	if name == "" {
		name = it.Drug
	}
	freq := zh("rx.freq."+it.Frequency, it.Frequency)
	route := zh("rx.route."+it.Route, it.Route)
	d := Dosage{Text: fmt.Sprintf("每次 %s %s，%s，%s，共 %d 天", strconv.FormatFloat(it.Dose, 'f', -1, 64), it.DoseUnit, freq, route, it.Days),
		Route: &CodeableConcept{Text: route}, DoseAndRate: []DoseAndRate{{DoseQuantity: &Quantity{Value: ptr(it.Dose), Unit: it.DoseUnit}}}}
	if r, ok := timings[it.Frequency]; ok {
		d.Timing = &Timing{Repeat: &r, Code: &CodeableConcept{Text: freq}}
	} else if it.Frequency == "prn" {
		d.AsNeeded = ptr(true)
	}
	m := &MedicationRequest{ResourceType: "MedicationRequest", ID: MedicationRequestID(p.ID, n), Status: p.Status.FHIRStatus(), Intent: "order",
		Identifier:                []Identifier{{System: SystemRx, Value: fmt.Sprintf("%d-%d", p.ID, n)}},
		MedicationCodeableConcept: &CodeableConcept{Coding: []Coding{{System: SystemDrug, Code: it.Drug, Display: name}}, Text: name},
		Subject:                   Reference{Reference: "Patient/" + strconv.FormatInt(p.PatientID, 10), Display: p.PatientName},
		Encounter:                 RefInt("Encounter", p.VisitID), AuthoredOn: Instant(p.IssuedAt),
		Requester:         &Reference{Reference: "Practitioner/" + strconv.FormatInt(p.DoctorID, 10), Display: p.DoctorName},
		GroupIdentifier:   &Identifier{System: SystemRx, Value: strconv.FormatInt(p.ID, 10)},
		DosageInstruction: []Dosage{d},
		DispenseRequest: &DispenseRequest{ValidityPeriod: &Period{Start: Instant(p.IssuedAt), End: Instant(p.ValidUntil)},
			Quantity:               &Quantity{Value: ptr(float64(it.Quantity)), Unit: it.Unit},
			ExpectedSupplyDuration: &Quantity{Value: ptr(float64(it.Days)), Unit: "天", System: SystemUCUM, Code: "d"}}}
	for _, dx := range p.Diagnoses {
		name := ""
		if c, ok := visit.LookupICD(dx); ok {
			name = c.Name
		}
		m.ReasonCode = append(m.ReasonCode, CodeableConcept{Coding: []Coding{{System: SystemICD10, Code: dx, Display: name}}})
	}
	if p.Note != "" {
		m.Note = []Annotation{{Text: p.Note}}
	}
	return m
}
