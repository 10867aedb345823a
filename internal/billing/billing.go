// Package billing is Yunyi's side of money (M-1): when a service's fee is
// paid, payments made through a payment provider (internal/pay's adapter),
// refunds, and the double-entry ledger every movement is written to. It
// imports neither the web nor the database.
package billing

import (
	"context"
	"fmt"
	"time"
)

// Purposes of a payment.
const (
	ForAppointment  = "appointment"
	ForPrescription = "prescription"
	ForSettlement   = "settlement" // the self-pay part of an order settled with insurance at delivery (M-2); RefID is the order
)

// Status of a payment. It only moves forward: pending → paid or closed;
// closed → paid (a payment that lands after the close, which is then
// refunded); paid → refunded once everything is refunded.
type Status string

const (
	Pending  Status = "pending"
	Paid     Status = "paid"
	Closed   Status = "closed"
	Refunded Status = "refunded"
)

// Payment is one payment Yunyi asked a provider for.
type Payment struct {
	ID            int64     `json:"id"`
	Purpose       string    `json:"purpose"`
	RefID         int64     `json:"ref_id"`
	AccountID     int64     `json:"-"`
	PatientID     int64     `json:"patient_id"`
	Institution   string    `json:"institution"`
	AmountFen     int64     `json:"amount_fen"`
	RefundedFen   int64     `json:"refunded_fen"`
	Provider      string    `json:"provider"`
	Channel       string    `json:"channel"`
	OutTradeNo    string    `json:"out_trade_no"`
	TransactionID string    `json:"transaction_id,omitempty"`
	Status        Status    `json:"status"`
	CashierURL    string    `json:"cashier_url,omitempty"`
	Description   string    `json:"description"`
	PayBy         time.Time `json:"pay_by,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	PaidAt        time.Time `json:"paid_at,omitzero"`
	ClosedAt      time.Time `json:"closed_at,omitzero"`
}

// RefundStatus of a refund: processing until the provider reports it.
type RefundStatus string

const (
	RefundProcessing RefundStatus = "processing"
	RefundSucceeded  RefundStatus = "succeeded"
	RefundFailed     RefundStatus = "failed"
)

// Why money goes back (the refund's key: each once per payment).
const (
	ReasonCancelled   = "cancelled"    // a booking cancelled before its cutoff
	ReasonLatePayment = "late_payment" // paid after its hold expired or its order was closed
	ReasonTerminated  = "terminated"   // a first visit terminated and referred offline (V-3)
	ReasonReversed    = "reversed"     // the insurance settlement it was paid for was reversed (M-2)
)

// Refund is money given back through the provider that took it.
type Refund struct {
	ID          int64        `json:"id"`
	PaymentID   int64        `json:"payment_id"`
	ReasonKey   string       `json:"reason_key"`
	OutRefundNo string       `json:"out_refund_no"`
	AmountFen   int64        `json:"amount_fen"`
	Reason      string       `json:"reason"`
	Status      RefundStatus `json:"status"`
	ProviderID  string       `json:"provider_id,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	DoneAt      time.Time    `json:"done_at,omitzero"`
}

// Entry is one line of the ledger. A journal's entries sum to zero; the
// ledger as a whole sums to zero; any account's balance is the sum of its
// entries.
type Entry struct {
	ID          int64     `json:"id"`
	Journal     string    `json:"journal"`
	Account     string    `json:"account"`
	AmountFen   int64     `json:"amount_fen"` // debit positive, credit negative
	PaymentID   int64     `json:"payment_id"`
	RefundID    int64     `json:"refund_id,omitempty"`
	PatientID   int64     `json:"patient_id"`
	Institution string    `json:"institution"`
	At          time.Time `json:"at"`
	Memo        string    `json:"memo,omitempty"`
}

// Ledger accounts.
func ProviderAccount(provider string) string { return "provider:" + provider } // money held for us at the provider
func InstitutionAccount(code string) string  { return "institution:" + code }  // what the institution earned

func journal(kind string, id int64) string { return fmt.Sprintf("%s:%d", kind, id) }

// PaymentJournal is the movement of a payment received: the provider holds
// the money (debit), the institution earned it (credit). Every entry
// carries its payment and patient, so that an order's or a patient's net
// payment is the sum of their entries on the institution's accounts.
func PaymentJournal(p *Payment, at time.Time) []Entry {
	j := journal("payment", p.ID)
	return []Entry{
		{Journal: j, Account: ProviderAccount(p.Provider), AmountFen: p.AmountFen, PaymentID: p.ID, PatientID: p.PatientID, Institution: p.Institution, At: at, Memo: p.Purpose},
		{Journal: j, Account: InstitutionAccount(p.Institution), AmountFen: -p.AmountFen, PaymentID: p.ID, PatientID: p.PatientID, Institution: p.Institution, At: at, Memo: p.Purpose},
	}
}

// RefundJournal reverses (part of) a payment: the institution gives the
// amount back (debit), the provider pays it out (credit).
func RefundJournal(p *Payment, r *Refund, at time.Time) []Entry {
	j := journal("refund", r.ID)
	return []Entry{
		{Journal: j, Account: InstitutionAccount(p.Institution), AmountFen: r.AmountFen, PaymentID: p.ID, RefundID: r.ID, PatientID: p.PatientID, Institution: p.Institution, At: at, Memo: r.ReasonKey},
		{Journal: j, Account: ProviderAccount(p.Provider), AmountFen: -r.AmountFen, PaymentID: p.ID, RefundID: r.ID, PatientID: p.PatientID, Institution: p.Institution, At: at, Memo: r.ReasonKey},
	}
}

// PaidOutcome is what recording a payment did.
type PaidOutcome struct {
	Payment   *Payment
	Changed   bool // false: it was already recorded (a duplicate or a late notification)
	Confirmed bool // the held appointment it pays for is now booked
	// RefundDue: the payment landed after its order was closed or its hold
	// expired (or its appointment was cancelled): the money goes back.
	RefundDue bool
}

// ExpiredHold is an appointment whose hold expired, with its open payment.
type ExpiredHold struct {
	AppointmentID int64
	SlotID        int64
	AccountID     int64
	Payment       *Payment // nil when none was started
}

// Filter selects ledger entries.
type Filter struct {
	Institution string
	PatientID   int64
	PaymentID   int64
	From, To    time.Time
}

// Store keeps payments, refunds and the ledger. Every method is one
// transaction; the hot ones single atomic statements.
type Store interface {
	// CreatePayment stores a new pending payment; a second open one for
	// the same purpose and reference answers the first (created=false).
	CreatePayment(ctx context.Context, p *Payment) (created bool, err error)
	SetCashier(ctx context.Context, id int64, url string) error
	Payment(ctx context.Context, id int64) (*Payment, error)
	PaymentByTradeNo(ctx context.Context, outTradeNo string) (*Payment, error)
	// OpenPayment is the pending or paid payment of a purpose and
	// reference (not_found when none).
	OpenPayment(ctx context.Context, purpose string, refID int64) (*Payment, error)
	// MarkPaid records a provider's success (pending or closed → paid),
	// its journal, and for an appointment still held its confirmation
	// (held → booked) with a notice, all at once; recording it again
	// changes nothing.
	MarkPaid(ctx context.Context, outTradeNo, transactionID string, at time.Time) (*PaidOutcome, error)
	// ClosePayment closes a pending payment (pending → closed).
	ClosePayment(ctx context.Context, id int64, at time.Time) error
	// ExpireHolds ends the holds past their time: the appointments expire,
	// their places return to their slots, their pending payments close.
	ExpireHolds(ctx context.Context, now time.Time, limit int) ([]ExpiredHold, error)
	// CreateRefund reserves amount of a paid payment for a refund with
	// this reason key (once per key: a second call answers the first,
	// created=false); the sum of refunds never exceeds the payment.
	CreateRefund(ctx context.Context, r *Refund) (created bool, err error)
	Refund(ctx context.Context, id int64) (*Refund, error)
	RefundByNo(ctx context.Context, outRefundNo string) (*Refund, error)
	Refunds(ctx context.Context, paymentID int64) ([]Refund, error)
	// FinishRefund records the provider's verdict on a processing refund:
	// succeeded (its journal written, the payment's refunded amount
	// raised, refunded once all of it is, its reversing invoice issued)
	// or failed (the reservation released). Recording it again changes
	// nothing.
	FinishRefund(ctx context.Context, outRefundNo string, status RefundStatus, providerID string, at time.Time) (r *Refund, changed bool, err error)
	ProcessingRefunds(ctx context.Context, limit int) ([]Refund, error)
	Ledger(ctx context.Context, f Filter) ([]Entry, error)
	// LedgerSum is the sum of every entry (zero when the books balance).
	LedgerSum(ctx context.Context) (int64, error)
}
