package courier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/testclock"
)

var testKey = []byte("yunyi-sf-sandbox-key")

// receiver is Yunyi's end of the pushes: it verifies with its own adapter,
// stores what it parsed, and can fail or stall chosen pushes.
type receiver struct {
	t      *testing.T
	rx     Courier
	failed map[int]bool          // push numbers answered with an error
	stall  map[int]time.Duration // push numbers answered late (after storing)

	mu     sync.Mutex
	n      int
	events []Event
	sizes  []int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()
	var err error
	if r.failed[n] {
		err = errors.New("database unavailable")
	} else {
		var evs []Event
		if evs, err = r.rx.ParsePush(req.Header, body); err == nil {
			r.mu.Lock()
			r.events = append(r.events, evs...)
			r.sizes = append(r.sizes, len(evs))
			r.mu.Unlock()
		} else {
			r.t.Errorf("push %d refused: %v", n, err)
		}
	}
	if d := r.stall[n]; d > 0 {
		time.Sleep(d) // stored, but the answer comes too late
	}
	st, b := r.rx.PushAck(err)
	w.WriteHeader(st)
	w.Write(b)
}

func (r *receiver) byWaybill(no string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.WaybillNo == no {
			out = append(out, e)
		}
	}
	return out
}

func setup(t *testing.T, cfg SandboxConfig, failed map[int]bool, stall map[int]time.Duration) (*SandboxSF, *receiver) {
	t.Helper()
	now := testclock.Start()
	clock := func() time.Time { return now }
	rcv := &receiver{t: t, failed: failed, stall: stall,
		rx: NewSandboxSF(SandboxConfig{Key: testKey, Now: clock, Manual: true})}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	cfg.PushURL, cfg.Key, cfg.Now = srv.URL, testKey, clock
	if cfg.RetryBase == 0 {
		cfg.RetryBase, cfg.RetryMax = time.Millisecond, 8*time.Millisecond
	}
	sf := NewSandboxSF(cfg)
	t.Cleanup(sf.Close)
	return sf, rcv
}

func shipment(order, detail string) Shipment {
	return Shipment{
		OrderID:     order,
		Sender:      Address{Name: "北京儿童医院药房", Phone: "010-59616161", Province: "北京市", City: "北京市", District: "西城区", RegionCode: "110102", Detail: "南礼士路56号"},
		Recipient:   Address{Name: "李明", Phone: "13800000001", Province: "北京市", City: "北京市", District: "朝阳区", RegionCode: "110105", Detail: detail},
		Items:       "处方药品 1 件",
		WeightGrams: 350,
	}
}

func TestCreateWaybill(t *testing.T) {
	sf, _ := setup(t, SandboxConfig{Manual: true}, nil, nil)
	ctx := context.Background()
	no, err := sf.CreateWaybill(ctx, shipment("O1", "朝阳路1号"))
	if err != nil || !strings.HasPrefix(no, "SF") || len(no) != 15 {
		t.Fatalf("waybill %q %v", no, err)
	}
	again, err := sf.CreateWaybill(ctx, shipment("O1", "朝阳路1号"))
	if !errors.Is(err, ErrDuplicateOrder) || again != no {
		t.Fatalf("duplicate order: %q %v", again, err)
	}
	bad := shipment("O2", "")
	if _, err := sf.CreateWaybill(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no address: %v", err)
	}
	bad = shipment("O3", "x")
	bad.Recipient.Phone = "12345"
	if _, err := sf.CreateWaybill(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad phone: %v", err)
	}
	if sf.Name() != "sf" {
		t.Fatal(sf.Name())
	}
	if _, err := sf.PushNext(ctx, "SF0"); !errors.Is(err, ErrUnknownWaybill) {
		t.Fatal(err)
	}
	if err := sf.Drain(ctx); !errors.Is(err, ErrMode) {
		t.Fatal(err)
	}
}

// TestManualSteps drives each route node by hand: the delivered path, a
// refused push pushed again with the same route id, the return path
// (ReturnEvery) and the failed path (FailEvery).
func TestManualSteps(t *testing.T) {
	sf, rcv := setup(t, SandboxConfig{Manual: true, MaxRetries: -1, ReturnEvery: 2, FailEvery: 3}, map[int]bool{2: true}, nil)
	ctx := context.Background()
	no, _ := sf.CreateWaybill(ctx, shipment("O1", "朝阳路1号"))
	want := []Status{PickedUp, InTransit, InTransit, OutForDelivery, Delivered}
	var pushed []Event
	var refused Event
	for i := 0; len(pushed) < len(want); i++ {
		e, err := sf.PushNext(ctx, no)
		if i == 1 {
			if err == nil {
				t.Fatal("the receiver's error was not reported")
			}
			refused = e
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 && e != refused {
			t.Fatalf("re-push %+v, want the refused node %+v", e, refused)
		}
		if len(pushed) > 0 && (!e.At.After(pushed[len(pushed)-1].At) || e.RouteID == pushed[len(pushed)-1].RouteID) {
			t.Fatalf("node %d: %+v after %+v", i, e, pushed[len(pushed)-1])
		}
		pushed = append(pushed, e)
		if got := Current(rcv.byWaybill(no)); got != want[len(pushed)-1] {
			t.Fatalf("step %d: %s, want %s", len(pushed), got, want[len(pushed)-1])
		}
	}
	if _, err := sf.PushNext(ctx, no); !errors.Is(err, ErrRouteDone) {
		t.Fatalf("after the last node: %v", err)
	}
	if routes, _ := sf.Routes(no); len(routes) != 5 || routes[1].RouteID != pushed[1].RouteID {
		t.Fatalf("routes %+v", routes)
	}

	ret, _ := sf.CreateWaybill(ctx, shipment("O2", "朝阳路2号"))  // 2nd: returned
	fail, _ := sf.CreateWaybill(ctx, shipment("O3", "朝阳路3号")) // 3rd: failed
	for _, no := range []string{ret, fail} {
		for {
			if _, err := sf.PushNext(ctx, no); errors.Is(err, ErrRouteDone) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	evs := rcv.byWaybill(ret)
	tl := Timeline(evs)
	last := tl[len(tl)-1]
	if Current(evs) != Returned || last.OpCode != OpSigned || !strings.Contains(last.Remark, "退件") {
		t.Fatalf("return path: %s, last %+v", Current(evs), last)
	}
	if got := Current(rcv.byWaybill(fail)); got != Failed {
		t.Fatalf("fail path: %s", got)
	}
}

// TestFullRun runs the background pusher against a receiver that fails the
// first pushes and answers one push too late: batches are pushed again,
// nothing is lost, duplicates are folded by Timeline, and every parcel
// ends delivered, except the one whose recipient refuses (拒收).
func TestFullRun(t *testing.T) {
	sf, rcv := setup(t, SandboxConfig{
		StepDelay: 3 * time.Millisecond, Shuffle: true, DuplicateEvery: 3, MaxRetries: 8,
		Client: &http.Client{Timeout: 150 * time.Millisecond},
	}, map[int]bool{1: true, 2: true, 3: true}, map[int]time.Duration{5: 400 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var nos []string
	for i := 0; i < 6; i++ {
		detail := fmt.Sprintf("朝阳路%d号", i)
		if i == 4 {
			detail = "朝阳路4号（拒收）"
		}
		no, err := sf.CreateWaybill(ctx, shipment(fmt.Sprint("O", i), detail))
		if err != nil {
			t.Fatal(err)
		}
		nos = append(nos, no)
	}
	if err := sf.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	st := sf.Stats()
	if st.Failures < 4 || st.Dropped != 0 || st.Duplicates == 0 || st.Pushes <= st.Batches {
		t.Fatalf("stats %+v", st)
	}
	total := 0
	for i, no := range nos {
		raw := rcv.byWaybill(no)
		routes, _ := sf.Routes(no)
		tl := Timeline(raw)
		if len(tl) != len(routes) {
			t.Fatalf("%s: %d distinct nodes arrived, %d were sent", no, len(tl), len(routes))
		}
		for j := range tl {
			if tl[j].RouteID != routes[j].RouteID || !tl[j].At.Equal(routes[j].At) {
				t.Fatalf("%s: timeline %v, routes %v", no, tl, routes)
			}
		}
		want := Delivered
		if i == 4 {
			want = Returned
		}
		if got := Current(raw); got != want {
			t.Fatalf("%s: %s, want %s", no, got, want)
		}
		total += len(raw)
	}
	if total <= 5*5+6 {
		t.Fatalf("no duplicates arrived (%d events)", total)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, n := range rcv.sizes {
		if n < 1 || n > MaxBatch {
			t.Fatalf("batch of %d", n)
		}
	}
}

// TestManyWaybillsRace creates waybills from many goroutines while the
// pusher runs, with every path at once.
func TestManyWaybillsRace(t *testing.T) {
	sf, rcv := setup(t, SandboxConfig{Shuffle: true, DuplicateEvery: 5, ReturnEvery: 4, FailEvery: 3}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var nos []string
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 8; i++ {
				no, err := sf.CreateWaybill(ctx, shipment(fmt.Sprint("G", g, "-", i), "朝阳路1号"))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				nos = append(nos, no)
				mu.Unlock()
				_ = sf.Stats()
			}
		}()
	}
	wg.Wait()
	if err := sf.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	counts := map[Status]int{}
	for _, no := range nos {
		routes, _ := sf.Routes(no)
		if len(Timeline(rcv.byWaybill(no))) != len(routes) {
			t.Fatalf("%s lost nodes", no)
		}
		counts[Current(rcv.byWaybill(no))]++
	}
	if counts[Returned] != 12 || counts[Failed] != 16-4 || counts[Delivered] != 48-12-12 {
		t.Fatalf("outcomes %v", counts)
	}
}

// TestGiveUpAndClose: a receiver that never acknowledges costs the courier
// MaxRetries re-pushes per batch, then the batch is dropped; Close stops a
// pusher waiting to re-push.
func TestGiveUpAndClose(t *testing.T) {
	always := map[int]bool{}
	for i := 1; i <= 100; i++ {
		always[i] = true
	}
	sf, _ := setup(t, SandboxConfig{MaxRetries: 2}, always, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sf.CreateWaybill(ctx, shipment("O1", "朝阳路1号")); err != nil {
		t.Fatal(err)
	}
	if err := sf.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sf.Stats(); st.Dropped != 5 || st.Pushes != 3*st.Batches || st.Failures != st.Pushes {
		t.Fatalf("stats %+v", st)
	}

	slow, _ := setup(t, SandboxConfig{RetryBase: time.Hour}, always, nil)
	if _, err := slow.CreateWaybill(ctx, shipment("O1", "朝阳路1号")); err != nil {
		t.Fatal(err)
	}
	for slow.Stats().Failures == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	slow.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := slow.Drain(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain after Close: %v", err)
	}
}
