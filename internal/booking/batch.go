package booking

import (
	"context"
	"errors"

	"github.com/yunyi-health/yunyi/internal/groupcommit"
	"github.com/yunyi-health/yunyi/internal/schedule"
)

// batcher is the group-commit writer of bookings: concurrent bookings are
// written together in one transaction (up to maxBatch), which is what lets
// one SQLite writer keep up with a release rush.
type batcher struct {
	w *groupcommit.Writer[*bookItem]
}

type bookItem struct {
	req schedule.BookRequest
	res schedule.BookResult
}

const maxBatch = 64

var errClosed = errors.New("booking writer closed")

func newBatcher(st schedule.Store) *batcher {
	return &batcher{w: groupcommit.New("booking", maxBatch, func(ctx context.Context, items []*bookItem) error {
		reqs := make([]schedule.BookRequest, len(items))
		for i, it := range items {
			reqs[i] = it.req
		}
		res, err := st.Book(ctx, reqs)
		if err != nil {
			return err
		}
		for i, it := range items {
			it.res = res[i]
		}
		return nil
	})}
}

func (b *batcher) book(ctx context.Context, r schedule.BookRequest) (schedule.BookResult, error) {
	it := &bookItem{req: r}
	if err := b.w.Do(ctx, it); err != nil {
		if errors.Is(err, groupcommit.ErrClosed) {
			return schedule.BookResult{}, errClosed
		}
		return schedule.BookResult{}, err
	}
	return it.res, nil
}

func (b *batcher) close() { b.w.Close() }
