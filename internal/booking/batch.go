package booking

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/yunyi-health/yunyi/internal/schedule"
)

// batcher is the group-commit writer of bookings: concurrent bookings are
// written together in one transaction (up to maxBatch), which is what lets
// one SQLite writer keep up with a release rush.
type batcher struct {
	st   schedule.Store
	reqs chan item
	done chan struct{}
	stop chan struct{}
	once sync.Once
}

type item struct {
	req schedule.BookRequest
	out chan outcome
}

type outcome struct {
	res schedule.BookResult
	err error
}

const maxBatch = 64

var errClosed = errors.New("booking writer closed")

func newBatcher(st schedule.Store) *batcher {
	b := &batcher{st: st, reqs: make(chan item, 4096), done: make(chan struct{}), stop: make(chan struct{})}
	go b.run()
	return b
}

func (b *batcher) book(ctx context.Context, r schedule.BookRequest) (schedule.BookResult, error) {
	it := item{req: r, out: make(chan outcome, 1)}
	select {
	case b.reqs <- it:
	case <-b.done:
		return schedule.BookResult{}, errClosed
	case <-ctx.Done():
		return schedule.BookResult{}, ctx.Err()
	}
	select {
	case o := <-it.out:
		return o.res, o.err
	case <-b.stop:
		select {
		case o := <-it.out:
			return o.res, o.err
		default:
			return schedule.BookResult{}, errClosed
		}
	}
}

func (b *batcher) run() {
	defer close(b.stop)
	batch := make([]item, 0, maxBatch)
	for {
		select {
		case it := <-b.reqs:
			batch = append(batch[:0], it)
		case <-b.done:
			for {
				select {
				case it := <-b.reqs:
					b.write([]item{it})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case it := <-b.reqs:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		b.write(batch)
	}
}

func (b *batcher) write(batch []item) {
	reqs := make([]schedule.BookRequest, len(batch))
	for i, it := range batch {
		reqs[i] = it.req
	}
	res, err := b.st.Book(context.Background(), reqs)
	if err != nil && len(batch) > 1 {
		// One request broke the transaction: write each alone so the
		// others still go through.
		slog.Warn("booking batch failed, writing one by one", "size", len(batch), "err", err)
		for _, it := range batch {
			b.write([]item{it})
		}
		return
	}
	for i, it := range batch {
		if err != nil {
			it.out <- outcome{err: err}
			continue
		}
		it.out <- outcome{res: res[i]}
	}
}

func (b *batcher) close() {
	b.once.Do(func() { close(b.done) })
	<-b.stop
}
