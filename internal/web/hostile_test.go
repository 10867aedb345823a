package web

// Issue 15, "Hostile input and least privilege": rules that burn a core,
// a masked ID that rebuilds, a lockout anyone can trigger, edits that clear
// or ignore fields, NUL characters in forms. Each on SQLite and PostgreSQL.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// nestedAll is the rule of the issue: nine nested .all() over ten-element
// lists around inner, 10^9 steps.
func nestedAll(inner string) string {
	e := inner
	for i := 0; i < 9; i++ {
		e = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(x" + string(rune('a'+i)) + ", " + e + ")"
	}
	return e
}

// A rule too costly to evaluate is refused at save, for each kind of rule
// that is data, with a field error in Chinese or English.
func TestHostileRulesRefusedAtSave(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		costly := func(r resp, field string) {
			t.Helper()
			e, _ := r.body["error"].(map[string]any)
			fs, _ := e["fields"].([]any)
			if r.status != 400 || r.fieldCodes()[field] != "rule_too_costly" || len(fs) != 1 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if m := fs[0].(map[string]any)["message"].(string); !strings.Contains(m, "计算量") && !strings.Contains(m, "cost too much") {
				t.Fatalf("message %q", m)
			}
		}
		xw := e.login("xuanwu-admin")
		booking := map[string]any{"code": "xw-hostile", "message_zh": "x", "message_en": "x", "expr": nestedAll("age >= 0")}
		costly(e.req("POST", "/api/v1/institutions/xuanwu/rules", xw, booking), "expr")
		en := e.req("POST", "/api/v1/institutions/xuanwu/rules", xw, booking, "Accept-Language", "en")
		costly(en, "expr")
		bch := e.login("bch-admin")
		costly(e.req("PUT", "/api/v1/institutions/bch/prescription-rules/bch-hostile", bch, map[string]any{"severity": "refuse",
			"message_zh": "x", "message_en": "x", "expr": nestedAll("drugs.size() >= 0")}), "expr")
		q := map[string]any{"title": "x", "fields": []map[string]any{{"key": "fever", "label": "发热", "type": "yesno"}},
			"red_flags": []map[string]any{{"code": "hostile", "when": nestedAll("has(a.fever)"), "message": "x"}}}
		costly(e.req("PUT", "/api/v1/questionnaires/hostile", e.login("admin"), q), "red_flags[0].when")
		// The ordinary ones still save.
		booking["expr"] = "age >= 0"
		if r := e.req("POST", "/api/v1/institutions/xuanwu/rules", xw, booking); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

// A costly rule stored before the estimate existed fails closed at
// booking time, naming itself, and quickly.
func TestStoredCostlyRuleFailsClosed(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		r := &policy.Rule{Institution: "xuanwu", Code: "xw-hostile", MessageZH: "x", MessageEN: "x", Expr: nestedAll("age >= 0"), Position: 99, Active: true}
		if err := e.db.SaveRule(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		e.s.invalidateBooking()
		lm := e.login("liming")
		start := time.Now()
		res := e.req("POST", "/api/v1/eligibility/check", lm, map[string]any{"patient_id": e.patientIDs(lm)["李小雨"], "service": "xuanwu-neurology-fu",
			"answers": screened()}, "Accept-Language", "en")
		if res.status != 200 || res.body["eligible"] != false {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		found := false
		for _, v := range res.body["rules"].([]any) {
			m := v.(map[string]any)
			if m["code"] == "xw-hostile" {
				found = m["passed"] == false && strings.Contains(m["message"].(string), "xw-hostile") && strings.Contains(m["message"].(string), "cost limit")
			}
		}
		if !found {
			t.Fatalf("the costly rule does not fail closed by name: %s", res.raw)
		}
		if d := time.Since(start); d > time.Minute {
			t.Fatalf("took %s", d)
		}
	})
}

// N-19: no answer that shows a patient's masked resident ID, birth date and
// sex (API and page) holds the ID or the parts of it that, with the birth
// date, rebuild it (identity.TestMaskedIDCannotBeRebuilt counts the IDs
// that still fit).
func TestMaskedResidentIDCannotBeRebuilt(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		rid, child := newRID(35), newRID(5)
		reg := e.req("POST", "/api/v1/auth/register", "", e.withCode(map[string]string{"username": "maskcheck", "password": "secret-123",
			"name": "掩码测试", "resident_id": rid, "phone": newPhone()}))
		if reg.status != 201 {
			t.Fatalf("%d %s", reg.status, reg.raw)
		}
		tok := e.login2("maskcheck", "secret-123")
		add := e.req("POST", "/api/v1/patients", tok, map[string]string{"name": "掩码小孩", "resident_id": child, "relation": "child"})
		if add.status != 201 {
			t.Fatalf("%d %s", add.status, add.raw)
		}
		self := int64(reg.body["patient"].(map[string]any)["id"].(float64))
		b := newBrowser(t, e)
		b.loginAs("maskcheck", "secret-123")
		b.get("/me")
		answers := map[string]string{
			"register": string(reg.raw), "add child": string(add.raw),
			"list":    string(e.req("GET", "/api/v1/patients", tok, nil).raw),
			"one":     string(e.req("GET", "/api/v1/patients/"+strconv.FormatInt(self, 10), tok, nil).raw),
			"me page": b.last,
		}
		for name, body := range answers {
			for _, id := range []string{rid, child} {
				if strings.Contains(body, id[:6]) || strings.Contains(body, id[6:14]) || strings.Contains(body, id[14:]) {
					t.Errorf("%s shows a rebuildable part of %s: %s", name, id, body)
				}
			}
		}
		if !strings.Contains(answers["list"], identity.MaskResidentID(rid)) || !strings.Contains(answers["list"], `"birth_date"`) ||
			!strings.Contains(answers["me page"], identity.MaskResidentID(child)) {
			t.Fatalf("the masked IDs are not shown: %s", answers["list"])
		}
	})
}

// login2 logs in with a password.
func (e *env) login2(username, password string) string {
	e.t.Helper()
	r := e.req("POST", "/api/v1/auth/login", "", e.withTOTP(map[string]string{"username": username, "password": password}))
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", username, r.status, r.raw)
	}
	return r.body["token"].(string)
}

// loginFrom posts a login from a client address.
func (e *env) loginFrom(addr, username, password string) resp {
	e.t.Helper()
	body, _ := json.Marshal(e.withTOTP(map[string]string{"username": username, "password": password}))
	req := httptest.NewRequest("POST", "/api/v1/auth/login", bytes.NewReader(body))
	req.RemoteAddr = net.JoinHostPort(addr, "40000")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.s.ServeHTTP(rec, req)
	out := resp{status: rec.Code, raw: rec.Body.Bytes(), header: rec.Header()}
	json.Unmarshal(out.raw, &out.body)
	return out
}

// Five wrong passwords lock nothing: guessing is slowed down per address
// and account (429 with Retry-After), the owner logs in from another
// address meanwhile, and an unknown username answers as a wrong password.
func TestLoginThrottleInsteadOfLock(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, nil) // the default limits
		now := time.Now()
		e.s.limits.logins.now = func() time.Time { return now }
		const doctor = "bch-dermatology-doctor"

		// Unknown and wrong alike.
		wrong := e.loginFrom("192.0.2.1", doctor, "wrong-pass1")
		unknown := e.loginFrom("192.0.2.2", "no-such-user", "wrong-pass1")
		if wrong.status != 401 || unknown.status != 401 || wrong.errCode() != "bad_credentials" || unknown.errCode() != wrong.errCode() ||
			unknown.errMessage() != wrong.errMessage() {
			t.Fatalf("wrong %d %s, unknown %d %s", wrong.status, wrong.raw, unknown.status, unknown.raw)
		}

		// One address hammers the doctor's account: after a few failures
		// it waits, even with the right password...
		hammer := func(addr, user string) resp {
			t.Helper()
			for i := 1; i <= 5; i++ {
				if r := e.loginFrom(addr, user, "wrong-pass1"); r.status != 401 {
					t.Fatalf("%s attempt %d: %d %s", user, i, r.status, r.raw)
				}
			}
			r := e.loginFrom(addr, user, "wrong-pass1")
			secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
			if r.status != 429 || r.errCode() != "rate_limited" || secs < 1 || secs > 60 {
				t.Fatalf("%s attempt 6: %d %s (Retry-After %q)", user, r.status, r.raw, r.header.Get("Retry-After"))
			}
			return r
		}
		limited := hammer("198.51.100.7", doctor)
		if r := e.loginFrom("198.51.100.7", doctor, demo.Password); r.status != 429 {
			t.Fatalf("the hammering address: %d %s", r.status, r.raw)
		}
		// ... while the doctor logs in from the clinic.
		if r := e.loginFrom("203.0.113.20", doctor, demo.Password); r.status != 200 {
			t.Fatalf("the owner from another address: %d %s", r.status, r.raw)
		}
		// An unknown username is throttled exactly the same (423 told
		// who exists; nothing does now).
		if u := hammer("198.51.100.8", "no-such-user"); u.errMessage() != limited.errMessage() {
			t.Fatalf("%s vs %s", u.raw, limited.raw)
		}
		// After Retry-After the address may try again.
		secs, _ := strconv.Atoi(limited.header.Get("Retry-After"))
		now = now.Add(time.Duration(secs) * time.Second)
		if r := e.loginFrom("198.51.100.7", doctor, demo.Password); r.status != 200 {
			t.Fatalf("after Retry-After: %d %s", r.status, r.raw)
		}

		// Many addresses, one failure each, empty the account's bucket:
		// then an address that has failed on it waits, and a new one with
		// the right password still logs in.
		for i := 1; i <= 30; i++ {
			if r := e.loginFrom(fmt.Sprintf("198.51.100.%d", 100+i), doctor, "wrong-pass1"); r.status != 401 {
				t.Fatalf("address %d: %d %s", i, r.status, r.raw)
			}
		}
		if r := e.loginFrom("198.51.100.101", doctor, "wrong-pass1"); r.status != 429 || r.header.Get("Retry-After") == "" {
			t.Fatalf("a failing address on a hammered account: %d %s", r.status, r.raw)
		}
		if r := e.loginFrom("203.0.113.21", doctor, demo.Password); r.status != 200 {
			t.Fatalf("the owner during a distributed attack: %d %s", r.status, r.raw)
		}
		// An IPv6 client is one /64: another address of it shares its wait.
		for i := 1; i <= 10; i++ {
			e.loginFrom(fmt.Sprintf("2001:db8:1:2::%x", i), fmt.Sprintf("nobody%d", i), "x")
		}
		if r := e.loginFrom("2001:db8:1:2::ff", "nobody-else", "x"); r.status != 429 {
			t.Fatalf("another address of the same /64: %d %s", r.status, r.raw)
		}
	})
}

// PUT replaces every field the caller may change and refuses one left out;
// PATCH (RFC 7396) changes what it names; a field the caller's role may not
// change is refused by name (N-19), never ignored.
func TestInstitutionPutAndPatch(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("bch-admin")
		doc := e.req("GET", "/api/v1/institutions/bch", "", nil).body
		for _, k := range []string{"name", "name_en", "alias", "online_since", "channel", "insurance", "delivery", "delivery_area",
			"status", "approved_on", "status_note", "first_visit_pilot", "departments"} {
			if _, ok := doc[k]; !ok {
				t.Fatalf("GET lacks %s: %v", k, doc)
			}
		}
		nameEN := doc["name_en"]
		if nameEN == "" {
			t.Fatal("the demo's bch has an English name")
		}
		// PUT without name_en: refused, nothing cleared.
		r := e.req("PUT", "/api/v1/institutions/bch", admin, map[string]any{"name": "北京儿童医院"})
		if fc := r.fieldCodes(); r.status != 400 || fc["name_en"] != "put_missing" || fc["channel"] != "put_missing" || fc["name"] != "" ||
			!strings.Contains(r.errMessage()+fmt.Sprint(r.body), "PATCH") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if got := e.req("GET", "/api/v1/institutions/bch", "", nil).body["name_en"]; got != nameEN {
			t.Fatalf("name_en %v", got)
		}
		// What GET answered goes back with one change.
		doc["channel"] = "北京儿童医院 App"
		if r := e.req("PUT", "/api/v1/institutions/bch", admin, doc); r.status != 200 || r.body["channel"] != "北京儿童医院 App" || r.body["name_en"] != nameEN {
			t.Fatalf("round trip: %d %s", r.status, r.raw)
		}
		// The admin may not change the pilot designation (G-2) nor the
		// qualification (S-1): refused by name, zh and en.
		doc["first_visit_pilot"] = false
		doc["status"] = "suspended"
		r = e.req("PUT", "/api/v1/institutions/bch", admin, doc, "Accept-Language", "en")
		if fc := r.fieldCodes(); r.status != 403 || fc["first_visit_pilot"] != "field_not_allowed" || fc["status"] != "field_not_allowed" ||
			!strings.Contains(string(r.raw), "Your role may not change this field") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// PATCH: merge patch, null clears; the rest stays.
		patch := func(token string, body any, ct string) resp {
			return e.req("PATCH", "/api/v1/institutions/bch", token, body, "Content-Type", ct)
		}
		r = patch(admin, map[string]any{"alias": "北京儿童医院总院", "delivery_area": nil}, "application/merge-patch+json")
		if r.status != 200 || r.body["alias"] != "北京儿童医院总院" || r.body["delivery_area"] != "" || r.body["name_en"] != nameEN ||
			r.body["channel"] != "北京儿童医院 App" || r.body["first_visit_pilot"] != true {
			t.Fatalf("patch: %d %s", r.status, r.raw)
		}
		if r := patch(admin, map[string]any{"insurance": false}, "application/json"); r.status != 200 || r.body["insurance"] != false {
			t.Fatalf("patch as application/json: %d %s", r.status, r.raw)
		}
		for _, c := range []struct {
			body   any
			ct     string
			status int
			field  string
			code   string
		}{
			{map[string]any{"first_visit_pilot": false}, "application/merge-patch+json", 403, "first_visit_pilot", "field_not_allowed"},
			{map[string]any{"status": nil}, "application/merge-patch+json", 403, "status", "field_not_allowed"},
			{map[string]any{"code": "bch2"}, "application/merge-patch+json", 403, "code", "code_immutable"},
			{map[string]any{"departments": []any{}}, "application/merge-patch+json", 403, "departments", "read_only"},
			{map[string]any{"bogus": 1}, "application/merge-patch+json", 400, "bogus", "unknown_field"},
			{map[string]any{"insurance": "yes"}, "application/merge-patch+json", 400, "insurance", "type_bool"},
			{map[string]any{"name": ""}, "application/merge-patch+json", 400, "name", "required"},
			{[]any{map[string]any{"op": "replace"}}, "application/json-patch+json", 415, "", ""},
		} {
			r := patch(admin, c.body, c.ct)
			if r.status != c.status || (c.field != "" && r.fieldCodes()[c.field] != c.code) {
				t.Errorf("%v: %d %s", c.body, r.status, r.raw)
			}
		}
		// Another institution's admin, a patient: forbidden outright.
		if r := e.req("PATCH", "/api/v1/institutions/bch", e.login("ccmc-admin"), map[string]any{"alias": "x"}); r.status != 403 {
			t.Fatalf("%d", r.status)
		}
		// The regulator writes its note here; it designates pilots and
		// qualifies through their own resources (G-1, G-2), named when
		// refused.
		reg := e.login("regulator")
		r = e.req("PATCH", "/api/v1/institutions/changgung", reg, map[string]any{"first_visit_pilot": true, "status": "approved", "status_note": "试点评估中"})
		if fc := r.fieldCodes(); r.status != 403 || fc["first_visit_pilot"] != "pilot_resource" || fc["status"] != "qualification_resource" {
			t.Fatalf("regulator: %d %s", r.status, r.raw)
		}
		r = e.req("PATCH", "/api/v1/institutions/changgung", reg, map[string]any{"status_note": "试点评估中"})
		if r.status != 200 || r.body["first_visit_pilot"] != false || r.body["status"] != "pending" || r.body["status_note"] != "试点评估中" {
			t.Fatalf("regulator: %d %s", r.status, r.raw)
		}
		// The regulator's PUT carries the regulator's fields too.
		r = e.req("PUT", "/api/v1/institutions/changgung", reg, map[string]any{"name": "北京清华长庚医院", "name_en": "", "alias": "", "online_since": "",
			"channel": "", "insurance": false, "delivery": "", "delivery_area": ""})
		if fc := r.fieldCodes(); r.status != 400 || fc["status_note"] != "put_missing" || fc["status"] != "" {
			t.Fatalf("regulator PUT: %d %s", r.status, r.raw)
		}
	})
}

// A NUL character in any form field is refused, naming the field, on the
// page as in the API (JSON bodies and chat already refused it).
func TestFormsRefuseNUL(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.get("/login")
		res := b.post("/login", map[string]string{"username": "zhang\x00wei", "password": "x", "csrf": b.csrf()})
		if res.StatusCode != 400 || !strings.Contains(b.last, `data-field="username"`) || !strings.Contains(b.last, "NUL") {
			t.Fatalf("login form: %d %s", res.StatusCode, b.last)
		}
		b.login("liming")
		before := e.count("patients")
		res = b.post("/me/children", map[string]string{"name": "小\x00明", "resident_id": newRID(4), "csrf": b.sessionCSRF()})
		if res.StatusCode != 400 || !strings.Contains(b.last, `data-field="name"`) {
			t.Fatalf("child form: %d %s", res.StatusCode, b.last)
		}
		if e.count("patients") != before {
			t.Fatal("a refused form changed the data")
		}
		// A field's name, and a query string.
		res = b.postValues("/me/children", url.Values{"na\x00me": {"x"}, "csrf": {b.sessionCSRF()}})
		if res.StatusCode != 400 || !strings.Contains(b.last, `data-field="na\u0000me"`) {
			t.Fatalf("field name: %d %s", res.StatusCode, b.last)
		}
		if r := e.req("GET", "/api/v1/drugs?q=%00", "", nil); r.status != 400 || r.fieldCodes()["q"] != "nul_character" {
			t.Fatalf("query: %d %s", r.status, r.raw)
		}
		// A multipart form's text fields (the history import).
		a := newBrowser(t, e)
		a.login("bch-admin")
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("department", "derma\x00tology")
		fw, _ := mw.CreateFormFile("file", "h.csv")
		fw.Write([]byte("resident_id,department,visit_date,diagnosis_code,diagnosis_name,definite\n"))
		mw.Close()
		req, _ := http.NewRequest("POST", e.ts.URL+"/admin/institutions/bch/history?csrf="+url.QueryEscape(a.sessionCSRF()), &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		hres, err := a.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page := new(bytes.Buffer)
		page.ReadFrom(hres.Body)
		hres.Body.Close()
		if hres.StatusCode != 400 || !strings.Contains(page.String(), "NUL") {
			t.Fatalf("history form: %d %s", hres.StatusCode, page)
		}
	})
}
