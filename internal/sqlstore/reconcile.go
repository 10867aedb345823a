package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
)

// The reads of the daily reconciliation (issue 12): an institution's
// payments, refunds and ledger entries of a day, and the records a
// provider's statement names.

// PaymentsOn lists an institution's payments paid in [from, to), by
// paid_at (refunded ones included).
func (db *DB) PaymentsOn(ctx context.Context, institution string, from, to time.Time) ([]billing.Payment, error) {
	rows, err := db.query(ctx, `SELECT `+paymentCols+` FROM payments WHERE institution = $1 AND paid_at >= $2 AND paid_at < $3 ORDER BY paid_at, id`,
		institution, micros(from), micros(to))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPayment)
}

// RefundsOn lists the refunds of an institution's payments done (succeeded
// or failed) in [from, to), by done_at.
func (db *DB) RefundsOn(ctx context.Context, institution string, from, to time.Time) ([]billing.Refund, error) {
	rows, err := db.query(ctx, `SELECT `+refundCols+` FROM refunds WHERE done_at >= $2 AND done_at < $3
		AND payment_id IN (SELECT id FROM payments WHERE institution = $1) ORDER BY done_at, id`, institution, micros(from), micros(to))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRefund)
}

// LedgerOn lists an institution's ledger entries of [from, to), without
// the ledger listing's row limit.
func (db *DB) LedgerOn(ctx context.Context, institution string, from, to time.Time) ([]billing.Entry, error) {
	rows, err := db.query(ctx, `SELECT id, `+ledgerCols+` FROM ledger_entries WHERE institution = $1 AND at >= $2 AND at < $3 ORDER BY id`,
		institution, micros(from), micros(to))
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*billing.Entry, error) {
		var e billing.Entry
		var at int64
		if err := r.Scan(&e.ID, &e.Journal, &e.Account, &e.AmountFen, &e.PaymentID, &e.RefundID, &e.PatientID, &e.Institution, &at, &e.Memo); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		return &e, nil
	})
}

// PaymentsWithTradeNos lists the payments of the given order numbers (any
// institution; unknown numbers are left out).
func (db *DB) PaymentsWithTradeNos(ctx context.Context, nos []string) ([]billing.Payment, error) {
	return listIn(ctx, db, `SELECT `+paymentCols+` FROM payments WHERE out_trade_no IN `, nos, scanPayment)
}

// PaymentsWithIDs lists the payments of the given ids.
func (db *DB) PaymentsWithIDs(ctx context.Context, ids []int64) ([]billing.Payment, error) {
	return listIn(ctx, db, `SELECT `+paymentCols+` FROM payments WHERE id IN `, ids, scanPayment)
}

// RefundsWithNos lists the refunds of the given refund numbers (unknown
// numbers are left out).
func (db *DB) RefundsWithNos(ctx context.Context, nos []string) ([]billing.Refund, error) {
	return listIn(ctx, db, `SELECT `+refundCols+` FROM refunds WHERE out_refund_no IN `, nos, scanRefund)
}

// listIn runs q followed by an IN list of keys, 500 keys a query. The
// queries are not prepared: their texts vary with the number of keys.
func listIn[K any, T any](ctx context.Context, db *DB, q string, keys []K, scan func(interface{ Scan(...any) error }) (*T, error)) ([]T, error) {
	out := []T{}
	ctx = db.readCtx(ctx)
	for len(keys) > 0 {
		n := min(len(keys), 500)
		ph := make([]string, n)
		args := make([]any, n)
		for i := range n {
			ph[i], args[i] = fmt.Sprintf("$%d", i+1), keys[i]
		}
		keys = keys[n:]
		rows, err := db.r.QueryContext(ctx, q+"("+strings.Join(ph, ", ")+")", args...)
		if err != nil {
			return nil, err
		}
		part, err := collect(rows, scan)
		if err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	return out, nil
}
