package courier

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SandboxConfig sets up a SandboxSF.
type SandboxConfig struct {
	// PushURL is where Yunyi receives route pushes (HTTP POST).
	PushURL string
	// Key is the secret shared with the receiver for push signatures.
	Key []byte
	// Client pushes; nil means one with a 5 s time-out (a receiver slower
	// than that counts as a failed push).
	Client *http.Client
	// Now is the courier's clock, for route times and push timestamps
	// (and for the receiver's staleness check in ParsePush); nil: time.Now.
	Now func() time.Time

	// StepDelay is the real time between two route nodes of a waybill
	// becoming due; 0 makes a whole route due at once.
	StepDelay time.Duration
	// SimStep, if > 0, puts route node i (from 1) at creation + i×SimStep
	// on Now's clock, so that short real delays give a plausible story of
	// hours. With 0, a node is stamped with Now when it becomes due, at
	// least one second after the node before it.
	SimStep time.Duration

	// ReturnEvery makes every N-th waybill's parcel come back: refused and
	// signed again (80) with the remark 退件. A recipient whose Detail
	// contains 拒收 also refuses. 0: never.
	ReturnEvery int64
	// FailEvery makes every N-th waybill (not returned) end in a failed
	// delivery (70). 0: never.
	FailEvery int64
	// DuplicateEvery pushes every N-th batch a second time after it was
	// acknowledged. 0: never.
	DuplicateEvery int64
	// Shuffle forms batches from the due nodes in random order and of
	// random sizes (1..10), so nodes arrive out of order across batches.
	Shuffle bool
	// Seed seeds the shuffling (0: 1), for repeatable runs.
	Seed uint64

	// MaxRetries is how often a batch is pushed again after an error or a
	// time-out before the courier gives up on it (counted in
	// Stats.Dropped); 0 means 5, negative means none.
	MaxRetries int
	// RetryBase is the first wait before a re-push, doubled each time up
	// to RetryMax; 0 means 2 s and 1 min.
	RetryBase, RetryMax time.Duration

	// Manual turns the background pusher off: PushNext pushes each node.
	Manual bool
}

// Stats count what the pusher did.
type Stats struct {
	Batches    int // distinct batches formed
	Pushes     int // HTTP pushes, re-pushes and duplicates included
	Failures   int // pushes not acknowledged
	Duplicates int // batches pushed again on purpose
	Dropped    int // route nodes given up after MaxRetries
}

// SandboxSF is the Courier of the sandbox: it books waybills, plans each
// one's route (picked up → in transit ×2 → out for delivery → delivered, or
// a return or a failed delivery), and pushes the nodes to PushURL as SF
// does, signed as the package comment says, in batches of at most 10, with
// stable route ids, re-pushing a batch the receiver does not acknowledge
// (with exponential back-off, bounded), and, as configured, duplicates and
// shuffled order. It never needs the real network. Close stops the
// background pusher. It is safe for concurrent use.
type SandboxSF struct {
	cfg    SandboxConfig
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu       sync.Mutex
	rng      *mrand.Rand
	waybills map[string]*waybill
	byOrder  map[string]string
	order    []*waybill // in creation order
	pending  []Event    // due, not yet pushed
	inflight int
	n        int64 // waybills created
	stats    Stats
}

type waybill struct {
	no      string
	ship    Shipment
	nodes   []Event // planned; At set when due
	due     int     // nodes made due
	next    int     // manual mode: nodes acknowledged
	created time.Time
	start   time.Time // real time of creation
}

var _ Courier = (*SandboxSF)(nil)

// NewSandboxSF returns a sandbox SF and, unless cfg.Manual, starts its
// background pusher.
func NewSandboxSF(cfg SandboxConfig) *SandboxSF {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 2 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = max(time.Minute, cfg.RetryBase)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &SandboxSF{
		cfg: cfg, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		rng:      mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x5f)),
		waybills: map[string]*waybill{}, byOrder: map[string]string{},
	}
	if cfg.Manual {
		close(s.done)
	} else {
		go s.run(ctx)
	}
	return s
}

// Close stops the background pusher (a push in flight is cancelled).
func (s *SandboxSF) Close() {
	s.cancel()
	<-s.done
}

// Name is "sf".
func (s *SandboxSF) Name() string { return "sf" }

// ParsePush verifies and reads a push (see the package comment).
func (s *SandboxSF) ParsePush(h http.Header, body []byte) ([]Event, error) {
	if err := Verify(s.cfg.Key, h, body, s.cfg.Now()); err != nil {
		return nil, err
	}
	return decodePush(body)
}

// PushAck answers a push: see Ack.
func (s *SandboxSF) PushAck(err error) (int, []byte) { return Ack(err) }

// Stats returns what the pusher has done so far.
func (s *SandboxSF) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

var phoneRE = regexp.MustCompile(`^(1[3-9][0-9]{9}|0[1-9][0-9]{1,3}-?[0-9]{7,8})$`)

func validAddress(a Address) bool {
	return strings.TrimSpace(a.Name) != "" && phoneRE.MatchString(a.Phone) && strings.TrimSpace(a.Detail) != ""
}

// CreateWaybill books a waybill and plans its route.
func (s *SandboxSF) CreateWaybill(ctx context.Context, sh Shipment) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if sh.OrderID == "" || !validAddress(sh.Sender) || !validAddress(sh.Recipient) || sh.WeightGrams <= 0 {
		return "", fmt.Errorf("%w: order id, sender and recipient (name, phone, address) and weight needed", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if no, ok := s.byOrder[sh.OrderID]; ok {
		return no, ErrDuplicateOrder
	}
	var no string
	for no == "" || s.waybills[no] != nil {
		v, _ := rand.Int(rand.Reader, big.NewInt(9_000_000_000_000))
		no = "SF" + strconv.FormatInt(1_000_000_000_000+v.Int64(), 10)
	}
	s.n++
	path := pathDelivered
	switch {
	case (s.cfg.ReturnEvery > 0 && s.n%s.cfg.ReturnEvery == 0) || strings.Contains(sh.Recipient.Detail, "拒收"):
		path = pathReturned
	case s.cfg.FailEvery > 0 && s.n%s.cfg.FailEvery == 0:
		path = pathFailed
	}
	w := &waybill{no: no, ship: sh, nodes: plan(no, sh, path), created: s.cfg.Now(), start: time.Now()}
	s.waybills[no] = w
	s.byOrder[sh.OrderID] = no
	s.order = append(s.order, w)
	s.poke()
	return no, nil
}

type path int

const (
	pathDelivered path = iota
	pathReturned
	pathFailed
)

// plan lays out a waybill's route nodes, with stable ids (the waybill's
// digits and the node's number) and without times.
func plan(no string, sh Shipment, p path) []Event {
	from, to := place(sh.Sender), place(sh.Recipient)
	hubFrom, hubTo := cityOf(sh.Sender)+"集散中心", cityOf(sh.Recipient)+"集散中心"
	type node struct{ op, addr, remark string }
	nodes := []node{
		{OpPickedUp, from, "顺丰速运 已收取快件"},
		{OpSorted, hubFrom, "快件在【" + hubFrom + "】完成分拣，准备发往【" + hubTo + "】"},
		{OpArrived, hubTo, "快件到达【" + hubTo + "】"},
		{OpOutForDelivery, to, "快件交给顺丰快递员，正在派送途中（联系电话：95338）"},
	}
	switch p {
	case pathDelivered:
		nodes = append(nodes, node{OpSigned, to, "已签收，感谢使用顺丰，期待再次为您服务"})
	case pathReturned:
		nodes = append(nodes,
			node{OpFailed, to, "收件人拒收，快件将退回寄件人"},
			node{OpSigned, from, "快件已退回，退件已由寄件人签收"})
	case pathFailed:
		nodes = append(nodes, node{OpFailed, to, "派送不成功，联系不上收件人，快件暂存网点"})
	}
	out := make([]Event, len(nodes))
	digits := strings.TrimPrefix(no, "SF")
	for i, n := range nodes {
		out[i] = Event{RouteID: fmt.Sprintf("%s%02d", digits, i+1), WaybillNo: no, OrderID: sh.OrderID,
			Address: n.addr, Remark: n.remark, OpCode: n.op, Status: Classify(n.op, n.remark)}
	}
	return out
}

func cityOf(a Address) string {
	if a.City != "" {
		return a.City
	}
	if a.Province != "" {
		return a.Province
	}
	return "北京市"
}

func place(a Address) string { return cityOf(a) + a.District }

// release makes node w.due due and stamps its time (s.mu held).
func (s *SandboxSF) release(w *waybill) Event {
	i := w.due
	var at time.Time
	if s.cfg.SimStep > 0 {
		at = w.created.Add(time.Duration(i+1) * s.cfg.SimStep).Truncate(time.Second)
	} else {
		at = s.cfg.Now().Truncate(time.Second)
		if i > 0 && !at.After(w.nodes[i-1].At) {
			at = w.nodes[i-1].At.Add(time.Second)
		}
	}
	w.nodes[i].At = at
	w.due++
	return w.nodes[i]
}

// Routes returns the route nodes of a waybill that have happened so far,
// as SF's route query would.
func (s *SandboxSF) Routes(waybillNo string) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.waybills[waybillNo]
	if !ok {
		return nil, ErrUnknownWaybill
	}
	return append([]Event(nil), w.nodes[:w.due]...), nil
}

// PushNext, in manual mode, pushes the waybill's next route node as a batch
// of one (re-pushing on failure as configured) and returns it. A node not
// acknowledged stays next: calling again pushes it again. ErrRouteDone
// when every node was acknowledged; ErrMode unless cfg.Manual.
func (s *SandboxSF) PushNext(ctx context.Context, waybillNo string) (Event, error) {
	if !s.cfg.Manual {
		return Event{}, ErrMode
	}
	s.mu.Lock()
	w, ok := s.waybills[waybillNo]
	if !ok {
		s.mu.Unlock()
		return Event{}, ErrUnknownWaybill
	}
	i := w.next
	if i >= len(w.nodes) {
		s.mu.Unlock()
		return Event{}, ErrRouteDone
	}
	if w.due == i {
		s.release(w)
	}
	ev := w.nodes[i]
	s.stats.Batches++
	n := s.stats.Batches
	s.mu.Unlock()

	if err := s.deliver(ctx, []Event{ev}, n); err != nil {
		return ev, err
	}
	s.mu.Lock()
	if w.next == i {
		w.next++
	}
	s.mu.Unlock()
	return ev, nil
}

// Drain waits until every route node of every waybill made so far has been
// pushed (acknowledged or given up). Only with the background pusher
// (ErrMode in manual mode); context.Canceled once closed.
func (s *SandboxSF) Drain(ctx context.Context) error {
	if s.cfg.Manual {
		return ErrMode
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return context.Canceled // closed: what is left will never be pushed
		default:
		}
		s.mu.Lock()
		idle := len(s.pending) == 0 && s.inflight == 0
		for _, w := range s.order {
			idle = idle && w.due == len(w.nodes)
		}
		s.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *SandboxSF) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the background pusher.
func (s *SandboxSF) run(ctx context.Context) {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		s.mu.Lock()
		var next time.Time // earliest node still to come
		for _, w := range s.order {
			for w.due < len(w.nodes) {
				at := w.start.Add(time.Duration(w.due+1) * s.cfg.StepDelay)
				if at.After(now) {
					if next.IsZero() || at.Before(next) {
						next = at
					}
					break
				}
				s.pending = append(s.pending, s.release(w))
			}
		}
		var batch []Event
		var n int
		if len(s.pending) > 0 {
			size := min(len(s.pending), MaxBatch)
			if s.cfg.Shuffle {
				s.rng.Shuffle(len(s.pending), func(i, j int) { s.pending[i], s.pending[j] = s.pending[j], s.pending[i] })
				size = 1 + s.rng.IntN(size)
			}
			batch = append(batch, s.pending[:size]...)
			s.pending = append(s.pending[:0], s.pending[size:]...)
			s.inflight++
			s.stats.Batches++
			n = s.stats.Batches
		}
		s.mu.Unlock()

		if batch != nil {
			err := s.deliver(ctx, batch, n)
			s.mu.Lock()
			s.inflight--
			if err != nil && ctx.Err() == nil {
				s.stats.Dropped += len(batch)
			}
			s.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// deliver pushes one batch until it is acknowledged or the retries are
// spent, then pushes it once more if it is a chosen duplicate.
func (s *SandboxSF) deliver(ctx context.Context, batch []Event, n int) error {
	body := encodePush(batch)
	wait := s.cfg.RetryBase
	var err error
	for attempt := 0; ; attempt++ {
		if err = s.push(ctx, body); err == nil {
			break
		}
		if attempt >= s.cfg.MaxRetries || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, s.cfg.RetryMax)
	}
	if s.cfg.DuplicateEvery > 0 && int64(n)%s.cfg.DuplicateEvery == 0 {
		s.mu.Lock()
		s.stats.Duplicates++
		s.mu.Unlock()
		s.push(ctx, body) // its outcome does not matter
	}
	return nil
}

// push makes one signed HTTP push.
func (s *SandboxSF) push(ctx context.Context, body []byte) error {
	ts := strconv.FormatInt(s.cfg.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.PushURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(s.cfg.Key, ts, body))
	resp, err := s.cfg.Client.Do(req)
	if err == nil {
		var ans []byte
		ans, err = io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if err == nil && !acked(resp.StatusCode, ans) {
			err = fmt.Errorf("courier: push not acknowledged: %d %s", resp.StatusCode, ans)
		}
	}
	s.mu.Lock()
	s.stats.Pushes++
	if err != nil {
		s.stats.Failures++
	}
	s.mu.Unlock()
	return err
}
