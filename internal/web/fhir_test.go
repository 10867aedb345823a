package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/fhir/r4"
	"github.com/yunyi-health/yunyi/internal/fhir/r4/fhirtest"
	"github.com/yunyi-health/yunyi/internal/policy"
)

// fres is an answer of the FHIR API.
type fres struct {
	status int
	body   map[string]any
	raw    []byte
	header http.Header
}

// fhir calls the FHIR API. Every answer must be application/fhir+json,
// valid against the official R4 schema, and read back unchanged through
// a FHIR model library (fhirtest.Check).
func (e *env) fhir(method, path, token string, body any, hdr ...string) fres {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = e.ts.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := fres{status: res.StatusCode, raw: raw, header: res.Header}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		e.t.Fatalf("%s %s: %d %s: %s", method, path, res.StatusCode, ct, raw)
	}
	if err := json.Unmarshal(raw, &out.body); err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	fhirtest.Check(e.t, raw)
	return out
}

// codes are the Yunyi error codes of an OperationOutcome.
func (r fres) codes() []string {
	var out []string
	for _, is := range r.issues() {
		for _, c := range is["details"].(map[string]any)["coding"].([]any) {
			if m := c.(map[string]any); m["system"] == r4.SystemError {
				out = append(out, m["code"].(string))
			}
		}
	}
	return out
}

func (r fres) issues() []map[string]any {
	var out []map[string]any
	if r.body["resourceType"] != "OperationOutcome" {
		return nil
	}
	for _, is := range r.body["issue"].([]any) {
		out = append(out, is.(map[string]any))
	}
	return out
}

// outcome fails unless the answer is an OperationOutcome with status and
// the code among its issues.
func (r fres) outcome(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.body["resourceType"] != "OperationOutcome" {
		t.Fatalf("want %d OperationOutcome, got %d %s", status, r.status, short(r.raw))
	}
	for _, c := range r.codes() {
		if c == code {
			return
		}
	}
	t.Fatalf("no issue %s: %s", code, short(r.raw))
}

// short cuts a long answer for a failure's message.
func short(raw []byte) string {
	if len(raw) > 1500 {
		return string(raw[:1500]) + "…"
	}
	return string(raw)
}

// entries are a bundle's resources of a search mode ("" for all).
func (r fres) entries(mode string) []map[string]any {
	var out []map[string]any
	es, _ := r.body["entry"].([]any)
	for _, e := range es {
		m := e.(map[string]any)
		if mode == "" || m["search"].(map[string]any)["mode"] == mode {
			out = append(out, m["resource"].(map[string]any))
		}
	}
	return out
}

func (r fres) total() int { return int(r.body["total"].(float64)) }

// link is a bundle's link of a relation ("" when none).
func (r fres) link(rel string) string {
	ls, _ := r.body["link"].([]any)
	for _, l := range ls {
		if m := l.(map[string]any); m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}

// ext is the value of a resource's extension (nil when none).
func ext(res map[string]any, url string) map[string]any {
	es, _ := res["extension"].([]any)
	for _, e := range es {
		if m := e.(map[string]any); m["url"] == url {
			return m
		}
	}
	return nil
}

func ref(res map[string]any, path ...string) string {
	var v any = res
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			v = x[0].(map[string]any)[p]
		}
	}
	s, _ := v.(string)
	return s
}

func (e *env) auditCount(action, objectID string) int {
	e.t.Helper()
	var n int
	if err := e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = $1 AND ($2 = '' OR object_id = $2)`, action, objectID).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// The CapabilityStatement lists exactly what is served: every type it
// names answers its search and read, and nothing else is under /fhir/R4.
// Errors are OperationOutcomes with the stable codes, in the caller's
// language.
func TestFHIRCapabilityAndErrors(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		m := e.fhir("GET", "/fhir/R4/metadata", "", nil)
		if m.status != 200 || m.body["resourceType"] != "CapabilityStatement" || m.body["fhirVersion"] != "4.0.1" {
			t.Fatalf("%d %s", m.status, short(m.raw))
		}
		public := map[string]bool{"Organization": true, "HealthcareService": true, "Practitioner": true, "PractitionerRole": true, "Schedule": true, "Slot": true}
		rest := m.body["rest"].([]any)[0].(map[string]any)
		listed := rest["resource"].([]any)
		if len(listed) != 13 { // with Consent (W-4)
			t.Fatalf("%d resource types", len(listed))
		}
		lm := e.login("liming")
		for _, x := range listed {
			typ := x.(map[string]any)["type"].(string)
			anon := e.fhir("GET", "/fhir/R4/"+typ, "", nil)
			if public[typ] && anon.status != 200 {
				t.Errorf("%s search: %d %s", typ, anon.status, short(anon.raw))
			}
			if !public[typ] {
				anon.outcome(t, 401, "unauthorized")
				if anon.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if r := e.fhir("GET", "/fhir/R4/"+typ+"/1", "", nil); r.status != 401 {
					t.Errorf("anonymous read of %s: %d", typ, r.status)
				}
			}
			if typ != "Condition" {
				if r := e.fhir("GET", "/fhir/R4/"+typ+"?_count=1", lm, nil); r.status != 200 {
					t.Errorf("%s search as a patient: %d %s", typ, r.status, short(r.raw))
				}
			}
		}
		e.fhir("GET", "/fhir/R4/Observation", "", nil).outcome(t, 404, "not_found")
		e.fhir("DELETE", "/fhir/R4/Organization/bch", "", nil).outcome(t, 405, "method_not_allowed")
		e.fhir("GET", "/fhir/R4/Organization/bch", "", nil, "Accept", "application/fhir+xml").outcome(t, 406, "fhir_format")
		e.fhir("GET", "/fhir/R4/Organization?_format=xml", "", nil).outcome(t, 406, "fhir_format")
		e.fhir("GET", "/fhir/R4/Patient", "not-a-token", nil).outcome(t, 401, "unauthorized")

		bad := e.fhir("GET", "/fhir/R4/Organization?colour=red", "", nil)
		bad.outcome(t, 400, "fhir_param_unknown")
		if txt := bad.issues()[0]["details"].(map[string]any)["text"].(string); !strings.Contains(txt, "不支持的参数：colour") {
			t.Fatalf("Chinese first: %s", txt)
		}
		en := e.fhir("GET", "/fhir/R4/Organization?colour=red", "", nil, "Accept-Language", "en")
		if txt := en.issues()[0]["details"].(map[string]any)["text"].(string); !strings.Contains(txt, "Parameter not supported: colour") {
			t.Fatalf("English: %s", txt)
		}
		e.fhir("GET", "/fhir/R4/Organization?name:exact=x", "", nil).outcome(t, 400, "fhir_param_unknown")
		e.fhir("GET", "/fhir/R4/Organization?_count=x", "", nil).outcome(t, 400, "fhir_param_invalid")
		e.fhir("GET", "/fhir/R4/Slot?start=tomorrow", "", nil).outcome(t, 400, "fhir_param_invalid")
		e.fhir("GET", "/fhir/R4/Organization?_include=Patient:organization", "", nil).outcome(t, 400, "fhir_param_invalid")
		// The JSON API is untouched: its errors are still its own.
		if r := e.req("GET", "/api/v1/nothing", "", nil); r.errCode() != "not_found" {
			t.Fatalf("%d %s", r.status, short(r.raw))
		}
	})
}

// The public directory: read, search, paging with _count and next links,
// _include; the licence only for those who may see it.
func TestFHIRDirectory(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		first := e.fhir("GET", "/fhir/R4/Organization?_count=2", "", nil)
		total := first.total()
		if total < 6 || len(first.entries("match")) != 2 || first.link("next") == "" {
			t.Fatalf("%s", short(first.raw))
		}
		seen := map[string]bool{}
		for page, n := first, 0; ; n++ {
			for _, o := range page.entries("match") {
				if seen[o["id"].(string)] {
					t.Fatalf("%s twice", o["id"])
				}
				seen[o["id"].(string)] = true
			}
			next := page.link("next")
			if next == "" || n > 10 {
				break
			}
			u, _ := url.Parse(next)
			if u.Query().Get("_count") != "2" {
				t.Fatalf("next %s", next)
			}
			page = e.fhir("GET", u.RequestURI(), "", nil)
			if page.link("previous") == "" {
				t.Fatal("no previous link")
			}
		}
		if len(seen) != total {
			t.Fatalf("paged through %d of %d", len(seen), total)
		}
		bch := e.fhir("GET", "/fhir/R4/Organization/bch", "", nil)
		if bch.body["name"] != "北京儿童医院" || bch.body["active"] != true {
			t.Fatalf("%s", short(bch.raw))
		}
		if cg := e.fhir("GET", "/fhir/R4/Organization/changgung", "", nil); cg.body["active"] != false {
			t.Fatalf("a pending institution is active: %s", short(cg.raw))
		}
		if r := e.fhir("GET", "/fhir/R4/Organization?active=false", "", nil); r.total() != 1 {
			t.Fatalf("inactive: %s", short(r.raw))
		}
		e.fhir("GET", "/fhir/R4/Organization/nowhere", "", nil).outcome(t, 404, "not_found")

		hs := e.fhir("GET", "/fhir/R4/HealthcareService?organization=Organization/bch&_include=HealthcareService:organization", "", nil)
		inc := hs.entries("include")
		if hs.total() < 7 || len(inc) != 1 || inc[0]["id"] != "bch" {
			t.Fatalf("%s", short(hs.raw))
		}
		skin := e.fhir("GET", "/fhir/R4/HealthcareService?specialty="+url.QueryEscape(r4.SystemSpecialty+"|skin"), "", nil)
		for _, h := range skin.entries("match") {
			if !strings.HasSuffix(h["id"].(string), "-skin-fv") {
				t.Fatalf("specialty skin: %s", h["id"])
			}
		}
		if skin.total() < 2 {
			t.Fatalf("skin services: %s", short(skin.raw))
		}

		roles := e.fhir("GET", "/fhir/R4/PractitionerRole?organization=bch&service=HealthcareService/bch-skin-fv&_include=PractitionerRole:practitioner", "", nil)
		if roles.total() == 0 || len(roles.entries("include")) != len(roles.entries("match")) {
			t.Fatalf("%s", short(roles.raw))
		}
		doc := roles.entries("include")[0]
		if doc["resourceType"] != "Practitioner" || doc["identifier"] != nil {
			t.Fatalf("the public sees the licence: %v", doc)
		}
		path := "/fhir/R4/Practitioner/" + doc["id"].(string)
		if full := e.fhir("GET", path, e.login("bch-admin"), nil); ref(full.body, "identifier", "system") != r4.SystemLicence {
			t.Fatalf("the institution's admin sees the licence: %s", short(full.raw))
		}
		if other := e.fhir("GET", path, e.login("ccmc-admin"), nil); other.body["identifier"] != nil {
			t.Fatalf("another institution's admin sees the licence: %s", short(other.raw))
		}

		today := e.clock.Now().In(dates.Beijing).Format(dates.Layout)
		slots := e.fhir("GET", "/fhir/R4/Slot?service-type=bch-allergy-fu&status=free&start=ge"+today+"&_count=5&_include=Slot:schedule", "", nil)
		if slots.total() == 0 || len(slots.entries("match")) == 0 {
			t.Fatalf("%s", short(slots.raw))
		}
		sl := slots.entries("match")[0]
		if sl["status"] != "free" || ext(sl, r4.ExtRemaining)["valueInteger"].(float64) <= 0 || len(slots.entries("include")) == 0 {
			t.Fatalf("%v", sl)
		}
		sched := e.fhir("GET", "/fhir/R4/"+ref(sl, "schedule", "reference"), "", nil)
		if sched.status != 200 || !strings.HasPrefix(sched.body["id"].(string), "bch-allergy-fu.") {
			t.Fatalf("%s", short(sched.raw))
		}
		if byActor := e.fhir("GET", "/fhir/R4/Schedule?actor="+ref(sched.body, "actor", "reference"), "", nil); byActor.total() == 0 {
			t.Fatalf("%s", short(byActor.raw))
		}
		if same := e.fhir("GET", "/fhir/R4/Slot/"+sl["id"].(string), "", nil); same.body["start"] != sl["start"] {
			t.Fatalf("%s", short(same.raw))
		}
		// An institution not approved (S-1) offers no free place.
		if r := e.fhir("GET", "/fhir/R4/Slot?service-type=changgung-general-fu&status=free", "", nil); r.total() != 0 {
			t.Fatalf("free places at a pending institution: %s", short(r.raw))
		}
		for _, s := range e.fhir("GET", "/fhir/R4/Slot?service-type=changgung-general-fu&_count=3", "", nil).entries("match") {
			if s["status"] != "busy-unavailable" {
				t.Fatalf("%v", s)
			}
		}
		if none := e.fhir("GET", "/fhir/R4/Slot?start=lt2000-01-01", "", nil); none.total() != 0 {
			t.Fatalf("%s", short(none.raw))
		}
	})
}

// fhirPatient is the id of a profile of an account as the FHIR API has it.
func (e *env) fhirPatient(token, name string) string {
	e.t.Helper()
	return fmt.Sprint(e.patientIDs(token)[name])
}

// Patient data: a patient account sees its own and its children's, a
// foreign one is not_found; staff see those booked at their institution;
// anonymous sees none; every access audited.
func TestFHIRPatientAuthorisation(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm, zw := e.login("liming"), e.login("zhangwei")
		xy := e.fhirPatient(lm, "李小雨")
		e.fhir("GET", "/fhir/R4/Patient/"+xy, "", nil).outcome(t, 401, "unauthorized")

		mine := e.fhir("GET", "/fhir/R4/Patient", lm, nil)
		if mine.total() != 3 {
			t.Fatalf("a guardian of two sees three: %s", short(mine.raw))
		}
		var rid string
		if err := e.db.Writer().QueryRow(`SELECT resident_id FROM patients WHERE id = $1`, xy).Scan(&rid); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(short(mine.raw)), rid) {
			t.Fatal("the resident ID is shown")
		}
		child := e.fhir("GET", "/fhir/R4/Patient/"+xy, lm, nil)
		if child.status != 200 || ref(child.body, "name", "text") != "李小雨" || ref(child.body, "identifier", "system") != r4.SystemResidentID {
			t.Fatalf("%s", short(child.raw))
		}
		byID := e.fhir("GET", "/fhir/R4/Patient?identifier="+url.QueryEscape(r4.SystemResidentID+"|"+rid), lm, nil)
		if byID.total() != 1 || byID.entries("match")[0]["id"] != xy {
			t.Fatalf("by resident ID: %s", short(byID.raw))
		}
		before := e.auditCount("patient.read.denied", xy)
		e.fhir("GET", "/fhir/R4/Patient/"+xy, zw, nil).outcome(t, 404, "not_found")
		if e.auditCount("patient.read.denied", xy) != before+1 {
			t.Fatal("the denied read is not audited")
		}
		if e.auditCount("patient.read", xy) == 0 || e.auditCount("patient.list", "") < 2 {
			t.Fatal("reads and searches are not audited")
		}
		if r := e.fhir("GET", "/fhir/R4/Patient?identifier="+url.QueryEscape(r4.SystemResidentID+"|"+rid), zw, nil); r.total() != 0 {
			t.Fatalf("a foreign patient found by resident ID: %s", short(r.raw))
		}

		// The guardian link.
		g := e.fhir("GET", "/fhir/R4/RelatedPerson?patient=Patient/"+xy+"&_include=RelatedPerson:patient", lm, nil)
		if g.total() != 1 || ref(g.entries("match")[0], "name", "text") != "李明" || ref(g.entries("match")[0], "relationship", "coding", "code") != "GUARD" ||
			len(g.entries("include")) != 1 {
			t.Fatalf("%s", short(g.raw))
		}
		gid := g.entries("match")[0]["id"].(string)
		if r := e.fhir("GET", "/fhir/R4/RelatedPerson/"+gid, lm, nil); r.status != 200 {
			t.Fatalf("%s", short(r.raw))
		}
		e.fhir("GET", "/fhir/R4/RelatedPerson/"+gid, zw, nil).outcome(t, 404, "not_found")
		e.fhir("GET", "/fhir/R4/RelatedPerson", e.login("bch-admin"), nil).outcome(t, 403, "forbidden")

		// Staff see the patients booked in their sight (a doctor's own
		// sessions, N-19), without the phone.
		doc, other := e.login("bch-dermatology-doctor"), e.login("ccmc-admin")
		e.fhir("GET", "/fhir/R4/Patient/"+xy, doc, nil).outcome(t, 404, "not_found")
		slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
		b := e.req("POST", "/api/v1/appointments", lm, map[string]any{"slot_id": slot["id"], "patient_id": mustInt(xy), "answers": screened("first_visit")})
		if b.status != 201 {
			t.Fatalf("%d %s", b.status, short(b.raw))
		}
		appt := fmt.Sprint(b.body["id"])
		seen := e.fhir("GET", "/fhir/R4/Patient/"+xy, doc, nil)
		if seen.status != 200 || seen.body["telecom"] != nil {
			t.Fatalf("staff: %s", short(seen.raw))
		}
		if r := e.fhir("GET", "/fhir/R4/Patient?name=小雨", doc, nil); r.total() != 1 {
			t.Fatalf("staff search: %s", short(r.raw))
		}
		e.fhir("GET", "/fhir/R4/Patient/"+xy, other, nil).outcome(t, 404, "not_found")
		e.fhir("GET", "/fhir/R4/Patient/"+xy, e.login("bch-doctor"), nil).outcome(t, 404, "not_found") // not in that doctor's sessions
		e.fhir("GET", "/fhir/R4/Patient/"+xy, e.login("regulator"), nil).outcome(t, 404, "not_found")
		e.fhir("GET", "/fhir/R4/Patient", e.login("regulator"), nil).outcome(t, 403, "forbidden")

		// Appointments: the family's, the institution's.
		a := e.fhir("GET", "/fhir/R4/Appointment?patient="+xy+"&status=booked&_include=Appointment:patient&_include=Appointment:practitioner", lm, nil)
		if a.total() != 1 || a.entries("match")[0]["id"] != appt || len(a.entries("include")) != 2 {
			t.Fatalf("%s", short(a.raw))
		}
		if n := ext(a.entries("match")[0], r4.ExtNumber); n == nil {
			t.Fatalf("no number: %v", a.entries("match")[0])
		}
		if r := e.fhir("GET", "/fhir/R4/Appointment?status=cancelled", lm, nil); r.total() != 0 {
			t.Fatalf("%s", short(r.raw))
		}
		day := slot["day"].(string)
		if r := e.fhir("GET", "/fhir/R4/Appointment?date="+day+"&patient="+xy, doc, nil); r.total() != 1 {
			t.Fatalf("the institution's day: %s", short(r.raw))
		}
		if r := e.fhir("GET", "/fhir/R4/Appointment/"+appt, doc, nil); r.status != 200 {
			t.Fatalf("%s", short(r.raw))
		}
		e.fhir("GET", "/fhir/R4/Appointment/"+appt, other, nil).outcome(t, 404, "not_found")
		e.fhir("GET", "/fhir/R4/Appointment/"+appt, zw, nil).outcome(t, 404, "not_found")
		if r := e.fhir("GET", "/fhir/R4/Appointment", other, nil); r.total() != 0 {
			t.Fatalf("another institution's appointments: %s", short(r.raw))
		}
		if e.auditCount("appointment.read.denied", appt) < 2 || e.auditCount("appointment.list", "") == 0 {
			t.Fatal("appointment access not audited")
		}
	})
}

// The visit, its record's diagnoses and its prescriptions, for the family
// and the doctor; the regulator sees terminated visits without patients.
func TestFHIRVisitsRecordsPrescriptions(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		vpath, doc, lm := e.completedVisit("李小雨")
		vid := strings.TrimPrefix(vpath, "/api/v1/visits/")
		xy := e.fhirPatient(lm, "李小雨")
		enc := e.fhir("GET", "/fhir/R4/Encounter/"+vid, lm, nil)
		if enc.body["status"] != "finished" || ref(enc.body, "subject", "reference") != "Patient/"+xy || ref(enc.body, "class", "code") != "VR" {
			t.Fatalf("%s", short(enc.raw))
		}
		if ref(enc.body, "serviceType", "coding", "system") != r4.SystemDepartment {
			t.Fatalf("the history import could not read it back: %s", short(enc.raw))
		}
		cond := e.fhir("GET", "/fhir/R4/"+ref(enc.body, "diagnosis", "condition", "reference"), lm, nil)
		if ref(cond.body, "code", "coding", "code") != "L20.9" || ref(cond.body, "code", "coding", "system") != r4.SystemICD10 {
			t.Fatalf("%s", short(cond.raw))
		}
		if r := e.fhir("GET", "/fhir/R4/Condition?patient="+xy+"&code=L20.9&_include=Condition:encounter", lm, nil); r.total() != 1 || len(r.entries("include")) != 1 {
			t.Fatalf("%s", short(r.raw))
		}
		e.fhir("GET", "/fhir/R4/Condition", lm, nil).outcome(t, 400, "fhir_search_needs_patient")
		if r := e.fhir("GET", "/fhir/R4/Encounter?patient="+xy+"&status=finished&_include=Encounter:patient", doc, nil); r.total() != 1 || len(r.entries("include")) != 1 {
			t.Fatalf("the doctor: %s", short(r.raw))
		}
		zw := e.login("zhangwei")
		e.fhir("GET", "/fhir/R4/Encounter/"+vid, zw, nil).outcome(t, 404, "not_found")
		e.fhir("GET", "/fhir/R4/"+ref(enc.body, "diagnosis", "condition", "reference"), zw, nil).outcome(t, 404, "not_found")
		e.fhir("GET", "/fhir/R4/Encounter/"+vid, e.login("bch-admin"), nil).outcome(t, 404, "not_found")

		// The regulator: only terminated visits, never the patient.
		reg := e.login("regulator")
		e.fhir("GET", "/fhir/R4/Encounter/"+vid, reg, nil).outcome(t, 404, "not_found")
		v2, doc2, _ := e.rxVisit("李小天", nil)
		if r := e.req("POST", v2+"/terminate", doc2, map[string]any{"reasons": []string{"needs_exam"},
			"referral": map[string]string{"department": "dermatology", "urgency": "soon", "advice": "到皮肤科门诊"}}); r.status != 200 {
			t.Fatalf("terminate %d %s", r.status, short(r.raw))
		}
		sup := e.fhir("GET", "/fhir/R4/Encounter", reg, nil)
		if sup.total() != 1 || sup.entries("match")[0]["subject"] != nil || ref(ext(sup.entries("match")[0], r4.ExtVisitState), "valueCode") != "terminated" {
			t.Fatalf("supervision: %s", short(sup.raw))
		}
		e.fhir("GET", "/fhir/R4/Encounter?patient="+xy, reg, nil).outcome(t, 403, "forbidden")
		e.fhir("GET", "/fhir/R4/MedicationRequest", reg, nil).outcome(t, 403, "forbidden")

		// Prescriptions: the demo's approved and rejected-then-revised ones.
		if err := e.s.LoadDemoPrescriptions(context.Background()); err != nil {
			t.Fatal(err)
		}
		mr := e.fhir("GET", "/fhir/R4/MedicationRequest?patient="+xy+"&_include=MedicationRequest:requester", lm, nil)
		if mr.total() == 0 {
			t.Fatalf("%s", short(mr.raw))
		}
		for _, m := range mr.entries("match") {
			if m["status"] != "active" && m["status"] != "completed" || m["intent"] != "order" {
				t.Fatalf("the family sees a prescription not approved: %v", m)
			}
		}
		one := mr.entries("match")[0]
		if r := e.fhir("GET", "/fhir/R4/MedicationRequest/"+one["id"].(string), lm, nil); r.status != 200 {
			t.Fatalf("%s", short(r.raw))
		}
		e.fhir("GET", "/fhir/R4/MedicationRequest/"+one["id"].(string), zw, nil).outcome(t, 404, "not_found")
		all := e.fhir("GET", "/fhir/R4/MedicationRequest?status=cancelled", doc, nil)
		if all.total() == 0 {
			t.Fatalf("the doctor sees the rejected version: %s", short(all.raw))
		}
		if e.auditCount("prescription.read", "") == 0 || e.auditCount("prescription.list", "") == 0 || e.auditCount("visit.read", vid) == 0 {
			t.Fatal("visit and prescription access not audited")
		}
	})
}

// findQuery is $find's query for a patient and a service over the booking
// window, with the four answers.
func (e *env) findQuery(patient, service string, answers map[string]bool) string {
	now := e.clock.Now().In(dates.Beijing)
	v := url.Values{"start": {now.Format(dates.Layout)}, "end": {now.AddDate(0, 0, 8).Format(dates.Layout)},
		"patient": {"Patient/" + patient}, "service": {"HealthcareService/" + service}}
	for _, k := range policy.AnswerKeys {
		v.Set(k, fmt.Sprint(answers[k]))
	}
	return "/fhir/R4/Appointment/$find?" + v.Encode()
}

func opRef(name, reference string) map[string]any {
	return map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": name, "valueReference": map[string]any{"reference": reference}}}}
}

func (e *env) remaining(slot string) float64 {
	e.t.Helper()
	return ext(e.fhir("GET", "/fhir/R4/Slot/"+slot, "", nil).body, r4.ExtRemaining)["valueInteger"].(float64)
}

// IHE scheduling: $find offers what the rules allow; $hold keeps a place
// until it expires and the place returns; $book books (or confirms a
// hold, or cancels) on the JSON API's path, refusals naming every rule.
func TestFHIRFindHoldBook(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		ids := e.patientIDs(lm)
		xy, ming := fmt.Sprint(ids["李小雨"]), fmt.Sprint(ids["李明"])
		no := map[string]bool{}

		found := e.fhir("GET", e.findQuery(xy, "bch-allergy-fu", no), lm, nil)
		if found.total() == 0 || found.entries("match")[0]["status"] != "proposed" {
			t.Fatalf("%s", short(found.raw))
		}
		// A patient the rules refuse is offered nothing: a child in an
		// emergency, an adult at the children's first-visit pilot.
		if r := e.fhir("GET", e.findQuery(xy, "bch-allergy-fu", map[string]bool{"critical": true}), lm, nil); r.total() != 0 {
			t.Fatalf("offered to a critical patient: %s", short(r.raw))
		}
		if r := e.fhir("GET", e.findQuery(xy, "bch-skin-fv", no), lm, nil); r.total() == 0 {
			t.Fatalf("the child is offered no first visit: %s", short(r.raw))
		}
		adult := e.fhir("GET", e.findQuery(ming, "bch-skin-fv", no), lm, nil)
		if adult.total() != 0 {
			t.Fatalf("offered to an adult: %s", short(adult.raw))
		}
		// The answers are required, by name; a foreign patient is not found.
		q, _ := url.Parse(e.findQuery(xy, "bch-allergy-fu", no))
		qv := q.Query()
		qv.Del("critical")
		missing := e.fhir("GET", q.Path+"?"+qv.Encode(), lm, nil)
		missing.outcome(t, 400, "required")
		if is := missing.issues()[1]; is["expression"].([]any)[0] != "critical" || is["code"] != "required" {
			t.Fatalf("%s", short(missing.raw))
		}
		e.fhir("GET", e.findQuery(xy, "bch-allergy-fu", no), e.login("zhangwei"), nil).outcome(t, 404, "not_found")
		e.fhir("GET", e.findQuery(xy, "bch-allergy-fu", no), e.login("bch-admin"), nil).outcome(t, 403, "forbidden")
		// POST with Parameters answers the same.
		post := map[string]any{"resourceType": "Parameters", "parameter": []any{
			map[string]any{"name": "start", "valueDate": e.clock.Now().In(dates.Beijing).Format(dates.Layout)},
			map[string]any{"name": "end", "valueDate": e.clock.Now().In(dates.Beijing).AddDate(0, 0, 8).Format(dates.Layout)},
			map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/" + xy}},
			map[string]any{"name": "service", "valueReference": map[string]any{"reference": "HealthcareService/bch-allergy-fu"}},
			map[string]any{"name": "pregnant", "valueBoolean": false}, map[string]any{"name": "critical", "valueBoolean": false},
			map[string]any{"name": "difficult", "valueBoolean": false}, map[string]any{"name": "first_visit", "valueBoolean": false},
			map[string]any{"name": "_count", "valueInteger": 1}}}
		if r := e.fhir("POST", "/fhir/R4/Appointment/$find", lm, post); r.total() != found.total() || len(r.entries("match")) != 1 {
			t.Fatalf("POST $find: %s", short(r.raw))
		}

		// $hold: pending, the place taken until the hold expires.
		prop := found.entries("match")[0]
		slot := strings.TrimPrefix(ref(prop, "slot", "reference"), "Slot/")
		before := e.remaining(slot)
		held := e.fhir("POST", "/fhir/R4/Appointment/$hold", lm, opRef("appointment-reference", "Appointment/"+prop["id"].(string)))
		if held.status != 200 || len(held.entries("match")) != 1 {
			t.Fatalf("%s", short(held.raw))
		}
		h := held.entries("match")[0]
		if h["status"] != "pending" || ext(h, r4.ExtHoldExpires) == nil || e.remaining(slot) != before-1 {
			t.Fatalf("hold %v, remaining %v of %v", h, e.remaining(slot), before)
		}
		day := prop["start"].(string)[:10]
		for _, p := range e.fhir("GET", e.findQuery(xy, "bch-allergy-fu", no), lm, nil).entries("match") {
			if strings.HasPrefix(p["start"].(string), day) {
				t.Fatalf("a day with a hold is offered again: %v", p)
			}
		}
		e.clock.Add(16 * time.Minute)
		if n, err := e.s.ExpireHolds(context.Background()); err != nil || n != 1 {
			t.Fatalf("expired %d %v", n, err)
		}
		gone := e.fhir("GET", "/fhir/R4/Appointment/"+h["id"].(string), lm, nil)
		if gone.body["status"] != "cancelled" || ref(gone.body, "cancelationReason", "text") != "hold_expired" || e.remaining(slot) != before {
			t.Fatalf("the place did not return: %s (remaining %v of %v)", gone.raw, e.remaining(slot), before)
		}
		e.fhir("POST", "/fhir/R4/Appointment/$book", lm, opRef("appointment-reference", "Appointment/"+h["id"].(string))).outcome(t, 409, "hold_gone")

		// A hold confirmed by $book stays booked.
		found = e.fhir("GET", e.findQuery(xy, "bch-allergy-fu", no), lm, nil)
		held = e.fhir("POST", "/fhir/R4/Appointment/$hold", lm, opRef("appointment-reference", "Appointment/"+found.entries("match")[0]["id"].(string)))
		hid := held.entries("match")[0]["id"].(string)
		booked := e.fhir("POST", "/fhir/R4/Appointment/$book", lm, opRef("appointment-reference", "Appointment/"+hid))
		if booked.status != 200 || booked.entries("match")[0]["status"] != "booked" || booked.entries("match")[0]["id"] != hid {
			t.Fatalf("%s", short(booked.raw))
		}
		e.clock.Add(16 * time.Minute)
		if n, _ := e.s.ExpireHolds(context.Background()); n != 0 {
			t.Fatal("a confirmed hold expired")
		}
		// Cancelled by sending it cancelled; the place returns.
		cslot := strings.TrimPrefix(ref(booked.entries("match")[0], "slot", "reference"), "Slot/")
		left := e.remaining(cslot)
		cancel := map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "appointment-resource",
			"resource": map[string]any{"resourceType": "Appointment", "id": hid, "status": "cancelled", "participant": []any{map[string]any{"status": "declined"}}}}}}
		if r := e.fhir("POST", "/fhir/R4/Appointment/$book", lm, cancel); r.entries("match")[0]["status"] != "cancelled" || e.remaining(cslot) != left+1 {
			t.Fatalf("cancel: %s", short(r.raw))
		}

		// A new booking as a resource: pending, its slot, patient and answers.
		newAppt := func(patient, slot string, answers map[string]bool) map[string]any {
			var subs []any
			for k, v := range answers {
				subs = append(subs, map[string]any{"url": k, "valueBoolean": v})
			}
			return map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "appointment-resource",
				"resource": map[string]any{"resourceType": "Appointment", "status": "pending", "slot": []any{map[string]any{"reference": "Slot/" + slot}},
					"extension":   []any{map[string]any{"url": r4.ExtScreening, "extension": subs}},
					"participant": []any{map[string]any{"actor": map[string]any{"reference": "Patient/" + patient}, "status": "needs-action"}}}}}}
		}
		skin := e.fhir("GET", e.findQuery(xy, "bch-skin-fv", no), lm, nil).entries("match")[0]
		skinSlot := strings.TrimPrefix(ref(skin, "slot", "reference"), "Slot/")
		partial := e.fhir("POST", "/fhir/R4/Appointment/$book", lm, newAppt(xy, skinSlot, map[string]bool{"pregnant": false, "critical": false, "difficult": false}))
		partial.outcome(t, 400, "required")
		// Refused by the rules: every failed rule is an issue of its own.
		refused := e.fhir("POST", "/fhir/R4/Appointment/$book", lm, newAppt(ming, skinSlot, screened("critical")))
		refused.outcome(t, 422, "ineligible")
		rules := map[string]bool{}
		for _, is := range refused.issues() {
			for _, c := range is["details"].(map[string]any)["coding"].([]any) {
				if m := c.(map[string]any); m["system"] == r4.SystemRule {
					rules[m["code"].(string)] = true
				}
			}
			if is["code"] != "business-rule" || is["details"].(map[string]any)["text"] == "" {
				t.Fatalf("%v", is)
			}
		}
		if !rules["pilot-children"] || len(rules) < 2 || len(rules) != len(refused.issues()) {
			t.Fatalf("every failed rule by name: %v %s", rules, short(refused.raw))
		}
		ok := e.fhir("POST", "/fhir/R4/Appointment/$book", lm, newAppt(xy, skinSlot, screened("first_visit")))
		if ok.status != 200 || ok.entries("match")[0]["status"] != "booked" {
			t.Fatalf("%s", short(ok.raw))
		}
		e.clock.Add(time.Minute) // a booking without a key is keyed by its time: another one
		e.fhir("POST", "/fhir/R4/Appointment/$book", lm, newAppt(xy, skinSlot, screened("first_visit"))).outcome(t, 409, "already_booked")

		// A paid service's hold is confirmed by its payment only (M-1).
		var paid []map[string]any
		for _, svc := range []string{"ccmc-growth-fv", "ccmc-skin-fv"} {
			paid = append(paid, e.fhir("GET", e.findQuery(xy, svc, map[string]bool{"first_visit": true}), lm, nil).entries("match")...)
		}
		if len(paid) == 0 {
			t.Fatal("no paid first visit offered at ccmc")
		}
		ph := e.fhir("POST", "/fhir/R4/Appointment/$hold", lm, opRef("appointment-reference", "Appointment/"+paid[0]["id"].(string)))
		e.fhir("POST", "/fhir/R4/Appointment/$book", lm, opRef("appointment-reference", "Appointment/"+ph.entries("match")[0]["id"].(string))).
			outcome(t, 409, "fhir_payment_required")
		if e.auditCount("appointment.hold", "") != 3 || e.auditCount("appointment.confirm", "") != 1 || e.auditCount("appointment.find", xy) == 0 {
			t.Fatal("operations not audited")
		}
	})
}

// A burst of $book on one place: exactly the places there are are booked,
// the others refused as an OperationOutcome (IHE: fatal, not-found).
func TestFHIRBookBurstNoOversell(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		const families, places = 10, 3
		var slot string
		var tokens, patients []string
		for i := 0; i < families; i++ {
			tok, reg := e.register(fmt.Sprintf("fhirburst%02d", i), 8)
			tokens, patients = append(tokens, tok), append(patients, fmt.Sprint(reg["patient"].(map[string]any)["id"]))
			if slot == "" {
				p := e.fhir("GET", e.findQuery(patients[0], "bch-skin-fv", map[string]bool{"first_visit": true}), tok, nil)
				if p.total() == 0 {
					t.Fatalf("%s", short(p.raw))
				}
				slot = strings.TrimPrefix(ref(p.entries("match")[0], "slot", "reference"), "Slot/")
			}
		}
		if _, err := e.db.Writer().Exec(`UPDATE slots SET capacity = booked + $2 WHERE id = $1`, slot, places); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		results := make([]fres, families)
		start := make(chan struct{})
		for i := range tokens {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				body := opRef("appointment-reference", "Appointment/"+r4.Proposal{SlotID: mustInt(slot), PatientID: mustInt(patients[i]),
					Answers: screened("first_visit")}.ID())
				results[i] = e.fhir("POST", "/fhir/R4/Appointment/$book", tokens[i], body)
			}(i)
		}
		close(start)
		wg.Wait()
		booked := 0
		for _, r := range results {
			switch r.status {
			case 200:
				booked++
			case 409:
				is := r.issues()[0]
				if r.codes()[0] != "slot_full" || is["severity"] != "fatal" || is["code"] != "not-found" {
					t.Fatalf("%s", short(r.raw))
				}
			default:
				t.Fatalf("%d %s", r.status, short(r.raw))
			}
		}
		var n, capacity, taken int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM appointments WHERE slot_id = $1 AND status = 'booked'`, slot).Scan(&n)
		e.db.Writer().QueryRow(`SELECT capacity, booked FROM slots WHERE id = $1`, slot).Scan(&capacity, &taken)
		if booked != places || taken != capacity || n > capacity {
			t.Fatalf("%d booked, slot %d of %d, %d appointments", booked, taken, capacity, n)
		}
		if e.remaining(slot) != 0 {
			t.Fatal("a full slot has places")
		}
	})
}

func mustInt(s string) int64 {
	n, ok := r4.ParseInt(s)
	if !ok {
		panic(s)
	}
	return n
}
