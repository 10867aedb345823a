package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Issue 17: yunyi_store_errors_total counts the database's own errors,
// not an application's refusal, a missing row or a request that ended.
func TestStoreErrorsCounted(t *testing.T) {
	for _, c := range []struct {
		err   error
		count bool
	}{
		{nil, false},
		{errs.E(errs.Conflict), false},
		{fmt.Errorf("booking: %w", errs.E(errs.NotFound)), false},
		{sql.ErrNoRows, false},
		{context.Canceled, false},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), false},
		{errors.New("driver: bad connection"), true},
		{fmt.Errorf("insert x: %w", errors.New("disk I/O error")), true},
	} {
		before := storeErrors.With("test").Value()
		if got := storeErr("test", c.err); got != c.err {
			t.Errorf("storeErr(%v) changed the error to %v", c.err, got)
		}
		if counted := storeErrors.With("test").Value() - before; counted != map[bool]float64{true: 1, false: 0}[c.count] {
			t.Errorf("%v: counted %v", c.err, counted)
		}
	}
}
