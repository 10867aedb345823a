// Package groupcommit writes concurrent requests together: one goroutine
// takes what is queued (up to a batch's size) and writes it in one
// transaction, which is what lets one SQLite writer (or one PostgreSQL
// commit's flush) serve a rush. Booking and prescriptions use it.
package groupcommit

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/yunyi-health/yunyi/internal/metrics"
)

// The writers' metrics (issue 17: watch a release rush): how many requests
// each transaction took, and how many wait for the next one.
var (
	batchSize = metrics.NewHistogram("yunyi_groupcommit_batch_size", "Requests written by one group-commit transaction, by writer.",
		[]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}, "writer")
	queueDepth = metrics.NewGauge("yunyi_groupcommit_queue_depth", "Requests waiting for a group-commit transaction, by writer.", "writer")
)

// ErrClosed answers requests made after Close.
var ErrClosed = errors.New("groupcommit: writer closed")

// Writer queues requests of type T and writes them in batches. The write
// function gets up to Max requests; it records each one's own outcome in
// the request (T is typically a pointer) and returns an error only when
// the whole batch failed. A failed batch of several is written again one
// request at a time, so one bad request does not fail the others.
type Writer[T any] struct {
	name  string
	max   int
	write func(ctx context.Context, batch []T) error
	reqs  chan item[T]
	done  chan struct{}
	stop  chan struct{}
	once  sync.Once
}

type item[T any] struct {
	v   T
	out chan error
}

// New starts a writer; name appears in its log lines.
func New[T any](name string, max int, write func(ctx context.Context, batch []T) error) *Writer[T] {
	if max < 1 {
		max = 1
	}
	w := &Writer[T]{name: name, max: max, write: write, reqs: make(chan item[T], 4096), done: make(chan struct{}), stop: make(chan struct{})}
	go w.run()
	return w
}

// Do queues v and waits until its batch is written. A request whose
// context ends while it waits in the queue is still written (or not) with
// its batch; Do returns when that is known, so a caller never mistakes a
// written request for a lost one.
func (w *Writer[T]) Do(ctx context.Context, v T) error {
	it := item[T]{v: v, out: make(chan error, 1)}
	select {
	case w.reqs <- it:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.out:
		return err
	case <-w.stop:
		select {
		case err := <-it.out:
			return err
		default:
			return ErrClosed
		}
	}
}

func (w *Writer[T]) run() {
	defer close(w.stop)
	batch := make([]item[T], 0, w.max)
	for {
		select {
		case it := <-w.reqs:
			batch = append(batch[:0], it)
		case <-w.done:
			for {
				select {
				case it := <-w.reqs:
					w.flush([]item[T]{it})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < w.max {
			select {
			case it := <-w.reqs:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		queueDepth.With(w.name).Set(float64(len(w.reqs)))
		batchSize.With(w.name).Observe(float64(len(batch)))
		w.flush(batch)
	}
}

func (w *Writer[T]) flush(batch []item[T]) {
	vs := make([]T, len(batch))
	for i, it := range batch {
		vs[i] = it.v
	}
	err := w.write(context.Background(), vs)
	if err != nil && len(batch) > 1 {
		slog.Warn("group commit failed, writing one by one", "writer", w.name, "size", len(batch), "err", err)
		for _, it := range batch {
			w.flush([]item[T]{it})
		}
		return
	}
	for _, it := range batch {
		it.out <- err
	}
}

// Close writes what is queued and stops the writer.
func (w *Writer[T]) Close() {
	w.once.Do(func() { close(w.done) })
	<-w.stop
}
