package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/pay"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/web"
)

// PayOptions of the payment benchmark (`yunyi bench pay`, issue 12).
type PayOptions struct {
	Orders int // payments created over HTTP for held bookings and paid at the sandbox (1,000)
	// Notifications are the signed success notifications delivered over
	// HTTP, spread evenly over the orders (each order's several times:
	// duplicates), shuffled (out of order), from Clients clients (5,000).
	Notifications int
	Clients       int // HTTP clients, one keep-alive connection each (64)
	// CeilingWorkers are the concurrent callers of the store ceiling: the
	// same notifications' MarkPaid straight on the store (64).
	CeilingWorkers int
	// Profile, when set, receives a CPU profile of the loads (not of the
	// fixture); of the load named ProfileLoad alone when that is set
	// (create, verify, notify, ceiling).
	Profile     io.Writer
	ProfileLoad string
}

// PayDefaults are the target: 1,000 orders, 5,000 notifications.
var PayDefaults = PayOptions{Orders: 1000, Notifications: 5000, Clients: 64, CeilingWorkers: 64}

// PayLoads names the loads --profile-load accepts.
var PayLoads = []string{"create", "verify", "notify", "ceiling"}

// PayCreate is the creation of the orders: POST /api/v1/payments for a
// held booking (the payment row, the sandbox's order, the cashier).
type PayCreate struct {
	Clients  int
	Orders   int
	OK       int
	Errors   int
	Codes    map[string]int
	Duration time.Duration
	PerSec   float64
	P50, P99 time.Duration
}

// PayVerify is the notification's check alone, in process: the
// signature (SHA256-RSA2048), the timestamp, the AES-256-GCM resource
// decrypted and parsed (ParseNotification).
type PayVerify struct {
	Workers       int
	Notifications int
	Refused       int // must be 0
	Duration      time.Duration
	PerSec        float64
}

// PayCheck is what the store holds after a load, for its payments.
type PayCheck struct {
	Payments   int   // of the load
	Paid       int   // paid in the store
	DoublePaid int   // payments whose ledger is not one journal of 2 entries summing to zero
	Entries    int   // their ledger entries (2 a payment)
	LedgerSum  int64 // of the whole ledger (0)
	Booked     int   // their appointments confirmed (held → booked)
	Notices    int   // "paid" notices to their accounts (1 a payment)
	Refunds    int   // refunds of them (0: none was due)
}

// OK reports whether every payment was paid exactly once.
func (c PayCheck) OK() bool {
	return c.Paid == c.Payments && c.DoublePaid == 0 && c.Entries == 2*c.Payments && c.LedgerSum == 0 && c.Booked == c.Payments &&
		c.Notices == c.Payments && c.Refunds == 0
}

// PayNotify is the notifications' load: POST
// /api/v1/payments/notify/wechat with the sandbox's signed
// notifications, verified and recorded by the real server.
type PayNotify struct {
	Clients       int
	Notifications int
	Acked         int // 200 or 204: the server stored it (or had)
	Refused       int // 4xx
	ServerErr     int // 5xx and transport errors
	Codes         map[string]int
	Duration      time.Duration
	PerSec        float64 // notifications a second
	P50, P99      time.Duration
	Check         PayCheck
}

// PayCeiling is the store's own rate for the same work: each
// notification's MarkPaid (the payment, its journal, the booking's
// confirmation and its notice; a duplicate changes nothing) straight on
// the store, in a closed loop.
type PayCeiling struct {
	Workers int
	// ReadFirst: a proposed change, not the server's way today: the
	// payment read first (the read pool), MarkPaid only when it is not
	// paid yet; a duplicate never takes the writer.
	ReadFirst bool
	Calls     int
	Duration  time.Duration
	PerSec    float64
	Check     PayCheck
}

// PayReport of a run on one engine.
type PayReport struct {
	Engine   string
	Create   PayCreate
	Verify   PayVerify
	Notify   PayNotify
	Ceilings []PayCeiling
}

// Ceiling is the best store ceiling of the run (MarkPaid on every
// notification, as the server does).
func (r *PayReport) Ceiling() float64 {
	best := 0.0
	for _, c := range r.Ceilings {
		if !c.ReadFirst {
			best = max(best, c.PerSec)
		}
	}
	return best
}

const payInst = "pay"

// payHeld writes n held bookings (appointments waiting for their fee, as
// a booking of a paid service leaves them) of the fixture's patients from
// first on, and answers their ids in the patients' order.
func payHeld(ctx context.Context, db *sqlstore.DB, f *Fixture, first, n int, now time.Time) ([]int64, error) {
	day := now.AddDate(0, 0, 1).In(dates.Beijing).Format(dates.Layout)
	at, payBy := now.UnixMicro(), now.Add(2*time.Hour).UnixMicro()
	var rows [][]any
	for i := first; i < first+n; i++ {
		p, s := f.Patients[i], i%len(f.Services)
		rows = append(rows, []any{f.Slots[s][0], p.PatientID, p.AccountID, f.Services[s], payInst, fmt.Sprintf("d%02d", s), day, "follow_up", "held", "{}",
			fmt.Sprintf("pay-%d", i), at, payBy})
	}
	if err := db.InsertRows(ctx, "appointments", "slot_id, patient_id, account_id, service, institution, department, day, kind, status, answers, idem_key, created_at, pay_by", rows); err != nil {
		return nil, err
	}
	if _, err := db.Writer().ExecContext(ctx, `UPDATE slots SET booked = (SELECT COUNT(*) FROM appointments a WHERE a.slot_id = slots.id AND a.status IN ('booked', 'held'))
		WHERE institution = $1`, payInst); err != nil {
		return nil, err
	}
	byPatient := map[int64]int64{}
	rs, err := db.Writer().QueryContext(ctx, `SELECT id, patient_id FROM appointments WHERE institution = $1 AND status = 'held'`, payInst)
	if err != nil {
		return nil, err
	}
	for rs.Next() {
		var id, pid int64
		if err := rs.Scan(&id, &pid); err != nil {
			rs.Close()
			return nil, err
		}
		byPatient[pid] = id
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	out := make([]int64, n)
	for i := range out {
		if out[i] = byPatient[f.Patients[first+i].PatientID]; out[i] == 0 {
			return nil, fmt.Errorf("pay bench: patient %d has no held booking", f.Patients[first+i].PatientID)
		}
	}
	return out, nil
}

// RunPay builds the fixture in db (held bookings of a paid service),
// starts the real server on loopback with a WeChat Pay sandbox, creates
// the orders over HTTP, pays them at the sandbox, and delivers the
// sandbox's signed notifications — each order's several times, shuffled,
// concurrently — to the server's notify endpoint; then checks that every
// payment was recorded exactly once. The notification check alone and the
// store ceiling (the same notifications' MarkPaid on the store) are
// measured in the same run.
func RunPay(ctx context.Context, db *sqlstore.DB, o PayOptions, log *slog.Logger) (*PayReport, error) {
	if o.Orders < 1 || o.Notifications < o.Orders || o.Clients < 1 || o.CeilingWorkers < 1 {
		return nil, errors.New("pay bench: orders, clients and ceiling workers must be at least 1, and notifications at least the orders")
	}
	now := time.Now()
	services := min(8, o.Orders)
	log.Info("building fixtures", "engine", db.Engine, "held bookings", 3*o.Orders)
	f, err := Build(ctx, db, Spec{Prefix: payInst, Services: services, SlotsPer: 1, Capacity: 3*o.Orders/services + 1, Patients: 3 * o.Orders,
		PatientOffset: 3_100_000}, now)
	if err != nil {
		return nil, err
	}
	httpAppts, err := payHeld(ctx, db, f, 0, o.Orders, now)
	if err != nil {
		return nil, err
	}
	sb, err := pay.NewSandboxWeChat(pay.SandboxConfig{BasePath: "/sandbox/pay/wechat"})
	if err != nil {
		return nil, err
	}
	// The sandbox is never started: its own deliveries stay queued, and
	// the load delivers its notifications instead.
	addr, _, shutdown, err := serveLoopback(db, web.Config{Payments: map[string]pay.Provider{"wechat": sb}})
	if err != nil {
		return nil, err
	}
	defer shutdown()
	rep := &PayReport{Engine: string(db.Engine)}

	if o.Profile != nil && o.ProfileLoad == "" {
		pprof.StartCPUProfile(o.Profile)
		defer pprof.StopCPUProfile()
	}
	profiled := func(name string, fn func()) {
		if o.Profile != nil && o.ProfileLoad == name {
			pprof.StartCPUProfile(o.Profile)
			defer pprof.StopCPUProfile()
		}
		fn()
	}

	// 1. The orders, over HTTP, then paid at the sandbox's cashier.
	log.Info("create payments over HTTP", "clients", o.Clients, "orders", o.Orders)
	var ids []int64
	var nos []string
	profiled("create", func() { rep.Create, ids, nos = payCreateLoad(addr, f.Patients[:o.Orders], httpAppts, o.Clients) })
	if rep.Create.OK != o.Orders {
		return nil, fmt.Errorf("pay bench: %d of %d orders created: %v", rep.Create.OK, o.Orders, rep.Create.Codes)
	}
	for _, no := range nos {
		if err := sb.Pay(ctx, no); err != nil {
			return nil, fmt.Errorf("pay bench: paying %s at the sandbox: %w", no, err)
		}
	}

	// 2. The notifications: one body an order, each copy signed afresh,
	// shuffled; signed beforehand (the provider's work, not the server's).
	log.Info("signing notifications", "notifications", o.Notifications)
	notes, err := paySign(sb, nos, o.Notifications, addr)
	if err != nil {
		return nil, err
	}
	profiled("verify", func() { rep.Verify = payVerifyLoad(sb, notes, runtime.GOMAXPROCS(0)) })

	// 3. Delivered over HTTP, concurrently.
	log.Info("deliver notifications over HTTP", "clients", o.Clients, "notifications", len(notes))
	profiled("notify", func() { rep.Notify = payNotifyLoad(addr, notes, o.Clients) })
	if rep.Notify.Check, err = payCheck(ctx, db, ids); err != nil {
		return nil, err
	}

	// 4. The store ceiling: the same mix (each payment's MarkPaid as often
	// as its notifications, shuffled) straight on the store, for orders of
	// its own: a quarter by one caller, the rest by CeilingWorkers. Then,
	// for orders of its own again, the store as it could be: a read first
	// (the read pool, a prepared statement), MarkPaid only for an order not
	// yet paid.
	ceilAppts, err := payHeld(ctx, db, f, o.Orders, 2*o.Orders, now)
	if err != nil {
		return nil, err
	}
	var ceilIDs []int64
	var ceilNos []string
	for i, appt := range ceilAppts {
		u := f.Patients[o.Orders+i]
		p := &billing.Payment{Purpose: billing.ForAppointment, RefID: appt, AccountID: u.AccountID, PatientID: u.PatientID, Institution: payInst,
			AmountFen: 5000, Provider: "wechat", Channel: pay.ChannelNative, OutTradeNo: fmt.Sprintf("YYCEIL%010d", i), Status: billing.Pending,
			Description: "压测挂号费", PayBy: now.Add(2 * time.Hour), CreatedAt: now.UTC().Truncate(time.Microsecond)}
		if _, err := db.CreatePayment(ctx, p); err != nil {
			return nil, err
		}
		ceilIDs, ceilNos = append(ceilIDs, p.ID), append(ceilNos, p.OutTradeNo)
	}
	// calls of the orders [lo, hi), as the notifications' mix
	callsOf := func(lo, hi int) []string {
		mine := map[string]bool{}
		for _, no := range ceilNos[lo:hi] {
			mine[no] = true
		}
		var out []string
		for _, no := range spread(ceilNos[:o.Orders], o.Notifications) {
			if mine[no] {
				out = append(out, no)
			}
		}
		return out
	}
	q, n := o.Orders/4, o.Orders
	profiled("ceiling", func() {
		for _, c := range []struct {
			workers   int
			readFirst bool
			calls     []string
			ids       []int64
		}{
			{1, false, callsOf(0, q), ceilIDs[:q]},
			{o.CeilingWorkers, false, callsOf(q, n), ceilIDs[q:n]},
			{o.CeilingWorkers, true, spread(ceilNos[n:], o.Notifications), ceilIDs[n:]},
		} {
			if len(c.calls) == 0 {
				continue
			}
			log.Info("store ceiling", "callers", c.workers, "read first", c.readFirst, "calls", len(c.calls))
			res, cerr := payCeilingLoad(ctx, db, c.calls, c.workers, c.readFirst)
			if cerr == nil {
				res.Check, cerr = payCheck(ctx, db, c.ids)
			}
			if cerr != nil {
				err = cerr
				return
			}
			rep.Ceilings = append(rep.Ceilings, res)
		}
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// spread lists n calls over the orders (order i gets calls i, i+len, …),
// shuffled.
func spread(nos []string, n int) []string {
	out := make([]string, n)
	for j := range out {
		out[j] = nos[j%len(nos)]
	}
	rand.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out
}

// payCreateLoad creates a payment for each held booking over HTTP: the
// patient's POST /api/v1/payments, from clients concurrent clients. It
// answers the payments' ids and order numbers in the bookings' order.
func payCreateLoad(addr string, users []BenchUser, appts []int64, clients int) (PayCreate, []int64, []string) {
	n := len(appts)
	lat := make([]time.Duration, n)
	codes := make([]string, n)
	ids := make([]int64, n)
	nos := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(clients, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &rawClient{addr: addr, req: make([]byte, 0, 1024), body: make([]byte, 0, 4096)}
			defer cl.close()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				status, b, err := cl.post("/api/v1/payments", users[i].Token, fmt.Appendf(nil, `{"appointment_id":%d,"method":"wechat"}`, appts[i]))
				lat[i] = time.Since(t0)
				var out struct {
					ID         int64  `json:"id"`
					OutTradeNo string `json:"out_trade_no"`
					Status     string `json:"status"`
				}
				switch {
				case err != nil:
					codes[i] = "transport"
				case status != 201:
					codes[i] = fmt.Sprintf("%d %s", status, errorCode(b))
				case json.Unmarshal(b, &out) != nil || out.ID == 0 || out.OutTradeNo == "" || out.Status != "pending":
					codes[i] = "bad answer"
				default:
					codes[i], ids[i], nos[i] = "ok", out.ID, out.OutTradeNo
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	r := PayCreate{Clients: min(clients, n), Orders: n, Codes: map[string]int{}, Duration: d}
	var ok []time.Duration
	for i, c := range codes {
		r.Codes[c]++
		if c == "ok" {
			r.OK++
			ok = append(ok, lat[i])
		} else {
			r.Errors++
		}
	}
	r.P50, r.P99 = percentiles(ok)
	r.PerSec = float64(r.OK) / d.Seconds()
	return r, ids, nos
}

// payNote is one notification delivery: the signed headers and body, and
// the whole HTTP request as written on the wire.
type payNote struct {
	h    http.Header
	body []byte
	raw  []byte
}

// paySign makes n deliveries of the orders' payment notifications (spread
// evenly, shuffled): one body an order, each delivery signed afresh, on
// every core.
func paySign(sb *pay.SandboxWeChat, nos []string, n int, addr string) ([]payNote, error) {
	bodies := map[string][]byte{}
	for _, no := range nos {
		b, err := sb.PaymentNotification(no)
		if err != nil {
			return nil, err
		}
		bodies[no] = b
	}
	calls := spread(nos, n)
	notes := make([]payNote, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				body := bodies[calls[i]]
				h, err := sb.SignNotification(body)
				if err != nil {
					failed.Store(err)
					return
				}
				var raw strings.Builder
				fmt.Fprintf(&raw, "POST /api/v1/payments/notify/wechat HTTP/1.1\r\nHost: %s\r\nUser-Agent: Mozilla/4.0 (WeChatPay sandbox)\r\n", addr)
				for _, k := range []string{"Content-Type", pay.WeChatHeaderTimestamp, pay.WeChatHeaderNonce, pay.WeChatHeaderSignature,
					pay.WeChatHeaderSerial, pay.WeChatHeaderSignatureType} {
					fmt.Fprintf(&raw, "%s: %s\r\n", k, h.Get(k))
				}
				fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\n", len(body))
				raw.Write(body)
				notes[i] = payNote{h: h, body: body, raw: []byte(raw.String())}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	return notes, nil
}

// payVerifyLoad verifies and decrypts every notification in process with
// workers goroutines, as the server's ParseNotification does.
func payVerifyLoad(sb *pay.SandboxWeChat, notes []payNote, workers int) PayVerify {
	var next atomic.Int64
	var refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(notes) {
					return
				}
				if n, err := sb.ParseNotification(notes[i].h, notes[i].body); err != nil || n.Order == nil {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	return PayVerify{Workers: workers, Notifications: len(notes), Refused: int(refused.Load()), Duration: d, PerSec: float64(len(notes)) / d.Seconds()}
}

// payNotifyLoad delivers the notifications over HTTP from clients
// concurrent clients, each on one keep-alive connection, in a closed loop.
func payNotifyLoad(addr string, notes []payNote, clients int) PayNotify {
	n := len(notes)
	lat := make([]time.Duration, n)
	codes := make([]string, n)
	ended := make([]time.Time, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(clients, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn net.Conn
			var br *bufio.Reader
			buf := make([]byte, 0, 1024)
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				status, b, err := func() (int, []byte, error) {
					if conn == nil {
						c, err := net.Dial("tcp", addr)
						if err != nil {
							return 0, nil, err
						}
						conn, br = c, bufio.NewReaderSize(c, 4096)
					}
					if _, err := conn.Write(notes[i].raw); err != nil {
						return 0, nil, err
					}
					status, b, closed, err := readAnswer(br, buf[:0])
					if err != nil || closed {
						conn.Close()
						conn = nil
					}
					return status, b, err
				}()
				ended[i] = time.Now()
				lat[i] = ended[i].Sub(t0)
				switch {
				case err != nil:
					codes[i] = "transport"
					if conn != nil {
						conn.Close()
						conn = nil
					}
				case status == http.StatusOK || status == http.StatusNoContent:
					codes[i] = strconv.Itoa(status)
				default:
					codes[i] = fmt.Sprintf("%d %s", status, strings.TrimSpace(string(b)))
				}
			}
		}()
	}
	wg.Wait()
	var last time.Time
	for _, t := range ended {
		if t.After(last) {
			last = t
		}
	}
	d := last.Sub(start)
	r := PayNotify{Clients: min(clients, n), Notifications: n, Codes: map[string]int{}, Duration: d, PerSec: float64(n) / d.Seconds()}
	var ok []time.Duration
	for i, c := range codes {
		r.Codes[c]++
		switch {
		case c == "200" || c == "204":
			r.Acked++
			ok = append(ok, lat[i])
		case c == "transport" || c[0] == '5':
			r.ServerErr++
		default:
			r.Refused++
		}
	}
	r.P50, r.P99 = percentiles(ok)
	return r
}

// payCeilingLoad records each call's payment (MarkPaid, as the server
// does for a verified notification) with workers concurrent callers; with
// readFirst, only when a read finds it not paid yet.
func payCeilingLoad(ctx context.Context, db *sqlstore.DB, calls []string, workers int, readFirst bool) (PayCeiling, error) {
	txn := map[string]string{}
	for i, no := range calls {
		if txn[no] == "" {
			txn[no] = fmt.Sprintf("4200000000%012d", i)
		}
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(calls) || failed.Load() != nil {
					return
				}
				if readFirst {
					var status string
					if err := db.QueryRowContext(ctx, `SELECT status FROM payments WHERE out_trade_no = $1`, calls[i]).Scan(&status); err != nil {
						failed.Store(err)
						return
					}
					if status == string(billing.Paid) || status == string(billing.Refunded) {
						continue // a duplicate: nothing to write
					}
				}
				at := time.Now().UTC().Truncate(time.Second) // the notification's success_time
				if _, err := db.MarkPaid(ctx, calls[i], txn[calls[i]], at); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return PayCeiling{}, fmt.Errorf("pay bench: store ceiling: %w", err)
	}
	d := time.Since(start)
	return PayCeiling{Workers: workers, ReadFirst: readFirst, Calls: len(calls), Duration: d, PerSec: float64(len(calls)) / d.Seconds()}, nil
}

// payCheck reads what the store holds for the payments ids (created in
// one load, so with consecutive ids).
func payCheck(ctx context.Context, db *sqlstore.DB, ids []int64) (PayCheck, error) {
	c := PayCheck{Payments: len(ids)}
	if len(ids) == 0 {
		return c, nil
	}
	lo, hi := ids[0], ids[0]
	for _, id := range ids {
		lo, hi = min(lo, id), max(hi, id)
	}
	if int(hi-lo+1) != len(ids) {
		return c, fmt.Errorf("pay bench: the payments' ids are not consecutive (%d to %d for %d)", lo, hi, len(ids))
	}
	w := db.Writer()
	for _, x := range []struct {
		q   string
		dst any
	}{
		{`SELECT COUNT(*) FROM payments WHERE id BETWEEN $1 AND $2 AND status = 'paid'`, &c.Paid},
		{`SELECT COUNT(*) FROM payments p WHERE p.id BETWEEN $1 AND $2 AND ((SELECT COUNT(*) FROM ledger_entries e WHERE e.payment_id = p.id) <> 2
			OR (SELECT COALESCE(SUM(e.amount_fen), 0) FROM ledger_entries e WHERE e.payment_id = p.id) <> 0)`, &c.DoublePaid},
		{`SELECT COUNT(*) FROM ledger_entries WHERE payment_id BETWEEN $1 AND $2`, &c.Entries},
		{`SELECT COUNT(*) FROM appointments WHERE status = 'booked' AND id IN (SELECT ref_id FROM payments WHERE id BETWEEN $1 AND $2)`, &c.Booked},
		{`SELECT COUNT(*) FROM notifications WHERE kind = 'paid' AND account_id IN (SELECT account_id FROM payments WHERE id BETWEEN $1 AND $2)`, &c.Notices},
		{`SELECT COUNT(*) FROM refunds WHERE payment_id BETWEEN $1 AND $2`, &c.Refunds},
	} {
		if err := w.QueryRowContext(ctx, x.q, lo, hi).Scan(x.dst); err != nil {
			return c, err
		}
	}
	var err error
	c.LedgerSum, err = db.LedgerSum(ctx)
	return c, err
}

// PayTable renders reports as Markdown: the orders' creation, the
// notification check alone, the notifications over HTTP with what the
// store holds after, and the store ceiling.
func PayTable(reps []*PayReport) string {
	var b strings.Builder
	b.WriteString("| engine | load | concurrency | operations | per second | p50 | p99 | 5xx | result | store ceiling | ratio |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	ms := func(d time.Duration) string {
		if d < time.Millisecond {
			return fmt.Sprintf("%d µs", d.Microseconds())
		}
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
	check := func(c PayCheck) string {
		verdict := "paid exactly once"
		if !c.OK() {
			verdict = "**NOT paid exactly once**"
		}
		return fmt.Sprintf("%d/%d %s: %d double, %d ledger entries (ledger sum %d), %d bookings confirmed, %d notices, %d refunds",
			c.Paid, c.Payments, verdict, c.DoublePaid, c.Entries, c.LedgerSum, c.Booked, c.Notices, c.Refunds)
	}
	for _, r := range reps {
		c := r.Create
		fmt.Fprintf(&b, "| %s | create payments over HTTP (POST /api/v1/payments for held bookings) | %d clients | %d orders | %.0f orders/s | %s | %s | %d | %d created | | |\n",
			r.Engine, c.Clients, c.Orders, c.PerSec, ms(c.P50), ms(c.P99), c.Errors, c.OK)
		v := r.Verify
		fmt.Fprintf(&b, "| %s | notification check alone (RSA-2048 signature, AES-256-GCM resource: ParseNotification) | %d goroutines | %d notifications | %.0f notifications/s | | | | %d refused | | |\n",
			r.Engine, v.Workers, v.Notifications, v.PerSec, v.Refused)
		n := r.Notify
		ceil, ratio := "—", "—"
		if x := r.Ceiling(); x > 0 {
			ceil, ratio = fmt.Sprintf("%.0f/s", x), fmt.Sprintf("%.2f", n.PerSec/x)
		}
		dup := float64(n.Notifications) / float64(max(n.Check.Payments, 1))
		fmt.Fprintf(&b, "| %s | signed notifications over HTTP (POST /api/v1/payments/notify/wechat; %.0f copies an order, shuffled) | %d clients | %d notifications (%d acked, %d refused) | %.0f notifications/s | %s | %s | %d | %s | %s | %s |\n",
			r.Engine, dup, n.Clients, n.Notifications, n.Acked, n.Refused, n.PerSec, ms(n.P50), ms(n.P99), n.ServerErr, check(n.Check), ceil, ratio)
		for _, x := range r.Ceilings {
			callers := fmt.Sprintf("%d callers", x.Workers)
			if x.Workers == 1 {
				callers = "1 caller"
			}
			what := "store: MarkPaid, the same mix"
			if x.ReadFirst {
				what = "store as proposed: read first, MarkPaid only when not paid yet, the same mix"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d calls | %.0f calls/s | | | 0 | %s | | |\n",
				r.Engine, what, callers, x.Calls, x.PerSec, check(x.Check))
		}
	}
	return b.String()
}
