package e2e

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// Registration proves the phone by an SMS code (N-5). The tests read the
// code where a demo user would: the SMS sandbox's log, on the system
// administrator's page (GET /api/v1/sandbox/sms).

var smsCodeRe = regexp.MustCompile(`\b[0-9]{6}\b`)

// smsCode returns the newest code texted to phone.
func smsCode(t *testing.T, base, phone string) string {
	t.Helper()
	tok := apiLogin(t, base, "admin")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var log struct{ Messages []map[string]any }
		if st := api(t, "GET", base+"/api/v1/sandbox/sms?to="+phone, tok, nil, &log); st != 200 {
			t.Fatalf("sms log: %d", st)
		}
		for _, m := range log.Messages { // newest first
			if m["kind"] == "sms_code" {
				if c := smsCodeRe.FindString(fmt.Sprint(m["text"])); c != "" {
					return c
				}
			}
		}
	}
	t.Fatalf("no code sent to %s", phone)
	return ""
}

// register registers over the API: it asks for a code for body's phone,
// reads it from the sandbox's log and registers with it; it returns the
// status.
func register(t *testing.T, base string, body map[string]string) int {
	t.Helper()
	var out map[string]any
	if st := api(t, "POST", base+"/api/v1/auth/sms-code", "", map[string]string{"phone": body["phone"], "purpose": "register"}, &out); st != 202 {
		t.Fatalf("sms-code: %d %v", st, out)
	}
	withCode := map[string]string{}
	for k, v := range body {
		withCode[k] = v
	}
	withCode["sms_code"] = smsCode(t, base, body["phone"])
	return api(t, "POST", base+"/api/v1/auth/register", "", withCode, &out)
}
