package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/fhir/r4"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// An institution admin lists the MRNs not linked (with their visits,
// paged) and corrects a wrong link (issue 16): the Synthea bundle's MRN
// linked by the link file to the wrong patient counts for that patient's
// follow-up (S-3) until the admin removes the link, with a reason; from
// that moment it counts no more; linked to the right patient, it counts
// for them. Every change is audited with its reason; a reason left out, a
// resident ID whose birth date the record contradicts, an unknown MRN and
// another institution's admin are refused.
func TestMRNListAndRelink(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("pumch-admin")
		e.importSynthea(admin, synthea(t, "Clemente_Kreiger"))
		e.importSynthea(admin, synthea(t, "Buster_Hoeger"))
		list := e.req("GET", "/api/v1/institutions/pumch/mrns?limit=1", admin, nil)
		if list.status != 200 || list.body["total"] != float64(2) || len(list.items()) != 1 || list.items()[0].(map[string]any)["mrn"] != mrnClemente ||
			list.items()[0].(map[string]any)["visits"] != float64(3) || list.items()[0].(map[string]any)["linked"] != false {
			t.Fatalf("%d %s", list.status, list.raw)
		}
		if p2 := e.req("GET", "/api/v1/institutions/pumch/mrns?limit=1&offset=1", admin, nil); len(p2.items()) != 1 || p2.items()[0].(map[string]any)["mrn"] != mrnBuster ||
			p2.items()[0].(map[string]any)["visits"] != float64(6) {
			t.Fatalf("%s", p2.raw)
		}
		if r := e.req("GET", "/api/v1/institutions/pumch/mrns?limit=0", admin, nil); r.status != 400 || r.fieldCodes()["limit"] != "invalid" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/institutions/pumch/mrns", e.login("bch-admin"), nil); r.status != 403 {
			t.Fatalf("another institution: %d", r.status)
		}

		// The link file links Clemente's MRN to the wrong man, born the same day.
		wrong, right := syntheaRID("1984-07-02", identity.Male), syntheaRID("1984-07-02", identity.Male)
		wtok, wids := e.patientAccount("not-clemente", "Wang Wrong", wrong)
		rtok, rids := e.patientAccount("clemente-2", "Clemente Kreiger", right)
		if r := e.req("POST", "/api/v1/institutions/pumch/mrn-links", admin, "mrn,resident_id\n"+mrnClemente+","+wrong+"\n", "Content-Type", "text/csv"); r.body["linked"] != float64(1) {
			t.Fatalf("%s", r.raw)
		}
		counts := func(tok string, pid int64) bool {
			ok, failed := e.check(tok, pid, "pumch-endocrinology-fu", nil)
			if !ok && !sameSet(failed, "follow-up-history") {
				t.Fatalf("refused by %v", failed)
			}
			return ok
		}
		if !counts(wtok, wids["Wang Wrong"]) || counts(rtok, rids["Clemente Kreiger"]) {
			t.Fatal("S-3: the linked history must count for the linked patient only")
		}
		if l := e.req("GET", "/api/v1/institutions/pumch/mrns?linked=true", admin, nil); len(l.items()) != 1 ||
			l.items()[0].(map[string]any)["resident_id"] != identity.MaskResidentID(wrong) || l.items()[0].(map[string]any)["linked_by"] != "file" {
			t.Fatalf("%s", l.raw)
		}

		path := "/api/v1/institutions/pumch/mrns/" + strings.ToLower(mrnClemente) + "/link"
		for _, c := range []struct {
			name  string
			in    map[string]any
			field string
			code  string
		}{{"no reason", map[string]any{"resident_id": "", "reason": " "}, "reason", "required"},
			{"another birth date", map[string]any{"resident_id": syntheaRID("1984-07-03", identity.Male), "reason": "错号"}, "resident_id", "birth_mismatch"},
			{"not a resident ID", map[string]any{"resident_id": "12345", "reason": "错号"}, "resident_id", "resident_id_length"}} {
			r := e.req("PUT", path, admin, c.in)
			if r.status != 400 || r.fieldCodes()[c.field] != c.code {
				t.Fatalf("%s: %d %s", c.name, r.status, r.raw)
			}
		}
		if r := e.req("PUT", "/api/v1/institutions/pumch/mrns/NO-SUCH/link", admin, map[string]any{"resident_id": "", "reason": "x"}); r.status != 404 {
			t.Fatalf("unknown: %d", r.status)
		}
		if r := e.req("PUT", path, e.login("bch-admin"), map[string]any{"resident_id": "", "reason": "x"}); r.status != 403 {
			t.Fatalf("another institution: %d", r.status)
		}
		if !counts(wtok, wids["Wang Wrong"]) {
			t.Fatal("a refused correction changed the link")
		}

		// Unlinked: the history stops counting for the wrong patient at once.
		r := e.req("PUT", path, admin, map[string]any{"resident_id": "", "reason": "关联文件填错了人"})
		if r.status != 200 || r.body["linked"] != false || r.body["mrn"] != mrnClemente {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if counts(wtok, wids["Wang Wrong"]) {
			t.Fatal("S-3: the unlinked history still counts for the wrong patient")
		}
		if c := e.req("GET", "/api/v1/me/hospital-cards", wtok, nil); len(c.items()) != 0 {
			t.Fatalf("%s", c.raw)
		}
		if l := e.req("GET", "/api/v1/institutions/pumch/mrns", admin, nil); l.body["total"] != float64(2) {
			t.Fatalf("unlinked again: %s", l.raw)
		}
		// Corrected to the right patient: it counts for them.
		r = e.req("PUT", path, admin, map[string]any{"resident_id": right, "reason": "患者持身份证到窗口核对"})
		if r.status != 200 || r.body["linked"] != true || r.body["linked_by"] != "admin" || r.body["resident_id"] != identity.MaskResidentID(right) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if !counts(rtok, rids["Clemente Kreiger"]) || counts(wtok, wids["Wang Wrong"]) {
			t.Fatal("S-3: the corrected link must count for the right patient only")
		}
		if c := e.req("GET", "/api/v1/me/hospital-cards", rtok, nil); len(c.items()) != 1 || c.items()[0].(map[string]any)["linked_by"] != "admin" {
			t.Fatalf("%s", c.raw)
		}
		// Both changes audited, with their reasons and the masked IDs.
		var details []string
		rows, err := e.db.Writer().Query(`SELECT action || ' ' || detail FROM audit_log WHERE object_type = 'mrn' ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var d string
			rows.Scan(&d)
			details = append(details, d)
		}
		rows.Close()
		want := []string{"mrn.unlink " + identity.MaskResidentID(wrong) + " → -; reason: 关联文件填错了人",
			"mrn.relink - → " + identity.MaskResidentID(right) + "; reason: 患者持身份证到窗口核对"}
		if fmt.Sprint(details) != fmt.Sprint(want) {
			t.Fatalf("audit: %q", details)
		}
	})
}

// The demo has MRN data (issue 16): 李小雨's bch MRN is linked and shown
// as an identifier of type MR in her FHIR Patient, in bch's system; 李小天's
// is not linked, has none, and is listed among bch's MRNs not linked with
// its two visits.
func TestMRNDemoAndFHIRIdentifier(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		ids := e.patientIDs(lm)
		mrnsOf := func(id int64) []string {
			p := e.fhir("GET", fmt.Sprintf("/fhir/R4/Patient/%d", id), lm, nil)
			var out []string
			for _, x := range p.body["identifier"].([]any) {
				idf := x.(map[string]any)
				if ty, ok := idf["type"].(map[string]any); ok && ty["coding"].([]any)[0].(map[string]any)["code"] == "MR" {
					out = append(out, idf["system"].(string)+"|"+idf["value"].(string)+"|"+idf["assigner"].(map[string]any)["reference"].(string))
				}
			}
			return out
		}
		if got := mrnsOf(ids["李小雨"]); fmt.Sprint(got) != fmt.Sprint([]string{r4.MRNSystem("bch") + "|BCH-DEMO-0001|Organization/bch"}) {
			t.Fatalf("李小雨: %v", got)
		}
		if got := mrnsOf(ids["李小天"]); len(got) != 0 {
			t.Fatalf("李小天: %v", got)
		}
		// Searching finds the same.
		s := e.fhir("GET", "/fhir/R4/Patient?name=李小雨", lm, nil)
		if !strings.Contains(string(s.raw), `"value":"BCH-DEMO-0001"`) {
			t.Fatalf("%s", s.raw)
		}
		l := e.req("GET", "/api/v1/institutions/bch/mrns", e.login("bch-admin"), nil)
		if l.status != 200 || len(l.items()) != 1 || l.items()[0].(map[string]any)["mrn"] != "BCH-DEMO-0002" || l.items()[0].(map[string]any)["visits"] != float64(2) ||
			l.items()[0].(map[string]any)["name"] != "李小天" {
			t.Fatalf("%d %s", l.status, l.raw)
		}
	})
}

// 我的就诊卡: the page lists the family's cards, is linked from 我的, and
// binds one with its form: a wrong number shows the refusal above the
// form, a field left out under its field, and the right one is listed.
// The history page lists the MRNs not linked and corrects a link, its
// errors shown on the form.
func TestMRNPages(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("liming")
		b.get("/me")
		if !strings.Contains(b.last, `href="/me/hospital-cards"`) {
			t.Fatal("no link from 我的")
		}
		b.get("/me/hospital-cards")
		if !strings.Contains(b.last, `data-mrn="BCH-DEMO-0001"`) || strings.Contains(b.last, `data-mrn="BCH-DEMO-0002"`) {
			t.Fatalf("%s", b.last)
		}
		csrf := csrfField.FindStringSubmatch(b.last)[1]
		kid := fmt.Sprint(e.patientIDs(e.login("liming"))["李小天"])
		res := b.post("/me/hospital-cards", map[string]string{"csrf": csrf, "patient_id": kid, "institution": "bch", "mrn": "BCH-DEMO-9999"})
		if res.StatusCode != 422 || !strings.Contains(b.last, `id="form-error"`) || !strings.Contains(b.last, "未能绑定") || !strings.Contains(b.last, `value="BCH-DEMO-9999"`) {
			t.Fatalf("%d %s", res.StatusCode, b.last)
		}
		res = b.post("/me/hospital-cards", map[string]string{"csrf": csrf, "patient_id": kid, "institution": "bch", "mrn": ""})
		if res.StatusCode != 400 || !strings.Contains(b.last, `data-field="mrn"`) {
			t.Fatalf("%d %s", res.StatusCode, b.last)
		}
		res = b.post("/me/hospital-cards", map[string]string{"csrf": csrf, "patient_id": kid, "institution": "bch", "mrn": "bch-demo-0002"})
		if res.StatusCode != 303 || res.Header.Get("Location") != "/me/hospital-cards?ok=hospital_card_bound" {
			t.Fatalf("%d %s", res.StatusCode, b.last)
		}
		b.get("/me/hospital-cards?ok=hospital_card_bound")
		if !strings.Contains(b.last, `data-mrn="BCH-DEMO-0002"`) || !strings.Contains(b.last, "就诊卡已绑定") {
			t.Fatalf("%s", b.last)
		}

		a := newBrowser(t, e)
		a.login("bch-admin")
		a.get("/admin/institutions/bch/history")
		if !strings.Contains(a.last, `id="mrns-total"`) || !strings.Contains(a.last, `id="relink-form"`) || strings.Contains(a.last, `data-mrn="BCH-DEMO-0002"`) {
			t.Fatalf("%s", a.last)
		}
		csrf = csrfField.FindStringSubmatch(a.last)[1]
		res = a.post("/admin/institutions/bch/history/mrn-link", map[string]string{"csrf": csrf, "mrn": "BCH-DEMO-0002", "resident_id": "", "reason": ""})
		if res.StatusCode != 400 || !strings.Contains(a.last, `data-field="reason"`) {
			t.Fatalf("%d %s", res.StatusCode, a.last)
		}
		res = a.post("/admin/institutions/bch/history/mrn-link", map[string]string{"csrf": csrf, "mrn": "NOPE", "reason": "x"})
		if res.StatusCode != 400 || !strings.Contains(a.last, `data-field="mrn"`) {
			t.Fatalf("%d %s", res.StatusCode, a.last)
		}
		res = a.post("/admin/institutions/bch/history/mrn-link", map[string]string{"csrf": csrf, "mrn": "BCH-DEMO-0002", "resident_id": "", "reason": "家长绑错了孩子"})
		if res.StatusCode != 303 || !strings.Contains(res.Header.Get("Location"), "ok=mrn_unlinked") {
			t.Fatalf("%d %s", res.StatusCode, a.last)
		}
		a.get("/admin/institutions/bch/history?ok=mrn_unlinked")
		if !strings.Contains(a.last, `data-mrn="BCH-DEMO-0002"`) || !strings.Contains(a.last, "病案号关联已解除") {
			t.Fatalf("%s", a.last)
		}
	})
}
