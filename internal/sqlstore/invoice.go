package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Electronic bills for medical charges (医疗收费电子票据, issue 12): one per
// paid payment, numbered per institution from 1 without gaps; and a
// reversing one (红字票据) per refund that succeeds, numbered in the same
// sequence.

const invoiceCols = `id, institution, number, code, check_code, payment_id, patient_id, payer_name, amount_fen, items, issued_at,
	refund_id, original_id, original_code, original_number, reason`

func scanInvoice(row interface{ Scan(...any) error }) (*billing.Invoice, error) {
	var inv billing.Invoice
	var items string
	var issued int64
	if err := row.Scan(&inv.ID, &inv.Institution, &inv.Number, &inv.Code, &inv.CheckCode, &inv.PaymentID, &inv.PatientID, &inv.PayerName,
		&inv.AmountFen, &items, &issued, &inv.RefundID, &inv.OriginalID, &inv.OriginalCode, &inv.OriginalNumber, &inv.Reason); err != nil {
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
// patient, whose name is read here. A payment invoiced already keeps its
// invoice (recording it again issues nothing). The number is taken by
// insertInvoiceTx.
func (db *DB) issueInvoiceTx(ctx context.Context, tx *sql.Tx, p *billing.Payment, at time.Time) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices WHERE payment_id = $1 AND refund_id = 0`, p.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var payer string
	if err := tx.QueryRowContext(ctx, `SELECT name FROM patients WHERE id = $1`, p.PatientID).Scan(&payer); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	at = at.UTC().Truncate(time.Microsecond)
	return db.insertInvoiceTx(ctx, tx, p.Institution, func(number int64) *billing.Invoice { return billing.NewInvoice(p, payer, number, at) })
}

// issueReversalTx issues the reversing invoice (红字票据) of refund r of
// payment p, succeeded at at, inside tx, the transaction that records the
// refund's success: minus the refunded amount, naming the payment's
// invoice. A refund reversed already keeps its reversal. A payment never
// invoiced (paid before invoices existed) gets its invoice first, so that
// the reversal has an original to name.
func (db *DB) issueReversalTx(ctx context.Context, tx *sql.Tx, p *billing.Payment, r *billing.Refund, at time.Time) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices WHERE payment_id = $1 AND refund_id = $2`, p.ID, r.ID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	orig, err := scanInvoice(tx.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE payment_id = $1 AND refund_id = 0`, p.ID))
	if errs.Is(err, errs.NotFound) {
		if err := db.issueInvoiceTx(ctx, tx, p, at); err != nil {
			return err
		}
		orig, err = scanInvoice(tx.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE payment_id = $1 AND refund_id = 0`, p.ID))
	}
	if err != nil {
		return fmt.Errorf("reversal of refund %d: the original invoice: %w", r.ID, err)
	}
	at = at.UTC().Truncate(time.Microsecond)
	return db.insertInvoiceTx(ctx, tx, p.Institution, func(number int64) *billing.Invoice { return billing.NewReversal(orig, r, number, at) })
}

// insertInvoiceTx takes the institution's next number, makes the invoice
// with it and inserts it. The number is taken by one upsert of the
// institution's counter row, which stays locked until tx ends: concurrent
// transactions of one institution take 1, 2, 3, … in turn, originals and
// reversals alike, and a transaction rolled back gives its number back
// with everything else, so the numbers have no gaps. Should another
// transaction have issued the same invoice (the payment's original, or
// the refund's reversal) in the meantime, the number taken here is given
// back before tx ends.
func (db *DB) insertInvoiceTx(ctx context.Context, tx *sql.Tx, institution string, build func(number int64) *billing.Invoice) error {
	var number int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO invoice_counters (institution, next) VALUES ($1, 2)
		ON CONFLICT (institution) DO UPDATE SET next = invoice_counters.next + 1 RETURNING next - 1`, institution).Scan(&number); err != nil {
		return fmt.Errorf("invoice number: %w", err)
	}
	inv := build(number)
	items, err := json.Marshal(inv.Items)
	if err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO invoices (institution, number, code, check_code, payment_id, patient_id, payer_name, amount_fen, items,
		issued_at, refund_id, original_id, original_code, original_number, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (payment_id, refund_id) DO NOTHING RETURNING id`,
		inv.Institution, inv.Number, inv.Code, inv.CheckCode, inv.PaymentID, inv.PatientID, inv.PayerName, inv.AmountFen, string(items),
		micros(inv.IssuedAt), inv.RefundID, inv.OriginalID, inv.OriginalCode, inv.OriginalNumber, inv.Reason).Scan(&inv.ID)
	if errors.Is(err, sql.ErrNoRows) {
		// Issued by a transaction that committed while this one waited for
		// the counter: the counter is still this transaction's, its number
		// goes back.
		_, err = tx.ExecContext(ctx, `UPDATE invoice_counters SET next = next - 1 WHERE institution = $1 AND next = $2`, institution, number+1)
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
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM invoices WHERE payment_id = $1 AND refund_id = 0`, p.ID).Scan(&n); err != nil || n > 0 {
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

// Invoice is the invoice of a payment, its original (not_found when none
// was issued).
func (db *DB) Invoice(ctx context.Context, paymentID int64) (*billing.Invoice, error) {
	return scanInvoice(db.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE payment_id = $1 AND refund_id = 0`, paymentID))
}

// InvoiceByID is one invoice, original or reversing (not_found when none).
func (db *DB) InvoiceByID(ctx context.Context, id int64) (*billing.Invoice, error) {
	return scanInvoice(db.QueryRowContext(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE id = $1`, id))
}

// PaymentInvoices lists every invoice of a payment in the order issued:
// its original, then the reversals of its refunds.
func (db *DB) PaymentInvoices(ctx context.Context, paymentID int64) ([]billing.Invoice, error) {
	rows, err := db.query(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE payment_id = $1 ORDER BY number`, paymentID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanInvoice)
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

// ListInvoices lists the invoices f selects, the latest first: an
// institution's of a period, or those of payments an account made or
// that were made for one of its patients (itself, its children).
func (db *DB) ListInvoices(ctx context.Context, f billing.InvoiceFilter) ([]billing.Invoice, error) {
	where := []string{"1 = 1"}
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Institution != "" {
		where = append(where, "institution = "+arg(f.Institution))
	}
	if !f.From.IsZero() {
		where = append(where, "issued_at >= "+arg(micros(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "issued_at < "+arg(micros(f.To)))
	}
	if f.AccountID != 0 {
		// The payment's readers (web.visiblePayment): its payer, and the
		// accounts linked to its patient (self, guardians).
		acct := arg(f.AccountID)
		where = append(where, "(payment_id IN (SELECT id FROM payments WHERE account_id = "+acct+
			") OR patient_id IN (SELECT patient_id FROM account_patients WHERE account_id = "+acct+"))")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	rows, err := db.query(ctx, `SELECT `+invoiceCols+` FROM invoices WHERE `+strings.Join(where, " AND ")+
		` ORDER BY issued_at DESC, id DESC LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanInvoice)
}
