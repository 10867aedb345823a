package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/dates"
)

// payHeld pays a held booking through a sandbox provider and waits for
// the provider's notification to confirm it; it answers the payment.
func (e *env) payHeld(lm string, appt map[string]any, method string) map[string]any {
	e.t.Helper()
	p := e.req("POST", "/api/v1/payments", lm, map[string]any{"appointment_id": appt["id"], "method": method})
	if p.status != 201 {
		e.t.Fatalf("pay %d %s", p.status, p.raw)
	}
	if err := e.s.Sandbox(method).Pay(context.Background(), p.body["out_trade_no"].(string)); err != nil {
		e.t.Fatal(err)
	}
	waitFor(e.t, "the payment notification", func() bool { return e.paymentStatus(p.body["id"].(float64)) == billing.Paid })
	return p.body
}

// diffKinds maps "out_trade_no/out_refund_no" to the kinds of its
// differences, over every provider.
func diffKinds(body map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, r := range body["providers"].([]any) {
		for _, d := range r.(map[string]any)["differences"].([]any) {
			m := d.(map[string]any)
			key := m["out_trade_no"].(string)
			if no, _ := m["out_refund_no"].(string); no != "" {
				key += "/" + no
			}
			out[key] = append(out[key], m["kind"].(string))
			slices.Sort(out[key])
		}
	}
	return out
}

// Issue 12: the day's statements of both providers, as they publish them
// the next morning, match the institution's payments, refunds and ledger
// with no difference; a difference planted in the books is listed with
// its kind; another institution's orders stay out of an institution's
// reconciliation.
func TestDailyReconciliation(t *testing.T) {
	eachPayEnv(t, nil, func(t *testing.T, e *env) {
		// Paid through WeChat, cancelled and refunded; another booking paid
		// through Alipay.
		lm, a := e.heldBooking("rec-1")
		p1 := e.payHeld(lm, a, "wechat")
		id1, no1 := p1["id"].(float64), p1["out_trade_no"].(string)
		if r := e.req("POST", fmt.Sprintf("/api/v1/appointments/%.0f/cancel", a["id"]), lm, nil); r.status != 200 {
			t.Fatalf("cancel %d %s", r.status, r.raw)
		}
		waitFor(t, "the refund", func() bool { return e.paymentStatus(id1) == billing.Refunded })
		got := e.req("GET", fmt.Sprintf("/api/v1/payments/%.0f", id1), lm, nil)
		refundNo := got.body["refunds"].([]any)[0].(map[string]any)["out_refund_no"].(string)
		_, b := e.heldBooking("rec-2")
		p2 := e.payHeld(lm, b, "alipay")
		id2, no2 := p2["id"].(float64), p2["out_trade_no"].(string)
		for _, name := range []string{"wechat", "alipay"} {
			waitFor(t, "the notifications", func() bool { return e.s.Sandbox(name).(interface{ Pending() int }).Pending() == 0 })
		}
		day := e.clock.Now().In(dates.Beijing).Format(dates.Layout)
		path := "/api/v1/institutions/ccmc/reconciliation?day=" + day
		admin := e.login("ccmc-admin")

		// Not published before the next morning.
		if r := e.req("GET", path, admin, nil); r.status != 409 || r.errCode() != "statement_not_ready" || !strings.Contains(r.errMessage(), day) {
			t.Fatalf("before the statement: %d %s", r.status, r.raw)
		}
		if r := e.req("GET", path, admin, nil, "Accept-Language", "en"); !strings.Contains(r.errMessage(), "not published yet") {
			t.Fatalf("in English: %s", r.raw)
		}
		if r := e.req("GET", path, e.login("bch-admin"), nil); r.status != 403 {
			t.Fatalf("another hospital reconciles ccmc: %d", r.status)
		}
		if r := e.req("GET", "/api/v1/institutions/ccmc/reconciliation?day=yesterday", admin, nil); r.status != 400 || r.fieldCodes()["day"] != "invalid" {
			t.Fatalf("a bad day: %d %s", r.status, r.raw)
		}
		e.clock.Add(24*time.Hour + time.Minute) // 10:01 the next day: both published
		admin = e.login("ccmc-admin")           // the session of yesterday has ended

		// Both statements agree with the books.
		for _, who := range []string{admin, e.login("regulator")} {
			r := e.req("GET", path, who, nil)
			if r.status != 200 || r.body["day"] != day || r.body["differences"] != float64(0) {
				t.Fatalf("reconciliation %d %s", r.status, r.raw)
			}
			reps := r.body["providers"].([]any)
			if len(reps) != 2 {
				t.Fatalf("providers %s", r.raw)
			}
			want := map[string][2]float64{"alipay": {1, 1}, "wechat": {2, 2}} // lines, matched
			for _, x := range reps {
				m := x.(map[string]any)
				w := want[m["provider"].(string)]
				if m["lines"] != w[0] || m["matched"] != w[1] || m["statement_paid_fen"] != m["ledger_paid_fen"] ||
					m["statement_refunded_fen"] != m["ledger_refunded_fen"] {
					t.Fatalf("%s: %v", m["provider"], m)
				}
			}
		}
		// Yesterday's is the default.
		if r := e.req("GET", "/api/v1/institutions/ccmc/reconciliation", admin, nil); r.status != 200 || r.body["day"] != day || r.body["differences"] != float64(0) {
			t.Fatalf("default day %d %s", r.status, r.raw)
		}
		// The statements are the platform's: ccmc's orders are not bch's.
		if r := e.req("GET", "/api/v1/institutions/bch/reconciliation?day="+day, e.login("bch-admin"), nil); r.status != 200 || r.body["differences"] != float64(0) ||
			strings.Contains(string(r.raw), no1) {
			t.Fatalf("bch %d %s", r.status, r.raw)
		}
		var looks int
		e.db.Writer().QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'reconciliation.read'`).Scan(&looks)
		if looks != 6 { // the two before the statements too; not the refused ones
			t.Fatalf("%d looks audited, want 6", looks)
		}

		// Differences planted in the books: a payment's journal deleted, a
		// refund back to processing, an amount changed, a payment the
		// provider never took.
		w := e.db.Writer()
		paidAt := e.clock.Now().Add(-24 * time.Hour).UnixMicro()
		for _, q := range []string{
			fmt.Sprintf(`DELETE FROM ledger_entries WHERE journal = 'payment:%.0f'`, id1),
			fmt.Sprintf(`UPDATE refunds SET status = 'processing', done_at = 0 WHERE out_refund_no = '%s'`, refundNo),
			fmt.Sprintf(`UPDATE payments SET amount_fen = amount_fen + 100 WHERE id = %.0f`, id2),
			fmt.Sprintf(`INSERT INTO payments (purpose, ref_id, account_id, patient_id, institution, amount_fen, provider, channel, out_trade_no, status,
				created_at, paid_at) VALUES ('appointment', 0, 0, 0, 'ccmc', 1234, 'wechat', 'native', 'YYPLANTED', 'paid', %d, %d)`, paidAt, paidAt),
		} {
			if _, err := w.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		r := e.req("GET", path, admin, nil)
		if r.status != 200 || r.body["differences"] != float64(6) {
			t.Fatalf("planted: %d %s", r.status, r.raw)
		}
		want := map[string][]string{
			no1:                  {"missing_in_ledger"},
			no1 + "/" + refundNo: {"state_differs"},
			no2:                  {"amount_differs", "amount_differs"},
			"YYPLANTED":          {"missing_in_ledger", "missing_in_statement"},
		}
		if got := diffKinds(r.body); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("differences %v, want %v\n%s", got, want, r.raw)
		}
	})
}
