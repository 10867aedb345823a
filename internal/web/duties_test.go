package web

import (
	"fmt"
	"strings"
	"testing"
)

// Separation of duties (三员分立, 等保三级; issue 15): the system
// administrator runs the platform and takes no regulator's or hospital's
// decision and sees no medical data; the security administrator keeps
// staff accounts and roles; the audit administrator reads and verifies the
// audit log and changes nothing. None can act as another; every action is
// audited.
func TestSeparationOfDuties(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		sys, sec, aud := e.login("admin"), e.login("secadmin"), e.login("auditor")
		rule := map[string]any{"code": "qualified", "message_zh": "x", "message_en": "x", "expr": "true"}
		lm := e.login("liming")
		b := e.req("POST", "/api/v1/appointments", lm, map[string]any{"slot_id": e.slotOf("bch-allergy-fu")["id"], "patient_id": e.patientIDs(lm)["李小雨"],
			"answers": screened()})
		if b.status != 201 {
			t.Fatalf("book: %d %s", b.status, b.raw)
		}
		appt := fmt.Sprintf("%.0f", b.body["id"])
		if r := e.req("GET", "/api/v1/appointments/"+appt, e.login("bch-admin"), nil); r.status != 200 {
			t.Fatalf("the hospital's admin reads it: %d", r.status)
		}
		newAcct := map[string]any{"username": "bch-nurse-wang", "password": "Nurse2026ok", "role": "doctor", "institution": "bch"}
		cases := []struct {
			who, name, method, path string
			body                    any
			want                    int
		}{
			{"sysadmin", "sets a qualification", "POST", "/api/v1/institutions/changgung/qualification", map[string]any{"status": "approved"}, 403},
			{"sysadmin", "changes the platform's S-1 rule", "POST", "/api/v1/rules", rule, 403},
			{"sysadmin", "reads the audit log", "GET", "/api/v1/audit", nil, 403},
			{"sysadmin", "reads a booked appointment", "GET", "/api/v1/appointments/" + appt, nil, 404},
			{"sysadmin", "edits a hospital's service", "PUT", "/api/v1/institutions/bch/services/bch-allergy-fu", map[string]any{"department": "allergy", "name": "x", "kind": "follow_up"}, 403},
			{"sysadmin", "creates an account", "POST", "/api/v1/accounts", newAcct, 403},
			{"sysadmin", "reads the terminations", "GET", "/api/v1/oversight/terminations", nil, 403},
			{"secadmin", "reads the audit log", "GET", "/api/v1/audit", nil, 403},
			{"secadmin", "sets a qualification", "POST", "/api/v1/institutions/changgung/qualification", map[string]any{"status": "approved"}, 403},
			{"secadmin", "registers a pharmacy", "PUT", "/api/v1/pharmacies/x-shop", map[string]any{"name": "x"}, 403},
			{"secadmin", "makes another security administrator", "POST", "/api/v1/accounts", map[string]any{"username": "sec2", "password": "Secure2026ok", "role": "security_admin"}, 400},
			{"auditor", "creates an account", "POST", "/api/v1/accounts", newAcct, 403},
			{"auditor", "lists accounts", "GET", "/api/v1/accounts", nil, 403},
			{"auditor", "changes a rule", "POST", "/api/v1/rules", rule, 403},
			{"auditor", "reads a booked appointment", "GET", "/api/v1/appointments/" + appt, nil, 404},
		}
		tok := map[string]string{"sysadmin": sys, "secadmin": sec, "auditor": aud}
		for _, c := range cases {
			if r := e.req(c.method, c.path, tok[c.who], c.body); r.status != c.want {
				t.Errorf("%s %s: %d %s", c.who, c.name, r.status, r.raw)
			}
		}

		// The security administrator keeps accounts.
		list := e.req("GET", "/api/v1/accounts?institution=bch", sec, nil)
		if list.status != 200 || len(list.items()) == 0 || strings.Contains(string(list.raw), `"role":"patient"`) {
			t.Fatalf("staff list: %d %s", list.status, list.raw)
		}
		made := e.req("POST", "/api/v1/accounts", sec, newAcct)
		if made.status != 201 || made.body["role"] != "doctor" {
			t.Fatalf("create: %d %s", made.status, made.raw)
		}
		nurse := e.login2("bch-nurse-wang", "Nurse2026ok")
		off := false
		on := true
		if r := e.req("PATCH", fmt.Sprintf("/api/v1/accounts/%.0f", made.body["id"]), sec, map[string]any{"disabled": on}); r.status != 200 || r.body["disabled"] != true {
			t.Fatalf("disable: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", "/api/v1/me", nurse, nil); r.status != 401 {
			t.Fatalf("a disabled account's session still works: %d", r.status)
		}
		if r := e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": "bch-nurse-wang", "password": "Nurse2026ok"}); r.status != 401 {
			t.Fatalf("a disabled account logs in: %d", r.status)
		}
		if r := e.req("PATCH", fmt.Sprintf("/api/v1/accounts/%.0f", made.body["id"]), sec, map[string]any{"disabled": off}); r.status != 200 {
			t.Fatalf("enable: %d %s", r.status, r.raw)
		}
		me := e.req("GET", "/api/v1/me", sec, nil)
		if r := e.req("PATCH", fmt.Sprintf("/api/v1/accounts/%.0f", me.body["id"]), sec, map[string]any{"disabled": on}); r.status != 400 {
			t.Fatalf("disables itself: %d %s", r.status, r.raw)
		}

		// The audit administrator reads and verifies, and sees every action above.
		v := e.req("GET", "/api/v1/audit/verify", aud, nil)
		if v.status != 200 || v.body["valid"] != true {
			t.Fatalf("verify: %d %s", v.status, v.raw)
		}
		log := string(e.req("GET", "/api/v1/audit?object_type=account", aud, nil).raw)
		for _, want := range []string{"account.create", "account.disable", "account.enable"} {
			if !strings.Contains(log, want) {
				t.Fatalf("the audit lacks %s: %s", want, log)
			}
		}
		// Each has a page of its own duty.
		for who, want := range map[string]string{"admin": `id="ops-pharmacies"`, "secadmin": `id="ops-accounts"`, "auditor": `id="audit-verdict" data-valid="true"`} {
			if page := string(e.req("GET", "/ops", e.login(who), nil).raw); !strings.Contains(page, want) {
				t.Fatalf("%s's page lacks %s:\n%s", who, want, page)
			}
		}
		if r := e.req("GET", "/ops", e.login("regulator"), nil); r.status != 403 {
			t.Fatalf("the regulator opens /ops: %d", r.status)
		}
	})
}
