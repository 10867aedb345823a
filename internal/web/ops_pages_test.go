package web

import (
	"strings"
	"testing"
)

// Issue 17 on the operations page: every operator reads the retention
// periods (N-17), the security administrator changes them there and the
// platform's session settings (N-7, N-20), with the API's checks.
func TestOpsRetentionAndSessionForms(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		sys := newBrowser(t, e)
		sys.login("admin")
		if res := sys.get("/ops"); res.StatusCode != 200 || !strings.Contains(sys.last, `id="ops-retention"`) ||
			strings.Contains(sys.last, `action="/ops/retention/`) || strings.Contains(sys.last, `id="ops-security-settings"`) {
			t.Fatalf("the sysadmin's page: %d", res.StatusCode)
		}
		b := newBrowser(t, e)
		b.login("secadmin")
		if res := b.get("/ops"); res.StatusCode != 200 || !strings.Contains(b.last, `action="/ops/retention/chat"`) ||
			!strings.Contains(b.last, `id="ops-security-settings"`) || !strings.Contains(b.last, "聊天记录") {
			t.Fatalf("the security administrator's page: %d", res.StatusCode)
		}
		csrf := b.sessionCSRF()
		if res := b.post("/ops/retention/chat", map[string]string{"csrf": csrf, "years": "4", "purge": "1"}); res.StatusCode != 303 {
			t.Fatalf("retention form: %d %s", res.StatusCode, b.last)
		}
		sec := e.login("secadmin")
		found := false
		for _, p := range e.req("GET", "/api/v1/retention", sec, nil).body["policies"].([]any) {
			if m := p.(map[string]any); m["type"] == "chat" {
				found = m["years"] == float64(4) && m["purge"] == true
			}
		}
		if !found {
			t.Error("the form did not set the chat's retention to 4 years with purge")
		}
		// N-17: below the legal minimum is refused, and nothing changes.
		if res := b.post("/ops/retention/chat", map[string]string{"csrf": csrf, "years": "1", "purge": "1"}); res.StatusCode/100 != 4 {
			t.Errorf("2 years below the minimum: %d", res.StatusCode)
		}
		if res := b.post("/ops/retention/chat", map[string]string{"csrf": csrf, "years": "many"}); res.StatusCode/100 != 4 {
			t.Errorf("years not a number: %d", res.StatusCode)
		}
		if res := b.post("/ops/security-settings", map[string]string{"csrf": csrf, "staff_idle_minutes": "20", "patient_idle_minutes": "90",
			"identity_confirmation_minutes": "180"}); res.StatusCode != 303 {
			t.Fatalf("settings form: %d %s", res.StatusCode, b.last)
		}
		st := e.req("GET", "/api/v1/security-settings", sec, nil).body["platform"].(map[string]any)
		if st["staff_idle_minutes"] != float64(20) || st["patient_idle_minutes"] != float64(90) || st["identity_confirmation_minutes"] != float64(180) {
			t.Errorf("after the form: %v", st)
		}
		if res := b.post("/ops/security-settings", map[string]string{"csrf": csrf, "staff_idle_minutes": "20"}); res.StatusCode/100 != 4 {
			t.Errorf("a form leaving fields out: %d", res.StatusCode)
		}
		// Only the security administrator.
		if res := sys.post("/ops/retention/chat", map[string]string{"csrf": sys.sessionCSRF(), "years": "5", "purge": "1"}); res.StatusCode != 403 {
			t.Errorf("the sysadmin changed retention: %d", res.StatusCode)
		}
	})
}
