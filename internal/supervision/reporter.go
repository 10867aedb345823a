package supervision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/yunyi-health/yunyi/internal/metrics"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Reporter sends the outbox to the supervision platform (--supervision-url,
// the address of its POST /api/v1/supervision/events): every institution's
// events in order, in signed batches, one batch of an institution at a
// time; a batch is acknowledged by the platform's last number, and only
// then is the next one read. A failure (the platform down, an error
// answer) is recorded on the institution's cursor with the next attempt,
// BackoffMin doubled at each failure in a row up to BackoffMax; the other
// institutions go on. A batch whose answer was lost is sent again as the
// same bytes, and the platform ignores what it has. Several servers may
// run reporters over one database: an institution's outbox is claimed
// (compare-and-set, for Lease) before it is sent.
type Reporter struct {
	Store  Outbox
	Keys   *Keys
	URL    string
	Client *http.Client
	Owner  string // this server's name in claims (unique per process)
	Log    *slog.Logger
	// Now is the clock of cursors and backoff; Sleep waits between rounds
	// (tests give the test clock and a Sleep that moves it).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Sent is what a round did.
type Sent struct {
	Batches, Events int
	Failures        int
	NextDue         time.Time // the earliest retry of a failed institution (zero: none)
}

// Run sends rounds until ctx ends: after a round, it waits the settings'
// interval, or less when a failed institution's retry is due sooner.
func (r *Reporter) Run(ctx context.Context) error {
	for {
		sent, err := r.Round(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.log().Warn("supervision feed: round failed", "err", err)
		}
		set, serr := r.Store.FeedSettings(ctx)
		if serr != nil {
			set = DefaultSettings
		}
		set = set.normalised()
		wait := set.Interval
		if !sent.NextDue.IsZero() {
			wait = min(wait, max(sent.NextDue.Sub(r.Now()), 10*time.Millisecond))
		}
		if err := r.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (r *Reporter) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *Reporter) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// outboxLag is, per institution, how many events of this server's
// outbox the platform has not acknowledged, as the reporter last saw it
// (issue 17).
var outboxLag = metrics.NewGauge("yunyi_supervision_outbox_lag", "Supervision events written but not yet acknowledged by the platform, by institution, as the reporter last saw them.", "institution")

// Round sends everything due now: each institution with events not
// acknowledged whose next attempt is due, up to Parallel at once, until
// its outbox is acknowledged or an attempt fails.
func (r *Reporter) Round(ctx context.Context) (Sent, error) {
	var total Sent
	set, err := r.Store.FeedSettings(ctx)
	if err != nil {
		return total, err
	}
	set = set.normalised()
	due, err := r.Store.DueOutboxes(ctx, r.Now())
	if err != nil {
		return total, err
	}
	var mu sync.Mutex
	var errList []error
	sem := make(chan struct{}, set.Parallel)
	var wg sync.WaitGroup
	for _, c := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := r.send(ctx, c.Institution, set)
			mu.Lock()
			defer mu.Unlock()
			total.Batches += s.Batches
			total.Events += s.Events
			total.Failures += s.Failures
			if !s.NextDue.IsZero() && (total.NextDue.IsZero() || s.NextDue.Before(total.NextDue)) {
				total.NextDue = s.NextDue
			}
			if err != nil {
				errList = append(errList, err)
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errList...)
}

// send sends one institution's outbox until it is acknowledged or an
// attempt fails.
func (r *Reporter) send(ctx context.Context, institution string, set Settings) (Sent, error) {
	var s Sent
	now := r.Now()
	cur, ok, err := r.Store.ClaimOutbox(ctx, institution, r.Owner, now, now.Add(set.Lease))
	if err != nil || !ok {
		return s, err
	}
	released := false
	defer func() {
		if !released {
			r.Store.ReleaseOutbox(context.WithoutCancel(ctx), institution, r.Owner)
		}
	}()
	if r.Keys == nil {
		return s, r.fail(ctx, cur, set, &s, errors.New("no signing keys (the master key, --keys)"), &released)
	}
	signer, err := r.Keys.Signer(ctx, institution)
	if err != nil {
		return s, r.fail(ctx, cur, set, &s, fmt.Errorf("signing key: %w", err), &released)
	}
	acked := cur.AckedSeq
	resynced := false
	seen := cur.HeadSeq // the newest event this send knows of
	defer func() { outboxLag.With(institution).Set(float64(max(seen, acked) - acked)) }()
	for {
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		pend, err := r.Store.PendingEvents(ctx, institution, acked, set.Batch)
		if err != nil {
			return s, err
		}
		if len(pend) == 0 {
			seen = acked // all sent
			return s, nil
		}
		bodies := make([][]byte, len(pend))
		for i, p := range pend {
			bodies[i] = p.Body
		}
		head := max(cur.HeadSeq, pend[len(pend)-1].Seq)
		seen = head
		body, err := BatchBody(institution, head, r.Now(), bodies)
		if err != nil {
			return s, err
		}
		sig, err := signer.Sign(body)
		if err != nil {
			return s, err
		}
		rec, last, perr := r.post(ctx, institution, sig, body)
		switch {
		case perr == nil && rec.LastSeq > acked:
			acked = rec.LastSeq
			now := r.Now()
			if err := r.Store.AckOutbox(ctx, institution, r.Owner, acked, now, now.Add(set.Lease)); err != nil {
				return s, err
			}
			s.Batches++
			s.Events += rec.Accepted
		case perr == nil:
			perr = fmt.Errorf("the platform acknowledged nothing (last_seq %d) of a batch from %d", rec.LastSeq, pend[0].Seq)
			fallthrough
		default:
			// A gap: the platform has less (or more) than this cursor says
			// (a restored database): resume after what it has, once a round.
			if last >= 0 && !resynced && last != acked {
				resynced, acked = true, last
				now := r.Now()
				if err := r.Store.AckOutbox(ctx, institution, r.Owner, acked, now, now.Add(set.Lease)); err != nil {
					return s, err
				}
				r.log().Warn("supervision feed: resuming after the platform's last event", "institution", institution, "last_seq", last)
				continue
			}
			cur.AckedSeq = acked
			return s, r.fail(ctx, cur, set, &s, perr, &released)
		}
	}
}

// fail records a failed attempt with its backoff.
func (r *Reporter) fail(ctx context.Context, cur *Cursor, set Settings, s *Sent, cause error, released *bool) error {
	now := r.Now()
	next := now.Add(set.Backoff(cur.Attempts + 1))
	s.Failures++
	s.NextDue = next
	msg := cause.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	r.log().Warn("supervision feed: not delivered", "institution", cur.Institution, "attempts", cur.Attempts+1, "retry_at", next, "err", cause)
	*released = true
	return r.Store.FailOutbox(context.WithoutCancel(ctx), cur.Institution, r.Owner, msg, now, next)
}

// post sends one batch. On a refusal it returns the error and, for a gap,
// the platform's last number (else -1).
func (r *Reporter) post(ctx context.Context, institution, sig string, body []byte) (*Received, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return nil, -1, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(InstitutionHeader, institution)
	req.Header.Set(SignatureHeader, sig)
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, -1, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return nil, -1, err
	}
	if res.StatusCode == http.StatusOK {
		var rec Received
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, -1, fmt.Errorf("the platform's answer: %w", err)
		}
		return &rec, -1, nil
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details struct {
				LastSeq *int64 `json:"last_seq"`
			} `json:"details"`
		} `json:"error"`
	}
	json.Unmarshal(raw, &e)
	last := int64(-1)
	if e.Error.Code == CodeGap && e.Error.Details.LastSeq != nil {
		last = *e.Error.Details.LastSeq
	}
	code := e.Error.Code
	if code == "" {
		code = strings.TrimSpace(string(raw[:min(len(raw), 120)]))
	}
	return nil, last, fmt.Errorf("HTTP %d %s", res.StatusCode, code)
}
