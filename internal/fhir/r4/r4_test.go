package r4_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/fhir"
	"github.com/yunyi-health/yunyi/internal/fhir/r4"
	"github.com/yunyi-health/yunyi/internal/fhir/r4/fhirtest"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// The systems the history import reads are the ones the API writes.
func TestSystemsAreTheImports(t *testing.T) {
	if r4.SystemResidentID != fhir.ResidentIDSystem || r4.SystemDepartment != fhir.DepartmentSystem {
		t.Fatal("the FHIR API and the history import name the resident ID or the department differently")
	}
}

func TestIDsRoundTrip(t *testing.T) {
	p := r4.Proposal{SlotID: 12, PatientID: 345, Answers: map[string]bool{"pregnant": false, "critical": true, "difficult": false, "first_visit": true}}
	got, ok := r4.ParseProposal(p.ID())
	if !ok || got.SlotID != 12 || got.PatientID != 345 || !got.Answers["critical"] || got.Answers["pregnant"] || !got.Answers["first_visit"] || len(got.Answers) != 4 {
		t.Fatalf("%s → %+v", p.ID(), got)
	}
	if !r4.ValidID(p.ID()) {
		t.Fatalf("%s is not a FHIR id", p.ID())
	}
	for _, bad := range []string{"proposed-1-2", "proposed-1-2-nnnx", "proposed-01-2-nnnn", "proposed-a-2-nnnn", "12"} {
		if _, ok := r4.ParseProposal(bad); ok {
			t.Errorf("%q read as a proposal", bad)
		}
	}
	if svc, pr, ok := r4.ParseScheduleID(r4.ScheduleID("bch-skin-fv", 7)); !ok || svc != "bch-skin-fv" || pr != 7 {
		t.Fatal("schedule id")
	}
	if v, n, ok := r4.ParseConditionID(r4.ConditionID(9, 2)); !ok || v != 9 || n != 2 {
		t.Fatal("condition id")
	}
	for ref, want := range map[string]string{"Patient/3": "3", "3": "3", "https://x.example/fhir/R4/Patient/3": "3", "Patient/3/_history/1": "3"} {
		if got, ok := r4.ParseRef("Patient", ref); !ok || got != want {
			t.Errorf("ParseRef(%q) = %q, %v", ref, got, ok)
		}
	}
	if _, ok := r4.ParseRef("Patient", "Practitioner/3"); ok {
		t.Error("a reference to another type read as a Patient")
	}
}

func TestDateSearchValues(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.ParseInLocation(dates.Layout, s, dates.Beijing); return d }
	cases := []struct {
		v        string
		from, to time.Time
	}{
		{"2026-12-02", day("2026-12-02"), day("2026-12-03")},
		{"ge2026-12-02", day("2026-12-02"), time.Time{}},
		{"gt2026-12-02", day("2026-12-03"), time.Time{}},
		{"lt2026-12-02", time.Time{}, day("2026-12-02")},
		{"le2026-12", time.Time{}, day("2027-01-01")},
		{"2026", day("2026-01-01"), day("2027-01-01")},
	}
	for _, c := range cases {
		rg, err := r4.ParseDate(c.v)
		if err != nil || !rg.From.Equal(c.from) || !rg.To.Equal(c.to) {
			t.Errorf("%s: %v %v", c.v, rg, err)
		}
	}
	for _, bad := range []string{"xx2026-01-01", "2026-13-01", "ne2026-01-01", "yesterday"} {
		if _, err := r4.ParseDate(bad); err == nil {
			t.Errorf("%q read as a date", bad)
		}
	}
	rg, _ := r4.ParseDate("ge2026-12-02")
	rg2, _ := r4.ParseDate("lt2026-12-05")
	if n := rg.Narrow(rg2); !n.Contains(day("2026-12-04")) || n.Contains(day("2026-12-05")) || n.Contains(day("2026-12-01")) {
		t.Error("narrowed range")
	}
}

func check(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	fhirtest.Check(t, raw)
	return raw
}

// The CapabilityStatement is valid FHIR and lists every type and
// operation the API serves.
func TestCapabilityStatement(t *testing.T) {
	cs := r4.Capability("https://yunyi.example/fhir/R4", "1.2.3", time.Now())
	check(t, cs)
	raw, _ := json.Marshal(cs)
	var doc struct {
		Rest []struct {
			Resource []struct {
				Type      string `json:"type"`
				Operation []struct{ Name string }
			}
		}
	}
	json.Unmarshal(raw, &doc)
	if len(doc.Rest[0].Resource) != len(r4.Specs) {
		t.Fatalf("%d resources", len(doc.Rest[0].Resource))
	}
	for _, r := range doc.Rest[0].Resource {
		if r.Type == "Appointment" && len(r.Operation) != 3 {
			t.Fatalf("Appointment operations: %v", r.Operation)
		}
	}
}

// Every resource the mapping makes is valid FHIR R4, and reads back the
// same through the model library.
func TestMappedResourcesAreValid(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, dates.Beijing)
	svc := directory.Service{Institution: "bch", Department: "dermatology", Code: "bch-skin-fv", Name: "皮肤疾病首诊", Kind: directory.FirstVisit,
		Specialty: "skin", PriceFen: 8000, Days: directory.Weekdays{1, 3, 5}, Active: true, Release: directory.DefaultRelease}
	dep := directory.Department{Code: "dermatology", Name: "皮肤科", Online: true, Services: []directory.Service{svc},
		Specialties: []directory.Specialty{{Code: "skin", Name: "皮肤疾病"}}}
	inst := directory.Institution{Code: "bch", Name: "北京儿童医院", NameEN: "Beijing Children's Hospital", Status: directory.QualApproved,
		Departments: []directory.Department{dep}}
	doc := directory.Practitioner{ID: 7, Institution: "bch", Department: "dermatology", Name: "马静怡", Profession: directory.Doctor,
		Title: directory.TitleAttending, LicenceNo: "110000000001", PracticeSince: "2015-01-01"}
	check(t, r4.OrganizationOf(&inst))
	check(t, r4.HealthcareServiceOf(&inst, &dep, &svc))
	pub := check(t, r4.PractitionerOf(&doc, false))
	full := check(t, r4.PractitionerOf(&doc, true))
	if json.Valid(pub) && string(pub) == string(full) {
		t.Fatal("the public practitioner shows the licence")
	}
	check(t, r4.PractitionerRoleOf(&doc, &inst, []string{"bch-skin-fv"}))
	check(t, r4.ScheduleOf(&svc, "皮肤科", &doc, now))
	sl := schedule.Slot{ID: 3, Service: "bch-skin-fv", Institution: "bch", Department: "dermatology", PractitionerID: 7, DoctorName: "马静怡",
		Day: "2026-12-03", Start: now.AddDate(0, 0, 1), Capacity: 10, Booked: 10, Status: schedule.SlotOpen}
	if s := check(t, r4.SlotOf(&sl, &svc, "皮肤科", true)); !json.Valid(s) || r4.SlotStatus(&sl, true) != "busy" || r4.SlotStatus(&sl, false) != "busy-unavailable" {
		t.Fatal("a full slot is busy; one of an institution not approved unavailable")
	}
	child := identity.Patient{ID: 5, Name: "李小雨", ResidentID: identity.MakeResidentID("110105", now.AddDate(-8, 0, 0), 3, identity.Female),
		Birth: now.AddDate(-8, 0, 0), Sex: identity.Female, Phone: "13800000001"}
	pt := check(t, r4.PatientOf(&child, true))
	if string(pt) == "" || json.Valid(pt) && containsStr(string(pt), child.ResidentID) {
		t.Fatal("the resident ID is shown")
	}
	check(t, r4.RelatedPersonOf(5, 2, &identity.Patient{Name: "李明", Sex: identity.Male}, "13800000002"))
	a := schedule.Appointment{ID: 11, SlotID: 3, PatientID: 5, PatientName: "李小雨", Service: "bch-skin-fv", ServiceName: "皮肤疾病首诊",
		Institution: "bch", Department: "dermatology", Day: "2026-12-03", Start: sl.Start, DoctorName: "马静怡", Kind: directory.FirstVisit,
		Status: schedule.Held, Answers: map[string]bool{"pregnant": false, "critical": false, "difficult": false, "first_visit": true},
		CreatedAt: now, PayBy: now.Add(15 * time.Minute), Number: 2, EstimatedAt: sl.Start.Add(10 * time.Minute)}
	check(t, r4.AppointmentOf(&a, 7, "皮肤科", 10*time.Minute))
	a.Status, a.VisitState = schedule.Expired, ""
	check(t, r4.AppointmentOf(&a, 7, "皮肤科", 10*time.Minute))
	check(t, r4.Proposed(r4.Proposal{SlotID: 3, PatientID: 5, Answers: a.Answers}, &sl, &svc, "皮肤科", "李小雨"))
	v := visit.Visit{ID: 11, State: visit.Completed, PatientID: 5, PatientName: "李小雨", Institution: "bch", Department: "dermatology",
		Kind: directory.FirstVisit, DoctorID: 7, DoctorName: "马静怡", StartedAt: now, EndedAt: now.Add(9 * time.Minute)}
	rec := visit.Record{VisitID: 11, Version: 1, Diagnoses: []visit.Diagnosis{{Code: "L20.9", Name: "特应性皮炎"}}, SignedAt: now.Add(9 * time.Minute)}
	check(t, r4.EncounterOf(&v, "皮肤科", 1, true))
	check(t, r4.EncounterOf(&v, "皮肤科", 0, false))
	check(t, r4.ConditionOf(&v, &rec, 1))
	p := rx.Prescription{ID: 4, VisitID: 11, Version: 1, Institution: "bch", PatientID: 5, PatientName: "李小雨", DoctorID: 7, DoctorName: "马静怡",
		Items: []rx.Item{{Drug: "cetirizine-oral-solution-1mg-ml", Dose: 2.5, DoseUnit: "ml", Frequency: "bid", Route: "oral", Days: 7, Quantity: 1,
			Name: "西替利嗪口服溶液", Strength: "1 mg/ml", Unit: "瓶"}, {Drug: "x", Dose: 1, DoseUnit: "g", Frequency: "prn", Route: "topical", Days: 7, Quantity: 1}},
		Diagnoses: []string{"L20.9"}, Status: rx.Approved, IssuedAt: now, ValidUntil: now.Add(72 * time.Hour)}
	m := r4.MedicationRequestOf(&p, 1)
	check(t, m)
	check(t, r4.MedicationRequestOf(&p, 2))
	if m.Status != "active" || m.DosageInstruction[0].Timing.Repeat.Frequency != 2 {
		t.Fatalf("%+v", m)
	}
	for _, st := range []int{400, 401, 403, 404, 409, 422, 429, 500} {
		check(t, r4.Outcome(st, r4.Problem{Code: "x", Text: "<中文> & text", Expression: "field"}))
	}
	if r4.IssueType(http.StatusUnprocessableEntity) != "business-rule" {
		t.Fatal("issue type")
	}
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

// The checks catch what they are there for.
func TestChecksRefuseBadFHIR(t *testing.T) {
	for _, bad := range []string{
		`{"resourceType":"Patient","gender":"x"}`,
		`{"resourceType":"Patient","nickname":"x"}`,
		`{"resourceType":"Appointment","status":"booked"}`,
		`{"resourceType":"Slot","schedule":{"reference":"Schedule/a.1"},"status":"free","start":"2026-12-02","end":"2026-12-02T10:00:00+08:00"}`,
		`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient","nickname":"x"}}]}`,
	} {
		if err := fhirtest.Validate([]byte(bad)); err == nil {
			t.Errorf("valid: %s", bad)
		}
	}
	if err := fhirtest.RoundTrip([]byte(`{"resourceType":"Appointment","status":"bogus","participant":[{"status":"accepted"}]}`)); err == nil {
		t.Error("the model took an unknown status")
	}
}
