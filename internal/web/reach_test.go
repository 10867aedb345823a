package web

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/authz"
)

// Issue 15, least privilege (N-19, PIPL's minimum necessary): a doctor
// sees the bookings of the sessions they hold, not their institution's
// every booking with the families' names and health answers; an
// institution widens that by a rule that is data (doctor_reach), and
// every read through the widening is audited as such. Pharmacists, whose
// work is the prescriptions, search no patients.
func TestDoctorSeesOwnBookings(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		lm := e.login("liming")
		xiaoyu := e.patientIDs(lm)["李小雨"]
		// A skin first visit in a session of bch-dermatology-doctor.
		derm := e.login("bch-dermatology-doctor")
		slot := e.doctorSlot("bch-skin-fv", "bch", derm, nil)
		pr, err := e.db.PractitionerByAccount(ctx, mustAccount(t, e, "bch-dermatology-doctor"))
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("%.0f", e.bookVisit(lm, xiaoyu, slot, "reach-1"))
		appt, peer, admin := "/api/v1/appointments/"+id, e.login("bch-doctor"), e.login("bch-admin")
		listed := func(tok, path string) bool {
			for _, it := range e.req("GET", path, tok, nil).items() {
				if fmt.Sprintf("%.0f", it.(map[string]any)["id"]) == id {
					return true
				}
			}
			return false
		}
		fhirListed := func(tok, path, want string) bool {
			res := e.fhir("GET", path, tok, nil)
			if res.status != 200 {
				t.Fatalf("%s: %d %s", path, res.status, short(res.raw))
			}
			return strings.Contains(string(res.raw), want)
		}
		patientRef := fmt.Sprintf(`"id":"%d"`, xiaoyu)
		sees := func(tok string) [5]bool {
			return [5]bool{
				e.req("GET", appt, tok, nil).status == 200,
				listed(tok, "/api/v1/appointments"),
				e.fhir("GET", "/fhir/R4/Appointment/"+id, tok, nil).status == 200,
				fhirListed(tok, "/fhir/R4/Appointment", `"id":"`+id+`"`),
				fhirListed(tok, "/fhir/R4/Patient", patientRef),
			}
		}
		all, none := [5]bool{true, true, true, true, true}, [5]bool{}
		// By default: the session's doctor and the admin see it, another
		// doctor of the institution nothing of it.
		if got := sees(derm); got != all {
			t.Errorf("the visit's doctor: %v", got)
		}
		if got := sees(admin); got != all {
			t.Errorf("the institution's admin: %v", got)
		}
		if got := sees(peer); got != none {
			t.Errorf("another doctor of bch sees the booking: %v (N-19)", got)
		}
		// A practitioner the search names that is not the doctor: nothing.
		if fhirListed(derm, "/fhir/R4/Appointment?practitioner=Practitioner/999999", `"id":"`+id+`"`) {
			t.Error("a doctor's search of another practitioner's bookings answered one")
		}
		// Pharmacists review prescriptions; they search no patients.
		if res := e.fhir("GET", "/fhir/R4/Patient", e.login("bch-pharmacist"), nil); res.status != 403 {
			t.Errorf("a pharmacist searched patients: %d", res.status)
		}

		// The rules are the admin's (and the regulator reads them);
		// a PUT names what is wrong.
		reach := "/api/v1/institutions/bch/doctor-reach"
		if r := e.req("GET", reach, admin, nil); r.status != 200 || len(r.body["rules"].([]any)) != 0 {
			t.Fatalf("reach: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", reach, e.login("regulator"), nil); r.status != 200 {
			t.Errorf("regulator reads reach: %d", r.status)
		}
		for _, who := range []string{"bch-doctor", "ccmc-admin", "regulator"} {
			if r := e.req("PUT", reach, e.login(who), map[string]any{"rules": []any{}}); r.status != 403 {
				t.Errorf("%s set reach: %d", who, r.status)
			}
		}
		bad := []struct {
			body  any
			field string
			code  string
		}{
			{map[string]any{}, "rules", "put_missing"},
			{map[string]any{"rules": []any{map[string]any{"department": "nope", "reach": "institution"}}}, "rules[0].department", "not_found"},
			{map[string]any{"rules": []any{map[string]any{"department": "", "reach": "everything"}}}, "rules[0].reach", "invalid"},
			{map[string]any{"rules": []any{map[string]any{"department": "", "reach": "own"}, map[string]any{"department": "", "reach": "institution"}}},
				"rules[1].department", "duplicate"},
		}
		for _, b := range bad {
			if r := e.req("PUT", reach, admin, b.body); r.status/100 != 4 || r.fieldCodes()[b.field] != b.code {
				t.Errorf("%v: %d %s", b.body, r.status, r.raw)
			}
		}

		// A department's rule widens only that department's doctors.
		peerPr, err := e.db.PractitionerByAccount(ctx, mustAccount(t, e, "bch-doctor"))
		if err != nil {
			t.Fatal(err)
		}
		if peerPr.Department == pr.Department {
			t.Fatal("the fixture needs bch-doctor in another department")
		}
		if r := e.req("PUT", reach, admin, map[string]any{"rules": []any{map[string]any{"department": pr.Department, "reach": "department"}}}); r.status != 200 {
			t.Fatalf("set reach: %d %s", r.status, r.raw)
		}
		if got := sees(peer); got != none {
			t.Errorf("another department's rule widened bch-doctor: %v", got)
		}
		// The institution's rule widens every doctor; the reads through it
		// are audited as widened, the visit's own doctor's are not.
		if r := e.req("PUT", reach, admin, map[string]any{"rules": []any{map[string]any{"department": "", "reach": "institution"}}}); r.status != 200 {
			t.Fatalf("set reach: %d %s", r.status, r.raw)
		}
		if got := sees(peer); got != all {
			t.Errorf("widened to the institution, bch-doctor: %v", got)
		}
		sees(derm)
		// (A search of patients through a widened sight is a widened read
		// whoever makes it: it answers the institution's every patient.)
		widenedReads := func(user string) int {
			var n int
			if err := e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log l JOIN accounts a ON a.id = l.actor_id
				WHERE a.username = $1 AND l.detail LIKE '%widened:institution%' AND l.action <> 'patient.list'`, user).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := widenedReads("bch-doctor"); n < 4 {
			t.Errorf("bch-doctor's widened reads of appointments audited %d times, want every one of 4", n)
		}
		if n := widenedReads("bch-dermatology-doctor"); n != 0 {
			t.Errorf("the visit's own doctor's reads audited as widened: %d", n)
		}
		var saves int
		if err := e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'doctor_reach.save' AND object_id = 'bch'`).Scan(&saves); err != nil || saves != 2 {
			t.Errorf("reach changes audited %d times (%v), want 2", saves, err)
		}
		// Back to own: the widening ends at once.
		if r := e.req("PUT", reach, admin, map[string]any{"rules": []any{}}); r.status != 200 {
			t.Fatalf("clear reach: %d %s", r.status, r.raw)
		}
		if got := sees(peer); got != none {
			t.Errorf("after the rule is gone, bch-doctor: %v", got)
		}
	})
}

func mustAccount(t *testing.T, e *env, username string) int64 {
	t.Helper()
	a, err := e.db.AccountByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func TestReachFor(t *testing.T) {
	rules := []authz.ReachRule{{Department: "", Reach: authz.ReachDepartment}, {Department: "allergy", Reach: authz.ReachOwn}}
	for _, c := range []struct {
		rules []authz.ReachRule
		dep   string
		want  authz.Reach
	}{
		{nil, "allergy", authz.ReachOwn},
		{rules, "allergy", authz.ReachOwn},
		{rules, "dermatology", authz.ReachDepartment},
		{rules, "", authz.ReachDepartment},
	} {
		if got := authz.ReachFor(c.rules, c.dep); got != c.want {
			t.Errorf("ReachFor(%v, %q) = %s, want %s", c.rules, c.dep, got, c.want)
		}
	}
}

// The rules page's form sets the same rules (N-19): a select for the
// institution and one per department; a wrong value is shown on the page.
func TestDoctorReachForm(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		b := newBrowser(t, e)
		b.login("bch-admin")
		page := b.get("/admin/institutions/bch/rules")
		body := b.last
		if page.StatusCode != 200 || !strings.Contains(body, `id="reach-form"`) || !strings.Contains(body, "仅本人出诊的预约") {
			t.Fatalf("rules page: %d", page.StatusCode)
		}
		csrf := b.sessionCSRF()
		res := b.post("/admin/institutions/bch/doctor-reach", map[string]string{"csrf": csrf, "reach": "department", "reach.dermatology": "institution"})
		if res.StatusCode != 303 {
			t.Fatalf("form: %d %s", res.StatusCode, b.last)
		}
		got := e.req("GET", "/api/v1/institutions/bch/doctor-reach", e.login("bch-admin"), nil)
		want := `[{"department":"","reach":"department"},{"department":"dermatology","reach":"institution"}]`
		if rules, _ := json.Marshal(got.body["rules"]); string(rules) != want {
			t.Errorf("after the form: %s, want %s", rules, want)
		}
		if res := b.post("/admin/institutions/bch/doctor-reach", map[string]string{"csrf": csrf, "reach": "everyone"}); res.StatusCode == 303 {
			t.Error("a wrong reach was saved")
		}
		if res := b.post("/admin/institutions/bch/doctor-reach", map[string]string{"csrf": csrf, "reach": "own"}); res.StatusCode != 303 {
			t.Fatalf("back to own: %d", res.StatusCode)
		}
		if got := e.req("GET", "/api/v1/institutions/bch/doctor-reach", e.login("bch-admin"), nil); len(got.body["rules"].([]any)) != 0 {
			t.Errorf("own is no row: %s", got.raw)
		}
	})
}
