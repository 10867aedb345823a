package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/sign"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/supervision"
	"github.com/yunyi-health/yunyi/internal/web"
)

// SupervisionOptions of the supervision feed's benchmark (`yunyi bench
// supervision`, issue 13).
type SupervisionOptions struct {
	Events       int // written to the outboxes, then reported (100,000)
	Institutions int // sharing them (6)
	Batch        int // events a batch (500)
	Parallel     int // institutions sent at once (6)
	// LoseEvery, when > 0, has the platform's front drop the answer of every
	// n-th batch after storing it: the reporter sends it again and the
	// platform must ignore what it has.
	LoseEvery int
	// Profile, when set, receives a CPU profile of the run; of the load
	// named ProfileLoad alone when that is set (outbox, ceiling, http).
	Profile     io.Writer
	ProfileLoad string
}

// SupervisionLoads names the loads --profile-load accepts.
var SupervisionLoads = []string{"outbox", "ceiling", "http"}

// SupervisionDefaults are the load.
var SupervisionDefaults = SupervisionOptions{Events: 100_000, Institutions: 6, Batch: 500, Parallel: 6}

// SupervisionReport of a run on one engine.
type SupervisionReport struct {
	Engine                     string
	Options                    SupervisionOptions
	Written                    time.Duration // the outbox load
	Ceiling                    time.Duration // ReceiveFeed straight on the platform's store
	HTTP                       time.Duration // reporter → HTTP → receiver, until every outbox was acknowledged
	CeilingCPU, HTTPCPU        time.Duration // the process's CPU time (user + system) during each: on a shared machine, what the load itself cost
	Load                       [2]float64    // the machine's load average (1 minute) before and after the HTTP load
	Batches, Failures, Retried int
	Received, Duplicates       int64 // stored by the platform, and ignored as already had
	Check                      string
}

func (r *SupervisionReport) perSec(d time.Duration) float64 {
	return float64(r.Options.Events) / d.Seconds()
}

// RunSupervision measures the feed: Events supervision events from
// Institutions institutions are written to the outboxes of the sending
// store through the transactional path (1,000 a transaction), then
// received straight on the platform's store (the ceiling: ReceiveFeed, the
// batches the reporter would send), the platform's tables emptied, then
// sent by the real reporter (signed SM2 batches, in order per
// institution, Parallel institutions at once) over loopback HTTP to the
// real server's POST /api/v1/supervision/events on the platform's store.
// Every event must arrive once, in order, with its id.
func RunSupervision(ctx context.Context, sender, platform *sqlstore.DB, o SupervisionOptions, log *slog.Logger) (*SupervisionReport, error) {
	if o.Events < 1 || o.Institutions < 1 || o.Batch < 1 || o.Batch > supervision.MaxBatch {
		return nil, errors.New("supervision bench: events, institutions and a batch of 1 to 1000 are needed")
	}
	o.Parallel = max(o.Parallel, 1)
	rep := &SupervisionReport{Engine: string(sender.Engine), Options: o}
	now := time.Now()
	insts := make([]string, o.Institutions)
	for i := range insts {
		insts[i] = fmt.Sprintf("bench-sup-%d", i+1)
		if err := platform.SaveInstitution(ctx, &directory.Institution{Code: insts[i], Name: fmt.Sprintf("压测医院 %d（监管数据）", i+1),
			Status: directory.QualApproved, ApprovedOn: "2020-01-01"}); err != nil {
			return nil, err
		}
	}
	master := make([]byte, sign.MasterKeySize)
	if _, err := crand.Read(master); err != nil {
		return nil, err
	}
	sealer, err := sign.NewSealer(master)
	if err != nil {
		return nil, err
	}
	keys := &supervision.Keys{Store: sender, Sealer: sealer}
	for _, inst := range insts {
		k, err := keys.Signer(ctx, inst)
		if err != nil {
			return nil, err
		}
		if err := platform.SaveFeedSource(ctx, &supervision.Source{Institution: inst, PublicKey: k.PublicKey, UpdatedAt: now}); err != nil {
			return nil, err
		}
	}

	if o.Profile != nil && o.ProfileLoad == "" {
		pprof.StartCPUProfile(o.Profile)
		defer pprof.StopCPUProfile()
	}
	profile := func(name string) func() {
		if o.Profile != nil && o.ProfileLoad == name {
			pprof.StartCPUProfile(o.Profile)
			return pprof.StopCPUProfile
		}
		return func() {}
	}

	// 1. The outbox load, through the transactional path.
	log.Info("supervision: writing the outboxes", "engine", sender.Engine, "events", o.Events)
	rnd := mrand(1)
	kinds := supervision.Kinds
	icd := []string{"L20.9", "J06.9", "R50.9", "L30.9", "E66.9", "K59.0", "J45.9", "H10.9"}
	start := time.Now()
	stopProfile := profile("outbox")
	for done := 0; done < o.Events; {
		n := min(1000, o.Events-done)
		evs := make([]supervision.Event, n)
		patients := make([]int64, n)
		for i := range evs {
			k := kinds[rnd.IntN(len(kinds))]
			// A month of events, in the order they happened (as changes commit).
			at := now.Add(-30 * 24 * time.Hour).Add(time.Duration(done+i) * (30 * 24 * time.Hour / time.Duration(o.Events)))
			evs[i] = supervision.Event{Institution: insts[(done+i)%len(insts)], Kind: k, OccurredAt: at,
				Visit: int64(rnd.IntN(1 << 30)), Practitioner: int64(1 + rnd.IntN(200)), Department: fmt.Sprintf("d%02d", rnd.IntN(8)),
				ServiceKind: []string{"first_visit", "follow_up"}[rnd.IntN(2)]}
			switch k {
			case supervision.VisitEnded, supervision.PrescriptionIssued:
				evs[i].Diagnoses = []string{icd[rnd.IntN(len(icd))]}
			case supervision.RatingGiven:
				evs[i].Score = 1 + rnd.IntN(5)
			case supervision.AdverseEventReported:
				evs[i].Category, evs[i].Severity = "medication_error", "serious"
			}
			patients[i] = int64(1 + rnd.IntN(20000))
		}
		if err := sender.EmitEvents(ctx, evs, patients); err != nil {
			return nil, err
		}
		done += n
	}
	rep.Written = time.Since(start)
	stopProfile()
	if err := sender.SaveFeedSettings(ctx, supervision.Settings{Interval: time.Second, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Batch: o.Batch, Parallel: o.Parallel, Lease: time.Minute}); err != nil {
		return nil, err
	}

	// 2. The ceiling: the same batches straight on the platform's store.
	log.Info("supervision: receiving straight on the store", "engine", platform.Engine)
	var ceiling time.Duration
	stopProfile = profile("ceiling")
	for _, inst := range insts {
		for after := int64(0); ; {
			pend, err := sender.PendingEvents(ctx, inst, after, o.Batch)
			if err != nil {
				return nil, err
			}
			if len(pend) == 0 {
				break
			}
			b := &supervision.Batch{Institution: inst, Head: after + int64(len(pend)), Events: make([]supervision.Event, len(pend))}
			for i, p := range pend {
				if err := json.Unmarshal(p.Body, &b.Events[i]); err != nil {
					return nil, err
				}
			}
			t0, c0 := time.Now(), cpuTime()
			if _, err := platform.ReceiveFeed(ctx, b, time.Now()); err != nil {
				return nil, err
			}
			ceiling += time.Since(t0)
			rep.CeilingCPU += cpuTime() - c0
			after = pend[len(pend)-1].Seq
		}
	}
	rep.Ceiling = ceiling
	stopProfile()
	for _, t := range []string{"supervision_events", "supervision_received"} {
		if _, err := platform.Writer().ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return nil, err
		}
	}

	// 3. Reporter → HTTP → the real server.
	addr, _, shutdown, err := serveLoopback(platform, web.Config{Now: time.Now, PayLoop: -1, QualificationLoop: -1})
	if err != nil {
		return nil, err
	}
	defer shutdown()
	target := "http://" + addr + "/api/v1/supervision/events"
	var batches atomic.Int64
	if o.LoseEvery > 0 {
		// A front that stores every batch but breaks the connection before
		// the answer of every LoseEvery-th.
		up, platformURL := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, target
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, _ := http.NewRequestWithContext(r.Context(), r.Method, platformURL, r.Body)
			req.Header = r.Header.Clone()
			res, err := up.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer res.Body.Close()
			if batches.Add(1)%int64(o.LoseEvery) == 0 {
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
			w.Header().Set("Content-Type", res.Header.Get("Content-Type"))
			w.WriteHeader(res.StatusCode)
			buf := make([]byte, 32<<10)
			for {
				n, err := res.Body.Read(buf)
				w.Write(buf[:n])
				if err != nil {
					break
				}
			}
		}))
		defer front.Close()
		target = front.URL
	}
	r := &supervision.Reporter{Store: sender, Keys: keys, URL: target, Owner: "bench", Now: time.Now, Log: log,
		Client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	log.Info("supervision: reporting over HTTP", "engine", platform.Engine, "url", target)
	rep.Load[0] = loadAverage()
	cpu0 := cpuTime()
	stopProfile = profile("http")
	start = time.Now()
	for {
		sent, err := r.Round(ctx) // a failed batch is recorded with its retry, not an error
		if err != nil {
			return nil, err
		}
		rep.Batches += sent.Batches
		rep.Failures += sent.Failures
		curs, err := sender.FeedCursors(ctx)
		if err != nil {
			return nil, err
		}
		lag := int64(0)
		for _, c := range curs {
			lag += c.Lag
		}
		if lag == 0 {
			break
		}
		if !sent.NextDue.IsZero() {
			time.Sleep(time.Until(sent.NextDue))
		}
		if time.Since(start) > 30*time.Minute {
			return nil, fmt.Errorf("supervision bench: %d events still not acknowledged after 30 minutes", lag)
		}
	}
	rep.HTTP = time.Since(start)
	stopProfile()
	rep.HTTPCPU = cpuTime() - cpu0
	rep.Load[1] = loadAverage()

	// 4. Nothing lost, nothing doubled: every institution's events, in
	// order, with their ids.
	feeds, err := platform.Feeds(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range feeds {
		rep.Received += f.Events
		rep.Duplicates += f.Duplicates
	}
	var problems []string
	for _, inst := range insts {
		for after := int64(0); ; {
			out, err := sender.FeedOutbox(ctx, inst, after, 5000)
			if err != nil {
				return nil, err
			}
			in, err := platform.ReceivedEvents(ctx, supervision.Filter{Institution: inst, AfterSeq: after, Limit: 1000})
			if err != nil {
				return nil, err
			}
			for len(in) < len(out) {
				more, err := platform.ReceivedEvents(ctx, supervision.Filter{Institution: inst, AfterSeq: after + int64(len(in)), Limit: 1000})
				if err != nil {
					return nil, err
				}
				if len(more) == 0 {
					break
				}
				in = append(in, more...)
			}
			if len(out) == 0 {
				if len(in) != 0 {
					problems = append(problems, fmt.Sprintf("%s: %d events received beyond the outbox", inst, len(in)))
				}
				break
			}
			if len(in) != len(out) {
				problems = append(problems, fmt.Sprintf("%s: %d of %d events after %d received", inst, len(in), len(out), after))
				break
			}
			for i := range out {
				if in[i].ID != out[i].ID || in[i].Seq != out[i].Seq {
					problems = append(problems, fmt.Sprintf("%s #%d: received %s #%d", inst, out[i].Seq, in[i].ID, in[i].Seq))
					break
				}
			}
			after = out[len(out)-1].Seq
		}
	}
	var stored int64
	if err := platform.QueryRowContext(ctx, `SELECT COUNT(*) FROM supervision_events`).Scan(&stored); err != nil {
		return nil, err
	}
	if stored != int64(o.Events) || rep.Received != int64(o.Events) {
		problems = append(problems, fmt.Sprintf("%d events stored (%d counted), %d sent", stored, rep.Received, o.Events))
	}
	rep.Retried = rep.Failures
	if len(problems) > 0 {
		rep.Check = "FAILED: " + strings.Join(problems[:min(len(problems), 5)], "; ")
		return rep, errors.New(rep.Check)
	}
	rep.Check = fmt.Sprintf("%d/%d received once, in order, ids equal; %d duplicates ignored", stored, o.Events, rep.Duplicates)
	return rep, nil
}

func mrand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

// cpuTime is the process's CPU time so far (user and system; 0 where
// getrusage is missing).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is the machine's one-minute load average (Linux; 0 elsewhere).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var v float64
	fmt.Sscanf(string(b), "%f", &v)
	return v
}

// SupervisionTable is the result table.
func SupervisionTable(reps []*SupervisionReport) string {
	var b strings.Builder
	b.WriteString("| engine | load | events | institutions | batch | seconds | events/s | CPU seconds (events a CPU second) | store ceiling | ratio | check |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range reps {
		o := r.Options
		fmt.Fprintf(&b, "| %s | outbox: written in their transactions (EmitEvents, 1,000 a transaction) | %d | %d | — | %.1f | %.0f | | | | |\n",
			r.Engine, o.Events, o.Institutions, r.Written.Seconds(), r.perSec(r.Written))
		fmt.Fprintf(&b, "| %s | ceiling: ReceiveFeed straight on the platform's store | %d | %d | %d | %.1f | %.0f | %.1f (%.0f) | | | |\n",
			r.Engine, o.Events, o.Institutions, o.Batch, r.Ceiling.Seconds(), r.perSec(r.Ceiling), r.CeilingCPU.Seconds(), r.perSec(r.CeilingCPU))
		lost := ""
		if o.LoseEvery > 0 {
			lost = fmt.Sprintf("; the answer of every %d-th batch lost, those sent again: %d", o.LoseEvery, r.Retried)
		}
		fmt.Fprintf(&b, "| %s | reporter → HTTP → POST /api/v1/supervision/events (signed SM2 batches, %d institutions at once%s; machine load %.1f → %.1f) | %d | %d | %d | %.1f | %.0f | %.1f (%.0f) | %.0f/s | %.2f | %s |\n",
			r.Engine, o.Parallel, lost, r.Load[0], r.Load[1], o.Events, o.Institutions, o.Batch, r.HTTP.Seconds(), r.perSec(r.HTTP),
			r.HTTPCPU.Seconds(), r.perSec(r.HTTPCPU), r.perSec(r.Ceiling), r.perSec(r.HTTP)/r.perSec(r.Ceiling), r.Check)
	}
	return b.String()
}
