package pay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/testclock"
)

func TestAlipayVerify(t *testing.T) {
	clock := testclock.New()
	a := newAlipay(t, testConfig(t, clock))
	now := clock.Now()
	ev := &event{id: "N1", eventType: EventTransactionSuccess, createdAt: now, order: Order{
		OutTradeNo: "T1", TransactionID: "2026010122001", AmountFen: 1234, State: StateSuccess, PaidAt: now, CreatedAt: now, Description: "问诊",
	}}
	signed := func(ts time.Time, modify func(v url.Values)) []byte {
		v := a.fields(ev, ts)
		if modify != nil {
			modify(v)
		}
		sig, err := signAlipay(a.cfg.PlatformKey, AlipaySignContent(v))
		if err != nil {
			t.Fatal(err)
		}
		v.Set("sign", sig)
		return []byte(v.Encode())
	}
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"good", signed(now, nil), nil},
		{"stale", signed(now.Add(-301*time.Second), nil), ErrStale},
		{"ahead", signed(now.Add(301*time.Second), nil), ErrStale},
		{"other app", signed(now, func(v url.Values) { v.Set("app_id", "2021000000000000") }), ErrInvalidRequest},
		{"tampered amount", []byte(strings.Replace(string(signed(now, nil)), "total_amount=12.34", "total_amount=1.00", 1)), ErrBadSignature},
		{"RSA sign type", []byte(strings.Replace(string(signed(now, nil)), "sign_type=RSA2", "sign_type=RSA", 1)), ErrBadSignature},
		{"no sign", []byte(url.Values{"notify_id": {"x"}, "sign_type": {"RSA2"}}.Encode()), ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := a.ParseNotification(nil, tc.body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (n.ID != "N1" || n.EventType != EventTransactionSuccess || n.Order.AmountFen != 1234 || n.Order.OutTradeNo != "T1" || !n.Order.PaidAt.Equal(now.Truncate(time.Second))) {
				t.Fatalf("notification %+v order %+v", n, n.Order)
			}
		})
	}
	// The signed content excludes sign, sign_type and empty values and is sorted.
	v := url.Values{"b": {"2"}, "a": {"1"}, "sign": {"s"}, "sign_type": {"RSA2"}, "c": {""}}
	if got := AlipaySignContent(v); got != "a=1&b=2" {
		t.Fatalf("content = %q", got)
	}
	if st, b := a.NotificationAck(nil); st != 200 || string(b) != "success" {
		t.Fatalf("ack = %d %q", st, b)
	}
	if _, b := a.NotificationAck(errBusy); string(b) != "fail" {
		t.Fatalf("nack = %q", b)
	}
}

func TestAlipayState(t *testing.T) {
	for _, tc := range []struct {
		status   string
		refunded int64
		want     State
	}{
		{AlipayWaitBuyerPay, 0, StateNotPay},
		{AlipayTradeSuccess, 0, StateSuccess},
		{AlipayTradeSuccess, 5, StateRefund},
		{AlipayTradeFinished, 0, StateSuccess},
		{AlipayTradeClosed, 0, StateClosed},
		{AlipayTradeClosed, 100, StateRefund},
	} {
		if got := AlipayState(tc.status, tc.refunded); got != tc.want {
			t.Errorf("AlipayState(%s, %d) = %s, want %s", tc.status, tc.refunded, got, tc.want)
		}
	}
}

func TestAlipayFlow(t *testing.T) {
	clock := testclock.New()
	cfg := testConfig(t, clock)
	cfg.TimeFactor = 0.0001 // Alipay's first retry comes after 4 minutes
	a := newAlipay(t, cfg)
	start(t, a)
	rc := newReceiver(t, a, 2) // answers "fail" twice
	ctx := context.Background()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	o := create(t, a, "AL1", 1234, rc.url())
	// A precreated trade does not exist for Alipay until the payer scans it.
	if _, err := a.QueryOrder(ctx, "AL1"); !errors.Is(err, ErrOrderNotFound) {
		t.Fatalf("query before scan: %v", err)
	}
	if err := a.CloseOrder(ctx, "AL1"); !errors.Is(err, ErrOrderNotFound) {
		t.Fatalf("close before scan: %v", err)
	}
	resp, err := http.Get(srv.URL + "/sandbox/pay/cashier/AL1")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "支付宝") || !strings.Contains(string(page), "¥12.34") || o.CashierURL != "http://pay.example/sandbox/pay/cashier/AL1" {
		t.Fatalf("cashier page:\n%s", page)
	}
	if q, err := a.QueryOrder(ctx, "AL1"); err != nil || q.State != StateNotPay {
		t.Fatalf("query after scan: %+v, %v", q, err)
	}
	if err := a.Pay(ctx, "AL1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification", func() bool { got, _ := rc.snapshot(); return len(got) == 1 })
	waitFor(t, "3 deliveries recorded", func() bool { return len(a.Deliveries()) == 3 })
	got, _ := rc.snapshot()
	n := got[0]
	q, _ := a.QueryOrder(ctx, "AL1")
	if n.EventType != EventTransactionSuccess || n.Order.AmountFen != 1234 || n.Order.TransactionID != q.TransactionID || len(q.TransactionID) != 28 {
		t.Fatalf("notification %+v order %+v (query %+v)", n, n.Order, q)
	}
	for i, d := range a.Deliveries() {
		if d.NotificationID != n.ID || d.Attempt != i+1 || d.Acked != (i == 2) {
			t.Fatalf("delivery %d = %+v", i, d)
		}
	}
}

// Alipay wants exactly "success": anything else is retried with the same
// notify_id.
func TestAlipayStrictAck(t *testing.T) {
	clock := testclock.New()
	cfg := testConfig(t, clock)
	cfg.TimeFactor = 0.0001
	a := newAlipay(t, cfg)
	start(t, a)
	var mu sync.Mutex
	var ids []string
	answers := []string{"SUCCESS", "success\n", "ok", "success"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n, err := a.ParseNotification(r.Header, body)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		ids = append(ids, n.ID)
		ans := answers[min(len(ids)-1, len(answers)-1)]
		mu.Unlock()
		io.WriteString(w, ans)
	}))
	defer srv.Close()
	create(t, a, "AL2", 100, srv.URL)
	a.Pay(context.Background(), "AL2")
	waitFor(t, "4 attempts", func() bool { return len(a.Deliveries()) == 4 })
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 4 || ids[0] != ids[3] || !a.Deliveries()[3].Acked {
		t.Fatalf("ids %v", ids)
	}
}

func TestAlipayRefundsAndExpiry(t *testing.T) {
	clock := testclock.New()
	a := newAlipay(t, testConfig(t, clock))
	start(t, a)
	rc := newReceiver(t, a, 0)
	ctx := context.Background()
	create(t, a, "AR", 1000, rc.url())
	a.Pay(ctx, "AR")
	r, err := a.Refund(ctx, RefundRequest{OutTradeNo: "AR", OutRefundNo: "AR-1", RefundFen: 300, TotalFen: 1000, NotifyURL: "http://ignored.example"})
	if err != nil || r.Status != RefundSuccess {
		t.Fatalf("refund: %+v, %v", r, err)
	}
	if again, err := a.Refund(ctx, RefundRequest{OutTradeNo: "AR", OutRefundNo: "AR-1", RefundFen: 300, TotalFen: 1000}); err != nil || again.Status != RefundSuccess {
		t.Fatalf("again: %+v, %v", again, err)
	}
	if _, err := a.Refund(ctx, RefundRequest{OutTradeNo: "AR", OutRefundNo: "AR-2", RefundFen: 701, TotalFen: 1000}); !errors.Is(err, ErrRefundTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	if _, err := a.Refund(ctx, RefundRequest{OutTradeNo: "AR", OutRefundNo: "AR-3", RefundFen: 700, TotalFen: 1000}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 notifications", func() bool { got, _ := rc.snapshot(); return len(got) == 3 })
	got, _ := rc.snapshot()
	byRefund := map[string]*Notification{}
	for _, n := range got {
		if n.Refund != nil {
			byRefund[n.Refund.OutRefundNo] = n
		}
	}
	n1, n3 := byRefund["AR-1"], byRefund["AR-3"]
	if n1 == nil || n3 == nil || n1.EventType != EventRefundSuccess || n1.Order.RefundedFen != 300 || n1.Order.State != StateRefund ||
		n3.Order.RefundedFen != 1000 || n3.Order.StateDesc != AlipayTradeClosed || n3.Order.State != StateRefund {
		t.Fatalf("refund notifications %+v %+v", n1, n3)
	}
	if o, _ := a.QueryOrder(ctx, "AR"); o.State != StateRefund || o.RefundedFen != 1000 {
		t.Fatalf("order %+v", o)
	}

	// An unpaid trade past its expiry closes.
	a.CreateOrder(ctx, CreateRequest{OutTradeNo: "AE", AmountFen: 100, Description: "x", NotifyURL: rc.url(), Channel: ChannelH5, ExpireAt: clock.Now().Add(15 * time.Minute)})
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, _ := http.Get(srv.URL + "/sandbox/pay/cashier/AE")
	resp.Body.Close()
	clock.Add(16 * time.Minute)
	if o, _ := a.QueryOrder(ctx, "AE"); o.State != StateClosed {
		t.Fatalf("expired state %s", o.State)
	}
	if err := a.Pay(ctx, "AE"); !errors.Is(err, ErrOrderClosed) {
		t.Fatalf("pay expired: %v", err)
	}
}

func TestAlipayStatement(t *testing.T) {
	clock := testclock.New()
	day := midnight(clock.Now())
	clock.Set(day.Add(10 * time.Hour))
	a := newAlipay(t, testConfig(t, clock))
	ctx := context.Background()
	for i, fen := range []int64{1234, 99} {
		no := fmt.Sprintf("AS%d", i)
		create(t, a, no, fen, "https://m.example/n")
		a.Pay(ctx, no)
	}
	a.Refund(ctx, RefundRequest{OutTradeNo: "AS0", OutRefundNo: "AS0-R", RefundFen: 234, TotalFen: 1234, Reason: "重复支付"})
	clock.Set(day.Add(33*time.Hour - time.Second))
	if _, err := a.Statement(ctx, day); !errors.Is(err, ErrStatementNotYet) {
		t.Fatalf("before 09:00 the next day: %v", err)
	}
	clock.Set(day.Add(33 * time.Hour)) // 09:00 the next day
	bill, err := a.Statement(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if utf8.Valid(bill) {
		t.Fatal("the bill is not GBK")
	}
	lines, err := ParseAlipayStatement(bill)
	if err != nil {
		t.Fatal(err)
	}
	o0, _ := a.QueryOrder(ctx, "AS0")
	if len(lines) != 3 || lines[0].OutTradeNo != "AS0" || lines[0].AmountFen != 1234 || lines[0].TransactionID != o0.TransactionID ||
		lines[1].AmountFen != 99 || lines[2].State != StateRefund || lines[2].RefundFen != 234 || lines[2].OutRefundNo != "AS0-R" ||
		!lines[0].At.Equal(o0.PaidAt.Truncate(time.Second)) {
		t.Fatalf("lines %+v", lines)
	}
	// A day without trade has an empty bill.
	empty, err := a.Statement(ctx, day.AddDate(0, 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	if lines, err := ParseAlipayStatement(empty); err != nil || len(lines) != 0 {
		t.Fatalf("empty day: %v, %v", lines, err)
	}
}
