package pay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/testclock"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// platformKey is one RSA key for all tests (generating one per test is slow
// under -race).
func platformKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

// testConfig is a fast sandbox config on a test clock.
func testConfig(t testing.TB, clock *testclock.Clock) SandboxConfig {
	return SandboxConfig{
		PublicURL:   "http://pay.example",
		BasePath:    "/sandbox/pay",
		PlatformKey: platformKey(t),
		Now:         clock.Now,
		TimeFactor:  0.001,
	}
}

type startable interface {
	Provider
	Start(ctx context.Context)
	Stop()
}

func start(t testing.TB, p startable) {
	p.Start(context.Background())
	t.Cleanup(p.Stop)
}

// receiver is a merchant's notification endpoint: it verifies with the
// provider's ParseNotification, fails the first failFirst valid ones, and
// answers with NotificationAck.
type receiver struct {
	p         Provider
	failFirst int
	srv       *httptest.Server

	mu      sync.Mutex
	valid   int
	got     []*Notification
	refused []error
}

func newReceiver(t testing.TB, p Provider, failFirst int) *receiver {
	r := &receiver{p: p, failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

var errBusy = errors.New("merchant busy")

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	n, err := r.p.ParseNotification(req.Header, body)
	r.mu.Lock()
	if err != nil {
		r.refused = append(r.refused, err)
	} else {
		r.valid++
		if r.valid <= r.failFirst {
			err = errBusy
		} else {
			r.got = append(r.got, n)
		}
	}
	r.mu.Unlock()
	status, b := r.p.NotificationAck(err)
	w.WriteHeader(status)
	w.Write(b)
}

func (r *receiver) snapshot() (got []*Notification, refused []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Notification(nil), r.got...), append([]error(nil), r.refused...)
}

func (r *receiver) url() string { return r.srv.URL + "/notify" }

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func newWeChat(t testing.TB, cfg SandboxConfig) *SandboxWeChat {
	t.Helper()
	w, err := NewSandboxWeChat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newAlipay(t testing.TB, cfg SandboxConfig) *SandboxAlipay {
	t.Helper()
	a, err := NewSandboxAlipay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func create(t testing.TB, p Provider, no string, fen int64, notify string) *Order {
	t.Helper()
	o, err := p.CreateOrder(context.Background(), CreateRequest{
		OutTradeNo: no, AmountFen: fen, Description: "皮肤科图文问诊", NotifyURL: notify, Channel: ChannelNative,
	})
	if err != nil {
		t.Fatalf("CreateOrder(%s): %v", no, err)
	}
	return o
}
