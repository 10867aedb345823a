package pay

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// SandboxConfig configures a sandbox provider (SandboxWeChat, SandboxAlipay).
// Every interval of the sandbox (Delay, the retry schedule) is scaled by
// TimeFactor and measured on the real clock; the times the sandbox prints
// (payment times, signature timestamps, bills) come from Now.
type SandboxConfig struct {
	// PublicURL is where the payer's browser reaches the server that mounts
	// Handler, e.g. "http://127.0.0.1:8080"; BasePath is the path the
	// handler is mounted at, e.g. "/sandbox/wechat". CashierURL is
	// PublicURL + BasePath + "/cashier/" + out_trade_no.
	PublicURL string
	BasePath  string
	// AppID and MchID identify the merchant (defaults: sandbox values).
	// For Alipay, AppID is the application id and MchID the seller's PID.
	AppID string
	MchID string
	// APIv3Key is the merchant's 32-byte WeChat APIv3 key, which encrypts
	// notification resources (random when nil). Unused by Alipay.
	APIv3Key []byte
	// PlatformKey is the provider's signing key (WeChat platform
	// certificate key, Alipay's key); a 2048-bit key is generated when nil.
	PlatformKey *rsa.PrivateKey
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// TimeFactor scales the sandbox's intervals (0.001 for tests); 0 is 1.
	TimeFactor float64
	// Delay is how long (before scaling) the provider takes before it
	// sends a payment notification or finishes a refund.
	Delay time.Duration
	// Every Nth notification is also delivered a second time.
	DuplicateEvery int
	// Every Nth notification is preceded by a probe with a wrong signature,
	// which the merchant must refuse.
	BadSignatureEvery int
	// Every Nth new order is created but CreateOrder answers ErrTimeout.
	CreateTimeoutEvery int
	// Every Nth refund ends ABNORMAL (WeChat; e.g. the payer's card is
	// closed) instead of SUCCESS.
	RefundAbnormalEvery int
	// Client posts notifications (default: a client with a 5 s timeout).
	Client *http.Client
	// Workers is how many notifications are delivered at once (default 8).
	Workers int
}

// DeliveryKind tells a delivery attempt's purpose.
type DeliveryKind string

// Kinds of delivery.
const (
	DeliveryNotify    DeliveryKind = "notify"    // first attempt or a retry
	DeliveryDuplicate DeliveryKind = "duplicate" // an extra copy of an acknowledged notification
	DeliveryProbe     DeliveryKind = "probe"     // a copy with a wrong signature
)

// Delivery is one POST the sandbox made to a merchant.
type Delivery struct {
	NotificationID string       `json:"notification_id"`
	EventType      string       `json:"event_type"`
	URL            string       `json:"url"`
	Kind           DeliveryKind `json:"kind"`
	Attempt        int          `json:"attempt"` // 1 for the first attempt
	Status         int          `json:"status"`  // HTTP status, 0 when the request failed
	Acked          bool         `json:"acked"`   // the merchant acknowledged it
	Err            string       `json:"err,omitempty"`
	At             time.Time    `json:"at"`
}

// event is one notification the provider has to deliver.
type event struct {
	id        string
	eventType string
	url       string
	createdAt time.Time
	order     Order
	refund    *Refund
	body      []byte // WeChat: the envelope, encrypted once
}

// flavor is what differs between providers.
type flavor interface {
	providerName() string
	brand() string
	retrySchedule() []time.Duration
	prepare(ev *event) error
	send(ctx context.Context, ev *event, kind DeliveryKind) (status int, acked bool, err error)
	transactionID(now time.Time, seq int64) string
	refundID(now time.Time, seq int64) string
	notificationID(now time.Time, seq int64) string
	syncRefund() bool        // Alipay: refunds finish within the call
	autoClose() bool         // Alipay: unpaid expired trades close
	hiddenUntilOpened() bool // Alipay: a precreated trade exists once the payer opens it
}

type sbOrder struct {
	o         Order
	notifyURL string
	returnURL string
	opened    bool
	refunds   []*sbRefund
}

type sbRefund struct {
	r         Refund
	notifyURL string
}

// sandbox is the core the two sandbox providers share: orders, refunds,
// the cashier, the scheduler and the delivery log.
type sandbox struct {
	cfg   SandboxConfig
	fl    flavor
	sched *scheduler

	mu      sync.Mutex
	orders  map[string]*sbOrder
	refunds map[string]*sbRefund
	seq     int64

	creates   atomic.Int64
	events    atomic.Int64
	refundsN  atomic.Int64
	dmu       sync.Mutex
	log       []Delivery
	probesAck int
}

const maxDeliveryLog = 10000

func newSandbox(cfg SandboxConfig, fl flavor) (*sandbox, error) {
	if cfg.PlatformKey == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		cfg.PlatformKey = k
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	cfg.BasePath = strings.TrimRight(cfg.BasePath, "/")
	if cfg.BasePath != "" && !strings.HasPrefix(cfg.BasePath, "/") {
		cfg.BasePath = "/" + cfg.BasePath
	}
	return &sandbox{
		cfg:     cfg,
		fl:      fl,
		sched:   newScheduler(cfg.Workers),
		orders:  map[string]*sbOrder{},
		refunds: map[string]*sbRefund{},
	}, nil
}

func (s *sandbox) now() time.Time { return s.cfg.Now() }

func (s *sandbox) scale(d time.Duration) time.Duration {
	f := s.cfg.TimeFactor
	if f <= 0 {
		f = 1
	}
	return time.Duration(float64(d) * f)
}

func every(n int, c *atomic.Int64) bool { return n > 0 && c.Add(1)%int64(n) == 0 }

// Start runs the sandbox's background work — finishing refunds and
// delivering notifications — until ctx ends or Stop is called. Work
// scheduled before Start waits for it.
func (s *sandbox) Start(ctx context.Context) { s.sched.start(ctx) }

// Stop ends the background work and waits for it; what is still scheduled
// waits for the next Start.
func (s *sandbox) Stop() { s.sched.stop() }

// Pending is the number of scheduled deliveries and refunds not yet run.
func (s *sandbox) Pending() int { return s.sched.pending() }

// Deliveries returns the most recent delivery attempts (at most 10 000),
// oldest first.
func (s *sandbox) Deliveries() []Delivery {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return slices.Clone(s.log)
}

// ProbesAccepted is how many wrongly signed probes a merchant acknowledged:
// anything but 0 means the merchant does not verify signatures.
func (s *sandbox) ProbesAccepted() int {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return s.probesAck
}

func (s *sandbox) record(d Delivery) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if d.Kind == DeliveryProbe && d.Acked {
		s.probesAck++
	}
	if len(s.log) >= maxDeliveryLog {
		s.log = slices.Delete(s.log, 0, len(s.log)-maxDeliveryLog+1)
	}
	s.log = append(s.log, d)
}

func (s *sandbox) cashierURL(no string) string {
	return s.cfg.PublicURL + s.cfg.BasePath + "/cashier/" + url.PathEscape(no)
}

// validNo reports whether no is an acceptable merchant number (WeChat:
// 6 to 32 letters, digits, _-|*; we accept 1 to 64).
func validNo(no string) bool {
	if len(no) == 0 || len(no) > 64 {
		return false
	}
	for _, c := range no {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("_-|*.", c)) {
			return false
		}
	}
	return true
}

// refresh applies what time did to o (Alipay closes expired trades). Call
// with s.mu held.
func (s *sandbox) refresh(o *sbOrder, now time.Time) {
	if s.fl.autoClose() && o.o.State == StateNotPay && !o.o.ExpireAt.IsZero() && !now.Before(o.o.ExpireAt) {
		o.o.State, o.o.StateDesc = StateClosed, "订单已关闭"
	}
}

func (s *sandbox) orderCopy(o *sbOrder) *Order {
	c := o.o
	return &c
}

// CreateOrder creates an order (see Provider).
func (s *sandbox) CreateOrder(ctx context.Context, r CreateRequest) (*Order, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case !validNo(r.OutTradeNo):
		return nil, fmt.Errorf("%w: out_trade_no %q", ErrInvalidRequest, r.OutTradeNo)
	case r.AmountFen <= 0:
		return nil, fmt.Errorf("%w: amount must be positive", ErrInvalidRequest)
	case strings.TrimSpace(r.Description) == "":
		return nil, fmt.Errorf("%w: description is required", ErrInvalidRequest)
	case r.Channel != ChannelNative && r.Channel != ChannelH5:
		return nil, fmt.Errorf("%w: channel %q", ErrInvalidRequest, r.Channel)
	}
	if u, err := url.Parse(r.NotifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: notify_url %q", ErrInvalidRequest, r.NotifyURL)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[r.OutTradeNo]; ok {
		s.refresh(o, now)
		switch {
		case o.o.AmountFen != r.AmountFen:
			return nil, ErrDuplicateOrder
		case o.o.State == StateSuccess || o.o.State == StateRefund:
			return nil, ErrOrderPaid
		case o.o.State == StateClosed || o.o.State == StatePayError:
			return nil, ErrOrderClosed
		case !o.o.ExpireAt.IsZero() && !now.Before(o.o.ExpireAt):
			return nil, ErrOrderExpired
		}
		return s.orderCopy(o), nil
	}
	if !r.ExpireAt.IsZero() && !now.Before(r.ExpireAt) {
		return nil, fmt.Errorf("%w: time_expire is in the past", ErrInvalidRequest)
	}
	o := &sbOrder{
		o: Order{
			OutTradeNo:  r.OutTradeNo,
			AmountFen:   r.AmountFen,
			State:       StateNotPay,
			StateDesc:   "未支付",
			CashierURL:  s.cashierURL(r.OutTradeNo),
			Description: r.Description,
			Channel:     r.Channel,
			CreatedAt:   now,
			ExpireAt:    r.ExpireAt,
		},
		notifyURL: r.NotifyURL,
		returnURL: r.ReturnURL,
	}
	s.orders[r.OutTradeNo] = o
	if every(s.cfg.CreateTimeoutEvery, &s.creates) {
		return nil, ErrTimeout
	}
	return s.orderCopy(o), nil
}

// lookup finds an order the merchant may see. Call with s.mu held.
func (s *sandbox) lookup(no string, now time.Time) (*sbOrder, error) {
	o, ok := s.orders[no]
	if !ok || (s.fl.hiddenUntilOpened() && !o.opened) {
		return nil, ErrOrderNotFound
	}
	s.refresh(o, now)
	return o, nil
}

// QueryOrder returns an order (see Provider).
func (s *sandbox) QueryOrder(ctx context.Context, outTradeNo string) (*Order, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookup(outTradeNo, now)
	if err != nil {
		return nil, err
	}
	return s.orderCopy(o), nil
}

// CloseOrder closes an unpaid order (see Provider).
func (s *sandbox) CloseOrder(ctx context.Context, outTradeNo string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookup(outTradeNo, now)
	if err != nil {
		return err
	}
	switch o.o.State {
	case StateSuccess, StateRefund:
		return ErrOrderPaid
	case StateNotPay:
		o.o.State, o.o.StateDesc = StateClosed, "订单已关闭"
	}
	return nil
}

// Pay pays an order as the payer would on the cashier page: NOTPAY becomes
// SUCCESS and the payment notification is scheduled. ErrOrderPaid if it is
// paid already, ErrOrderClosed if closed, ErrOrderExpired if past ExpireAt.
func (s *sandbox) Pay(ctx context.Context, outTradeNo string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		s.mu.Unlock()
		return ErrOrderNotFound
	}
	o.opened = true
	s.refresh(o, now)
	switch {
	case o.o.State == StateSuccess || o.o.State == StateRefund:
		s.mu.Unlock()
		return ErrOrderPaid
	case o.o.State != StateNotPay:
		s.mu.Unlock()
		return ErrOrderClosed
	case !o.o.ExpireAt.IsZero() && !now.Before(o.o.ExpireAt):
		s.mu.Unlock()
		return ErrOrderExpired
	}
	s.seq++
	o.o.State, o.o.StateDesc = StateSuccess, "支付成功"
	o.o.TransactionID = s.fl.transactionID(now, s.seq)
	o.o.PaidAt = now
	ev := s.newEvent(EventTransactionSuccess, o.notifyURL, now, o.o, nil)
	s.mu.Unlock()
	s.emit(ev, s.cfg.Delay)
	return nil
}

// Fail makes an unpaid order fail (PAYERROR), as when the bank declines.
// Providers send no notification for it.
func (s *sandbox) Fail(ctx context.Context, outTradeNo string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return ErrOrderNotFound
	}
	s.refresh(o, s.now())
	switch o.o.State {
	case StateSuccess, StateRefund:
		return ErrOrderPaid
	case StateNotPay:
		o.o.State, o.o.StateDesc = StatePayError, "支付失败"
		return nil
	}
	return ErrOrderClosed
}

// open marks that the payer opened the cashier page. It returns a copy.
func (s *sandbox) open(no string) (*Order, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[no]
	if !ok {
		return nil, "", ErrOrderNotFound
	}
	o.opened = true
	s.refresh(o, s.now())
	return s.orderCopy(o), o.returnURL, nil
}

// Refund requests a refund (see Provider).
func (s *sandbox) Refund(ctx context.Context, r RefundRequest) (*Refund, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validNo(r.OutRefundNo) || r.RefundFen <= 0 {
		return nil, fmt.Errorf("%w: out_refund_no %q, refund %d", ErrInvalidRequest, r.OutRefundNo, r.RefundFen)
	}
	now := s.now()
	s.mu.Lock()
	if rf, ok := s.refunds[r.OutRefundNo]; ok {
		defer s.mu.Unlock()
		if rf.r.OutTradeNo != r.OutTradeNo || rf.r.RefundFen != r.RefundFen {
			return nil, fmt.Errorf("%w: out_refund_no %q was used with other parameters", ErrInvalidRequest, r.OutRefundNo)
		}
		if rf.r.Status == RefundAbnormal || rf.r.Status == RefundClosed {
			// A failed refund is retried with the same number.
			rf.r.Status = RefundProcessing
			s.scheduleRefund(rf)
		}
		c := rf.r
		return &c, nil
	}
	o, err := s.lookup(r.OutTradeNo, now)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	var sum int64
	for _, x := range o.refunds {
		if x.r.Status != RefundClosed {
			sum += x.r.RefundFen
		}
	}
	switch {
	case o.o.State == StateClosed:
		err = ErrOrderClosed
	case o.o.State != StateSuccess && o.o.State != StateRefund:
		err = ErrOrderNotPaid
	case r.TotalFen != o.o.AmountFen:
		err = fmt.Errorf("%w: total %d is not the order's amount %d", ErrInvalidRequest, r.TotalFen, o.o.AmountFen)
	case now.Sub(o.o.PaidAt) > RefundWindow:
		err = ErrRefundExpired
	case len(o.refunds) >= MaxRefunds:
		err = ErrTooManyRefunds
	case sum+r.RefundFen > o.o.AmountFen:
		err = ErrRefundTooLarge
	}
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.seq++
	rf := &sbRefund{
		r: Refund{
			OutRefundNo:   r.OutRefundNo,
			RefundID:      s.fl.refundID(now, s.seq),
			OutTradeNo:    r.OutTradeNo,
			TransactionID: o.o.TransactionID,
			RefundFen:     r.RefundFen,
			TotalFen:      o.o.AmountFen,
			Status:        RefundProcessing,
			Reason:        r.Reason,
			CreatedAt:     now,
		},
		notifyURL: r.NotifyURL,
	}
	if rf.notifyURL == "" || s.fl.syncRefund() {
		rf.notifyURL = o.notifyURL
	}
	o.refunds = append(o.refunds, rf)
	s.refunds[r.OutRefundNo] = rf
	var ev *event
	if s.fl.syncRefund() {
		ev = s.finishRefund(rf, now)
	} else {
		s.scheduleRefund(rf)
	}
	c := rf.r
	s.mu.Unlock()
	if ev != nil {
		s.emit(ev, s.cfg.Delay)
	}
	return &c, nil
}

// scheduleRefund lets the provider finish rf after Delay. Call with s.mu held.
func (s *sandbox) scheduleRefund(rf *sbRefund) {
	s.sched.after(s.scale(s.cfg.Delay), func(ctx context.Context) {
		s.mu.Lock()
		ev := s.finishRefund(rf, s.now())
		s.mu.Unlock()
		if ev != nil {
			s.emit(ev, 0)
		}
	})
}

// finishRefund moves a PROCESSING refund to SUCCESS (or ABNORMAL) and
// returns the notification to send. Call with s.mu held.
func (s *sandbox) finishRefund(rf *sbRefund, now time.Time) *event {
	if rf.r.Status != RefundProcessing {
		return nil
	}
	o := s.orders[rf.r.OutTradeNo]
	if !s.fl.syncRefund() && every(s.cfg.RefundAbnormalEvery, &s.refundsN) {
		rf.r.Status = RefundAbnormal
		return s.newEvent(EventRefundAbnormal, rf.notifyURL, now, o.o, &rf.r)
	}
	rf.r.Status, rf.r.SuccessAt = RefundSuccess, now
	o.o.RefundedFen += rf.r.RefundFen
	o.o.State, o.o.StateDesc = StateRefund, "转入退款"
	return s.newEvent(EventRefundSuccess, rf.notifyURL, now, o.o, &rf.r)
}

// QueryRefund returns a refund (see Provider).
func (s *sandbox) QueryRefund(ctx context.Context, outRefundNo string) (*Refund, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rf, ok := s.refunds[outRefundNo]
	if !ok {
		return nil, ErrRefundNotFound
	}
	c := rf.r
	return &c, nil
}

// newEvent makes a notification event from snapshots. Call with s.mu held.
func (s *sandbox) newEvent(typ, url string, now time.Time, o Order, r *Refund) *event {
	s.seq++
	ev := &event{id: s.fl.notificationID(now, s.seq), eventType: typ, url: url, createdAt: now, order: o}
	if r != nil {
		c := *r
		ev.refund = &c
	}
	return ev
}

// emit schedules ev's delivery after delay (before scaling), with a probe
// and a duplicate as the config asks.
func (s *sandbox) emit(ev *event, delay time.Duration) {
	if err := s.fl.prepare(ev); err != nil {
		s.record(Delivery{NotificationID: ev.id, EventType: ev.eventType, URL: ev.url, Kind: DeliveryNotify, Err: err.Error(), At: s.now()})
		return
	}
	n := s.events.Add(1)
	if k := s.cfg.BadSignatureEvery; k > 0 && n%int64(k) == 0 {
		s.sched.after(s.scale(delay), func(ctx context.Context) { s.attempt(ctx, ev, DeliveryProbe, 1, false) })
	}
	dup := s.cfg.DuplicateEvery > 0 && n%int64(s.cfg.DuplicateEvery) == 0
	s.sched.after(s.scale(delay), func(ctx context.Context) { s.attempt(ctx, ev, DeliveryNotify, 1, dup) })
}

// attempt makes one delivery attempt. When the merchant does not
// acknowledge a notification it schedules the next attempt by the retry
// schedule; once acknowledged, it schedules the duplicate if dup.
func (s *sandbox) attempt(ctx context.Context, ev *event, kind DeliveryKind, n int, dup bool) {
	status, acked, err := s.fl.send(ctx, ev, kind)
	if ctx.Err() != nil && !acked {
		// Stopped: the attempt did not count; make it after the next Start.
		s.sched.after(0, func(ctx context.Context) { s.attempt(ctx, ev, kind, n, dup) })
		return
	}
	d := Delivery{NotificationID: ev.id, EventType: ev.eventType, URL: ev.url, Kind: kind, Attempt: n, Status: status, Acked: acked, At: s.now()}
	if err != nil {
		d.Err = err.Error()
	}
	s.record(d)
	if kind != DeliveryNotify {
		return
	}
	if acked {
		if dup {
			s.sched.after(s.scale(15*time.Second), func(ctx context.Context) { s.attempt(ctx, ev, DeliveryDuplicate, 1, false) })
		}
		return
	}
	if sch := s.fl.retrySchedule(); n <= len(sch) {
		s.sched.after(s.scale(sch[n-1]), func(ctx context.Context) { s.attempt(ctx, ev, kind, n+1, dup) })
	}
}

// statementRows collects the day's payments and successful refunds (the
// day is a Beijing date). It refuses a day whose bill is not published yet:
// the providers publish a day's bill the next morning at publishHour.
func (s *sandbox) statementRows(day time.Time, publishHour int) (from time.Time, pays []Order, refunds []stmtRefund, err error) {
	d := day.In(dates.Beijing)
	from = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, dates.Beijing)
	to := from.AddDate(0, 0, 1)
	if s.now().Before(to.Add(time.Duration(publishHour) * time.Hour)) {
		return from, nil, nil, ErrStatementNotYet
	}
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(from) && t.Before(to) }
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.orders {
		if in(o.o.PaidAt) {
			pays = append(pays, o.o)
		}
		for _, r := range o.refunds {
			if r.r.Status == RefundSuccess && in(r.r.SuccessAt) {
				refunds = append(refunds, stmtRefund{r.r, o.o})
			}
		}
	}
	slices.SortFunc(pays, func(a, b Order) int {
		return cmp.Or(a.PaidAt.Compare(b.PaidAt), strings.Compare(a.OutTradeNo, b.OutTradeNo))
	})
	slices.SortFunc(refunds, func(a, b stmtRefund) int {
		return cmp.Or(a.r.SuccessAt.Compare(b.r.SuccessAt), strings.Compare(a.r.OutRefundNo, b.r.OutRefundNo))
	})
	return from, pays, refunds, nil
}

type stmtRefund struct {
	r Refund
	o Order
}

// randDigits returns n random decimal digits.
func randDigits(n int) string {
	var b strings.Builder
	for range n {
		v, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + v.Int64()))
	}
	return b.String()
}

// randAlnum returns n random letters and digits.
func randAlnum(n int) string {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = set[int(b[i])%len(set)]
	}
	return string(b)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
