package retention

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
)

// Files deletes stored files (the blob store).
type Files interface {
	Delete(ctx context.Context, key string) error
}

// Purger removes the records whose period has ended, for the types whose
// policy says purge, in batches: each batch is one short transaction (the
// bookings and the chat's writes pass between them), and the run's counts
// are written with each batch, so a run that stops midway (a crash) is
// taken up by the next one and still audited once with everything it
// removed.
type Purger struct {
	Store Store
	Files Files // where the chat's images are (nil: none)
	Now   func() time.Time
	Log   *slog.Logger
	// Owner names this server's runs (host/pid/random).
	Owner string
	// Batch is the rows of a transaction (default 500); Pause the wait
	// between two batches (default none).
	Batch int
	Pause time.Duration
	// Stale is how long a run may make no progress before another owner
	// takes it over (default 10 minutes).
	Stale time.Duration
}

// DefaultBatch is the purge's rows per transaction.
const DefaultBatch = 500

// Interval is how often the purge runs inside `yunyi serve`.
const Interval = 24 * time.Hour

// Run purges once. It answers the run, or nil when another owner's run is
// under way. Every run that starts ends with one audit entry
// (retention.purge) that gives its counts, part by part, and the cutoffs.
func (p *Purger) Run(ctx context.Context) (*Run, error) {
	batch := p.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	stale := p.Stale
	if stale <= 0 {
		stale = 10 * time.Minute
	}
	now := p.Now()
	pols, err := p.Store.RetentionPolicies(ctx)
	if err != nil {
		return nil, err
	}
	run, err := p.Store.BeginPurge(ctx, p.Owner, now, now.Add(-stale))
	if err != nil || run == nil {
		return nil, err
	}
	if run.Counts == nil {
		run.Counts = map[Part]int64{}
	}
	run.Cutoffs = map[Type]string{}
	for _, pol := range pols {
		pol = pol.WithRules()
		if !pol.Purge || !pol.Purgeable {
			continue
		}
		cutoff := pol.Cutoff(now)
		run.Cutoffs[pol.Type] = cutoff.Format(time.RFC3339)
		for _, part := range Parts[pol.Type] {
			for {
				n, keys, err := p.Store.PurgeBatch(ctx, run, part, cutoff, batch, p.Now())
				if err != nil {
					return run, err
				}
				run.Counts[part] += int64(n)
				for _, k := range keys {
					if p.Files == nil {
						break
					}
					if err := p.Files.Delete(ctx, k); err != nil && p.Log != nil {
						p.Log.Warn("retention: file of a purged record not deleted", "key", k, "err", err)
					}
				}
				if n < batch {
					break
				}
				if p.Pause > 0 {
					select {
					case <-ctx.Done():
						return run, ctx.Err()
					case <-time.After(p.Pause):
					}
				}
			}
		}
	}
	end := p.Now()
	e := &audit.Entry{At: end.UTC().Truncate(time.Microsecond), ActorRole: "system", Action: "retention.purge", ObjectType: "retention_run",
		ObjectID: strconv.FormatInt(run.ID, 10), Detail: run.Detail()}
	if err := p.Store.FinishPurge(ctx, run, end, e); err != nil {
		return run, err
	}
	run.FinishedAt = end
	return run, nil
}
