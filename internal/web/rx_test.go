package web

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/rx"
)

// drugCode finds a catalogue drug by generic name (and a route, and whether
// it has a paediatric range), so tests do not depend on codes.
func drugCode(t *testing.T, generic, route string, paed bool) string {
	t.Helper()
	for _, d := range rx.DefaultCatalogue().All() {
		if d.Generic == generic && (route == "" || d.Route == route) && (!paed || d.PaedMax > 0) && len(d.Ingredients) == 1 {
			return d.Code
		}
	}
	t.Fatalf("no %s (%s, paediatric %v) in the catalogue", generic, route, paed)
	return ""
}

// rxVisit books a 北京儿童医院 skin first visit for a child of liming, fills
// the pre-consultation with answers and lets the doctor start it. It
// returns the visit's path and the doctor's and guardian's tokens.
func (e *env) rxVisit(child string, extra map[string]any) (vpath, doc, lm string) {
	e.t.Helper()
	lm = e.login("liming")
	doc = e.login("bch-dermatology-doctor")
	slot := e.doctorSlot("bch-skin-fv", "bch", doc, nil)
	id := e.bookVisit(lm, e.patientIDs(lm)[child], slot, "rx-"+child+fmt.Sprint(time.Now().UnixNano()))
	vpath = fmt.Sprintf("/api/v1/visits/%.0f", id)
	e.upload(lm, vpath+"/attachments", "p.png", pngBytes(e.t))
	answers := map[string]any{"site": []string{"face"}, "duration_days": 3}
	for k, v := range extra {
		answers[k] = v
	}
	if r := e.req("PUT", vpath+"/pre-consult", lm, map[string]any{"answers": answers}); r.status != 200 {
		e.t.Fatalf("pre-consult %d %s", r.status, r.raw)
	}
	if r := e.req("POST", vpath+"/wait", lm, nil); r.status != 200 {
		e.t.Fatalf("wait %d %s", r.status, r.raw)
	}
	if r := e.req("POST", vpath+"/start", doc, nil); r.status != 200 {
		e.t.Fatalf("start %d %s", r.status, r.raw)
	}
	return vpath, doc, lm
}

// stock puts drugs into an institution's formulary (online unless off).
func (e *env) stock(inst string, online bool, codes ...string) {
	e.t.Helper()
	var items []map[string]any
	for _, c := range codes {
		items = append(items, map[string]any{"drug": c, "price_fen": 1500, "online": online})
	}
	if r := e.req("PUT", "/api/v1/institutions/"+inst+"/formulary", e.login(inst+"-admin"), map[string]any{"items": items}); r.status != 200 {
		e.t.Fatalf("formulary %d %s", r.status, r.raw)
	}
}

func item(drug string, dose float64, unit, freq string, days, qty int) map[string]any {
	return map[string]any{"drug": drug, "dose": dose, "dose_unit": unit, "frequency": freq, "days": days, "quantity": qty}
}

// verdicts maps rule code → passed of a refusal or a prescription.
func verdicts(t *testing.T, r resp) map[string]bool {
	t.Helper()
	var list []any
	if e, ok := r.body["error"].(map[string]any); ok {
		list, _ = e["rules"].([]any)
	} else {
		list, _ = r.body["rules"].([]any)
	}
	out := map[string]bool{}
	for _, v := range list {
		m := v.(map[string]any)
		out[m["code"].(string)] = m["passed"].(bool) || m["confirmed"] == true
		if m["message"] == "" {
			t.Fatalf("a rule without words: %v", m)
		}
	}
	return out
}

func failedRules(t *testing.T, r resp) []string {
	var out []string
	for c, ok := range verdicts(t, r) {
		if !ok {
			out = append(out, c)
		}
	}
	return out
}

// Every shipped safety rule, by its rule id, on both stores: a refusal is
// 422 prescription_refused naming every rule that failed.
func TestPrescriptionSafetyRules(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		amox := drugCode(t, "amoxicillin", "oral", true)
		ibu := drugCode(t, "ibuprofen", "oral", true)
		cetirizine := drugCode(t, "cetirizine", "oral", false)
		var cetirizine2 string
		for _, d := range rx.DefaultCatalogue().All() {
			if d.Code != cetirizine && len(d.Ingredients) == 1 && d.Ingredients[0] == "cetirizine" {
				cetirizine2 = d.Code
			}
		}
		morphine := drugCode(t, "morphine", "", false)
		diazepam := drugCode(t, "diazepam", "", false)
		warfarin := drugCode(t, "warfarin", "oral", false)
		aspirin := drugCode(t, "aspirin", "oral", false)
		e.stock("bch", true, amox, ibu, cetirizine, warfarin, aspirin)
		stocked := map[string]bool{}
		for _, it := range e.req("GET", "/api/v1/institutions/bch/formulary", "", nil).items() {
			stocked[it.(map[string]any)["drug"].(string)] = true
		}
		var unstocked string
		for _, d := range rx.DefaultCatalogue().All() {
			if !stocked[d.Code] && d.Control == rx.NoControl && d.PaedMax == 0 && unstocked == "" {
				unstocked = d.Code
			}
		}
		e.stock("bch", false, diazepam)
		if cetirizine2 != "" {
			e.stock("bch", true, cetirizine2)
		}
		// 李小雨 is 8, declared a penicillin allergy and weighs 25 kg.
		vpath, doc, _ := e.rxVisit("李小雨", map[string]any{"drug_allergies": "青霉素", "weight_kg": 25})
		if r := e.req("PUT", vpath+"/record", doc, map[string]any{"chief_complaint": "面部皮疹", "diagnoses": []map[string]string{{"code": "L20.9"}}}); r.status != 200 {
			t.Fatalf("draft %d %s", r.status, r.raw)
		}
		post := func(body map[string]any) resp {
			if _, ok := body["diagnoses"]; !ok {
				body["diagnoses"] = []string{"L20.9"}
			}
			return e.req("POST", vpath+"/prescriptions", doc, body)
		}
		cases := []struct {
			name   string
			body   map[string]any
			failed []string
		}{
			{"R-2 N-10 a narcotic, stocked for the wards only", map[string]any{"items": []any{item(morphine, 5, "mg", "q6h", 1, 1)}, "weight_kg": 25},
				[]string{"banned-control-class", "online-allowed"}},
			{"W-2 a drug the hospital does not stock", map[string]any{"items": []any{item(unstocked, 1, "", "qd", 5, 1)}, "weight_kg": 25},
				[]string{"formulary"}},
			{"R-2 a psychotropic stocked for the wards only", map[string]any{"items": []any{item(diazepam, 2, "mg", "qd", 1, 1)}, "weight_kg": 25},
				[]string{"banned-control-class", "online-allowed"}},
			{"N-11 allergy to an ingredient declared in the pre-consultation", map[string]any{"items": []any{item(amox, 250, "mg", "tid", 5, 1)}, "weight_kg": 25},
				[]string{"allergy"}},
			{"N-14 8 days normally", map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 8, 1)}, "weight_kg": 25}, []string{"days-supply"}},
			{"N-14 4 days acute", map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 4, 1)}, "supply": "acute", "weight_kg": 25}, []string{"days-supply"}},
			{"N-14 long-term without its reason", map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 30, 2)}, "supply": "long_term", "weight_kg": 25}, []string{"days-supply"}},
			{"V-2 a diagnosis the visit's record does not have", map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 5, 1)}, "diagnoses": []string{"J45.9"}, "weight_kg": 25},
				[]string{"visit-diagnosis"}},
			{"N-13 valid for 4 days", map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 5, 1)}, "valid_days": 4, "weight_kg": 25}, []string{"validity"}},
			{"N-11 a child's weight-based dose without the weight", map[string]any{"items": []any{item(ibu, 200, "mg", "tid", 3, 1)}}, []string{"child-weight"}},
			{"N-11 a child's dose over the range needs confirmation", map[string]any{"items": []any{item(ibu, 600, "mg", "tid", 3, 1)}, "weight_kg": 25}, []string{"paediatric-dose"}},
			{"N-11 interaction needs confirmation", map[string]any{"items": []any{item(warfarin, 1, "mg", "qd", 5, 1), item(aspirin, 50, "mg", "qd", 5, 1)}, "weight_kg": 25},
				[]string{"interaction"}},
		}
		if cetirizine2 != "" {
			cases = append(cases, struct {
				name   string
				body   map[string]any
				failed []string
			}{"N-11 the same ingredient twice", map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 5, 1), item(cetirizine2, 5, "mg", "qd", 5, 1)}, "weight_kg": 25},
				[]string{"duplicate-ingredient"}})
		}
		for _, c := range cases {
			r := post(c.body)
			if r.status != 422 || r.errCode() != "prescription_refused" || !sameSet(setOf(failedRules(t, r)), c.failed...) {
				t.Errorf("%s: %d %v, want %v\n%s", c.name, r.status, failedRules(t, r), c.failed, r.raw)
			}
		}
		if n := e.count("prescriptions"); n != 0 {
			t.Fatalf("refusals stored %d prescriptions", n)
		}
		// English refusals.
		r := e.req("POST", vpath+"/prescriptions", doc, map[string]any{"items": []any{item(morphine, 5, "mg", "q6h", 1, 1)}, "diagnoses": []string{"L20.9"}}, "Accept-Language", "en")
		if !strings.Contains(r.errMessage(), "Narcotic") {
			t.Fatalf("English refusal: %s", r.raw)
		}
		// Bad input: field errors, nothing stored.
		r = post(map[string]any{"items": []any{item("no-such-drug", -1, "mg", "sometimes", 0, 0)}, "diagnoses": []string{"XYZ"}})
		f := r.fieldCodes()
		if r.status != 400 || f["items[0].drug"] != "not_found" || f["diagnoses[0]"] != "icd_unknown" {
			t.Fatalf("bad input %d %s", r.status, r.raw)
		}
		r = post(map[string]any{"items": []any{}, "diagnoses": []string{}})
		if f := r.fieldCodes(); r.status != 400 || f["items"] != "required" || f["diagnoses"] != "required" {
			t.Fatalf("empty %d %s", r.status, r.raw)
		}
		// Confirmed, the dose and the interaction pass and are recorded; a
		// long-term prescription with its reason passes N-14.
		ok := post(map[string]any{"items": []any{item(warfarin, 1, "mg", "qd", 5, 1), item(aspirin, 50, "mg", "qd", 5, 1)}, "weight_kg": 25,
			"confirm": []string{"interaction"}})
		if ok.status != 201 || ok.body["status"] != "pending_review" || ok.body["version"] != float64(1) || ok.body["fhir_status"] != "draft" {
			t.Fatalf("confirmed interaction %d %s", ok.status, ok.raw)
		}
		if c, _ := ok.body["confirmed"].([]any); len(c) != 1 || c[0] != "interaction" {
			t.Fatalf("confirmation not recorded: %s", ok.raw)
		}
		// The pharmacist's queue shows what the rules saw: age, weight, allergies, verdicts.
		q := e.req("GET", "/api/v1/prescriptions?status=pending_review", e.login("bch-pharmacist"), nil).items()
		if len(q) != 1 || q[0].(map[string]any)["allergies"] != "青霉素" || q[0].(map[string]any)["weight_kg"] != float64(25) || len(q[0].(map[string]any)["rules"].([]any)) < 10 {
			t.Fatalf("queue %v", q)
		}
	})
}

func setOf(list []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range list {
		m[x] = true
	}
	return m
}

// N-4, N-9, R-1, N-11..N-13: a 4-year-old's prescription needs the
// under-6 confirmation; only the visit's doctor prescribes; the pharmacist
// of the institution reviews (reject, a new version, approve, each signed);
// the guardian sees it only once approved, with its PDF; verification fails
// on a changed byte or a foreign key.
func TestPrescriptionReviewAndSignatures(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ibu := drugCode(t, "ibuprofen", "oral", true)
		cetirizine := drugCode(t, "cetirizine", "oral", false)
		e.stock("bch", true, ibu, cetirizine)
		vpath, doc, lm := e.rxVisit("李小天", map[string]any{"drug_allergies": "无", "weight_kg": 16})
		body := map[string]any{"items": []any{item(ibu, 150, "mg", "tid", 3, 1), item(cetirizine, 2.5, "mg", "qd", 5, 1)},
			"diagnoses": []string{"L20.9"}, "weight_kg": 16}
		// N-4: under 6.
		r := e.req("POST", vpath+"/prescriptions", doc, body)
		if r.status != 422 || !sameSet(setOf(failedRules(t, r)), "under-6-accompanied") {
			t.Fatalf("under 6: %d %s", r.status, r.raw)
		}
		// The check answers the same without storing (the page's live verdicts).
		if c := e.req("POST", vpath+"/prescriptions/check", doc, body); c.status != 200 || c.body["ok"] != false || c.body["weight_kg_offered"] != float64(16) {
			t.Fatalf("check %d %s", c.status, c.raw)
		}
		// N-9: only the visit's doctor.
		if r := e.req("POST", vpath+"/prescriptions", lm, body); r.status != 403 || r.errCode() != "not_prescriber" {
			t.Fatalf("the guardian prescribes: %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/prescriptions", e.login("bch-doctor"), body); r.status != 404 {
			t.Fatalf("another doctor prescribes: %d %s", r.status, r.raw)
		}
		body["confirm"] = []string{"under-6-accompanied"}
		v1 := e.req("POST", vpath+"/prescriptions", doc, body)
		if v1.status != 201 {
			t.Fatalf("issue %d %s", v1.status, v1.raw)
		}
		id1 := v1.body["id"].(float64)
		rxPath := fmt.Sprintf("/api/v1/prescriptions/%.0f", id1)
		// the guardian does not see it before review.
		if r := e.req("GET", rxPath, lm, nil); r.status != 404 {
			t.Fatalf("the guardian sees a pending prescription: %d", r.status)
		}
		if n := len(e.req("GET", vpath+"/prescriptions", lm, nil).items()); n != 0 {
			t.Fatalf("the guardian lists %d pending prescriptions", n)
		}
		// The queue: bch's pharmacist, not ccmc's.
		ph := e.login("bch-pharmacist")
		q := e.req("GET", "/api/v1/prescriptions?status=pending_review", ph, nil)
		if q.status != 200 || len(q.items()) != 1 || q.items()[0].(map[string]any)["patient_age"] != "4岁6个月" && !strings.HasPrefix(q.items()[0].(map[string]any)["patient_age"].(string), "4岁") {
			t.Fatalf("queue %d %s", q.status, q.raw)
		}
		if n := len(e.req("GET", "/api/v1/prescriptions?status=pending_review", e.login("ccmc-pharmacist"), nil).items()); n != 0 {
			t.Fatalf("another hospital's pharmacist sees %d", n)
		}
		if r := e.req("POST", rxPath+"/review", e.login("ccmc-pharmacist"), map[string]any{"decision": "approve"}); r.status != 404 {
			t.Fatalf("a foreign pharmacist reviews: %d", r.status)
		}
		// Reject: reasons required; the doctor is told; the guardian still sees nothing.
		if r := e.req("POST", rxPath+"/review", ph, map[string]any{"decision": "reject"}); r.status != 400 || r.fieldCodes()["reasons"] != "required" {
			t.Fatalf("reject without reasons %d %s", r.status, r.raw)
		}
		rej := e.req("POST", rxPath+"/review", ph, map[string]any{"decision": "reject", "reasons": []string{"西替利嗪剂量请按体重调整"}})
		if rej.status != 200 || rej.body["status"] != "rejected" || rej.body["fhir_status"] != "cancelled" {
			t.Fatalf("reject %d %s", rej.status, rej.raw)
		}
		if r := e.req("POST", rxPath+"/review", ph, map[string]any{"decision": "approve"}); r.status != 409 || r.errCode() != "prescription_not_pending" {
			t.Fatalf("approve a rejected one %d %s", r.status, r.raw)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", doc, nil).raw), "处方被药师驳回") {
			t.Fatal("the doctor was not told of the rejection")
		}
		// The doctor revises: version 2; revising it again is refused.
		body["revises"] = id1
		body["items"] = []any{item(ibu, 150, "mg", "tid", 3, 1), item(cetirizine, 2.5, "mg", "qd", 5, 1)}
		v2 := e.req("POST", vpath+"/prescriptions", doc, body)
		if v2.status != 201 || v2.body["version"] != float64(2) {
			t.Fatalf("revise %d %s", v2.status, v2.raw)
		}
		if r := e.req("POST", vpath+"/prescriptions", doc, body); r.status != 409 || r.errCode() != "prescription_revises" {
			t.Fatalf("revise an old version %d %s", r.status, r.raw)
		}
		id2 := v2.body["id"].(float64)
		rx2 := fmt.Sprintf("/api/v1/prescriptions/%.0f", id2)
		ap := e.req("POST", rx2+"/review", ph, map[string]any{"decision": "approve", "note": "已核对"})
		if ap.status != 200 || ap.body["status"] != "approved" || ap.body["fhir_status"] != "active" || len(ap.body["signatures"].([]any)) != 2 {
			t.Fatalf("approve %d %s", ap.status, ap.raw)
		}
		// The guardian sees the approved one, is told, and gets the PDF.
		g := e.req("GET", rx2, lm, nil)
		if g.status != 200 || g.body["status"] != "approved" {
			t.Fatalf("guardian %d %s", g.status, g.raw)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", lm, nil).raw), "电子处方已审核通过") {
			t.Fatal("the guardian was not told")
		}
		if n := len(e.req("GET", "/api/v1/prescriptions", lm, nil).items()); n != 1 {
			t.Fatalf("the guardian lists %d prescriptions", n)
		}
		if r := e.req("GET", rx2, e.login("zhangwei"), nil); r.status != 404 {
			t.Fatalf("another patient sees it: %d", r.status)
		}
		pdf := e.req("GET", rx2+"?format=pdf", lm, nil)
		if pdf.status != 200 || !bytes.HasPrefix(pdf.raw, []byte("%PDF")) {
			t.Fatalf("pdf %d %.200s", pdf.status, pdf.raw)
		}
		if _, err := exec.LookPath("pdftotext"); err == nil {
			cmd := exec.Command("pdftotext", "-", "-")
			cmd.Stdin = bytes.NewReader(pdf.raw)
			out, err := cmd.Output()
			if err != nil || !strings.Contains(string(out), "李小天") || !strings.Contains(string(out), "布洛芬") {
				t.Fatalf("pdf text: %v\n%s", err, out)
			}
		}
		// Verification: valid; with the code anyone may check; a changed byte or
		// another key fails.
		vf := e.req("GET", rx2+"/verify", lm, nil)
		if vf.status != 200 || vf.body["valid"] != true || len(vf.body["signatures"].([]any)) != 2 {
			t.Fatalf("verify %d %s", vf.status, vf.raw)
		}
		if r := e.req("GET", rx2+"/verify", "", nil); r.status != 404 {
			t.Fatalf("anonymous verify without the code: %d", r.status)
		}
		code := g.body["verify_code"].(string)
		if r := e.req("GET", rx2+"/verify?code="+code, "", nil); r.status != 200 || r.body["valid"] != true {
			t.Fatalf("verify with the code %d %s", r.status, r.raw)
		}
		var raw string
		e.db.Writer().QueryRow(`SELECT body FROM prescriptions WHERE id = $1`, int64(id2)).Scan(&raw)
		tampered := strings.Replace(raw, `"quantity":1`, `"quantity":9`, 1)
		if tampered == raw {
			t.Fatal("nothing to tamper with")
		}
		e.db.Writer().Exec(`UPDATE prescriptions SET body = $1 WHERE id = $2`, tampered, int64(id2))
		if r := e.req("GET", rx2+"/verify", lm, nil); r.body["valid"] != false {
			t.Fatalf("a changed quantity still verifies: %s", r.raw)
		}
		e.db.Writer().Exec(`UPDATE prescriptions SET body = $1 WHERE id = $2`, raw, int64(id2))
		if r := e.req("GET", rx2+"/verify", lm, nil); r.body["valid"] != true {
			t.Fatalf("restored: %s", r.raw)
		}
		// Another key: the doctor's registered public key replaced.
		var pub string
		e.db.Writer().QueryRow(`SELECT public_key FROM signing_keys WHERE practitioner_id = (SELECT doctor_id FROM prescriptions WHERE id = $1)`, int64(id2)).Scan(&pub)
		var other string
		e.db.Writer().QueryRow(`SELECT public_key FROM signing_keys WHERE public_key <> $1 LIMIT 1`, pub).Scan(&other)
		e.db.Writer().Exec(`UPDATE signing_keys SET public_key = $1 WHERE public_key = $2`, other, pub)
		if r := e.req("GET", rx2+"/verify", lm, nil); r.body["valid"] != false {
			t.Fatalf("a foreign key verifies: %s", r.raw)
		}
		// Every step audited.
		for _, action := range []string{"prescription.issue", "prescription.review", "prescription.read", "prescription.verify"} {
			var n int
			e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = $1`, action).Scan(&n)
			if n == 0 {
				t.Errorf("no audit entry %s", action)
			}
		}
	})
}

// Issues and reviews are written by group commit: concurrent prescriptions
// for one visit each get their own version (a lost race reads, signs and
// tries again), every one verifies, two approvals of one prescription give
// one approval and one prescription_not_pending (N-11), and each issue and
// review commits its own audit entry.
func TestPrescriptionsWrittenTogether(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ibu := drugCode(t, "ibuprofen", "oral", true)
		e.stock("bch", true, ibu)
		vpath, doc, lm := e.rxVisit("李小天", map[string]any{"drug_allergies": "无", "weight_kg": 16})
		body := map[string]any{"items": []any{item(ibu, 150, "mg", "tid", 3, 1)}, "diagnoses": []string{"L20.9"}, "weight_kg": 16,
			"confirm": []string{"under-6-accompanied"}}
		const n = 12
		got := make([]resp, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); got[i] = e.req("POST", vpath+"/prescriptions", doc, body) }()
		}
		wg.Wait()
		versions, ids := map[float64]bool{}, map[float64]bool{}
		for _, r := range got {
			if r.status != 201 {
				t.Fatalf("issue %d %s", r.status, r.raw)
			}
			versions[r.body["version"].(float64)], ids[r.body["id"].(float64)] = true, true
		}
		if len(versions) != n || len(ids) != n || !versions[1] || !versions[n] {
			t.Fatalf("versions %v ids %v", versions, ids)
		}
		ph := e.login("bch-pharmacist")
		var list []float64
		for id := range ids {
			list = append(list, id)
		}
		// The first prescription twice, the others once, all at once.
		list = append(list, list[0])
		reviews := make([]resp, len(list))
		for i, id := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reviews[i] = e.req("POST", fmt.Sprintf("/api/v1/prescriptions/%.0f/review", id), ph, map[string]any{"decision": "approve"})
			}()
		}
		wg.Wait()
		approved, lost := 0, 0
		for _, r := range reviews {
			switch {
			case r.status == 200 && r.body["status"] == "approved":
				approved++
			case r.status == 409 && r.errCode() == "prescription_not_pending":
				lost++
			default:
				t.Fatalf("review %d %s", r.status, r.raw)
			}
		}
		if approved != n || lost != 1 {
			t.Fatalf("%d approved, %d refused", approved, lost)
		}
		for id := range ids {
			if r := e.req("GET", fmt.Sprintf("/api/v1/prescriptions/%.0f/verify", id), lm, nil); r.body["valid"] != true {
				t.Fatalf("prescription %.0f: %s", id, r.raw)
			}
			for _, action := range []string{"prescription.issue", "prescription.review"} {
				var k int
				e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = $1 AND object_id = $2`, action, fmt.Sprintf("%.0f", id)).Scan(&k)
				if k != 1 {
					t.Errorf("prescription %.0f: %d %s entries", id, k, action)
				}
			}
		}
		var details []string
		rows, err := e.db.Writer().Query(`SELECT detail FROM audit_log WHERE action = 'prescription.issue' ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var d string
			rows.Scan(&d)
			details = append(details, d)
		}
		rows.Close()
		if len(details) != n || !strings.HasPrefix(details[0], "v") || !strings.Contains(details[0], "confirmed under-6-accompanied") {
			t.Fatalf("issue entries %q", details)
		}
		if _, prob, err := audit.Verify(context.Background(), e.db); err != nil || prob != nil {
			t.Fatalf("audit chain: %v %v", prob, err)
		}
	})
}

// N-13 and the prescribing window: a prescription not reviewed by the end
// of its last valid day expires (both told); a visit ended more than the
// window ago takes no prescription.
func TestPrescriptionExpiryAndWindow(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		cetirizine := drugCode(t, "cetirizine", "oral", false)
		e.stock("bch", true, cetirizine)
		vpath, doc, lm := e.rxVisit("李小雨", map[string]any{"weight_kg": 25})
		body := map[string]any{"items": []any{item(cetirizine, 5, "mg", "qd", 5, 1)}, "diagnoses": []string{"L20.9"}, "weight_kg": 25}
		p := e.req("POST", vpath+"/prescriptions", doc, body)
		if p.status != 201 {
			t.Fatalf("%d %s", p.status, p.raw)
		}
		until, _ := time.Parse(time.RFC3339, p.body["valid_until"].(string))
		e.clock.Set(until.Add(time.Minute))
		ph := e.login("bch-pharmacist")
		if r := e.req("POST", fmt.Sprintf("/api/v1/prescriptions/%.0f/review", p.body["id"].(float64)), ph, map[string]any{"decision": "approve"}); r.status != 409 || r.errCode() != "prescription_expired" {
			t.Fatalf("approve after validity %d %s", r.status, r.raw)
		}
		if err := e.s.ExpirePrescriptions(t.Context()); err != nil {
			t.Fatal(err)
		}
		doc, lm = e.login("bch-dermatology-doctor"), e.login("liming")
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", doc, nil).raw), "处方已过期") ||
			!strings.Contains(string(e.req("GET", "/api/v1/notifications", lm, nil).raw), "处方已过期") {
			t.Fatal("expiry not told")
		}
		// The window is data: only the institution's admin sets it.
		if r := e.req("PUT", "/api/v1/institutions/bch/prescription-settings", e.login("ccmc-admin"), map[string]any{"prescribe_window_hours": 48}); r.status != 403 {
			t.Fatalf("another hospital sets the window: %d", r.status)
		}
		if r := e.req("PUT", "/api/v1/institutions/bch/prescription-settings", e.login("bch-admin"), map[string]any{"prescribe_window_hours": 1000}); r.status != 400 {
			t.Fatalf("a window of 1000 hours: %d", r.status)
		}
		if r := e.req("GET", "/api/v1/institutions/bch/prescription-settings", e.login("bch-admin"), nil); r.body["prescribe_window_hours"] != float64(24) {
			t.Fatalf("default window %s", r.raw)
		}
		// The window: complete the visit, 25 hours later no prescription.
		if r := e.req("POST", vpath+"/complete", doc, map[string]any{"chief_complaint": "皮疹", "present_illness": "3 天",
			"diagnoses": []map[string]string{{"code": "L20.9"}}, "advice": "保湿"}); r.status != 200 {
			t.Fatalf("complete %d %s", r.status, r.raw)
		}
		if r := e.req("POST", vpath+"/prescriptions", doc, body); r.status != 201 {
			t.Fatalf("within the window %d %s", r.status, r.raw)
		}
		e.clock.Add(25 * time.Hour)
		doc = e.login("bch-dermatology-doctor")
		if r := e.req("POST", vpath+"/prescriptions", doc, body); r.status != 409 || r.errCode() != "prescribe_window" {
			t.Fatalf("after the window %d %s", r.status, r.raw)
		}
	})
}

// N-15: prescribing statistics per doctor for the institution's quality
// staff and the regulator only, every query audited; a patient sees only
// the drug catalogue and formularies.
func TestPrescribingStatsAndCatalogue(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		for user, want := range map[string]int{"bch-quality": 200, "regulator": 200, "bch-admin": 403, "bch-dermatology-doctor": 403,
			"bch-pharmacist": 403, "ccmc-quality": 403, "liming": 403} {
			if r := e.req("GET", "/api/v1/institutions/bch/prescribing-stats", e.login(user), nil); r.status != want {
				t.Errorf("%s: %d, want %d", user, r.status, want)
			}
		}
		var n int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action IN ('prescribing_stats.read', 'prescribing_stats.denied')`).Scan(&n)
		if n != 7 {
			t.Fatalf("%d audit entries for 7 queries", n)
		}
		r := e.req("GET", "/api/v1/drugs?q=xtlq", "", nil)
		if r.status != 200 || len(r.items()) == 0 || !strings.Contains(string(r.raw), "西替利嗪") {
			t.Fatalf("search by pinyin initials %d %s", r.status, r.raw)
		}
		f := e.req("GET", "/api/v1/institutions/bch/formulary", "", nil)
		if f.status != 200 || len(f.items()) < 20 {
			t.Fatalf("formulary %d %d", f.status, len(f.items()))
		}
		if r := e.req("PUT", "/api/v1/institutions/bch/formulary", e.login("ccmc-admin"), map[string]any{"items": []any{}}); r.status != 403 {
			t.Fatalf("another hospital's admin edits the formulary: %d", r.status)
		}
		// 宣武医院's own rule (H-XW) bans high-risk drugs too; the platform's does not.
		rules := e.req("GET", "/api/v1/institutions/xuanwu/prescription-rules", e.login("xuanwu-admin"), nil)
		if !strings.Contains(string(rules.raw), "high_risk") {
			t.Fatalf("xuanwu rules %s", rules.raw)
		}
		if r := e.req("PUT", "/api/v1/institutions/bch/prescription-rules/x", e.login("bch-admin"), map[string]any{"severity": "refuse",
			"message_zh": "x", "message_en": "x", "expr": "drugs.size() +"}); r.status != 400 || r.fieldCodes()["expr"] != "expr_invalid" {
			t.Fatalf("a broken rule %d %s", r.status, r.raw)
		}
	})
}

// The demo's prescriptions: 李小雨's approved, 李小天's rejected, revised and
// approved, each verifying; loading twice adds nothing.
func TestDemoPrescriptions(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		for range 2 {
			if err := e.s.LoadDemoPrescriptions(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.count("prescriptions"); n != 3 {
			t.Fatalf("%d demo prescriptions", n)
		}
		lm := e.login("liming")
		list := e.req("GET", "/api/v1/prescriptions", lm, nil).items()
		if len(list) != 2 {
			t.Fatalf("the guardian sees %d", len(list))
		}
		versions := map[float64]bool{}
		for _, it := range list {
			m := it.(map[string]any)
			versions[m["version"].(float64)] = true
			if m["status"] != "approved" {
				t.Fatalf("demo prescription %v", m["status"])
			}
			if r := e.req("GET", fmt.Sprintf("/api/v1/prescriptions/%.0f/verify", m["id"].(float64)), lm, nil); r.body["valid"] != true {
				t.Fatalf("demo prescription does not verify: %s", r.raw)
			}
		}
		if !versions[1] || !versions[2] {
			t.Fatalf("versions %v", versions)
		}
	})
}
