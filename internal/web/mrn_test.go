package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/fhir"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// synthea reads a Synthea R4 bundle kept in internal/history/testdata
// (copied unchanged from ../shared/data/synthea-r4; README there).
func synthea(t *testing.T, name string) []byte {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join("..", "history", "testdata", "synthea", name+"_*.json"))
	if len(matches) != 1 {
		t.Fatalf("testdata: %s: %v", name, matches)
	}
	raw, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// The medical record numbers of the Synthea bundles in testdata (their
// Patients' identifiers of type MR), as Yunyi keeps them.
const (
	mrnClemente = "1484A42D-0EAF-4654-9CBF-6B050A5CD73B"
	mrnBuster   = "AD2E3FC5-2B5D-4CB9-8D03-9EA0F4AC8423"
	mrnEnda     = "DD760206-6C4E-4E25-A799-F5C563E489A1"
)

// syntheaSeq numbers the resident IDs and phones these tests make.
var syntheaSeq atomic.Int64

// syntheaRID is a fresh resident ID of someone born on the day.
func syntheaRID(birth string, sex identity.Sex) string {
	b, _ := time.Parse("2006-01-02", birth)
	return identity.MakeResidentID("110108", b, int(syntheaSeq.Add(1)), sex)
}

// patientAccount makes a patient account whose own profile has a real
// name and resident ID (through the store: registration is not what these
// tests are about), with the profiles of children under it, and logs it
// in; it returns the token and the profiles' ids by name.
func (e *env) patientAccount(username, name, rid string, children ...[2]string) (string, map[string]int64) {
	e.t.Helper()
	ctx := context.Background()
	person := func(name, rid string) *identity.Patient {
		r, err := identity.ParseResidentID(rid, testNow())
		if err != nil {
			e.t.Fatal(err)
		}
		return &identity.Patient{Name: name, ResidentID: r.Number, Birth: r.Birth, Sex: r.Sex, CreatedAt: testNow()}
	}
	hash, err := identity.HashPassword("secret-123")
	if err != nil {
		e.t.Fatal(err)
	}
	phone := fmt.Sprintf("1370000%04d", syntheaSeq.Add(1))
	a := &identity.Account{Username: username, PasswordHash: hash, Role: identity.RolePatient, Phone: phone, CreatedAt: testNow()}
	if err := e.db.CreatePatientAccount(ctx, a, person(name, rid)); err != nil {
		e.t.Fatal(err)
	}
	for _, c := range children {
		if err := e.db.AddPatient(ctx, a.ID, person(c[0], c[1]), identity.RelChild); err != nil {
			e.t.Fatal(err)
		}
	}
	l := e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": "secret-123"})
	if l.status != 200 {
		e.t.Fatalf("login: %d %s", l.status, l.raw)
	}
	tok := l.body["token"].(string)
	return tok, e.patientIDs(tok)
}

// importSynthea posts a bundle to pumch's endocrinology history.
func (e *env) importSynthea(admin string, raw []byte) resp {
	e.t.Helper()
	r := e.req("POST", "/api/v1/institutions/pumch/history?department=endocrinology", admin, string(raw), "Content-Type", "application/fhir+json")
	if r.status != 201 {
		e.t.Fatalf("import: %d %s", r.status, r.raw)
	}
	return r
}

// followUp checks and books pumch's endocrinology follow-up for a patient:
// refused naming follow-up-history (S-3: an earlier offline visit with a
// definite diagnosis in the department), or booked.
func (e *env) followUp(token string, patient int64, wantBooked bool, key string) {
	e.t.Helper()
	ok, failed := e.check(token, patient, "pumch-endocrinology-fu", nil)
	b := e.req("POST", "/api/v1/appointments", token, map[string]any{"slot_id": e.slotOf("pumch-endocrinology-fu")["id"], "patient_id": patient,
		"answers": withNo(nil)}, "Idempotency-Key", key)
	if wantBooked {
		if !ok || b.status != 201 {
			e.t.Fatalf("S-3 with linked history: eligible %v (%v), booking %d %s", ok, failed, b.status, b.raw)
		}
		return
	}
	if ok || !sameSet(failed, "follow-up-history") || b.status != 422 || b.errCode() != "ineligible" || !strings.Contains(string(b.raw), "follow-up-history") {
		e.t.Fatalf("S-3 without a prior visit counted: eligible %v %v, booking %d %s", ok, failed, b.status, b.raw)
	}
}

// Synthea's bundles carry no resident ID: their history is kept under the
// institution's MRN, and the report says what was taken (visits under the
// MRN, diagnoses coded in SNOMED CT kept by name and noted as not mapped
// to ICD-10) and what was not used (Observations, Claims, ...). The
// history does not count for a follow-up (S-3, rule follow-up-history)
// until the MRN is linked: here by the institution's link file; then a
// follow-up booking that was refused for want of a prior offline visit is
// booked.
func TestMRNHistoryLinkedByFile(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("pumch-admin")
		r := e.importSynthea(admin, synthea(t, "Clemente_Kreiger"))
		if r.body["imported"] != float64(3) || r.body["failed"] != float64(0) || r.body["under_mrn"] != float64(3) || r.body["mrn_links"] != float64(0) {
			t.Fatalf("%s", r.raw)
		}
		if !strings.Contains(string(r.raw), `"fhir_dx_unmapped","args":["2e0cc97b-c879-4762-bb5c-7127e44d7daa","SNOMED CT","162864005"`) || !strings.Contains(string(r.raw), `"resource_type":"Observation","count":48`) {
			t.Fatalf("the report must say what was taken and what not: %s", r.raw)
		}
		// The report read back says the same.
		g := e.req("GET", fmt.Sprintf("/api/v1/institutions/pumch/history/imports/%.0f", r.body["id"].(float64)), admin, nil)
		if g.body["under_mrn"] != float64(3) || !strings.Contains(string(g.raw), "fhir_dx_unmapped") || !strings.Contains(string(g.raw), "Observation") {
			t.Fatalf("%s", g.raw)
		}
		rid := syntheaRID("1984-07-02", identity.Male)
		tok, ids := e.patientAccount("clemente", "Clemente Kreiger", rid)
		pid := ids["Clemente Kreiger"]
		e.followUp(tok, pid, false, "mrn-file-1")

		// The institution's link file; another institution's admin may not send one.
		links := "mrn,resident_id\n" + strings.ToLower(mrnClemente) + "," + rid + "\nMR-X,12345\n"
		if r := e.req("POST", "/api/v1/institutions/pumch/mrn-links", e.login("bch-admin"), links, "Content-Type", "text/csv"); r.status != 403 {
			t.Fatalf("another institution: %d", r.status)
		}
		if r := e.req("POST", "/api/v1/institutions/pumch/mrn-links", admin, "resident_id\nx\n", "Content-Type", "text/csv"); r.status != 400 || r.errCode() != "bad_file" {
			t.Fatalf("bad header: %d %s", r.status, r.raw)
		}
		r = e.req("POST", "/api/v1/institutions/pumch/mrn-links", admin, links, "Content-Type", "text/csv")
		if r.status != 200 || r.body["linked"] != float64(1) || r.body["failed"] != float64(1) || r.body["total"] != float64(2) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if p := r.body["problems"].([]any)[0].(map[string]any); p["line"] != float64(3) || p["reason"] == "" {
			t.Fatalf("%v", p)
		}
		e.followUp(tok, pid, true, "mrn-file-2")
		// The patient sees the link among their hospital cards.
		c := e.req("GET", "/api/v1/me/hospital-cards", tok, nil)
		if c.status != 200 || len(c.items()) != 1 || c.items()[0].(map[string]any)["mrn"] != mrnClemente || c.items()[0].(map[string]any)["linked_by"] != "file" {
			t.Fatalf("%d %s", c.status, c.raw)
		}
		// Sent again: already linked; to someone else: refused, unchanged.
		r = e.req("POST", "/api/v1/institutions/pumch/mrn-links", admin, "mrn,resident_id\n"+mrnClemente+","+rid+"\n"+mrnClemente+","+syntheaRID("1984-07-02", identity.Male)+"\n",
			"Content-Type", "text/csv")
		if r.body["already"] != float64(1) || r.body["failed"] != float64(1) || !strings.Contains(string(r.raw), "mrn_link_conflict") {
			t.Fatalf("%s", r.raw)
		}
	})
}

// A bundle whose Patient carries a resident ID as well as its MRN links
// them (the first way): the visits imported earlier under the MRN alone
// count from then on.
func TestMRNHistoryLinkedByBundle(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("pumch-admin")
		raw := synthea(t, "Buster_Hoeger")
		if r := e.importSynthea(admin, raw); r.body["imported"] != float64(6) || r.body["under_mrn"] != float64(6) {
			t.Fatalf("%s", r.raw)
		}
		rid := syntheaRID("1988-03-16", identity.Male)
		tok, ids := e.patientAccount("buster", "Buster Hoeger", rid)
		pid := ids["Buster Hoeger"]
		e.followUp(tok, pid, false, "mrn-bundle-1")

		var b map[string]any
		json.Unmarshal(raw, &b)
		for _, en := range b["entry"].([]any) {
			res := en.(map[string]any)["resource"].(map[string]any)
			if res["resourceType"] == "Patient" {
				res["identifier"] = append(res["identifier"].([]any), map[string]any{"system": fhir.ResidentIDSystem, "value": rid})
			}
		}
		withID, _ := json.Marshal(b)
		r := e.importSynthea(admin, withID)
		if r.body["imported"] != float64(0) || r.body["duplicates"] != float64(6) || r.body["under_mrn"] != float64(0) || r.body["mrn_links"] != float64(1) {
			t.Fatalf("%s", r.raw)
		}
		e.followUp(tok, pid, true, "mrn-bundle-2")
		c := e.req("GET", "/api/v1/me/hospital-cards", tok, nil)
		if len(c.items()) != 1 || c.items()[0].(map[string]any)["linked_by"] != "import" || c.items()[0].(map[string]any)["mrn"] != mrnBuster {
			t.Fatalf("%s", c.raw)
		}
	})
}

// A guardian binds a child's hospital card (the third way): the record's
// name and birth date must be the child's; a wrong name, a wrong birth
// date and an unknown number are refused alike (422
// hospital_card_mismatch), nothing linked, and the follow-up still
// refused; the right binding makes it bookable, answers the same when
// sent again, and another patient of the same name and birth cannot take
// the card (409 hospital_card_taken).
func TestMRNHistoryLinkedByCard(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("pumch-admin")
		if r := e.importSynthea(admin, synthea(t, "Enda_Schaefer")); r.body["imported"] != float64(7) || r.body["under_mrn"] != float64(7) {
			t.Fatalf("%s", r.raw)
		}
		tok, kids := e.patientAccount("enda-parent", "Ruth Schaefer", syntheaRID("1990-02-03", identity.Female),
			[2]string{"Enda Schaefer", syntheaRID("2020-04-09", identity.Female)},
			[2]string{"Enda Smith", syntheaRID("2020-04-09", identity.Female)},    // another name
			[2]string{"Schaefer Enda", syntheaRID("2020-04-10", identity.Female)}) // another birth date
		enda, wrongName, wrongBirth := kids["Enda Schaefer"], kids["Enda Smith"], kids["Schaefer Enda"]
		e.followUp(tok, enda, false, "mrn-card-1")
		bindAt := func(token string, patient int64, inst, mrn string) resp {
			return e.req("POST", "/api/v1/me/hospital-cards", token, map[string]any{"patient_id": patient, "institution": inst, "mrn": mrn})
		}
		bind := func(token string, patient int64, mrn string) resp { return bindAt(token, patient, "pumch", mrn) }
		for _, c := range []struct {
			name      string
			patient   int64
			inst, mrn string
		}{{"another name", wrongName, "pumch", mrnEnda}, {"another birth date", wrongBirth, "pumch", mrnEnda}, {"an unknown number", enda, "pumch", "BJ-404"},
			{"the number at another institution", enda, "bch", mrnEnda}} {
			r := bindAt(tok, c.patient, c.inst, c.mrn)
			if r.status != 422 || r.errCode() != "hospital_card_mismatch" || r.errMessage() == "" {
				t.Fatalf("%s: %d %s", c.name, r.status, r.raw)
			}
		}
		if c := e.req("GET", "/api/v1/me/hospital-cards", tok, nil); len(c.items()) != 0 {
			t.Fatalf("a refused binding linked: %s", c.raw)
		}
		e.followUp(tok, enda, false, "mrn-card-2")
		// Someone else's patient, and a field left out.
		other, otherKids := e.patientAccount("not-enda-parent", "Ann Other", syntheaRID("1991-02-03", identity.Female),
			[2]string{"Enda Schaefer", syntheaRID("2020-04-09", identity.Female)}) // the same name and birth, another person
		if r := bind(other, enda, mrnEnda); r.status != 404 {
			t.Fatalf("another account's child: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/me/hospital-cards", tok, map[string]any{"patient_id": enda, "institution": "pumch"}); r.status != 400 || r.fieldCodes()["mrn"] != "required" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r := bind(admin, enda, mrnEnda); r.status != 403 {
			t.Fatalf("staff: %d", r.status)
		}

		r := bind(tok, enda, strings.ToLower(mrnEnda)) // as typed from the card
		if r.status != 200 || r.body["mrn"] != mrnEnda || r.body["linked_by"] != "card" || r.body["patient_id"] != float64(enda) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		e.followUp(tok, enda, true, "mrn-card-3")
		if r := bind(tok, enda, mrnEnda); r.status != 200 || r.body["linked_by"] != "card" {
			t.Fatalf("again: %d %s", r.status, r.raw)
		}
		if r := bind(other, otherKids["Enda Schaefer"], mrnEnda); r.status != 409 || r.errCode() != "hospital_card_taken" {
			t.Fatalf("taken: %d %s", r.status, r.raw)
		}
		// Every attempt is in the audit log, refusals included.
		var bound, refused int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'hospital_card.bind'`).Scan(&bound)
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'hospital_card.refused'`).Scan(&refused)
		if bound != 1 || refused != 5 {
			t.Fatalf("audit: %d bound, %d refused", bound, refused)
		}
	})
}

// postFile posts a form with one file to the form of the last page whose
// action matches action (the action carries the page's token).
func postFile(t *testing.T, e *env, b *browser, action, name string, content []byte) *http.Response {
	t.Helper()
	m := regexp.MustCompile(`action="(` + regexp.QuoteMeta(action) + `\?csrf=[^"]+)"`).FindStringSubmatch(b.last)
	if m == nil {
		t.Fatalf("no form to %s: %s", action, b.last)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	req, _ := http.NewRequest("POST", e.ts.URL+html.UnescapeString(m[1]), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The history page imports a Synthea bundle under the MRN (the progress
// page shows the visits kept under the MRN and the notes), and takes the
// link file, showing what it linked and which rows it did not.
func TestMRNHistoryPages(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("pumch-admin")
		b.get("/admin/institutions/pumch/history")
		if !strings.Contains(b.last, "mrn,name,birth_date") || !strings.Contains(b.last, `id="links-form"`) {
			t.Fatalf("%s", b.last)
		}
		res := postFile(t, e, b, "/admin/institutions/pumch/history", "clemente.json", synthea(t, "Clemente_Kreiger"))
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode != 303 {
			t.Fatalf("%d", res.StatusCode)
		}
		deadline := time.Now().Add(30 * time.Second)
		for b.get(loc); strings.Contains(b.last, `data-status="running"`) && time.Now().Before(deadline); b.get(loc) {
			time.Sleep(20 * time.Millisecond)
		}
		// The department was not given: every encounter is refused, and
		// the page says why, under the MRN or not.
		if !strings.Contains(b.last, `data-status="done"`) || !strings.Contains(b.last, "没有科室") {
			t.Fatalf("%s", b.last)
		}
		r := e.importSynthea(e.login("pumch-admin"), synthea(t, "Clemente_Kreiger"))
		b.get(fmt.Sprintf("/admin/institutions/pumch/history/%.0f", r.body["id"].(float64)))
		if !strings.Contains(b.last, `<dd id="under-mrn">3</dd>`) || !strings.Contains(b.last, "162864005") || !strings.Contains(b.last, "Observation 48") {
			t.Fatalf("%s", b.last)
		}
		b.get("/admin/institutions/pumch/history")
		rid := syntheaRID("1984-07-02", identity.Male)
		res = postFile(t, e, b, "/admin/institutions/pumch/history/mrn-links", "links.csv", []byte("mrn,resident_id\n"+mrnClemente+","+rid+"\nMR-9,1\n"))
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(page), `<dd id="linked">1</dd>`) || !strings.Contains(string(page), `<dd id="links-failed">1</dd>`) ||
			!strings.Contains(string(page), "第 3 行") {
			t.Fatalf("%d %s", res.StatusCode, page)
		}
	})
}
