package web

import (
	"testing"
)

// Issue 15: an Idempotency-Key names one request. Reused with another
// patient, slot or answers it is refused (422 idempotency_key_reused),
// never answered with the first booking; the same request again is
// replayed.
func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		lm := e.login("liming")
		kids := e.patientIDs(lm)
		slot := e.slotOf("bch-allergy-fu")
		body := map[string]any{"slot_id": slot["id"], "patient_id": kids["李小雨"], "answers": screened()}
		first := e.req("POST", "/api/v1/appointments", lm, body, "Idempotency-Key", "same-key")
		if first.status != 201 {
			t.Fatalf("book: %d %s", first.status, first.raw)
		}
		cases := []struct {
			name string
			body map[string]any
		}{
			{"another patient", map[string]any{"slot_id": slot["id"], "patient_id": kids["李小天"], "answers": screened()}},
			{"other answers", map[string]any{"slot_id": slot["id"], "patient_id": kids["李小雨"], "answers": screened("difficult")}},
			{"another slot", map[string]any{"slot_id": e.slotOf("bch-dermatology-fu")["id"], "patient_id": kids["李小雨"], "answers": screened()}},
		}
		for _, c := range cases {
			r := e.req("POST", "/api/v1/appointments", lm, c.body, "Idempotency-Key", "same-key")
			if r.status != 422 || r.errCode() != "idempotency_key_reused" || r.body["id"] != nil {
				t.Fatalf("%s: %d %s", c.name, r.status, r.raw)
			}
		}
		again := e.req("POST", "/api/v1/appointments", lm, body, "Idempotency-Key", "same-key")
		if again.status != 201 || again.body["id"] != first.body["id"] || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("the same request again: %d %s", again.status, again.raw)
		}
		if n := len(e.req("GET", "/api/v1/appointments", lm, nil).items()); n != 1 {
			t.Fatalf("%d appointments", n)
		}
	})
}
