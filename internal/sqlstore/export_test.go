package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
)

// IssueInvoiceTx lets the store's tests (package sqlstore_test) issue an
// invoice inside a transaction of their own, as MarkPaid does.
func (db *DB) IssueInvoiceTx(ctx context.Context, tx *sql.Tx, p *billing.Payment, at time.Time) error {
	return db.issueInvoiceTx(ctx, tx, p, at)
}
