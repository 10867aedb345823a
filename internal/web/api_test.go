package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	visitpkg "github.com/yunyi-health/yunyi/internal/visit"
)

func TestHealthAndReady(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		if r := e.req("GET", "/healthz", "", nil); r.status != 200 {
			t.Fatal(r.status)
		}
		if r := e.req("GET", "/readyz", "", nil); r.status != 200 || r.body["status"] != "ready" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestRegisterAndLogin(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		id := newRID(35)
		body := map[string]string{"username": "zhaoliu", "password": "secret-123", "name": "赵六", "resident_id": id, "phone": newPhone()}
		r := e.req("POST", "/api/v1/auth/register", "", e.withCode(body))
		if r.status != 201 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		p := r.body["patient"].(map[string]any)
		if p["sex"] != "female" || p["age"] != float64(35) || strings.Contains(p["resident_id"].(string), id[6:14]) {
			t.Fatalf("patient %v (resident ID must be masked)", p)
		}
		// Wrong password: 401, and the message is Chinese unless English is asked for.
		r = e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": "zhaoliu", "password": "wrong-123"})
		if r.status != 401 || r.errCode() != "bad_credentials" || r.errMessage() != "用户名或密码错误" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		r = e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": "zhaoliu", "password": "wrong-123"}, "Accept-Language", "en")
		if r.errMessage() != "Wrong username or password" {
			t.Fatalf("english: %s", r.raw)
		}
		r = e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": "nobody", "password": "wrong-123"})
		if r.status != 401 || r.errCode() != "bad_credentials" {
			t.Fatalf("unknown user: %d %s", r.status, r.raw)
		}
		r = e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": "zhaoliu", "password": "secret-123"})
		if r.status != 200 || r.body["token"] == "" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		tok := r.body["token"].(string)
		me := e.req("GET", "/api/v1/me", tok, nil)
		if me.status != 200 || me.body["username"] != "zhaoliu" || me.body["role"] != "patient" {
			t.Fatalf("%d %s", me.status, me.raw)
		}
		// Logout revokes the token.
		if r := e.req("POST", "/api/v1/auth/logout", tok, nil); r.status != 204 {
			t.Fatalf("logout %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/me", tok, nil); r.status != 401 || r.errCode() != "unauthorized" {
			t.Fatalf("after logout %d %s", r.status, r.raw)
		}
	})
}

// Bad input is refused with every field's reason, and nothing is stored.
func TestRegisterBadInputChangesNothing(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		good := e.withCode(map[string]string{"username": "qianqi", "password": "secret-123", "name": "钱七", "resident_id": newRID(30), "phone": newPhone()})
		badCheck := good["resident_id"][:17] + map[bool]string{true: "1", false: "0"}[good["resident_id"][17] == '0']
		future := fmt.Sprintf("110105%s0011", testNow().AddDate(0, 1, 0).Format("20060102"))
		cases := []struct {
			name   string
			edit   map[string]string
			status int
			fields map[string]string
		}{
			{"bad check digit", map[string]string{"resident_id": badCheck}, 400, map[string]string{"resident_id": "resident_id_checksum"}},
			{"short resident id", map[string]string{"resident_id": "11010519900101"}, 400, map[string]string{"resident_id": "resident_id_length"}},
			{"future birth", map[string]string{"resident_id": future[:17] + "X"}, 400, map[string]string{"resident_id": "resident_id_future"}},
			{"bad phone", map[string]string{"phone": "1391111222"}, 400, map[string]string{"phone": "phone_format"}},
			{"landline", map[string]string{"phone": "01061234567"}, 400, map[string]string{"phone": "phone_format"}},
			{"weak password", map[string]string{"password": "abcdefgh"}, 400, map[string]string{"password": "password_weak"}},
			{"all at once", map[string]string{"phone": "", "name": "", "resident_id": "x"}, 400,
				map[string]string{"phone": "required", "name": "required", "resident_id": "resident_id_length"}},
		}
		accounts, patients := e.count("accounts"), e.count("patients")
		for _, c := range cases {
			b := map[string]string{}
			for k, v := range good {
				b[k] = v
			}
			for k, v := range c.edit {
				b[k] = v
			}
			r := e.req("POST", "/api/v1/auth/register", "", b)
			if r.status != c.status || r.errCode() != "invalid_input" {
				t.Fatalf("%s: %d %s", c.name, r.status, r.raw)
			}
			got := r.fieldCodes()
			for f, code := range c.fields {
				if got[f] != code {
					t.Errorf("%s: field %s want %s got %q (%s)", c.name, f, code, got[f], r.raw)
				}
			}
		}
		// Malformed JSON, unknown fields, wrong content type.
		if r := e.req("POST", "/api/v1/auth/register", "", `{"username":`); r.status != 400 || r.errCode() != "bad_json" {
			t.Fatalf("bad json %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/auth/register", "", `{"username":"a","admin":true}`); r.status != 400 {
			t.Fatalf("unknown field %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/auth/register", "", "username=a", "Content-Type", "application/x-www-form-urlencoded"); r.status != 415 {
			t.Fatalf("content type %d %s", r.status, r.raw)
		}
		if e.count("accounts") != accounts || e.count("patients") != patients {
			t.Fatal("a refused registration stored something")
		}
		// Duplicates: the same username; the same resident ID under another
		// name fails the identity check (N-5: the same name would claim it,
		// TestSquatThenClaim), answered without saying it is taken.
		if r := e.req("POST", "/api/v1/auth/register", "", good); r.status != 201 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		dupUser := map[string]string{}
		for k, v := range good {
			dupUser[k] = v
		}
		dupUser["resident_id"], dupUser["phone"] = newRID(31), newPhone()
		r := e.req("POST", "/api/v1/auth/register", "", e.withCode(dupUser))
		if r.status != 409 || r.errCode() != "duplicate" || r.fieldCodes()["username"] != "duplicate" {
			t.Fatalf("dup username %d %s", r.status, r.raw)
		}
		dupID := map[string]string{}
		for k, v := range good {
			dupID[k] = v
		}
		dupID["username"], dupID["name"], dupID["phone"] = "someoneelse", "钱八", newPhone()
		r = e.req("POST", "/api/v1/auth/register", "", e.withCode(dupID))
		if r.status != 400 || r.fieldCodes()["resident_id"] != "identity_mismatch" {
			t.Fatalf("dup resident id %d %s", r.status, r.raw)
		}
		if e.count("accounts") != accounts+1 || e.count("patients") != patients+1 {
			t.Fatal("duplicates stored something")
		}
	})
}

func TestGuardianAndChildren(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		tok, _ := e.register("guardian1", 36)
		r := e.req("POST", "/api/v1/patients", tok, map[string]string{"name": "小明", "resident_id": newRID(7), "relation": "child"})
		if r.status != 201 || r.body["relation"] != "child" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		childID := int64(r.body["id"].(float64))
		r = e.req("POST", "/api/v1/patients", tok, map[string]string{"name": "大明", "resident_id": newRID(19), "relation": "child"})
		if r.status != 400 || r.fieldCodes()["resident_id"] != "child_not_minor" {
			t.Fatalf("adult child %d %s", r.status, r.raw)
		}
		r = e.req("GET", "/api/v1/patients", tok, nil)
		if len(r.items()) != 2 {
			t.Fatalf("%s", r.raw)
		}
		if r := e.req("GET", fmt.Sprintf("/api/v1/patients/%d", childID), tok, nil); r.status != 200 || r.body["name"] != "小明" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// Staff cannot add patient profiles.
		if r := e.req("POST", "/api/v1/patients", e.login("bch-doctor"), map[string]string{"name": "小明", "resident_id": newRID(7), "relation": "child"}); r.status != 403 {
			t.Fatalf("staff add child %d", r.status)
		}
		// Anonymous: 401.
		if r := e.req("GET", "/api/v1/patients", "", nil); r.status != 401 {
			t.Fatalf("anonymous %d", r.status)
		}
	})
}

// Every object of another account and another institution is refused.
func TestForeignObjectsAreRefused(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		alice, _ := e.register("alice1", 40)
		bob, _ := e.register("bob1", 41)
		var alicePatients []int64
		e.req("POST", "/api/v1/patients", alice, map[string]string{"name": "爱丽丝女儿", "resident_id": newRID(5), "relation": "child"})
		for _, it := range e.req("GET", "/api/v1/patients", alice, nil).items() {
			alicePatients = append(alicePatients, int64(it.(map[string]any)["id"].(float64)))
		}
		if len(alicePatients) != 2 {
			t.Fatalf("alice has %v", alicePatients)
		}
		others := []string{bob, e.login("bch-admin"), e.login("bch-doctor"), e.login("regulator"), e.login("admin")}
		for _, tok := range others {
			for _, id := range alicePatients {
				r := e.req("GET", fmt.Sprintf("/api/v1/patients/%d", id), tok, nil)
				if r.status != 404 && r.status != 403 {
					t.Fatalf("patient %d seen by another account: %d %s", id, r.status, r.raw)
				}
			}
		}
		// Bob's list holds only Bob.
		if n := len(e.req("GET", "/api/v1/patients", bob, nil).items()); n != 1 {
			t.Fatalf("bob sees %d profiles", n)
		}
		// Staff of one institution cannot edit another's objects.
		bchAdmin := e.login("bch-admin")
		ccmcPractitioners := e.req("GET", "/api/v1/institutions/ccmc/practitioners", "", nil).items()
		pid := int64(ccmcPractitioners[0].(map[string]any)["id"].(float64))
		writes := []struct {
			method, path string
			body         any
		}{
			{"PUT", "/api/v1/institutions/ccmc", map[string]any{"name": "改名"}},
			{"PUT", "/api/v1/institutions/ccmc/departments/x1", map[string]any{"name": "新科室"}},
			{"PUT", "/api/v1/institutions/ccmc/services/ccmc-x", map[string]any{"department": "allergy", "name": "x", "kind": "follow_up"}},
			{"POST", "/api/v1/institutions/ccmc/practitioners", map[string]any{"name": "x", "profession": "doctor", "title": "chief", "licence_no": "1"}},
			{"PUT", fmt.Sprintf("/api/v1/practitioners/%d", pid), map[string]any{"name": "x", "profession": "doctor", "title": "chief", "licence_no": "1"}},
			{"POST", fmt.Sprintf("/api/v1/practitioners/%d/suspensions", pid), map[string]any{"scope": "all", "reason": "x"}},
			{"POST", "/api/v1/institutions/ccmc/qualification", map[string]any{"status": "suspended", "note": "x"}},
		}
		for _, w := range writes {
			r := e.req(w.method, w.path, bchAdmin, w.body)
			if r.status != 403 {
				t.Fatalf("%s %s by another institution's admin: %d %s", w.method, w.path, r.status, r.raw)
			}
			if r := e.req(w.method, w.path, alice, w.body); r.status != 403 {
				t.Fatalf("%s %s by a patient: %d", w.method, w.path, r.status)
			}
		}
		// The full credentials are for the institution's own admins and the regulator.
		full := e.req("GET", fmt.Sprintf("/api/v1/practitioners/%d", pid), bchAdmin, nil)
		if _, ok := full.body["licence_no"]; ok {
			t.Fatal("another institution's admin sees licence numbers")
		}
		if r := e.req("GET", fmt.Sprintf("/api/v1/practitioners/%d", pid), e.login("ccmc-admin"), nil); r.body["licence_no"] == nil {
			t.Fatalf("own admin must see credentials: %s", r.raw)
		}
		if r := e.req("GET", "/api/v1/audit?institution=ccmc", bchAdmin, nil); r.status != 403 {
			t.Fatalf("audit of another institution: %d", r.status)
		}
		if r := e.req("GET", "/api/v1/audit", alice, nil); r.status != 403 {
			t.Fatalf("audit by patient: %d", r.status)
		}
	})
}

func TestInstitutionsContract(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		r := e.req("GET", "/api/v1/institutions", "", nil)
		codes := map[string]string{}
		for _, it := range r.items() {
			m := it.(map[string]any)
			codes[m["code"].(string)] = m["status"].(string)
		}
		want := map[string]string{"bch": "approved", "ccmc": "approved", "xuanwu": "approved", "shijitan": "approved", "changgung": "pending", "pumch": "approved"}
		for c, st := range want {
			if codes[c] != st {
				t.Errorf("institution %s: status %q, want %q (S-1)", c, codes[c], st)
			}
		}
		r = e.req("GET", "/api/v1/institutions/bch", "", nil)
		if r.body["code"] != "bch" || r.body["name"] != "北京儿童医院" || r.body["first_visit_pilot"] != true {
			t.Fatalf("%s", r.raw)
		}
		depts := map[string]bool{}
		firstVisits := map[string]bool{}
		for _, d := range r.body["departments"].([]any) {
			dm := d.(map[string]any)
			depts[dm["name"].(string)] = true
			for _, s := range dm["services"].([]any) {
				sm := s.(map[string]any)
				for _, k := range []string{"code", "kind", "price"} {
					if _, ok := sm[k]; !ok {
						t.Fatalf("service lacks %s: %v", k, sm)
					}
				}
				if sm["kind"] == "first_visit" {
					firstVisits[sm["specialty"].(string)] = true
				}
			}
		}
		for _, n := range []string{"内分泌遗传代谢科", "风湿免疫科", "心脏内科", "过敏反应科", "耳鼻咽喉头颈外科", "皮肤科"} {
			if !depts[n] {
				t.Errorf("H-BCH lacks %s", n)
			}
		}
		// S-5: first visits only in the three pilot specialties.
		if len(firstVisits) != 3 || !firstVisits["growth"] || !firstVisits["nutrition"] || !firstVisits["skin"] {
			t.Errorf("first-visit specialties %v", firstVisits)
		}
		// Non-pilot institutions have no first-visit services (S-5).
		for _, code := range []string{"xuanwu", "shijitan", "changgung", "pumch"} {
			if strings.Contains(string(e.req("GET", "/api/v1/institutions/"+code, "", nil).raw), `"first_visit"`) {
				t.Errorf("%s offers first visits", code)
			}
		}
		if r := e.req("GET", "/api/v1/institutions/nowhere", "", nil); r.status != 404 || r.errCode() != "not_found" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

// D-1 and D-2 on the demo doctors, and suspension through the API.
func TestPractitionersFirstVisitD1D2(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("bch-admin")
		items := e.req("GET", "/api/v1/institutions/bch/practitioners", admin, nil).items()
		var eligible, ineligible, suspended int
		var target float64
		for _, it := range items {
			m := it.(map[string]any)
			if m["profession"] != "doctor" {
				continue
			}
			fv := m["first_visit"].(map[string]any)
			if fv["eligible"] == true {
				eligible++
				target = m["id"].(float64)
			} else {
				ineligible++
				for _, rs := range fv["reasons"].([]any) {
					rm := rs.(map[string]any)
					if rm["message"] == "" {
						t.Fatal("a reason without words")
					}
					if rm["code"] == "d2_suspended_first_visit" {
						suspended++
					}
				}
			}
		}
		if eligible == 0 || ineligible == 0 || suspended != 1 {
			t.Fatalf("demo doctors: %d eligible, %d not, %d suspended", eligible, ineligible, suspended)
		}
		path := fmt.Sprintf("/api/v1/practitioners/%.0f", target)
		r := e.req("POST", path+"/suspensions", admin, map[string]string{"scope": "first_visit"})
		if r.status != 400 || r.fieldCodes()["reason"] != "required" {
			t.Fatalf("suspension without reason: %d %s", r.status, r.raw)
		}
		r = e.req("POST", path+"/suspensions", admin, map[string]string{"scope": "first_visit", "reason": "投诉核查中"})
		if r.status != 201 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		sid := r.body["id"].(float64)
		p := e.req("GET", path, admin, nil)
		if fv := p.body["first_visit"].(map[string]any); fv["eligible"] != false {
			t.Fatalf("D-2: suspended doctor still eligible: %s", p.raw)
		}
		// The public view says no first visits, without the internal reasons.
		pub := e.req("GET", path, "", nil)
		if pub.body["first_visit"] != false || pub.body["licence_no"] != nil {
			t.Fatalf("public view %s", pub.raw)
		}
		if r := e.req("DELETE", fmt.Sprintf("%s/suspensions/%.0f", path, sid), admin, nil); r.status != 204 {
			t.Fatalf("lift %d %s", r.status, r.raw)
		}
		if fv := e.req("GET", path, admin, nil).body["first_visit"].(map[string]any); fv["eligible"] != true {
			t.Fatal("lifted suspension still counts")
		}
		// Creating a practitioner validates every field.
		r = e.req("POST", "/api/v1/institutions/bch/practitioners", admin, map[string]any{"name": "", "profession": "nurse", "title": "chief", "licence_no": "", "department": "nope", "practice_since": "2020-13-01"})
		fc := r.fieldCodes()
		if r.status != 400 || fc["name"] != "required" || fc["profession"] != "profession_invalid" || fc["licence_no"] != "required" || fc["department"] != "not_found" || fc["practice_since"] != "date_format" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		r = e.req("POST", "/api/v1/institutions/bch/practitioners", admin, map[string]any{"name": "新医生", "profession": "doctor", "title": "attending",
			"licence_no": "NEW-1", "department": "dermatology", "practice_since": "2019-01-01", "internet_since": "2024-01-01", "training_passed_on": "2025-12-01"})
		if r.status != 201 || r.body["first_visit"].(map[string]any)["eligible"] != true {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

// S-1, G-1: only the regulator changes a qualification.
func TestQualification(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		if r := e.req("POST", "/api/v1/institutions/changgung/qualification", e.login("changgung-admin"), map[string]string{"status": "approved"}); r.status != 403 {
			t.Fatalf("an institution approving itself: %d", r.status)
		}
		// S-1: a pending institution lists no slots; once approved it does.
		if n := len(e.req("GET", "/api/v1/slots?institution=changgung", "", nil).items()); n != 0 {
			t.Fatalf("a pending institution lists %d slots", n)
		}
		reg := e.login("regulator")
		// G-1: no approval without an application; the demo's waits.
		r := e.req("POST", "/api/v1/institutions/changgung/qualification", reg, map[string]string{"status": "approved", "approved_on": "2026-11-20"})
		if r.status != 409 || r.errCode() != "application_required" {
			t.Fatalf("approval without an application: %d %s", r.status, r.raw)
		}
		r = e.req("POST", "/api/v1/applications/"+waitingApplication(e, "changgung")+"/decision", reg, map[string]any{"approve": true, "reasons": "查核合格"})
		if r.status != 200 || r.body["status"] != "approved" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if st := e.req("GET", "/api/v1/institutions/changgung", "", nil).body; st["status"] != "approved" || st["approved_on"] != envDay(e, 0) {
			t.Fatalf("approved: %v", st)
		}
		if n := len(e.req("GET", "/api/v1/slots?institution=changgung", "", nil).items()); n == 0 {
			t.Fatal("an approved institution lists no slots")
		}
		r = e.req("POST", "/api/v1/institutions/changgung/qualification", reg, map[string]string{"status": "suspended"})
		if r.status != 400 || r.fieldCodes()["note"] != "required" {
			t.Fatalf("suspension without note: %d %s", r.status, r.raw)
		}
		r = e.req("POST", "/api/v1/institutions/changgung/qualification", reg, map[string]string{"status": "closed"})
		if r.status != 400 || r.fieldCodes()["status"] != "status_invalid" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/institutions/ghost/qualification", reg, map[string]string{"status": "approved"}); r.status != 404 {
			t.Fatalf("%d", r.status)
		}
		if r := e.req("POST", "/api/v1/institutions/changgung/qualification", reg, map[string]string{"status": "suspended", "note": "核查期间暂停"}); r.status != 200 || r.body["status"] != "suspended" {
			t.Fatalf("suspend: %d %s", r.status, r.raw)
		}
		// The decisions are audited.
		a := e.req("GET", "/api/v1/audit?institution=changgung&object_type=institution", reg, nil)
		found := false
		for _, it := range a.items() {
			if it.(map[string]any)["action"] == "institution.qualification" {
				found = true
			}
		}
		if !found {
			t.Fatalf("qualification change not audited: %s", a.raw)
		}
	})
}

func TestAdminEditsCatalogue(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		admin := e.login("ccmc-admin")
		r := e.req("PUT", "/api/v1/institutions/ccmc/departments/ent", admin, map[string]any{"name": "耳鼻喉科", "name_en": "ENT"})
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		r = e.req("PUT", "/api/v1/institutions/ccmc/services/ccmc-ent-fu", admin, map[string]any{"department": "ent", "name": "耳鼻喉科复诊", "kind": "follow_up", "price": 35.5, "days": []int{2, 4}})
		if r.status != 200 || r.body["price_fen"] != float64(3550) || r.body["price"] != 35.5 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		r = e.req("PUT", "/api/v1/institutions/ccmc/services/ccmc-ent-fv", admin, map[string]any{"department": "ent", "name": "x", "kind": "first_visit", "days": []int{0, 9}, "price": -1})
		fc := r.fieldCodes()
		if r.status != 400 || fc["specialty"] != "first_visit_needs_specialty" || fc["days"] != "days_format" || fc["price"] != "price_range" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// A pilot specialty is the regulator's designation (G-2): refused by name.
		r = e.req("PUT", "/api/v1/institutions/ccmc/specialties/ent-kids", admin, map[string]any{"department": "ent", "name": "儿童耳鼻喉", "first_visit_pilot": true})
		if r.status != 403 || r.fieldCodes()["first_visit_pilot"] != "field_not_allowed" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		// The admin cannot approve its own institution through an edit:
		// refused, naming the fields (N-19), not silently ignored.
		r = e.req("PATCH", "/api/v1/institutions/changgung", e.login("changgung-admin"), map[string]any{"name": "北京清华长庚医院", "status": "approved", "approved_on": "2026-01-01"})
		if fc := r.fieldCodes(); r.status != 403 || fc["status"] != "field_not_allowed" || fc["approved_on"] != "field_not_allowed" || fc["name"] != "" {
			t.Fatalf("self-approval through edit: %d %s", r.status, r.raw)
		}
		if st := e.req("GET", "/api/v1/institutions/changgung", "", nil).body["status"]; st != "pending" {
			t.Fatalf("status %v", st)
		}
		inst := e.req("GET", "/api/v1/institutions/ccmc", "", nil)
		if !strings.Contains(string(inst.raw), "ccmc-ent-fu") {
			t.Fatal("service not listed")
		}
	})
}

func TestLoginRateLimit(t *testing.T) {
	db := sqltest.Open(t, sqlstore.SQLite)
	e := newEnv(t, db, nil) // default limits
	limited := false
	for i := 0; i < 15; i++ {
		r := e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": fmt.Sprintf("nobody%d", i), "password": "x"})
		if r.status == 429 {
			limited = r.errCode() == "rate_limited" && r.header.Get("Retry-After") != ""
			break
		}
	}
	if !limited {
		t.Fatal("15 logins from one address in a burst were not limited")
	}
}

// Sessions end after inactivity, as data (N-20): a staff session after 30
// minutes without a request, a patient's after two hours; each request
// moves the end on; and every session ends 12 hours after the login,
// however busy.
func TestSessionExpiry(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		staff, patient := e.login2("bch-admin", demo.Password), e.login("zhangwei")
		me := func(tok string) int { return e.req("GET", "/api/v1/me", tok, nil).status }
		e.clock.Add(20 * time.Minute)
		if me(staff) != 200 || me(patient) != 200 {
			t.Fatal("active sessions refused")
		}
		e.clock.Add(20 * time.Minute) // 20 minutes idle since the last use: still inside 30
		if me(staff) != 200 {
			t.Fatal("a staff session used 20 minutes ago was refused")
		}
		e.clock.Add(31 * time.Minute) // the patient idle 51 minutes, the staff 31
		if r := e.req("GET", "/api/v1/me", staff, nil); r.status != 401 {
			t.Fatalf("a staff session idle 31 minutes: %d", r.status)
		}
		if me(patient) != 200 {
			t.Fatal("a patient's session idle 51 minutes was refused")
		}
		e.clock.Add(identity.DefaultSessionSettings.PatientIdle + time.Minute)
		if me(patient) != 401 {
			t.Fatal("a patient's session idle past two hours still served")
		}
		// Absolute expiry, however busy the session.
		tok := e.login("zhangwei")
		for i := 0; i < 26; i++ {
			e.clock.Add(29 * time.Minute)
			e.req("GET", "/api/v1/me", tok, nil)
		}
		if r := e.req("GET", "/api/v1/me", tok, nil); r.status != 401 {
			t.Fatalf("after 12 hours: %d", r.status)
		}
		// The staff's idle time is data: the security administrator sets the
		// platform's and an institution's own; a new login gets it, and an
		// old session from its next request.
		sec := e.login("secadmin")
		if r := e.req("PUT", "/api/v1/institutions/bch/security-settings", sec, map[string]int{"staff_idle_minutes": 10, "identity_confirmation_minutes": 0}); r.status != 200 {
			t.Fatalf("institution setting: %d %s", r.status, r.raw)
		}
		bch, ccmc := e.login2("bch-admin", demo.Password), e.login2("ccmc-admin", demo.Password)
		e.clock.Add(11 * time.Minute)
		if me(bch) != 401 || me(ccmc) != 200 {
			t.Fatalf("after 11 minutes: bch %d (its own 10), ccmc %d (the platform's 30)", me(bch), me(ccmc))
		}
		for _, bad := range []map[string]int{{"staff_idle_minutes": 1, "identity_confirmation_minutes": 0}, {"staff_idle_minutes": 10}} {
			if r := e.req("PUT", "/api/v1/institutions/bch/security-settings", sec, bad); r.status != 400 {
				t.Fatalf("%v: %d %s", bad, r.status, r.raw)
			}
		}
		if r := e.req("PUT", "/api/v1/security-settings/platform", e.login("bch-admin"), map[string]int{"staff_idle_minutes": 10,
			"patient_idle_minutes": 60, "identity_confirmation_minutes": 240}); r.status != 403 {
			t.Fatalf("an institution admin sets the platform's settings: %d", r.status)
		}
	})
}

// Every read of patient data is in the audit log (N-16, N-19).
func TestPatientReadsAreAudited(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		tok, reg := e.register("audited1", 30)
		pid := reg["patient"].(map[string]any)["id"].(float64)
		e.req("GET", "/api/v1/patients", tok, nil)
		e.req("GET", fmt.Sprintf("/api/v1/patients/%.0f", pid), tok, nil)
		other, _ := e.register("snoop1", 30)
		e.req("GET", fmt.Sprintf("/api/v1/patients/%.0f", pid), other, nil)
		a := e.req("GET", fmt.Sprintf("/api/v1/audit?object_type=patient&object_id=%.0f", pid), e.login("regulator"), nil)
		actions := map[string]bool{}
		for _, it := range a.items() {
			actions[it.(map[string]any)["action"].(string)] = true
		}
		for _, want := range []string{"patient.read", "patient.read.denied", "account.register"} {
			if !actions[want] {
				t.Errorf("no %s entry: %s", want, a.raw)
			}
		}
	})
}

func TestErrorsAreJSONEverywhere(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		for _, c := range []struct {
			method, path string
			status       int
		}{
			{"GET", "/api/v1/nothing-here", 404},
			{"GET", "/api/v1/patients/abc", 401},
			{"DELETE", "/api/v1/institutions", 405},
		} {
			r := e.req(c.method, c.path, "", nil)
			if r.status != c.status || r.errCode() == "" || r.errMessage() == "" {
				t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.raw)
			}
		}
		if r := e.req("GET", "/api/v1/me", "not-a-token", nil); r.status != 401 || r.errCode() != "unauthorized" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestCookieSessionNeedsCSRF(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		// Log in through the form to get a cookie session.
		c := newBrowser(t, e)
		c.get("/login")
		res := c.post("/login", map[string]string{"username": "zhangwei", "password": "yunyi2026", "csrf": c.csrf()})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login form: %d", res.StatusCode)
		}
		// An API write with the cookie but without the token is refused.
		r := c.api("POST", "/api/v1/patients", `{"name":"小红","resident_id":"`+newRID(5)+`","relation":"child"}`, "")
		if r.status != 403 || r.errCode() != "csrf_failed" {
			t.Fatalf("no token: %d %s", r.status, r.raw)
		}
		r = c.api("POST", "/api/v1/patients", `{"name":"小红","resident_id":"`+newRID(5)+`","relation":"child"}`, c.sessionCSRF())
		if r.status != 201 {
			t.Fatalf("with token: %d %s", r.status, r.raw)
		}
		// A form post from another site is refused.
		res = c.postWith("/me/children", map[string]string{"name": "小黑", "resident_id": newRID(4), "csrf": c.sessionCSRF()}, "Sec-Fetch-Site", "cross-site")
		if res.StatusCode != 403 {
			t.Fatalf("cross-site form: %d", res.StatusCode)
		}
		res = c.post("/me/children", map[string]string{"name": "小黑", "resident_id": newRID(4), "csrf": "forged"})
		if res.StatusCode != 403 {
			t.Fatalf("forged token: %d", res.StatusCode)
		}
	})
}

// Many people registering at once: every one gets an answer, none sees
// "database is locked" (one writer pool on SQLite).
func TestConcurrentRegistrations(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		const n = 40
		ids, phones := make([]string, n), make([]string, n)
		for i := range ids {
			ids[i], phones[i] = newRID(20+i%40), newPhone()
		}
		// Each asks for a code (N-5), all at once too.
		codes := make([]string, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				body, _ := json.Marshal(map[string]string{"phone": phones[i], "purpose": "register"})
				res, err := e.ts.Client().Post(e.ts.URL+"/api/v1/auth/sms-code", "application/json", bytes.NewReader(body))
				if err == nil {
					res.Body.Close()
				}
			}(i)
		}
		wg.Wait()
		for i := range codes {
			codes[i] = e.smsCode(phones[i])
		}
		errc := make(chan string, n)
		for i := 0; i < n; i++ {
			go func(i int) {
				r := e.req("POST", "/api/v1/auth/register", "", map[string]string{"username": fmt.Sprintf("burst%02d", i), "password": "secret-123",
					"name": "并发用户", "resident_id": ids[i], "phone": phones[i], "sms_code": codes[i]})
				if r.status != 201 {
					errc <- fmt.Sprintf("%d %s", r.status, r.raw)
					return
				}
				errc <- ""
			}(i)
		}
		for i := 0; i < n; i++ {
			if msg := <-errc; msg != "" {
				t.Error(msg)
			}
		}
	})
}

// A child's second guardian (N-5: one person, one patient): the first
// guardian makes a one-time code; the other redeems it and sees the child.
// A code is good once and for a day; an adult or a stranger's child cannot
// be invited. (Adding the child again by resident ID would claim it:
// TestSquatThenClaim.)
func TestSecondGuardian(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		xiaoyu := e.patientIDs(lm)["李小雨"]
		self := e.patientIDs(lm)["李明"]
		inv := e.req("POST", fmt.Sprintf("/api/v1/patients/%d/invites", xiaoyu), lm, nil)
		if inv.status != 201 || len(inv.body["code"].(string)) != 10 {
			t.Fatalf("invite %d %s", inv.status, inv.raw)
		}
		code := inv.body["code"].(string)
		if r := e.req("POST", fmt.Sprintf("/api/v1/patients/%d/invites", self), lm, nil); r.status != 403 || r.errCode() != "invite_not_child" {
			t.Fatalf("invite for oneself %d %s", r.status, r.raw)
		}
		if r := e.req("POST", fmt.Sprintf("/api/v1/patients/%d/invites", xiaoyu), e.login("zhangwei"), nil); r.status != 404 {
			t.Fatalf("a stranger invites %d", r.status)
		}
		mother, _ := e.register("wangfang", 36)
		if r := e.req("POST", "/api/v1/patients/link", mother, map[string]string{"code": "WRONG-CODE1"}); r.status != 400 || r.fieldCodes()["code"] != "invite_code" {
			t.Fatalf("wrong code %d %s", r.status, r.raw)
		}
		// Typed in lower case with a dash: still the code.
		typed := strings.ToLower(code[:5]) + "-" + code[5:]
		if r := e.req("POST", "/api/v1/patients/link", mother, map[string]string{"code": typed}); r.status != 201 || r.body["name"] != "李小雨" {
			t.Fatalf("link %d %s", r.status, r.raw)
		}
		if _, ok := e.patientIDs(mother)["李小雨"]; !ok {
			t.Fatal("the second guardian does not see the child")
		}
		if r := e.req("GET", fmt.Sprintf("/api/v1/patients/%d", xiaoyu), mother, nil); r.status != 200 {
			t.Fatalf("the second guardian reads the child: %d", r.status)
		}
		// Once only.
		other, _ := e.register("lisi2", 40)
		if r := e.req("POST", "/api/v1/patients/link", other, map[string]string{"code": code}); r.status != 400 {
			t.Fatalf("a spent code %d", r.status)
		}
		// Expired after a day.
		late := e.req("POST", fmt.Sprintf("/api/v1/patients/%d/invites", xiaoyu), lm, nil).body["code"].(string)
		e.clock.Add(25 * time.Hour)
		other = e.login("zhangwei")
		if r := e.req("POST", "/api/v1/patients/link", other, map[string]string{"code": late}); r.status != 400 {
			t.Fatalf("an expired code %d", r.status)
		}
		if n := e.count("guardian_invites WHERE used_by <> 0"); n != 1 {
			t.Fatalf("%d codes spent", n)
		}
	})
}

// A NUL character in any JSON text is refused with a field error on both
// stores (SQLite would keep it, PostgreSQL fail on it); nothing is stored.
func TestNULCharacterRefused(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		before := e.count("accounts")
		r := e.req("POST", "/api/v1/auth/register", "", `{"username":"nul1","password":"secret-123","name":"张\u0000三","resident_id":"11010519491231002X","phone":"13800009999"}`)
		if r.status != 400 || r.fieldCodes()["name"] != "nul_character" {
			t.Fatalf("register %d %s", r.status, r.raw)
		}
		if e.count("accounts") != before {
			t.Fatal("an account was stored")
		}
		lm := e.login("liming")
		r = e.req("POST", "/api/v1/patients", lm, `{"name":"李小明","resident_id":"x","relation":"child","tags":[{"k":"a\u0000"}]}`)
		if r.status != 400 || r.fieldCodes()["tags[0].k"] != "nul_character" {
			t.Fatalf("nested %d %s", r.status, r.raw)
		}
		if r := e.req("POST", "/api/v1/auth/register", "", `{"username":"nul2","password":"secret-123","name":"张三"}`, "Accept-Language", "en"); r.status != 400 {
			t.Fatalf("a plain bad registration %d", r.status)
		}
		// Chat: over the API and through the path the socket shares.
		vpath, doc, _ := e.rxVisit("李小雨", nil)
		if r := e.req("POST", vpath+"/messages", doc, `{"text":"你好\u0000"}`); r.status != 400 || r.fieldCodes()["text"] != "nul_character" {
			t.Fatalf("chat %d %s", r.status, r.raw)
		}
		var id int64
		fmt.Sscanf(vpath, "/api/v1/visits/%d", &id)
		v, err := e.db.Visit(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.post(t.Context(), &visitCtx{v: v, party: visitpkg.PartyDoctor}, 1, messageIn{Text: "a\x00b"}); errs.Code(err) != errs.Invalid {
			t.Fatalf("socket path: %v", err)
		}
	})
}
