package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// eachPayEnv runs fn on a fresh server on every engine, its sandbox
// providers set by configure.
func eachPayEnv(t *testing.T, configure func(*Config), fn func(t *testing.T, e *env)) {
	t.Parallel()
	eachSeeded(t, func(t *testing.T, db *sqlstore.DB) { fn(t, newEnv(t, db, relaxed, configure)) })
}

// waitFor polls cond (a provider's notification arrives over HTTP).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// balanced checks that the ledger sums to zero, and answers the number of
// entries.
func (e *env) balanced() int {
	e.t.Helper()
	sum, err := e.db.LedgerSum(context.Background())
	if err != nil || sum != 0 {
		e.t.Fatalf("the ledger sums to %d (%v)", sum, err)
	}
	es, err := e.db.Ledger(context.Background(), billing.Filter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(es)
}

// heldBooking books 首都儿童医学中心's allergy follow-up for 李小雨 (a paid
// service, fee at booking: M-1) and answers the appointment.
func (e *env) heldBooking(key string) (lm string, appt map[string]any) {
	e.t.Helper()
	lm = e.login("liming")
	slot := e.slotOf("ccmc-allergy-fu")
	r := e.req("POST", "/api/v1/appointments", lm, map[string]any{"slot_id": slot["id"], "patient_id": e.patientIDs(lm)["李小雨"], "answers": screened()}, "Idempotency-Key", key)
	if r.status != 201 || r.body["status"] != "held" {
		e.t.Fatalf("book %d %s", r.status, r.raw)
	}
	return lm, r.body
}

func (e *env) slotBooked(id any) float64 {
	e.t.Helper()
	var n float64
	e.db.Writer().QueryRow(`SELECT booked FROM slots WHERE id = $1`, int64(id.(float64))).Scan(&n)
	return n
}

func (e *env) paymentStatus(id float64) billing.Status {
	p, err := e.db.Payment(context.Background(), int64(id))
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Status
}

// M-1 at 首都儿童医学中心 (self-pay at booking): the booking holds the place
// for 15 minutes; the cashier takes the fee; the provider's signed
// notification (sent twice, with wrongly signed probes before it)
// confirms the booking once; cancelling before the cutoff refunds it once;
// the ledger sums to zero after each step.
func TestBookingFeeHeldPaidRefunded(t *testing.T) {
	eachPayEnv(t, func(c *Config) { c.PaySandbox.DuplicateEvery, c.PaySandbox.BadSignatureEvery = 1, 1 }, func(t *testing.T, e *env) {
		lm, a := e.heldBooking("fee-1")
		payBy, _ := time.Parse(time.RFC3339, a["pay_by"].(string))
		if d := payBy.Sub(e.clock.Now()); d != 15*time.Minute {
			t.Fatalf("pay by %v: %v after now", payBy, d)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", lm, nil).raw), "请在") {
			t.Fatal("the guardian was not told to pay")
		}
		// Not a visit yet: the pre-consultation waits for the payment.
		vpath := fmt.Sprintf("/api/v1/visits/%.0f", a["id"])
		if r := e.req("POST", vpath+"/wait", lm, nil); r.status < 400 {
			t.Fatalf("a held booking entered the waiting room: %d", r.status)
		}
		// The payment: one order however often asked.
		p := e.req("POST", "/api/v1/payments", lm, map[string]any{"appointment_id": a["id"], "method": "wechat"})
		if p.status != 201 || p.body["status"] != "pending" || p.body["amount_fen"] != float64(3000) {
			t.Fatalf("pay %d %s", p.status, p.raw)
		}
		again := e.req("POST", "/api/v1/payments", lm, map[string]any{"appointment_id": a["id"], "method": "wechat"})
		if again.body["id"] != p.body["id"] || again.body["out_trade_no"] != p.body["out_trade_no"] {
			t.Fatalf("a second order: %s", again.raw)
		}
		if r := e.req("POST", "/api/v1/payments", e.login("zhangwei"), map[string]any{"appointment_id": a["id"], "method": "wechat"}); r.status != 404 {
			t.Fatalf("another account pays: %d", r.status)
		}
		cashier := p.body["cashier_url"].(string)
		if r := e.req("GET", cashier, "", nil); r.status != 200 || !strings.Contains(string(r.raw), "30.00") {
			t.Fatalf("cashier %d %s", r.status, r.raw)
		}
		id := p.body["id"].(float64)
		no := p.body["out_trade_no"].(string)
		if err := e.s.Sandbox("wechat").Pay(context.Background(), no); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the payment notification", func() bool { return e.paymentStatus(id) == billing.Paid })
		waitFor(t, "the duplicates", func() bool { return e.s.Sandbox("wechat").(interface{ Pending() int }).Pending() == 0 })
		if n := e.s.Sandbox("wechat").(interface{ ProbesAccepted() int }).ProbesAccepted(); n != 0 {
			t.Fatalf("%d wrongly signed notifications accepted", n)
		}
		if n := e.balanced(); n != 2 {
			t.Fatalf("%d ledger entries after a payment notified twice", n)
		}
		ap := e.req("GET", fmt.Sprintf("/api/v1/appointments/%.0f", a["id"]), lm, nil)
		if ap.body["status"] != "booked" {
			t.Fatalf("not confirmed: %s", ap.raw)
		}
		led := e.req("GET", "/api/v1/institutions/ccmc/ledger", e.login("ccmc-admin"), nil)
		bal := led.body["balances"].(map[string]any)
		if led.status != 200 || led.body["sum"] != float64(0) || bal["provider:wechat"] != float64(3000) || bal["institution:ccmc"] != float64(-3000) {
			t.Fatalf("ledger %d %s", led.status, led.raw)
		}
		if r := e.req("GET", "/api/v1/institutions/ccmc/ledger", e.login("bch-admin"), nil); r.status != 403 {
			t.Fatalf("another hospital reads the ledger: %d", r.status)
		}
		// Cancelled before the cutoff: refunded once, through WeChat.
		if r := e.req("POST", fmt.Sprintf("/api/v1/appointments/%.0f/cancel", a["id"]), lm, nil); r.status != 200 {
			t.Fatalf("cancel %d %s", r.status, r.raw)
		}
		waitFor(t, "the refund", func() bool { return e.paymentStatus(id) == billing.Refunded })
		got := e.req("GET", fmt.Sprintf("/api/v1/payments/%.0f", id), lm, nil)
		rs := got.body["refunds"].([]any)
		if got.status != 200 || len(rs) != 1 || rs[0].(map[string]any)["status"] != "succeeded" || got.body["refunded_fen"] != float64(3000) {
			t.Fatalf("refunded %s", got.raw)
		}
		if n := e.balanced(); n != 4 {
			t.Fatalf("%d ledger entries after the refund", n)
		}
		// Nothing more to give back.
		if r := e.req("POST", "/api/v1/refunds", e.login("ccmc-admin"), map[string]any{"payment_id": id, "amount_fen": 1, "reason": "再退"}); r.status != 409 || r.errCode() != "refund_amount" {
			t.Fatalf("refund beyond the payment: %d %s", r.status, r.raw)
		}
	})
}

// A hold not paid in time ends: its place returns to the slot and is
// booked again (no oversell), its order is closed; a payment that lands
// after the close is recorded and refunded automatically.
func TestHoldExpiresAndLatePaymentRefunded(t *testing.T) {
	// The provider's notifications and refunds take 1.5 s.
	eachPayEnv(t, func(c *Config) { c.PaySandbox.Delay = 1500 * time.Second }, func(t *testing.T, e *env) {
		lm, a := e.heldBooking("hold-1")
		before := e.slotBooked(a["slot_id"])
		p := e.req("POST", "/api/v1/payments", lm, map[string]any{"appointment_id": a["id"], "method": "alipay", "channel": "h5"})
		if p.status != 201 {
			t.Fatalf("pay %d %s", p.status, p.raw)
		}
		// Still held a minute before the end.
		e.clock.Add(14 * time.Minute)
		if n, err := e.s.ExpireHolds(context.Background()); err != nil || n != 0 {
			t.Fatalf("expired early: %d %v", n, err)
		}
		e.clock.Add(2 * time.Minute)
		if n, err := e.s.ExpireHolds(context.Background()); err != nil || n != 1 {
			t.Fatalf("expired %d: %v", n, err)
		}
		if n, _ := e.s.ExpireHolds(context.Background()); n != 0 {
			t.Fatal("a hold expired twice")
		}
		if got := e.slotBooked(a["slot_id"]); got != before-1 {
			t.Fatalf("slot booked %v, was %v", got, before)
		}
		if st := e.paymentStatus(p.body["id"].(float64)); st != billing.Closed {
			t.Fatalf("payment %s", st)
		}
		if r := e.req("POST", "/api/v1/payments", lm, map[string]any{"appointment_id": a["id"], "method": "alipay"}); r.status != 409 || r.errCode() != "hold_expired" {
			t.Fatalf("paying an expired hold: %d %s", r.status, r.raw)
		}
		if !strings.Contains(string(e.req("GET", "/api/v1/notifications", lm, nil).raw), "号源已释放") {
			t.Fatal("the guardian was not told")
		}
		// The place is booked again.
		_, again := e.heldBooking("hold-2")
		if again["slot_id"] != a["slot_id"] || e.slotBooked(a["slot_id"]) != before {
			t.Fatalf("rebooked %v on slot %v", again["slot_id"], a["slot_id"])
		}

		// A payment that lands after the close: the payer pays as the hold
		// ends (the provider's notification is slow to come); the close
		// finds the order paid, the payment is recorded and refunded
		// automatically, and the booking stays expired.
		p2 := e.req("POST", "/api/v1/payments", lm, map[string]any{"appointment_id": again["id"], "method": "wechat"})
		id2 := p2.body["id"].(float64)
		if err := e.s.Sandbox("wechat").Pay(context.Background(), p2.body["out_trade_no"].(string)); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(16 * time.Minute)
		if n, err := e.s.ExpireHolds(context.Background()); err != nil || n != 1 {
			t.Fatalf("expired %d: %v", n, err)
		}
		waitFor(t, "the automatic refund", func() bool { return e.paymentStatus(id2) == billing.Refunded })
		got := e.req("GET", fmt.Sprintf("/api/v1/payments/%.0f", id2), lm, nil)
		rs := got.body["refunds"].([]any)
		if len(rs) != 1 || rs[0].(map[string]any)["reason_key"] != billing.ReasonLatePayment {
			t.Fatalf("late payment: %s", got.raw)
		}
		if r := e.req("GET", fmt.Sprintf("/api/v1/appointments/%.0f", again["id"]), lm, nil); r.body["status"] != "expired" {
			t.Fatalf("the late payment booked: %s", r.raw)
		}
		// The slow notification comes at last and changes nothing.
		waitFor(t, "the notification", func() bool { return e.s.Sandbox("wechat").(interface{ Pending() int }).Pending() == 0 })
		if n := e.balanced(); n != 4 {
			t.Fatalf("%d ledger entries: a payment and its refund", n)
		}
	})
}

// The provider's create call times out although it made the order: the
// payment is confirmed by a query and no second order is made; a forged
// notification is refused and changes nothing.
func TestPaymentCreateTimeoutAndForgedNotification(t *testing.T) {
	eachPayEnv(t, func(c *Config) { c.PaySandbox.CreateTimeoutEvery = 1 }, func(t *testing.T, e *env) {
		lm, a := e.heldBooking("timeout-1")
		p := e.req("POST", "/api/v1/payments", lm, map[string]any{"appointment_id": a["id"], "method": "wechat"})
		if p.status != 201 || p.body["cashier_url"] == "" {
			t.Fatalf("pay %d %s", p.status, p.raw)
		}
		ord, err := e.s.Sandbox("wechat").QueryOrder(context.Background(), p.body["out_trade_no"].(string))
		if err != nil || ord.AmountFen != 3000 {
			t.Fatalf("order %+v %v", ord, err)
		}
		body := `{"id":"forged","event_type":"TRANSACTION.SUCCESS","resource_type":"encrypt-resource","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","nonce":"000000000000","associated_data":"transaction"}}`
		req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/payments/notify/wechat", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Wechatpay-Timestamp", fmt.Sprint(e.clock.Now().Unix()))
		req.Header.Set("Wechatpay-Nonce", "n")
		req.Header.Set("Wechatpay-Signature", "Zm9yZ2Vk")
		req.Header.Set("Wechatpay-Serial", "nope")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Fatalf("a forged notification answered %d", res.StatusCode)
		}
		if st := e.paymentStatus(p.body["id"].(float64)); st != billing.Pending {
			t.Fatalf("payment %s after a forged notification", st)
		}
		// Polling the payment asks the provider: paid at the cashier, it is
		// known without waiting for the notification.
		if err := e.s.Sandbox("wechat").Pay(context.Background(), p.body["out_trade_no"].(string)); err != nil {
			t.Fatal(err)
		}
		got := e.req("GET", fmt.Sprintf("/api/v1/payments/%.0f", p.body["id"]), lm, nil)
		if got.body["status"] != "paid" {
			t.Fatalf("polled %s", got.raw)
		}
		waitFor(t, "the notifications", func() bool { return e.s.Sandbox("wechat").(interface{ Pending() int }).Pending() == 0 })
		if n := e.balanced(); n != 2 {
			t.Fatalf("%d entries", n)
		}
	})
}
