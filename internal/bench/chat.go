package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/visit"
	"github.com/yunyi-health/yunyi/internal/web"
)

// ChatOptions of the chat benchmark.
type ChatOptions struct {
	Visits   int           // concurrent visits (2,000)
	Rate     float64       // messages a second per visit (1)
	Duration time.Duration // of the measured load
	Warmup   time.Duration
}

// ChatDefaults are the target: 2,000 visits, a message a second
// each.
var ChatDefaults = ChatOptions{Visits: 2000, Rate: 1, Duration: 20 * time.Second, Warmup: 3 * time.Second}

// ChatResult of a run.
type ChatResult struct {
	Engine        string
	Visits        int
	Sockets       int
	Sent          int
	Delivered     int
	Lost          int
	Duration      time.Duration
	PerSec        float64
	P50, P99, Max time.Duration
	// Ceiling is the store's own rate for appending messages in the
	// hub's batches, measured in the same run: the headroom above the
	// offered load.
	Ceiling float64
}

// Chat runs the benchmark: every visit in progress with its patient and its
// doctor connected over WebSocket to the real server on loopback; each
// patient sends Rate messages a second; the delivery time is measured from
// the patient's send to the doctor's receipt (through the hub, after the
// message's commit).
func Chat(ctx context.Context, db *sqlstore.DB, o ChatOptions, log *slog.Logger) (*ChatResult, error) {
	now := time.Now()
	f, err := Build(ctx, db, Spec{Prefix: "ch", Services: 1, SlotsPer: 1, Capacity: o.Visits, Patients: o.Visits, PatientOffset: 1_900_000}, now)
	if err != nil {
		return nil, err
	}
	docTok, err := chatVisits(ctx, db, f, now)
	if err != nil {
		return nil, err
	}
	addr, _, shutdown, err := serveLoopback(db, web.Config{Limits: map[string][2]float64{"chat-account": {60 * o.Rate * 10, 1000}}})
	if err != nil {
		return nil, err
	}
	defer shutdown()
	base := "ws://" + addr

	res := &ChatResult{Engine: string(db.Engine), Visits: o.Visits}
	ids, err := db.IDs(ctx, `SELECT a.id FROM appointments a WHERE a.service = $1 ORDER BY a.id`, f.Services[0])
	if err != nil {
		return nil, err
	}
	log.Info("chat benchmark: connecting", "engine", db.Engine, "visits", len(ids))
	type pair struct{ patient, doctor *websocket.Conn }
	pairs := make([]pair, len(ids))
	var mu sync.Mutex
	var lat []time.Duration
	var delivered atomic.Int64
	// The measured window, by send time: a message counts when it was sent
	// inside it, wherever its delivery falls.
	var winStart, winEnd atomic.Int64
	winStart.Store(1<<63 - 1)
	winEnd.Store(1<<63 - 1)
	inWindow := func(ns int64) bool { return ns >= winStart.Load() && ns < winEnd.Load() }
	dial := func(id int64, token string) (*websocket.Conn, error) {
		c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s/api/v1/visits/%d/ws", base, id),
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		return c, err
	}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var dialErr atomic.Value
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := dial(id, f.Patients[i].Token)
			if err != nil {
				dialErr.Store(err)
				return
			}
			d, err := dial(id, docTok)
			if err != nil {
				dialErr.Store(err)
				return
			}
			pairs[i] = pair{p, d}
		}()
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		return nil, fmt.Errorf("chat benchmark: dial: %w", err)
	}
	res.Sockets = 2 * len(pairs)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	// Doctors read; patients read and drop (their own echo).
	for _, p := range pairs {
		go func() {
			local := make([]time.Duration, 0, 64)
			for {
				var f struct {
					Type    string
					Message *visit.Message
				}
				if err := wsjson.Read(rctx, p.doctor, &f); err != nil {
					break
				}
				if f.Type != "message" || f.Message == nil {
					continue
				}
				sent, err := strconv.ParseInt(strings.TrimPrefix(f.Message.Text, "t="), 10, 64)
				if err == nil && inWindow(sent) {
					local = append(local, time.Since(time.Unix(0, sent)))
					delivered.Add(1)
				}
				if len(local) == cap(local) {
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
					local = local[:0]
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
		go func() {
			for {
				if _, _, err := p.patient.Read(rctx); err != nil {
					return
				}
			}
		}()
	}
	// Each patient sends on its own ticker, the visits spread evenly over
	// the period.
	var sent atomic.Int64
	period := time.Duration(float64(time.Second) / o.Rate)
	total := o.Warmup + o.Duration
	sctx, sstop := context.WithTimeout(ctx, total)
	defer sstop()
	var swg sync.WaitGroup
	for i, p := range pairs {
		swg.Add(1)
		go func() {
			defer swg.Done()
			select {
			case <-time.After(time.Duration(i) * period / time.Duration(len(pairs))):
			case <-sctx.Done():
				return
			}
			tick := time.NewTicker(period)
			defer tick.Stop()
			n := 0
			for {
				n++
				ns := time.Now().UnixNano()
				msg := map[string]any{"type": "message", "text": "t=" + strconv.FormatInt(ns, 10), "client_id": strconv.Itoa(n)}
				if err := wsjson.Write(sctx, p.patient, msg); err != nil {
					return
				}
				if inWindow(ns) {
					sent.Add(1)
				}
				select {
				case <-tick.C:
				case <-sctx.Done():
					return
				}
			}
		}()
	}
	time.Sleep(o.Warmup)
	start := time.Now()
	winStart.Store(start.UnixNano())
	time.Sleep(o.Duration - 200*time.Millisecond)
	end := time.Now()
	winEnd.Store(end.UnixNano())
	res.Duration = end.Sub(start)
	swg.Wait()
	time.Sleep(500 * time.Millisecond) // the last deliveries
	stop()
	for _, p := range pairs {
		p.patient.CloseNow()
		p.doctor.CloseNow()
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.Sent, res.Delivered = int(sent.Load()), len(lat)
	if n := len(lat); n > 0 {
		res.P50, res.P99, res.Max = lat[n/2], lat[n*99/100], lat[n-1]
	}
	mu.Unlock()
	res.Lost = max(res.Sent-res.Delivered, 0)
	res.PerSec = float64(res.Delivered) / res.Duration.Seconds()

	// The store's ceiling for the same writes: batches of the size the hub
	// wrote, straight to the store.
	res.Ceiling, err = chatCeiling(ctx, db, ids, 20000)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// chatVisits books every fixture patient into the one slot and puts the
// visits in progress with a doctor who has an account and a session; it
// returns the doctor's token.
func chatVisits(ctx context.Context, db *sqlstore.DB, f *Fixture, now time.Time) (string, error) {
	doc := &identity.Account{Username: "ch-doctor", PasswordHash: "x", Role: identity.RoleDoctor, Institution: "ch", CreatedAt: now}
	if err := db.CreateAccount(ctx, doc); err != nil {
		return "", err
	}
	if _, err := db.Writer().ExecContext(ctx, `UPDATE practitioners SET account_id = $1 WHERE institution = 'ch'`, doc.ID); err != nil {
		return "", err
	}
	tok, h := identity.NewToken()
	at := now.UnixMicro()
	if err := db.InsertRows(ctx, "sessions", "token_hash, account_id, kind, csrf, created_at, expires_at, idle_expiry",
		[][]any{{h, doc.ID, "api", "x", at, now.Add(12 * time.Hour).UnixMicro(), now.Add(12 * time.Hour).UnixMicro()}}); err != nil {
		return "", err
	}
	slot := f.Slots[0][0]
	var rows [][]any
	for i, p := range f.Patients {
		rows = append(rows, []any{slot, p.PatientID, p.AccountID, f.Services[0], "ch", "d00", now.Format("2006-01-02"), "follow_up", "booked", "{}", fmt.Sprintf("chat-%d", i), at})
	}
	for len(rows) > 0 {
		n := min(len(rows), 500)
		if err := db.InsertRows(ctx, "appointments", "slot_id, patient_id, account_id, service, institution, department, day, kind, status, answers, idem_key, created_at", rows[:n]); err != nil {
			return "", err
		}
		rows = rows[n:]
	}
	ids, err := db.IDs(ctx, `SELECT id FROM appointments WHERE service = $1 ORDER BY id`, f.Services[0])
	if err != nil {
		return "", err
	}
	var vs [][]any
	for _, id := range ids {
		vs = append(vs, []any{id, "in_progress", at, at})
	}
	for len(vs) > 0 {
		n := min(len(vs), 500)
		if err := db.InsertRows(ctx, "visits", "appointment_id, state, started_at, updated_at", vs[:n]); err != nil {
			return "", err
		}
		vs = vs[n:]
	}
	return tok, nil
}

// chatCeiling appends n messages straight to the store in batches of 64,
// the size the hub's writer reaches under this load.
func chatCeiling(ctx context.Context, db *sqlstore.DB, visits []int64, n int) (float64, error) {
	var seq int64 = 1_000_000
	start := time.Now()
	for done := 0; done < n; done += 64 {
		batch := make([]visit.Message, 0, 64)
		for k := 0; k < 64; k++ {
			seq++
			batch = append(batch, visit.Message{VisitID: visits[(done+k)%len(visits)], Seq: seq, SenderID: 1, SenderRole: visit.PartyPatient,
				Kind: visit.MsgText, Text: "t=0", CreatedAt: time.Now()})
		}
		if err := db.AppendMessages(ctx, batch); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// ChatTable renders results as Markdown.
func ChatTable(rs []*ChatResult) string {
	var b strings.Builder
	b.WriteString("| engine | visits | sockets | seconds | messages sent | delivered | lost | delivered/s | p50 | p99 | max | store ceiling (64/tx) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %d | %d | %d | %.0f | %s | %s | %s | %.0f/s |\n", r.Engine, r.Visits, r.Sockets, r.Duration.Seconds(),
			r.Sent, r.Delivered, r.Lost, r.PerSec, ms(r.P50), ms(r.P99), ms(r.Max), r.Ceiling)
	}
	return b.String()
}
