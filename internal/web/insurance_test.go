package web

import (
	"fmt"
	"testing"

	"github.com/yunyi-health/yunyi/internal/insurance"
)

// M-3: a social-security card is bound to a patient only once the bureau
// confirms that the name, the resident ID and the card belong together.
func TestInsuranceCardBound(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		zw := e.login("zhangwei")
		pid := e.patientIDs(zw)["张伟"]
		path := fmt.Sprintf("/api/v1/patients/%d/insurance", pid)
		if r := e.req("GET", path, zw, nil); r.status != 404 {
			t.Fatalf("no card yet: %d", r.status)
		}
		if r := e.req("POST", path, zw, map[string]any{"card_no": "x", "region": "11", "kind": "both"}); r.status != 400 ||
			r.fieldCodes()["card_no"] != "invalid" || r.fieldCodes()["region"] != "invalid" || r.fieldCodes()["kind"] != "invalid" {
			t.Fatalf("bad input: %d %s", r.status, r.raw)
		}
		// The demo's insured patients are the sandbox bureau's.
		if r := e.req("POST", path, zw, map[string]any{"card_no": "BJ1000002", "region": "110000", "kind": "职工"}); r.status != 422 || r.errCode() != "insurance_mismatch" {
			t.Fatalf("another's card: %d %s", r.status, r.raw)
		}
		wx := e.login("wangxiao")
		if r := e.req("POST", fmt.Sprintf("/api/v1/patients/%d/insurance", e.patientIDs(wx)["王晓"]), wx,
			map[string]any{"card_no": "BJ9999999", "region": "110000", "kind": "resident"}); r.status != 422 || r.errCode() != "insurance_not_insured" {
			t.Fatalf("not insured: %d %s", r.status, r.raw)
		}
		r := e.req("POST", path, zw, map[string]any{"card_no": "bj1000001", "region": "110000", "kind": "employee"})
		if r.status != 200 || r.body["card_no"] != "BJ1000001" || r.body["kind"] != string(insurance.Employee) {
			t.Fatalf("bind %d %s", r.status, r.raw)
		}
		if r := e.req("GET", path, zw, nil); r.status != 200 || r.body["region"] != "110000" {
			t.Fatalf("read %d %s", r.status, r.raw)
		}
		if r := e.req("GET", path, e.login("liming"), nil); r.status != 404 {
			t.Fatalf("another family reads the card: %d", r.status)
		}
	})
}
