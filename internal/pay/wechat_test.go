package pay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// signedNotification builds a payment notification of w for order no as the
// platform would send it, with timestamp ts.
func signedNotification(t *testing.T, w *SandboxWeChat, ts time.Time) (http.Header, []byte) {
	t.Helper()
	ev := &event{id: "EV-test", eventType: EventTransactionSuccess, createdAt: ts, order: Order{
		OutTradeNo: "T1", TransactionID: "4200000001", AmountFen: 1234, State: StateSuccess, PaidAt: ts, Channel: ChannelNative,
	}}
	if err := w.prepare(ev); err != nil {
		t.Fatal(err)
	}
	tsStr, nonce := strconv.FormatInt(ts.Unix(), 10), "NONCE123"
	sig, err := signWeChat(w.cfg.PlatformKey, tsStr, nonce, ev.body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(WeChatHeaderTimestamp, tsStr)
	h.Set(WeChatHeaderNonce, nonce)
	h.Set(WeChatHeaderSignature, sig)
	h.Set(WeChatHeaderSerial, w.PlatformSerial())
	return h, ev.body
}

func TestWeChatVerify(t *testing.T) {
	clock := testclock.New()
	w := newWeChat(t, testConfig(t, clock))
	now := clock.Now()
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ts     time.Time
		modify func(h http.Header, body []byte) []byte
		want   error
	}{
		{"good", now, nil, nil},
		{"good 299 s old", now.Add(-299 * time.Second), nil, nil},
		{"stale 301 s old", now.Add(-301 * time.Second), nil, ErrStale},
		{"stale 301 s ahead", now.Add(301 * time.Second), nil, ErrStale},
		{"unknown serial", now, func(h http.Header, b []byte) []byte {
			h.Set(WeChatHeaderSerial, "5157F09EFDC096DE15EBE81A47057A72")
			return b
		}, ErrBadSignature},
		{"no serial", now, func(h http.Header, b []byte) []byte { h.Del(WeChatHeaderSerial); return b }, ErrBadSignature},
		{"tampered body", now, func(h http.Header, b []byte) []byte {
			return []byte(strings.Replace(string(b), `"summary":"支付成功"`, `"summary":"支付失败"`, 1))
		}, ErrBadSignature},
		{"other nonce", now, func(h http.Header, b []byte) []byte { h.Set(WeChatHeaderNonce, "OTHER"); return b }, ErrBadSignature},
		{"signed by another key", now, func(h http.Header, b []byte) []byte {
			sig, _ := signWeChat(other, h.Get(WeChatHeaderTimestamp), h.Get(WeChatHeaderNonce), b)
			h.Set(WeChatHeaderSignature, sig)
			return b
		}, ErrBadSignature},
		{"signature not base64", now, func(h http.Header, b []byte) []byte { h.Set(WeChatHeaderSignature, "!!"); return b }, ErrBadSignature},
		{"other signature type", now, func(h http.Header, b []byte) []byte {
			h.Set(WeChatHeaderSignatureType, "WECHATPAY2-SM2-WITH-SM3")
			return b
		}, ErrBadSignature},
		{"no timestamp", now, func(h http.Header, b []byte) []byte { h.Del(WeChatHeaderTimestamp); return b }, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, body := signedNotification(t, w, tc.ts)
			if tc.modify != nil {
				body = tc.modify(h, body)
			}
			n, err := w.ParseNotification(h, body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			if n.ID != "EV-test" || n.EventType != EventTransactionSuccess || n.Order == nil ||
				n.Order.OutTradeNo != "T1" || n.Order.AmountFen != 1234 || n.Order.State != StateSuccess || !n.Order.PaidAt.Equal(tc.ts.Truncate(time.Second)) {
				t.Fatalf("notification = %+v, order %+v", n, n.Order)
			}
		})
	}
	// A merchant holding another APIv3 key verifies the signature but
	// cannot decrypt.
	h, body := signedNotification(t, w, now)
	v := w.Verifier()
	v.APIv3Key = []byte(strings.Repeat("k", 32))
	if _, err := v.ParseNotification(h, body); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other APIv3 key: err = %v, want ErrDecrypt", err)
	}
	// And another merchant's notification is refused.
	v = w.Verifier()
	v.MchID = "1900000999"
	if _, err := v.ParseNotification(h, body); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("other mchid: err = %v, want ErrInvalidRequest", err)
	}
}

func TestWeChatDecrypt(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	plain := []byte(`{"out_trade_no":"T1"}`)
	res, err := encryptWeChatResource(key, plain, "transaction")
	if err != nil {
		t.Fatal(err)
	}
	if res.Algorithm != WeChatAlgorithm || len(res.Nonce) != 12 || res.AssociatedData != "transaction" || res.OriginalType != "transaction" {
		t.Fatalf("resource = %+v", res)
	}
	tests := []struct {
		name   string
		key    []byte
		modify func(r *WeChatResource)
		want   error
	}{
		{"ok", key, func(*WeChatResource) {}, nil},
		{"wrong key", []byte("x123456789abcdef0123456789abcdef"), func(*WeChatResource) {}, ErrDecrypt},
		{"short key", key[:16], func(*WeChatResource) {}, ErrDecrypt},
		{"other AAD", key, func(r *WeChatResource) { r.AssociatedData = "refund" }, ErrDecrypt},
		{"other nonce", key, func(r *WeChatResource) { r.Nonce = "AAAAAAAAAAAA" }, ErrDecrypt},
		{"short nonce", key, func(r *WeChatResource) { r.Nonce = "AAAA" }, ErrDecrypt},
		{"other algorithm", key, func(r *WeChatResource) { r.Algorithm = "AEAD_SM4_GCM" }, ErrDecrypt},
		{"not base64", key, func(r *WeChatResource) { r.Ciphertext = "%%%" }, ErrDecrypt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := res
			tc.modify(&r)
			got, err := DecryptWeChatResource(tc.key, r)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && string(got) != string(plain) {
				t.Fatalf("plain = %s", got)
			}
		})
	}
}

func TestWeChatFlow(t *testing.T) {
	clock := testclock.New()
	w := newWeChat(t, testConfig(t, clock))
	start(t, w)
	rc := newReceiver(t, w, 0)
	ctx := context.Background()
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, ch := range []string{ChannelNative, ChannelH5} {
		t.Run(ch, func(t *testing.T) {
			no := "F-" + ch
			o, err := w.CreateOrder(ctx, CreateRequest{OutTradeNo: no, AmountFen: 2550, Description: "儿童保健 复诊", NotifyURL: rc.url(), Channel: ch})
			if err != nil {
				t.Fatal(err)
			}
			if o.State != StateNotPay || o.CashierURL != "http://pay.example/sandbox/pay/cashier/"+no || o.TransactionID != "" {
				t.Fatalf("order = %+v", o)
			}
			resp, err := client.Get(srv.URL + "/sandbox/pay/cashier/" + no)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{"¥25.50", "儿童保健 复诊", "支付</button>", "取消</button>", `action="/sandbox/pay/cashier/` + no + `/pay"`} {
				if !strings.Contains(string(page), want) {
					t.Errorf("cashier page lacks %q", want)
				}
			}
			if hasQR := strings.Contains(string(page), `src="data:image/png;base64,`); hasQR != (ch == ChannelNative) {
				t.Errorf("QR code shown = %v for %s", hasQR, ch)
			}
			resp, err = client.Post(srv.URL+"/sandbox/pay/cashier/"+no+"/pay", "application/x-www-form-urlencoded", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("pay: status %d", resp.StatusCode)
			}
			q, err := w.QueryOrder(ctx, no)
			if err != nil || q.State != StateSuccess || q.TransactionID == "" || !q.PaidAt.Equal(clock.Now()) {
				t.Fatalf("query = %+v, %v", q, err)
			}
			waitFor(t, "the payment notification", func() bool {
				got, _ := rc.snapshot()
				for _, n := range got {
					if n.Order != nil && n.Order.OutTradeNo == no {
						return true
					}
				}
				return false
			})
			got, refused := rc.snapshot()
			n := got[len(got)-1]
			if n.EventType != EventTransactionSuccess || n.Order.TransactionID != q.TransactionID || n.Order.AmountFen != 2550 ||
				n.Order.Channel != ch || len(refused) != 0 {
				t.Fatalf("notification %+v order %+v refused %v", n, n.Order, refused)
			}
			// Paying again is refused, on the page as in code.
			resp, _ = client.Post(srv.URL+"/sandbox/pay/cashier/"+no+"/pay", "", nil)
			resp.Body.Close()
			if resp.StatusCode != http.StatusConflict {
				t.Fatalf("second pay: status %d", resp.StatusCode)
			}
			if err := w.Pay(ctx, no); !errors.Is(err, ErrOrderPaid) {
				t.Fatalf("second Pay: %v", err)
			}
		})
	}
	resp, _ := client.Get(srv.URL + "/sandbox/pay/cashier/nope")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown order: status %d", resp.StatusCode)
	}
	waitFor(t, "2 deliveries recorded", func() bool { return len(w.Deliveries()) == 2 })
	ds := w.Deliveries()
	if len(ds) != 2 || !ds[0].Acked || ds[0].Status != http.StatusNoContent || ds[0].Attempt != 1 {
		t.Fatalf("deliveries = %+v", ds)
	}
}

func TestWeChatEnvelope(t *testing.T) {
	clock := testclock.New()
	w := newWeChat(t, testConfig(t, clock))
	h, body := signedNotification(t, w, clock.Now())
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	res, _ := env["resource"].(map[string]any)
	if env["resource_type"] != "encrypt-resource" || env["event_type"] != "TRANSACTION.SUCCESS" || env["summary"] != "支付成功" ||
		res["algorithm"] != "AEAD_AES_256_GCM" || res["original_type"] != "transaction" || res["associated_data"] != "transaction" {
		t.Fatalf("envelope = %s", body)
	}
	if _, err := time.Parse(time.RFC3339, env["create_time"].(string)); err != nil || !strings.HasSuffix(env["create_time"].(string), "+08:00") {
		t.Fatalf("create_time = %v", env["create_time"])
	}
	if h.Get(WeChatHeaderSerial) != w.PlatformSerial() || len(w.PlatformSerial()) != 40 {
		t.Fatalf("serial %q", h.Get(WeChatHeaderSerial))
	}
	plain, err := DecryptWeChatResource(w.APIv3Key(), WeChatResource{
		Algorithm: res["algorithm"].(string), Ciphertext: res["ciphertext"].(string),
		AssociatedData: res["associated_data"].(string), Nonce: res["nonce"].(string),
	})
	if err != nil {
		t.Fatal(err)
	}
	var tx map[string]any
	json.Unmarshal(plain, &tx)
	if tx["trade_state"] != "SUCCESS" || tx["mchid"] != "1900000109" || tx["amount"].(map[string]any)["total"] != 1234.0 {
		t.Fatalf("transaction = %s", plain)
	}
}

func TestWeChatRetry(t *testing.T) {
	clock := testclock.New()
	w := newWeChat(t, testConfig(t, clock))
	start(t, w)
	rc := newReceiver(t, w, 3)
	create(t, w, "R1", 100, rc.url())
	if err := w.Pay(context.Background(), "R1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the fourth attempt", func() bool { got, _ := rc.snapshot(); return len(got) == 1 })
	waitFor(t, "4 deliveries recorded", func() bool { return len(w.Deliveries()) == 4 })
	ds := w.Deliveries()
	if len(ds) != 4 {
		t.Fatalf("deliveries = %+v", ds)
	}
	for i, d := range ds {
		if d.Attempt != i+1 || d.Acked != (i == 3) || d.NotificationID != ds[0].NotificationID || d.Kind != DeliveryNotify {
			t.Fatalf("delivery %d = %+v", i, d)
		}
		if i < 3 && d.Status != http.StatusInternalServerError {
			t.Fatalf("delivery %d status %d", i, d.Status)
		}
	}
	// No more attempts once acknowledged.
	time.Sleep(50 * time.Millisecond)
	if n := len(w.Deliveries()); n != 4 {
		t.Fatalf("%d deliveries after the acknowledgement", n)
	}
}

func TestWeChatRetryGivesUp(t *testing.T) {
	clock := testclock.New()
	cfg := testConfig(t, clock)
	cfg.TimeFactor = 0.000001 // the 24 h schedule in about 90 ms
	w := newWeChat(t, cfg)
	start(t, w)
	rc := newReceiver(t, w, 1000)
	create(t, w, "G1", 100, rc.url())
	w.Pay(context.Background(), "G1")
	waitFor(t, "16 attempts", func() bool { return len(w.Deliveries()) == 16 })
	time.Sleep(30 * time.Millisecond)
	if n := len(w.Deliveries()); n != 16 || w.Pending() != 0 {
		t.Fatalf("%d deliveries, %d pending, want 16 and 0 (1 + %d retries)", n, w.Pending(), len(weChatRetries))
	}
	// An unreachable merchant is retried as well.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	create(t, w, "G2", 100, dead.URL)
	w.Pay(context.Background(), "G2")
	waitFor(t, "16 failed attempts", func() bool { return len(w.Deliveries()) == 32 })
	if d := w.Deliveries()[31]; d.Status != 0 || d.Err == "" || d.Acked {
		t.Fatalf("last delivery = %+v", d)
	}
}

func TestWeChatDuplicatesAndProbes(t *testing.T) {
	clock := testclock.New()
	cfg := testConfig(t, clock)
	cfg.DuplicateEvery, cfg.BadSignatureEvery = 2, 3
	w := newWeChat(t, cfg)
	start(t, w)
	rc := newReceiver(t, w, 0)
	for i := 1; i <= 6; i++ {
		no := fmt.Sprintf("D%d", i)
		create(t, w, no, int64(i*100), rc.url())
		if err := w.Pay(context.Background(), no); err != nil {
			t.Fatal(err)
		}
	}
	// 6 notifications, 3 duplicated (2nd, 4th, 6th), 2 probes (3rd, 6th).
	waitFor(t, "9 valid notifications and 2 probes", func() bool {
		got, refused := rc.snapshot()
		return len(got) == 9 && len(refused) == 2
	})
	got, refused := rc.snapshot()
	for _, err := range refused {
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("probe refused with %v", err)
		}
	}
	ids := map[string]int{}
	for _, n := range got {
		ids[n.ID]++
	}
	twice := 0
	for _, c := range ids {
		if c == 2 {
			twice++
		}
	}
	if len(ids) != 6 || twice != 3 {
		t.Fatalf("ids = %v", ids)
	}
	if w.ProbesAccepted() != 0 {
		t.Fatalf("probes accepted: %d", w.ProbesAccepted())
	}
	waitFor(t, "11 deliveries recorded", func() bool { return len(w.Deliveries()) == 11 })
	kinds := map[DeliveryKind]int{}
	for _, d := range w.Deliveries() {
		kinds[d.Kind]++
		if d.Kind == DeliveryProbe && (d.Acked || d.Status != http.StatusInternalServerError) {
			t.Fatalf("probe delivery %+v", d)
		}
	}
	if kinds[DeliveryNotify] != 6 || kinds[DeliveryDuplicate] != 3 || kinds[DeliveryProbe] != 2 {
		t.Fatalf("kinds = %v", kinds)
	}
}

// A merchant that does not verify acknowledges the probes: the sandbox
// counts them.
func TestWeChatProbeAcceptedByCarelessMerchant(t *testing.T) {
	clock := testclock.New()
	cfg := testConfig(t, clock)
	cfg.BadSignatureEvery = 1
	w := newWeChat(t, cfg)
	start(t, w)
	careless := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusNoContent) }))
	defer careless.Close()
	create(t, w, "C1", 100, careless.URL)
	w.Pay(context.Background(), "C1")
	waitFor(t, "the probe", func() bool { return w.ProbesAccepted() == 1 })
}

func TestWeChatCreateOrder(t *testing.T) {
	clock := testclock.New()
	cfg := testConfig(t, clock)
	cfg.CreateTimeoutEvery = 2
	w := newWeChat(t, cfg)
	ctx := context.Background()
	req := func(no string, fen int64) CreateRequest {
		return CreateRequest{OutTradeNo: no, AmountFen: fen, Description: "问诊", NotifyURL: "https://m.example/notify", Channel: ChannelNative}
	}
	if _, err := w.CreateOrder(ctx, req("A1", 500)); err != nil {
		t.Fatalf("first create: %v", err)
	}
	// The second new order is made, but the answer times out.
	if _, err := w.CreateOrder(ctx, req("A2", 500)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("second create: %v, want ErrTimeout", err)
	}
	o, err := w.QueryOrder(ctx, "A2")
	if err != nil || o.State != StateNotPay || o.AmountFen != 500 {
		t.Fatalf("query after time-out: %+v, %v", o, err)
	}
	// Creating it again returns the same order (no second time-out: it is
	// not a new order).
	o2, err := w.CreateOrder(ctx, req("A2", 500))
	if err != nil || o2.OutTradeNo != "A2" || !o2.CreatedAt.Equal(o.CreatedAt) || o2.CashierURL != o.CashierURL {
		t.Fatalf("create again: %+v, %v", o2, err)
	}
	tests := []struct {
		name string
		r    CreateRequest
		want error
	}{
		{"other amount", req("A2", 501), ErrDuplicateOrder},
		{"no number", req("", 1), ErrInvalidRequest},
		{"bad number", req("A 3", 1), ErrInvalidRequest},
		{"zero amount", req("A4", 0), ErrInvalidRequest},
		{"no description", CreateRequest{OutTradeNo: "A5", AmountFen: 1, NotifyURL: "https://m.example/n", Channel: ChannelH5}, ErrInvalidRequest},
		{"bad channel", CreateRequest{OutTradeNo: "A6", AmountFen: 1, Description: "x", NotifyURL: "https://m.example/n", Channel: "jsapi"}, ErrInvalidRequest},
		{"bad notify url", CreateRequest{OutTradeNo: "A7", AmountFen: 1, Description: "x", NotifyURL: "/notify", Channel: ChannelH5}, ErrInvalidRequest},
		{"expired already", CreateRequest{OutTradeNo: "A8", AmountFen: 1, Description: "x", NotifyURL: "https://m.example/n", Channel: ChannelH5, ExpireAt: clock.Now()}, ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.CreateOrder(ctx, tc.r); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := w.QueryOrder(ctx, "nope"); !errors.Is(err, ErrOrderNotFound) {
		t.Fatalf("query unknown: %v", err)
	}
	w.Pay(ctx, "A1")
	if _, err := w.CreateOrder(ctx, req("A1", 500)); !errors.Is(err, ErrOrderPaid) {
		t.Fatalf("create paid: %v", err)
	}
}

func TestWeChatCloseAndExpire(t *testing.T) {
	clock := testclock.New()
	w := newWeChat(t, testConfig(t, clock))
	ctx := context.Background()
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()

	create(t, w, "X1", 100, "https://m.example/n")
	if err := w.CloseOrder(ctx, "X1"); err != nil {
		t.Fatal(err)
	}
	if err := w.CloseOrder(ctx, "X1"); err != nil {
		t.Fatalf("close twice: %v", err)
	}
	if err := w.Pay(ctx, "X1"); !errors.Is(err, ErrOrderClosed) {
		t.Fatalf("pay closed: %v", err)
	}
	resp, _ := http.Post(srv.URL+"/sandbox/pay/cashier/X1/pay", "", nil)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(page), "订单已关闭") {
		t.Fatalf("cashier pay closed: %d", resp.StatusCode)
	}
	if o, _ := w.QueryOrder(ctx, "X1"); o.State != StateClosed {
		t.Fatalf("state %s", o.State)
	}
	if _, err := w.CreateOrder(ctx, CreateRequest{OutTradeNo: "X1", AmountFen: 100, Description: "x", NotifyURL: "https://m.example/n", Channel: ChannelNative}); !errors.Is(err, ErrOrderClosed) {
		t.Fatalf("create closed: %v", err)
	}

	create(t, w, "X2", 100, "https://m.example/n")
	w.Pay(ctx, "X2")
	if err := w.CloseOrder(ctx, "X2"); !errors.Is(err, ErrOrderPaid) {
		t.Fatalf("close paid: %v", err)
	}
	if err := w.CloseOrder(ctx, "nope"); !errors.Is(err, ErrOrderNotFound) {
		t.Fatalf("close unknown: %v", err)
	}

	// Without ExpireAt an unpaid order stays NOTPAY; with it, paying
	// after it is refused and the order stays NOTPAY until closed.
	create(t, w, "X3", 100, "https://m.example/n")
	w.CreateOrder(ctx, CreateRequest{OutTradeNo: "X4", AmountFen: 100, Description: "x", NotifyURL: "https://m.example/n", Channel: ChannelH5, ExpireAt: clock.Now().Add(time.Hour)})
	clock.Add(30 * 24 * time.Hour)
	if o, _ := w.QueryOrder(ctx, "X3"); o.State != StateNotPay {
		t.Fatalf("X3 state %s", o.State)
	}
	if o, _ := w.QueryOrder(ctx, "X4"); o.State != StateNotPay {
		t.Fatalf("X4 state %s", o.State)
	}
	if err := w.Pay(ctx, "X4"); !errors.Is(err, ErrOrderExpired) {
		t.Fatalf("pay expired: %v", err)
	}
	resp, _ = http.Get(srv.URL + "/sandbox/pay/cashier/X4")
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(page), "支付</button>") || !strings.Contains(string(page), "已过期") {
		t.Fatalf("expired cashier page offers payment")
	}
	if err := w.Pay(ctx, "X3"); err != nil {
		t.Fatalf("pay after 30 days without expiry: %v", err)
	}
	// PAYERROR is final.
	create(t, w, "X5", 100, "https://m.example/n")
	if err := w.Fail(ctx, "X5"); err != nil {
		t.Fatal(err)
	}
	if err := w.Pay(ctx, "X5"); !errors.Is(err, ErrOrderClosed) {
		t.Fatalf("pay after PAYERROR: %v", err)
	}
	if o, _ := w.QueryOrder(ctx, "X5"); o.State != StatePayError {
		t.Fatalf("X5 state %s", o.State)
	}
	// Cancel leaves the order unpaid.
	create(t, w, "X6", 100, "https://m.example/n")
	resp, _ = http.PostForm(srv.URL+"/sandbox/pay/cashier/X6/cancel", url.Values{})
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if o, _ := w.QueryOrder(ctx, "X6"); o.State != StateNotPay || !strings.Contains(string(page), "取消支付") {
		t.Fatalf("after cancel: %s", o.State)
	}
}

func TestWeChatRefunds(t *testing.T) {
	clock := testclock.New()
	w := newWeChat(t, testConfig(t, clock))
	start(t, w)
	rc := newReceiver(t, w, 0)
	rcRefund := newReceiver(t, w, 0)
	ctx := context.Background()
	create(t, w, "P1", 10000, rc.url())
	create(t, w, "P2", 100, rc.url())
	create(t, w, "U1", 100, rc.url())
	w.Pay(ctx, "P1")
	w.Pay(ctx, "P2")

	r, err := w.Refund(ctx, RefundRequest{OutTradeNo: "P1", OutRefundNo: "RF1", RefundFen: 3000, TotalFen: 10000, Reason: "患者取消", NotifyURL: rcRefund.url()})
	if err != nil || r.Status != RefundProcessing || r.RefundID == "" {
		t.Fatalf("refund: %+v, %v", r, err)
	}
	again, err := w.Refund(ctx, RefundRequest{OutTradeNo: "P1", OutRefundNo: "RF1", RefundFen: 3000, TotalFen: 10000, NotifyURL: rcRefund.url()})
	if err != nil || again.RefundID != r.RefundID {
		t.Fatalf("same refund again: %+v, %v", again, err)
	}
	waitFor(t, "the refund notification", func() bool { got, _ := rcRefund.snapshot(); return len(got) == 1 })
	got, _ := rcRefund.snapshot()
	n := got[0]
	if n.EventType != EventRefundSuccess || n.Refund.OutRefundNo != "RF1" || n.Refund.RefundFen != 3000 || n.Refund.Status != RefundSuccess || n.Refund.RefundID != r.RefundID {
		t.Fatalf("refund notification %+v %+v", n, n.Refund)
	}
	q, _ := w.QueryRefund(ctx, "RF1")
	o, _ := w.QueryOrder(ctx, "P1")
	if q.Status != RefundSuccess || !q.SuccessAt.Equal(clock.Now()) || o.State != StateRefund || o.RefundedFen != 3000 {
		t.Fatalf("after refund: %+v, %+v", q, o)
	}
	// Asking again after success is still the same refund, refunded once.
	if again, _ := w.Refund(ctx, RefundRequest{OutTradeNo: "P1", OutRefundNo: "RF1", RefundFen: 3000, TotalFen: 10000}); again.Status != RefundSuccess {
		t.Fatalf("same refund after success: %+v", again)
	}
	time.Sleep(20 * time.Millisecond)
	if o, _ := w.QueryOrder(ctx, "P1"); o.RefundedFen != 3000 {
		t.Fatalf("refunded %d", o.RefundedFen)
	}

	tests := []struct {
		name string
		r    RefundRequest
		want error
	}{
		{"more than left", RefundRequest{OutTradeNo: "P1", OutRefundNo: "RF2", RefundFen: 7001, TotalFen: 10000}, ErrRefundTooLarge},
		{"same number, other amount", RefundRequest{OutTradeNo: "P1", OutRefundNo: "RF1", RefundFen: 1, TotalFen: 10000}, ErrInvalidRequest},
		{"same number, other order", RefundRequest{OutTradeNo: "P2", OutRefundNo: "RF1", RefundFen: 3000, TotalFen: 100}, ErrInvalidRequest},
		{"wrong total", RefundRequest{OutTradeNo: "P1", OutRefundNo: "RF3", RefundFen: 1, TotalFen: 9999}, ErrInvalidRequest},
		{"unpaid", RefundRequest{OutTradeNo: "U1", OutRefundNo: "RF4", RefundFen: 1, TotalFen: 100}, ErrOrderNotPaid},
		{"unknown order", RefundRequest{OutTradeNo: "nope", OutRefundNo: "RF5", RefundFen: 1, TotalFen: 100}, ErrOrderNotFound},
		{"zero", RefundRequest{OutTradeNo: "P1", OutRefundNo: "RF6", RefundFen: 0, TotalFen: 10000}, ErrInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.Refund(ctx, tc.r); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := w.QueryRefund(ctx, "RF2"); !errors.Is(err, ErrRefundNotFound) {
		t.Fatalf("refused refund exists: %v", err)
	}

	// Up to 50 refunds per order: 49 more of 1 fen, then the 51st is refused.
	for i := 2; i <= 50; i++ {
		if _, err := w.Refund(ctx, RefundRequest{OutTradeNo: "P1", OutRefundNo: fmt.Sprintf("M%d", i), RefundFen: 1, TotalFen: 10000}); err != nil {
			t.Fatalf("refund %d: %v", i, err)
		}
	}
	if _, err := w.Refund(ctx, RefundRequest{OutTradeNo: "P1", OutRefundNo: "M51", RefundFen: 1, TotalFen: 10000}); !errors.Is(err, ErrTooManyRefunds) {
		t.Fatalf("51st refund: %v", err)
	}
	if _, err := w.Refund(ctx, RefundRequest{OutTradeNo: "P1", OutRefundNo: "M50", RefundFen: 1, TotalFen: 10000}); err != nil {
		t.Fatalf("the 50th again: %v", err)
	}

	// Not after 365 days.
	clock.Add(365 * 24 * time.Hour)
	if _, err := w.Refund(ctx, RefundRequest{OutTradeNo: "P2", OutRefundNo: "Y1", RefundFen: 10, TotalFen: 100}); err != nil {
		t.Fatalf("refund on day 365: %v", err)
	}
	clock.Add(24 * time.Hour)
	if _, err := w.Refund(ctx, RefundRequest{OutTradeNo: "P2", OutRefundNo: "Y2", RefundFen: 10, TotalFen: 100}); !errors.Is(err, ErrRefundExpired) {
		t.Fatalf("refund on day 366: %v", err)
	}
}

func TestWeChatRefundAbnormalRetried(t *testing.T) {
	clock := testclock.New()
	cfg := testConfig(t, clock)
	cfg.RefundAbnormalEvery = 2
	w := newWeChat(t, cfg)
	start(t, w)
	rc := newReceiver(t, w, 0)
	ctx := context.Background()
	create(t, w, "AB", 1000, rc.url())
	w.Pay(ctx, "AB")
	w.Refund(ctx, RefundRequest{OutTradeNo: "AB", OutRefundNo: "AB-1", RefundFen: 100, TotalFen: 1000})
	w.Refund(ctx, RefundRequest{OutTradeNo: "AB", OutRefundNo: "AB-2", RefundFen: 100, TotalFen: 1000})
	waitFor(t, "both refunds settled", func() bool {
		a, _ := w.QueryRefund(ctx, "AB-1")
		b, _ := w.QueryRefund(ctx, "AB-2")
		return a.Status != RefundProcessing && b.Status != RefundProcessing
	})
	a, _ := w.QueryRefund(ctx, "AB-1")
	b, _ := w.QueryRefund(ctx, "AB-2")
	if a.Status == RefundAbnormal {
		a, b = b, a
	}
	if a.Status != RefundSuccess || b.Status != RefundAbnormal {
		t.Fatalf("statuses %s %s", a.Status, b.Status)
	}
	// Retried with the same number, it goes through.
	if r, err := w.Refund(ctx, RefundRequest{OutTradeNo: "AB", OutRefundNo: b.OutRefundNo, RefundFen: 100, TotalFen: 1000}); err != nil || r.Status != RefundProcessing {
		t.Fatalf("retry: %+v, %v", r, err)
	}
	waitFor(t, "the retried refund", func() bool { b, _ := w.QueryRefund(ctx, b.OutRefundNo); return b.Status == RefundSuccess })
	waitFor(t, "4 notifications", func() bool { got, _ := rc.snapshot(); return len(got) == 4 })
	got, _ := rc.snapshot()
	types := map[string]int{}
	for _, n := range got {
		types[n.EventType]++
	}
	if types[EventTransactionSuccess] != 1 || types[EventRefundSuccess] != 2 || types[EventRefundAbnormal] != 1 {
		t.Fatalf("events %v", types)
	}
	if o, _ := w.QueryOrder(ctx, "AB"); o.RefundedFen != 200 {
		t.Fatalf("refunded %d", o.RefundedFen)
	}
}

func TestStartLater(t *testing.T) {
	clock := testclock.New()
	w := newWeChat(t, testConfig(t, clock))
	rc := newReceiver(t, w, 0)
	create(t, w, "S1", 100, rc.url())
	w.Pay(context.Background(), "S1")
	time.Sleep(10 * time.Millisecond)
	if got, _ := rc.snapshot(); len(got) != 0 || w.Pending() != 1 {
		t.Fatalf("delivered before Start: %d, pending %d", len(got), w.Pending())
	}
	start(t, w)
	waitFor(t, "the notification", func() bool { got, _ := rc.snapshot(); return len(got) == 1 })
}

// midnight is the start of t's Beijing day.
func midnight(t time.Time) time.Time {
	d := t.In(dates.Beijing)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, dates.Beijing)
}

func TestWeChatStatement(t *testing.T) {
	clock := testclock.New()
	day := midnight(clock.Now())
	clock.Set(day.Add(10 * time.Hour))
	w := newWeChat(t, testConfig(t, clock))
	start(t, w)
	ctx := context.Background()
	rc := newReceiver(t, w, 0)
	for i, fen := range []int64{2550, 100, 1} {
		no := fmt.Sprintf("B%d", i)
		w.CreateOrder(ctx, CreateRequest{OutTradeNo: no, AmountFen: fen, Description: "问诊, 复诊`费", NotifyURL: rc.url(), Channel: ChannelNative})
		w.Pay(ctx, no)
		clock.Add(time.Minute)
	}
	create(t, w, "B-unpaid", 100, rc.url())
	w.Refund(ctx, RefundRequest{OutTradeNo: "B0", OutRefundNo: "B0-R1", RefundFen: 550, TotalFen: 2550})
	waitFor(t, "the refund", func() bool { r, _ := w.QueryRefund(ctx, "B0-R1"); return r.Status == RefundSuccess })

	b0, _ := w.QueryOrder(ctx, "B0")
	clock.Set(day.Add(34*time.Hour - time.Second))
	if _, err := w.Statement(ctx, day); !errors.Is(err, ErrStatementNotYet) {
		t.Fatalf("statement before 10:00 the next day: %v", err)
	}
	clock.Set(day.Add(34 * time.Hour))
	bill, err := w.Statement(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	text := string(bill)
	if !strings.HasPrefix(text, "交易时间,公众账号ID,商户号,") || !strings.Contains(text, "\r\n总交易单数,应结订单总金额,退款总金额,") ||
		!strings.Contains(text, "`4,`26.51,`5.50,`0.00,") || strings.Contains(text, "问诊, ") {
		t.Fatalf("bill:\n%s", text)
	}
	lines, err := ParseStatement(bill)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 {
		t.Fatalf("lines = %+v", lines)
	}
	want := map[string]StatementLine{}
	for i, fen := range []int64{2550, 100, 1} {
		o, _ := w.QueryOrder(ctx, fmt.Sprintf("B%d", i))
		want[o.OutTradeNo+"/SUCCESS"] = StatementLine{OutTradeNo: o.OutTradeNo, TransactionID: o.TransactionID, State: StateSuccess, AmountFen: fen, At: o.PaidAt.Truncate(time.Second)}
	}
	r, _ := w.QueryRefund(ctx, "B0-R1")
	want["B0/REFUND"] = StatementLine{OutTradeNo: "B0", TransactionID: b0.TransactionID, State: StateRefund, RefundFen: 550, OutRefundNo: "B0-R1", RefundID: r.RefundID, At: r.SuccessAt.Truncate(time.Second)}
	for _, l := range lines {
		k := l.OutTradeNo + "/" + string(l.State)
		wl, ok := want[k]
		if !ok || !wl.At.Equal(l.At) {
			t.Fatalf("line %+v, want %+v", l, wl)
		}
		l.At = wl.At
		if l != wl {
			t.Fatalf("line %+v, want %+v", l, wl)
		}
	}
	// Truncated or altered bills are refused.
	cut := text[:strings.Index(text, "总交易单数")]
	if _, err := ParseStatement([]byte(cut)); err == nil {
		t.Fatal("truncated bill parsed")
	}
	altered := strings.Replace(text, "`25.50,", "`25.40,", 1)
	if _, err := ParseStatement([]byte(altered)); err == nil {
		t.Fatal("altered bill parsed")
	}
	// A day without trade has no bill.
	if _, err := w.Statement(ctx, day.AddDate(0, 0, -1)); !errors.Is(err, ErrNoStatement) {
		t.Fatalf("empty day: %v", err)
	}
}

func TestWeChatConcurrency(t *testing.T) {
	clock := testclock.New()
	cfg := testConfig(t, clock)
	cfg.DuplicateEvery = 7
	cfg.Workers = 16
	w := newWeChat(t, cfg)
	start(t, w)
	rc := newReceiver(t, w, 0)
	ctx := context.Background()
	// Signing a notification costs an RSA signature: keep the number of
	// orders modest and the contention high.
	const workers, perWorker, orders = 16, 12, 4
	h := w.Handler()
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				no := fmt.Sprintf("C%d-%d", g, i%orders) // each order thrice
				if _, err := w.CreateOrder(ctx, CreateRequest{OutTradeNo: no, AmountFen: 100, Description: "x", NotifyURL: rc.url(), Channel: ChannelH5}); err != nil && !errors.Is(err, ErrOrderPaid) {
					errs <- err
				}
				if err := w.Pay(ctx, no); err != nil && !errors.Is(err, ErrOrderPaid) {
					errs <- err
				}
				if o, err := w.QueryOrder(ctx, no); err != nil || (o.State != StateSuccess && o.State != StateRefund) {
					errs <- fmt.Errorf("query %s: %v %v", no, o, err)
				}
				if _, err := w.Refund(ctx, RefundRequest{OutTradeNo: no, OutRefundNo: no + "-r", RefundFen: 10, TotalFen: 100}); err != nil {
					errs <- err
				}
				w.Deliveries()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sandbox/pay/cashier/"+no, nil))
				if rec.Code != http.StatusOK {
					errs <- fmt.Errorf("cashier %s: %d", no, rec.Code)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A payment and a refund notification per order, plus duplicates.
	waitFor(t, "all notifications", func() bool {
		got, _ := rc.snapshot()
		ids := map[string]bool{}
		for _, n := range got {
			ids[n.ID] = true
		}
		return len(ids) == 2*workers*orders
	})
	for g := range workers {
		for i := range orders {
			o, _ := w.QueryOrder(ctx, fmt.Sprintf("C%d-%d", g, i))
			if o.RefundedFen != 10 || o.State != StateRefund {
				t.Fatalf("order %+v", o)
			}
		}
	}
}

func TestYuan(t *testing.T) {
	for _, tc := range []struct {
		fen int64
		s   string
	}{{0, "0.00"}, {1, "0.01"}, {1234, "12.34"}, {100000, "1000.00"}, {-550, "-5.50"}} {
		if got := Yuan(tc.fen); got != tc.s {
			t.Errorf("Yuan(%d) = %s", tc.fen, got)
		}
		if got, err := ParseYuan(tc.s); err != nil || got != tc.fen {
			t.Errorf("ParseYuan(%s) = %d, %v", tc.s, got, err)
		}
	}
	for _, s := range []string{"12.3", "12"} {
		if _, err := ParseYuan(s); err != nil {
			t.Errorf("ParseYuan(%s): %v", s, err)
		}
	}
	for _, s := range []string{"", "1.234", "a", "1.x", ".5"} {
		if _, err := ParseYuan(s); err == nil {
			t.Errorf("ParseYuan(%q) accepted", s)
		}
	}
}
