package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Electronic bills for medical charges (医疗收费电子票据, issue 12): one per
// paid payment, numbered per institution from 1 without gaps.

const invoiceCols = `id, institution, number, code, check_code, payment_id, patient_id, payer_name, amount_fen, items, issued_at`

func scanInvoice(row interface{ Scan(...any) error }) (*billing.Invoice, error) {
	var inv billing.Invoice
	var items string
	var issued int64
	if err := row.Scan(&inv.ID, &inv.Institution, &inv.Number, &inv.Code, &inv.CheckCode, &inv.PaymentID, &inv.PatientID, &inv.PayerName,
		&inv.AmountFen, &items, &issued); err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal([]byte(items), &inv.Items); err != nil {
		return nil, fmt.Errorf("invoice %d: items: %w", inv.ID, err)
	}
	inv.IssuedAt = fromMicros(issued)
	return &inv, nil
}

// issueInvoiceTx issues the invoice of payment p, recorded as paid at at,
// inside tx, the transaction that records the payment. The payer is the
// patient, whose name is read here. The institution's next number is
// taken by one upsert of its counter row, which stays locked until tx
// ends: concurrent payments of one institution take 1, 2, 3, … in turn,
// and a transaction rolled back gives its number back with everything
// else, so the numbers have no gaps. A payment invoiced already keeps its
// invoice (recording it again issues nothing); should another transaction
// have issued it in the meantime, the number taken here is given back
// before tx ends.
func (db *DB) issueInvoiceTx(ctx context.Context, tx *sql.Tx, p *billing.Payment, at time.Time) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices WHERE payment_id = $1`, p.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var payer string
	if err := tx.QueryRowContext(ctx, `SELECT name FROM patients WHERE id = $1`, p.PatientID).Scan(&payer); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var number int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO invoice_counters (institution, next) VALUES ($1, 2)
		ON CONFLICT (institution) DO UPDATE SET next = invoice_counters.next + 1 RETURNING next - 1`, p.Institution).Scan(&number); err != nil {
		return fmt.Errorf("invoice number: %w", err)
	}
	inv := billing.NewInvoice(p, payer, number, at.UTC().Truncate(time.Microsecond))
	items, err := json.Marshal(inv.Items)
	if err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO invoices (institution, number, code, check_code, payment_id, patient_id, payer_name, amount_fen, items, issued_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (payment_id) DO NOTHING RETURNING id`,
		inv.Institution, inv.Number, inv.Code, inv.CheckCode, inv.PaymentID, inv.PatientID, inv.PayerName, inv.AmountFen, string(items),
		micros(inv.IssuedAt)).Scan(&inv.ID)
	if errors.Is(err, sql.ErrNoRows) {
		// Issued by a transaction that committed while this one waited for
		// the counter: the counter is still this transaction's, its number
		// goes back.
		_, err = tx.ExecContext(ctx, `UPDATE invoice_counters SET next = next - 1 WHERE institution = $1 AND next = $2`, p.Institution, number+1)
	}
	if err != nil {
		return fmt.Errorf("issue invoice: %w", err)
	}
	return nil
}

// IssueInvoice issues the invoice of a paid payment that has none (one
// recorded before invoices existed), in a transaction of its own, and
// answers it; a payment invoiced already answers its invoice. A payment
// not paid is a conflict.
func (db *DB) IssueInvoice(ctx context.Context, paymentID int64) (*billing.Invoice, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		p, err := scanPayment(tx.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE id = $1`, paymentID))
		if err != nil {
			return err
		}
		if p.Status != billing.Paid {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices WHERE payment_id = $1`, p.ID).Scan(&n); err != nil || n > 0 {
				return err
			}
			return errs.E(errs.Conflict)
		}
		return db.issueInvoiceTx(ctx, tx, p, db.now())
	})
	if err != nil {
		return nil, err
	}
	return db.Invoice(ctx, paymentID)
}

// Invoice is the invoice of a payment (not_found when none was issued).
func (db *DB) Invoice(ctx context.Context, paymentID int64) (*billing.Invoice, error) {
	return scanInvoice(db.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE payment_id = $1`, paymentID))
}

// Invoices lists up to limit of an institution's invoices, the latest
// number first.
func (db *DB) Invoices(ctx context.Context, institution string, limit int) ([]billing.Invoice, error) {
	rows, err := db.query(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE institution = $1 ORDER BY number DESC LIMIT $2`, institution, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanInvoice)
}
