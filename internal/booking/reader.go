package booking

import (
	"context"
	"sync"

	"github.com/yunyi-health/yunyi/internal/history"
)

// visitReader answers the offline-history lookups of concurrent bookings
// a batch at a time: when a release opens, thousands of patients ask at
// once, each for their own history, and one statement for a batch of them
// costs the store little more than one for a single patient. Each of a
// few loops takes the first waiting lookup and whatever else is waiting
// (up to maxRead), so a lone lookup waits for nothing.
type visitReader struct {
	st   history.Store
	reqs chan visitReq
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

type visitReq struct {
	q   history.Query
	out chan visitOut
}

type visitOut struct {
	last history.Last
	err  error
}

const (
	readLoops = 2
	maxRead   = 128
)

func newVisitReader(st history.Store) *visitReader {
	r := &visitReader{st: st, reqs: make(chan visitReq, 4096), done: make(chan struct{})}
	for i := 0; i < readLoops; i++ {
		r.wg.Add(1)
		go r.run()
	}
	return r
}

// last returns the most recent definite visit a query asks for.
func (r *visitReader) last(ctx context.Context, q history.Query) (history.Last, error) {
	req := visitReq{q: q, out: make(chan visitOut, 1)}
	select {
	case r.reqs <- req:
	case <-r.done:
		return history.Last{}, errClosed
	case <-ctx.Done():
		return history.Last{}, ctx.Err()
	}
	select {
	case o := <-req.out:
		return o.last, o.err
	case <-r.done: // closing: a lookup queued after the loops stopped gets no answer
		select {
		case o := <-req.out:
			return o.last, o.err
		default:
			return history.Last{}, errClosed
		}
	case <-ctx.Done():
		return history.Last{}, ctx.Err()
	}
}

func (r *visitReader) run() {
	defer r.wg.Done()
	batch := make([]visitReq, 0, maxRead)
	qs := make([]history.Query, 0, maxRead)
	for {
		select {
		case req := <-r.reqs:
			batch = append(batch[:0], req)
		case <-r.done:
			return
		}
	fill:
		for len(batch) < maxRead {
			select {
			case req := <-r.reqs:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		qs = qs[:0]
		for _, req := range batch {
			qs = append(qs, req.q)
		}
		res, err := r.st.LastDefiniteVisits(context.Background(), qs)
		for i, req := range batch {
			if err != nil {
				req.out <- visitOut{err: err}
				continue
			}
			req.out <- visitOut{last: res[i]}
		}
	}
}

// close stops the loops; lookups still waiting fail with errClosed.
func (r *visitReader) close() {
	r.once.Do(func() { close(r.done) })
	r.wg.Wait()
	for {
		select {
		case req := <-r.reqs:
			req.out <- visitOut{err: errClosed}
		default:
			return
		}
	}
}
