package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/errs"
)

var _ billing.Store = (*DB)(nil)

const paymentCols = `id, purpose, ref_id, account_id, patient_id, institution, amount_fen, refunded_fen, provider, channel, out_trade_no,
	transaction_id, status, cashier_url, description, pay_by, created_at, paid_at, closed_at`

func scanPayment(row interface{ Scan(...any) error }) (*billing.Payment, error) {
	var p billing.Payment
	var status string
	var payBy, created, paid, closed int64
	if err := row.Scan(&p.ID, &p.Purpose, &p.RefID, &p.AccountID, &p.PatientID, &p.Institution, &p.AmountFen, &p.RefundedFen, &p.Provider,
		&p.Channel, &p.OutTradeNo, &p.TransactionID, &status, &p.CashierURL, &p.Description, &payBy, &created, &paid, &closed); err != nil {
		return nil, notFound(err)
	}
	p.Status = billing.Status(status)
	p.PayBy, p.CreatedAt, p.PaidAt, p.ClosedAt = fromMicros(payBy), fromMicros(created), fromMicros(paid), fromMicros(closed)
	return &p, nil
}

// CreatePayment inserts a pending payment unless one is pending for the
// same thing (the partial unique index decides), in which case p becomes
// that one.
func (db *DB) CreatePayment(ctx context.Context, p *billing.Payment) (bool, error) {
	err := db.w.QueryRowContext(ctx, `INSERT INTO payments (purpose, ref_id, account_id, patient_id, institution, amount_fen, provider, channel,
		out_trade_no, status, description, pay_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT DO NOTHING RETURNING id`, p.Purpose, p.RefID, p.AccountID, p.PatientID, p.Institution, p.AmountFen, p.Provider, p.Channel,
		p.OutTradeNo, string(p.Status), p.Description, micros(p.PayBy), micros(p.CreatedAt)).Scan(&p.ID)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	prev, err := db.OpenPayment(ctx, p.Purpose, p.RefID)
	if err != nil {
		return false, err
	}
	*p = *prev
	return false, nil
}

func (db *DB) SetCashier(ctx context.Context, id int64, url string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE payments SET cashier_url = $2 WHERE id = $1`, id, url)
	return err
}

func (db *DB) Payment(ctx context.Context, id int64) (*billing.Payment, error) {
	return scanPayment(db.w.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE id = $1`, id))
}

func (db *DB) PaymentByTradeNo(ctx context.Context, no string) (*billing.Payment, error) {
	return scanPayment(db.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE out_trade_no = $1`, no))
}

// OpenPayment is the pending payment of a thing, else its latest paid one.
func (db *DB) OpenPayment(ctx context.Context, purpose string, refID int64) (*billing.Payment, error) {
	return scanPayment(db.w.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE purpose = $1 AND ref_id = $2 AND status IN ('pending', 'paid')
		ORDER BY CASE status WHEN 'pending' THEN 0 ELSE 1 END, id DESC LIMIT 1`, purpose, refID))
}

// LatestPayment is the latest payment of a thing, whatever its status.
func (db *DB) LatestPayment(ctx context.Context, purpose string, refID int64) (*billing.Payment, error) {
	return scanPayment(db.w.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE purpose = $1 AND ref_id = $2 ORDER BY id DESC LIMIT 1`, purpose, refID))
}

// Payments lists an account's payments, newest first.
func (db *DB) Payments(ctx context.Context, accountID int64, limit int) ([]billing.Payment, error) {
	rows, err := db.query(ctx, `SELECT `+paymentCols+` FROM payments WHERE account_id = $1 ORDER BY id DESC LIMIT $2`, accountID, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPayment)
}

const ledgerCols = `journal, account, amount_fen, payment_id, refund_id, patient_id, institution, at, memo`

func ledgerRows(es []billing.Entry) [][]any {
	rows := make([][]any, len(es))
	for i, e := range es {
		rows[i] = []any{e.Journal, e.Account, e.AmountFen, e.PaymentID, e.RefundID, e.PatientID, e.Institution, micros(e.At), e.Memo}
	}
	return rows
}

// MarkPaid records a payment's success in one transaction: the payment
// (pending or closed → paid; a single conditional UPDATE, so a duplicate
// notification changes nothing), its journal, and for an appointment its
// confirmation (held → booked) with a notice. A payment that confirms
// nothing (the hold expired, another payment confirmed it, it was
// cancelled) is due back: its refund is reserved here, in the same
// transaction, so it cannot be lost.
func (db *DB) MarkPaid(ctx context.Context, no, transactionID string, at time.Time) (*billing.PaidOutcome, error) {
	out := &billing.PaidOutcome{}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		p, err := scanPayment(tx.QueryRowContext(ctx, `UPDATE payments SET status = 'paid', transaction_id = $2, paid_at = $3
			WHERE out_trade_no = $1 AND status IN ('pending', 'closed') RETURNING `+paymentCols, no, transactionID, micros(at)))
		if errs.Is(err, errs.NotFound) {
			out.Payment, err = scanPayment(tx.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE out_trade_no = $1`, no))
			return err // recorded before: nothing changes
		}
		if err != nil {
			return err
		}
		out.Payment, out.Changed = p, true
		if err := db.insertMany(ctx, tx, "ledger_entries", ledgerCols, ledgerRows(billing.PaymentJournal(p, at))); err != nil {
			return err
		}
		if err := db.issueInvoiceTx(ctx, tx, p, at); err != nil {
			return err
		}
		if p.Purpose == billing.ForAppointment {
			var acct int64
			err := tx.QueryRowContext(ctx, `UPDATE appointments SET status = 'booked', pay_by = 0 WHERE id = $1 AND status = 'held' RETURNING account_id`,
				p.RefID).Scan(&acct)
			switch {
			case err == nil:
				out.Confirmed = true
				n := noticeRow(acct, "paid", "支付成功，预约已确认", fmt.Sprintf("挂号费 %.2f 元已支付，预约已确认。", float64(p.AmountFen)/100),
					"Paid: booking confirmed", fmt.Sprintf("The fee of %.2f yuan is paid; the booking is confirmed.", float64(p.AmountFen)/100),
					fmt.Sprintf("appointment/%d", p.RefID), at)
				if err := db.insertMany(ctx, tx, "notifications", noticeCols, [][]any{n}); err != nil {
					return err
				}
			case errors.Is(err, sql.ErrNoRows):
			default:
				return err
			}
		}
		if p.Purpose == billing.ForPrescription {
			// a paid order goes to the pharmacy's packing queue.
			var acct int64
			err := tx.QueryRowContext(ctx, `UPDATE delivery_orders SET status = 'to_pack', paid_at = $2 WHERE prescription_id = $1 AND status = 'awaiting_payment'
				RETURNING account_id`, p.RefID, micros(at)).Scan(&acct)
			switch {
			case err == nil:
				out.Confirmed = true
				n := noticeRow(acct, "paid", "药费已支付", fmt.Sprintf("药费 %.2f 元已支付，药房将尽快配药寄出。", float64(p.AmountFen)/100),
					"Paid: the pharmacy will send your drugs", fmt.Sprintf("The drugs' %.2f yuan are paid; the pharmacy will pack and send them.", float64(p.AmountFen)/100),
					fmt.Sprintf("prescription/%d", p.RefID), at)
				if err := db.insertMany(ctx, tx, "notifications", noticeCols, [][]any{n}); err != nil {
					return err
				}
			case errors.Is(err, sql.ErrNoRows):
			default:
				return err
			}
		}
		if p.Purpose == billing.ForSettlement {
			// M-2: the self-pay part of an order settled at delivery.
			res, err := tx.ExecContext(ctx, `UPDATE delivery_orders SET settle_state = 'cash_paid' WHERE id = $1 AND settle_state = 'pre' AND cash_fen = $2`,
				p.RefID, p.AmountFen)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			out.Confirmed = n == 1
		}
		// Money that confirmed nothing (the hold or order was gone, or
		// another payment confirmed it) goes back.
		out.RefundDue = !out.Confirmed
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func noticeRow(account int64, kind, title, body, titleEN, bodyEN, ref string, at time.Time) []any {
	return []any{account, kind, title, body, titleEN, bodyEN, ref, micros(at)}
}

func (db *DB) ClosePayment(ctx context.Context, id int64, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE payments SET status = 'closed', closed_at = $2 WHERE id = $1 AND status = 'pending'`, id, micros(at))
	return err
}

// ExpireHolds ends up to limit holds past their time in one transaction:
// one UPDATE … RETURNING picks them (a hold another server expired is not
// picked again), their places go back, their pending payments close, and
// their accounts are told.
func (db *DB) ExpireHolds(ctx context.Context, now time.Time, limit int) ([]billing.ExpiredHold, error) {
	var out []billing.ExpiredHold
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE appointments SET status = 'expired', cancelled_at = $1, cancel_reason = 'payment_timeout'
			WHERE id IN (SELECT id FROM appointments WHERE status = 'held' AND pay_by <= $1 ORDER BY pay_by LIMIT $2) AND status = 'held'
			RETURNING id, slot_id, account_id`, micros(now), limit)
		if err != nil {
			return err
		}
		slots := map[int64]int{}
		var ids []int64
		for rows.Next() {
			var h billing.ExpiredHold
			if err := rows.Scan(&h.AppointmentID, &h.SlotID, &h.AccountID); err != nil {
				rows.Close()
				return err
			}
			slots[h.SlotID]++
			ids = append(ids, h.AppointmentID)
			out = append(out, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		for slot, n := range slots {
			if _, err := tx.ExecContext(ctx, `UPDATE slots SET booked = booked - $2, free_nos = free_nos + $2 WHERE id = $1 AND booked >= $2`, slot, n); err != nil {
				return err
			}
		}
		args := []any{micros(now)}
		ph := make([]string, len(ids))
		for i, id := range ids {
			args = append(args, id)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		text := `UPDATE payments SET status = 'closed', closed_at = $1 WHERE purpose = 'appointment' AND status = 'pending' AND ref_id IN (` +
			strings.Join(ph, ", ") + `) RETURNING ` + paymentCols
		prs, err := tx.QueryContext(ctx, text, args...)
		if err != nil {
			return err
		}
		ps, err := collect(prs, scanPayment)
		if err != nil {
			return err
		}
		byAppt := map[int64]*billing.Payment{}
		for i := range ps {
			byAppt[ps[i].RefID] = &ps[i]
		}
		var notes [][]any
		for i := range out {
			out[i].Payment = byAppt[out[i].AppointmentID]
			notes = append(notes, noticeRow(out[i].AccountID, "hold_expired", "预约未支付，号源已释放", "未在规定时间内支付挂号费，号源已释放。如需就诊请重新预约。",
				"Not paid: place released", "The fee was not paid in time; the place was released. Please book again if you still need the visit.",
				fmt.Sprintf("appointment/%d", out[i].AppointmentID), now))
		}
		return db.insertMany(ctx, tx, "notifications", noticeCols, notes)
	})
	return out, err
}

const refundCols = `id, payment_id, reason_key, out_refund_no, amount_fen, reason, status, provider_id, created_at, done_at`

func scanRefund(row interface{ Scan(...any) error }) (*billing.Refund, error) {
	var r billing.Refund
	var status string
	var created, done int64
	if err := row.Scan(&r.ID, &r.PaymentID, &r.ReasonKey, &r.OutRefundNo, &r.AmountFen, &r.Reason, &status, &r.ProviderID, &created, &done); err != nil {
		return nil, notFound(err)
	}
	r.Status = billing.RefundStatus(status)
	r.CreatedAt, r.DoneAt = fromMicros(created), fromMicros(done)
	return &r, nil
}

// CreateRefund reserves the amount on the payment (a conditional UPDATE:
// paid, and never more than was paid) and inserts the refund, once per
// payment and reason key.
func (db *DB) CreateRefund(ctx context.Context, r *billing.Refund) (bool, error) {
	created := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		prev, err := scanRefund(tx.QueryRowContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE payment_id = $1 AND reason_key = $2`, r.PaymentID, r.ReasonKey))
		if err == nil {
			*r = *prev
			return nil
		}
		if !errs.Is(err, errs.NotFound) {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE payments SET reserved_fen = reserved_fen + $2 WHERE id = $1 AND status = 'paid' AND reserved_fen + $2 <= amount_fen`,
			r.PaymentID, r.AmountFen)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(billing.CodeRefundAmount)
		}
		created = true
		return tx.QueryRowContext(ctx, `INSERT INTO refunds (payment_id, reason_key, out_refund_no, amount_fen, reason, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, r.PaymentID, r.ReasonKey, r.OutRefundNo, r.AmountFen, r.Reason, string(r.Status),
			micros(r.CreatedAt)).Scan(&r.ID)
	})
	return created, err
}

func (db *DB) Refund(ctx context.Context, id int64) (*billing.Refund, error) {
	return scanRefund(db.w.QueryRowContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE id = $1`, id))
}

func (db *DB) RefundByNo(ctx context.Context, no string) (*billing.Refund, error) {
	return scanRefund(db.w.QueryRowContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE out_refund_no = $1`, no))
}

func (db *DB) Refunds(ctx context.Context, paymentID int64) ([]billing.Refund, error) {
	rows, err := db.w.QueryContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE payment_id = $1 ORDER BY id`, paymentID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRefund)
}

func (db *DB) ProcessingRefunds(ctx context.Context, limit int) ([]billing.Refund, error) {
	rows, err := db.w.QueryContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE status = 'processing' ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRefund)
}

// FinishRefund records a provider's verdict on a processing refund (a
// conditional UPDATE: recorded once) with its journal, the payment's
// refunded amount and the reversing invoice of the refunded amount
// (红字票据), or the reservation released when it failed.
func (db *DB) FinishRefund(ctx context.Context, no string, status billing.RefundStatus, providerID string, at time.Time) (*billing.Refund, bool, error) {
	var out *billing.Refund
	changed := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanRefund(tx.QueryRowContext(ctx, `UPDATE refunds SET status = $2, provider_id = $3, done_at = $4
			WHERE out_refund_no = $1 AND status = 'processing' RETURNING `+refundCols, no, string(status), providerID, micros(at)))
		if errs.Is(err, errs.NotFound) {
			out, err = scanRefund(tx.QueryRowContext(ctx, `SELECT `+refundCols+` FROM refunds WHERE out_refund_no = $1`, no))
			return err
		}
		if err != nil {
			return err
		}
		out, changed = r, true
		if status == billing.RefundFailed {
			_, err := tx.ExecContext(ctx, `UPDATE payments SET reserved_fen = reserved_fen - $2 WHERE id = $1`, r.PaymentID, r.AmountFen)
			return err
		}
		p, err := scanPayment(tx.QueryRowContext(ctx, `UPDATE payments SET refunded_fen = refunded_fen + $2,
			status = CASE WHEN refunded_fen + $2 >= amount_fen THEN 'refunded' ELSE status END WHERE id = $1 RETURNING `+paymentCols, r.PaymentID, r.AmountFen))
		if err != nil {
			return err
		}
		if err := db.insertMany(ctx, tx, "ledger_entries", ledgerCols, ledgerRows(billing.RefundJournal(p, r, at))); err != nil {
			return err
		}
		// The reversing invoice (红字票据), once per refund: only the call
		// whose UPDATE moved the refund gets here.
		if err := db.issueReversalTx(ctx, tx, p, r, at); err != nil {
			return err
		}
		n := noticeRow(p.AccountID, "refunded", "退款成功", fmt.Sprintf("%.2f 元已原路退回（%s）。", float64(r.AmountFen)/100, r.Reason),
			"Refunded", fmt.Sprintf("%.2f yuan was refunded to where it was paid from.", float64(r.AmountFen)/100), fmt.Sprintf("%s/%d", p.Purpose, p.RefID), at)
		return db.insertMany(ctx, tx, "notifications", noticeCols, [][]any{n})
	})
	return out, changed, err
}

func (db *DB) Ledger(ctx context.Context, f billing.Filter) ([]billing.Entry, error) {
	where := []string{"1 = 1"}
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Institution != "" {
		where = append(where, "institution = "+arg(f.Institution))
	}
	if f.PatientID != 0 {
		where = append(where, "patient_id = "+arg(f.PatientID))
	}
	if f.PaymentID != 0 {
		where = append(where, "payment_id = "+arg(f.PaymentID))
	}
	if !f.From.IsZero() {
		where = append(where, "at >= "+arg(micros(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "at < "+arg(micros(f.To)))
	}
	rows, err := db.w.QueryContext(ctx, `SELECT id, `+ledgerCols+` FROM ledger_entries WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT 10000`, args...)
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

func (db *DB) LedgerSum(ctx context.Context) (int64, error) {
	var n int64
	err := db.w.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries`).Scan(&n)
	return n, err
}
