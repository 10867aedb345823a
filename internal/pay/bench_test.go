package pay

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/yunyi-health/yunyi/internal/testclock"
)

// The notifications a load test delivers itself are the sandbox's own:
// one body per order, each copy signed afresh, verified and decrypted by
// the merchant side; an unpaid order has none.
func TestSignedNotification(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New()
	w, err := NewSandboxWeChat(testConfig(t, clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateOrder(ctx, CreateRequest{OutTradeNo: "BENCH1", AmountFen: 3000, Description: "挂号费", NotifyURL: "http://merchant.example/notify", Channel: ChannelNative}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.SignedNotification("BENCH1"); !errors.Is(err, ErrOrderNotPaid) {
		t.Fatalf("unpaid: %v", err)
	}
	if _, _, err := w.SignedNotification("NOPE"); !errors.Is(err, ErrOrderNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if err := w.Pay(ctx, "BENCH1"); err != nil {
		t.Fatal(err)
	}
	h, body, err := w.SignedNotification("BENCH1")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := w.SignNotification(body)
	if err != nil || h2.Get(WeChatHeaderNonce) == h.Get(WeChatHeaderNonce) {
		t.Fatalf("second copy %v %v", h2, err)
	}
	for _, hdr := range [][]string{{}, {WeChatHeaderNonce, h2.Get(WeChatHeaderNonce)}} {
		h := h.Clone()
		if len(hdr) > 0 {
			h.Set(hdr[0], hdr[1]) // another copy's nonce: the signature no longer fits
		}
		n, err := w.ParseNotification(h, body)
		if len(hdr) > 0 {
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("a mixed copy: %v", err)
			}
			continue
		}
		if err != nil || n.EventType != EventTransactionSuccess || n.Order.OutTradeNo != "BENCH1" || n.Order.AmountFen != 3000 || n.Order.State != StateSuccess {
			t.Fatalf("notification %+v %v", n, err)
		}
	}
	if n, err := w.ParseNotification(h2, bytes.Clone(body)); err != nil || n.Order.TransactionID == "" {
		t.Fatalf("second copy %+v %v", n, err)
	}
}
