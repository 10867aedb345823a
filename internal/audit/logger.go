package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Logger appends entries with group commit: concurrent callers are batched
// into one transaction, and each Record returns only once its entry is
// stored, so an access is never served without its audit record.
type Logger struct {
	store Store
	now   func() time.Time
	reqs  chan request
	done  chan struct{}
	stop  chan struct{} // closed when run has returned
	once  sync.Once
	wg    sync.WaitGroup
}

type request struct {
	e   *Entry
	ack chan error
}

// MaxBatch bounds the entries written in one transaction.
const MaxBatch = 256

// NewLogger starts a Logger writing to s. Close stops it.
func NewLogger(s Store) *Logger { return NewLoggerClock(s, time.Now) }

// NewLoggerClock starts a Logger that times entries by now (the server's
// clock).
func NewLoggerClock(s Store, now func() time.Time) *Logger {
	l := &Logger{store: s, now: now, reqs: make(chan request, 4096), done: make(chan struct{}), stop: make(chan struct{})}
	l.wg.Add(1)
	go l.run()
	return l
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit logger closed")

// Record stores e (its Seq, hashes and, when zero, At are set here).
func (l *Logger) Record(ctx context.Context, e Entry) error {
	if e.At.IsZero() {
		e.At = l.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	r := request{e: &e, ack: make(chan error, 1)}
	select {
	case <-l.done:
		return ErrClosed
	case l.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.ack:
		return err
	case <-l.stop:
		select {
		case err := <-r.ack:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		// The entry may still be written; the caller's work is abandoned.
		return ctx.Err()
	}
}

func (l *Logger) run() {
	defer l.wg.Done()
	defer close(l.stop)
	batch := make([]request, 0, MaxBatch)
	for {
		var first request
		select {
		case first = <-l.reqs:
		case <-l.done:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-l.reqs:
					l.flush([]request{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < MaxBatch {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.flush(batch)
	}
}

func (l *Logger) flush(batch []request) {
	entries := make([]*Entry, len(batch))
	for i, r := range batch {
		entries[i] = r.e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := l.store.AppendAudit(ctx, entries)
	cancel()
	if err != nil {
		slog.Error("audit append failed", "entries", len(entries), "err", err)
	}
	for _, r := range batch {
		r.ack <- err
	}
}

// Close stops the logger after writing what was queued.
func (l *Logger) Close() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
}
