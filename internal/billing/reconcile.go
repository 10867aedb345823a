package billing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/pay"
)

// Kinds of a reconciliation difference.
const (
	// MissingInLedger: the provider's statement has a payment or a refund
	// our books do not (no such record, or a record without its journal).
	MissingInLedger = "missing_in_ledger"
	// MissingInStatement: our books have money moving that day through the
	// provider, and the statement does not.
	MissingInStatement = "missing_in_statement"
	// AmountDiffers: both have it, with different amounts (or a journal
	// that does not move what its record says).
	AmountDiffers = "amount_differs"
	// StateDiffers: both have it, in different states (the statement has
	// it done that day; our record is not, or done on another day).
	StateDiffers = "state_differs"
)

// Side is one side's view of a payment or a refund in a difference.
type Side struct {
	State     string    `json:"state"` // ours: the record's status; theirs: SUCCESS or REFUND
	AmountFen int64     `json:"amount_fen"`
	At        time.Time `json:"at,omitzero"` // paid or refunded at
	ID        string    `json:"id,omitempty"`
}

// Difference is one disagreement between the provider's statement and our
// books.
type Difference struct {
	Kind        string `json:"kind"`
	OutTradeNo  string `json:"out_trade_no"`
	OutRefundNo string `json:"out_refund_no,omitempty"` // set for a refund
	PaymentID   int64  `json:"payment_id,omitempty"`
	RefundID    int64  `json:"refund_id,omitempty"`
	Ours        *Side  `json:"ours,omitempty"`   // nil: not in our books
	Theirs      *Side  `json:"theirs,omitempty"` // nil: not in the statement
	Detail      string `json:"detail"`
}

// Report is the reconciliation of one provider's statement of one day
// (a Beijing date) with our books.
type Report struct {
	Day      string `json:"day"` // YYYY-MM-DD, Beijing
	Provider string `json:"provider"`
	Lines    int    `json:"lines"`   // in the statement
	Matched  int    `json:"matched"` // statement lines our books agree with
	// Totals of the day on each side (payments received, refunds paid out).
	StatementPaidFen     int64        `json:"statement_paid_fen"`
	StatementRefundedFen int64        `json:"statement_refunded_fen"`
	LedgerPaidFen        int64        `json:"ledger_paid_fen"`
	LedgerRefundedFen    int64        `json:"ledger_refunded_fen"`
	Differences          []Difference `json:"differences"`
}

// Reconcile matches a provider's statement of day (its lines, as
// pay.ParseStatement and pay.ParseAlipayStatement give them) with our
// records and lists every difference. A payment line is matched by
// out_trade_no, a refund line by out_refund_no.
//
// Our side of the day is every payment paid (or since refunded) with
// paid_at that day, and every succeeded refund with done_at that day;
// payments and refunds may hold others too — those the statement's lines
// name that our books place on another day or in another state, and the
// payments the refunds belong to — which are matched but not expected.
// The caller gives one provider's records of one institution.
func Reconcile(day time.Time, lines []pay.StatementLine, payments []Payment, refunds []Refund) Report {
	return reconcile(day, lines, payments, refunds, nil, false)
}

// ReconcileLedger is Reconcile that also checks the ledger: every record
// of the day our side counts must have its journal (PaymentJournal,
// RefundJournal) moving its amount on the provider's account and summing
// to zero. entries are the ledger's entries of the day (at least those of
// the journals of the day's records).
func ReconcileLedger(day time.Time, lines []pay.StatementLine, payments []Payment, refunds []Refund, entries []Entry) Report {
	return reconcile(day, lines, payments, refunds, entries, true)
}

// DayBounds is the Beijing day of t, as [from, to).
func DayBounds(t time.Time) (from, to time.Time) {
	d := t.In(dates.Beijing)
	from = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, dates.Beijing)
	return from, from.AddDate(0, 0, 1)
}

func reconcile(day time.Time, lines []pay.StatementLine, payments []Payment, refunds []Refund, entries []Entry, ledger bool) Report {
	from, to := DayBounds(day)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(from) && t.Before(to) }
	date := func(t time.Time) string { return t.In(dates.Beijing).Format(dates.Layout) }
	rep := Report{Day: from.Format(dates.Layout), Lines: len(lines), Differences: []Difference{}}
	add := func(d Difference) { rep.Differences = append(rep.Differences, d) }

	byNo := map[string]*Payment{}
	byID := map[int64]*Payment{}
	for i := range payments {
		p := &payments[i]
		byNo[p.OutTradeNo], byID[p.ID] = p, p
	}
	refByNo := map[string]*Refund{}
	for i := range refunds {
		refByNo[refunds[i].OutRefundNo] = &refunds[i]
	}
	paidThatDay := func(p *Payment) bool { return (p.Status == Paid || p.Status == Refunded) && in(p.PaidAt) }
	refundedThatDay := func(r *Refund) bool { return r.Status == RefundSucceeded && in(r.DoneAt) }
	oursPay := func(p *Payment) *Side {
		return &Side{State: string(p.Status), AmountFen: p.AmountFen, At: p.PaidAt, ID: p.TransactionID}
	}
	oursRefund := func(r *Refund) *Side {
		return &Side{State: string(r.Status), AmountFen: r.AmountFen, At: r.DoneAt, ID: r.ProviderID}
	}
	refundPayment := func(r *Refund) (tradeNo, provider string) {
		if p := byID[r.PaymentID]; p != nil {
			return p.OutTradeNo, p.Provider
		}
		return "", ""
	}

	// The ledger: what each journal moves on each account.
	journals := map[string]map[string]int64{}
	for _, e := range entries {
		if journals[e.Journal] == nil {
			journals[e.Journal] = map[string]int64{}
		}
		journals[e.Journal][e.Account] += e.AmountFen
	}
	// journalOK checks the journal of a record our side counts (it moves
	// want on the provider's account and sums to zero), listing what is
	// wrong with it.
	journalOK := func(name, provider string, want int64, d Difference) bool {
		if !ledger {
			return true
		}
		j := journals[name]
		var moved, sum int64
		for acct, v := range j {
			sum += v
			if acct == ProviderAccount(provider) || (provider == "" && strings.HasPrefix(acct, "provider:")) {
				moved += v
			}
		}
		switch {
		case j == nil:
			d.Kind, d.Detail = MissingInLedger, fmt.Sprintf("the record has no journal %s in the ledger", name)
		case moved != want || sum != 0:
			d.Kind, d.Detail = AmountDiffers, fmt.Sprintf("journal %s moves %s on the provider's account (the record: %s) and sums to %s",
				name, pay.Yuan(moved), pay.Yuan(want), pay.Yuan(sum))
		default:
			return true
		}
		add(d)
		return false
	}

	// Our side of the day, and its journals.
	badPay, badRefund := map[int64]bool{}, map[int64]bool{}
	for i := range payments {
		p := &payments[i]
		if paidThatDay(p) {
			rep.LedgerPaidFen += p.AmountFen
			d := Difference{OutTradeNo: p.OutTradeNo, PaymentID: p.ID, Ours: oursPay(p)}
			badPay[p.ID] = !journalOK(journal("payment", p.ID), p.Provider, p.AmountFen, d)
		}
	}
	for i := range refunds {
		r := &refunds[i]
		if refundedThatDay(r) {
			rep.LedgerRefundedFen += r.AmountFen
			no, provider := refundPayment(r)
			d := Difference{OutTradeNo: no, OutRefundNo: r.OutRefundNo, PaymentID: r.PaymentID, RefundID: r.ID, Ours: oursRefund(r)}
			badRefund[r.ID] = !journalOK(journal("refund", r.ID), provider, -r.AmountFen, d)
		}
	}

	// The statement's lines. Payment lines are summed by order: a second
	// line of one order is money taken twice.
	type payLine struct {
		line   pay.StatementLine
		amount int64
		n      int
	}
	payLines := map[string]*payLine{}
	var payOrder []string
	refundSeen := map[string]bool{}
	for _, l := range lines {
		if l.State != pay.StateRefund {
			rep.StatementPaidFen += l.AmountFen
			pl := payLines[l.OutTradeNo]
			if pl == nil {
				pl = &payLine{line: l}
				payLines[l.OutTradeNo] = pl
				payOrder = append(payOrder, l.OutTradeNo)
			}
			pl.amount += l.AmountFen
			pl.n++
			continue
		}
		rep.StatementRefundedFen += l.RefundFen
		d := Difference{OutTradeNo: l.OutTradeNo, OutRefundNo: l.OutRefundNo, Theirs: &Side{State: string(l.State), AmountFen: l.RefundFen, At: l.At, ID: l.RefundID}}
		r := refByNo[l.OutRefundNo]
		if r == nil || refundSeen[l.OutRefundNo] {
			d.Kind, d.Detail = MissingInLedger, "a refund our books do not have"
			if r != nil {
				d.Detail = "the same refund is in the statement twice"
			}
			if p := byNo[l.OutTradeNo]; p != nil {
				d.PaymentID = p.ID
			}
			add(d)
			continue
		}
		refundSeen[l.OutRefundNo] = true
		d.RefundID, d.PaymentID, d.Ours = r.ID, r.PaymentID, oursRefund(r)
		ok := !badRefund[r.ID]
		switch no, _ := refundPayment(r); {
		case r.Status != RefundSucceeded:
			d.Kind, d.Detail = StateDiffers, "our books have it "+string(r.Status)
		case !in(r.DoneAt):
			d.Kind, d.Detail = StateDiffers, "our books have it refunded on "+date(r.DoneAt)
		case no != "" && no != l.OutTradeNo:
			d.Kind, d.Detail = StateDiffers, "our books have it refunding order "+no
		}
		if d.Kind != "" {
			ok = false
			add(d)
		}
		if r.AmountFen != l.RefundFen {
			ok = false
			d.Kind, d.Detail = AmountDiffers, fmt.Sprintf("refunded %s by the statement, %s by our books", pay.Yuan(l.RefundFen), pay.Yuan(r.AmountFen))
			add(d)
		}
		if ok {
			rep.Matched++
		}
	}
	for _, no := range payOrder {
		pl := payLines[no]
		l := pl.line
		d := Difference{OutTradeNo: no, Theirs: &Side{State: string(l.State), AmountFen: pl.amount, At: l.At, ID: l.TransactionID}}
		p := byNo[no]
		if p == nil {
			d.Kind, d.Detail = MissingInLedger, "a payment our books do not have"
			add(d)
			continue
		}
		d.PaymentID, d.Ours = p.ID, oursPay(p)
		ok := !badPay[p.ID]
		switch {
		case p.Status != Paid && p.Status != Refunded:
			d.Kind, d.Detail = StateDiffers, "our books have it "+string(p.Status)
		case !in(p.PaidAt):
			d.Kind, d.Detail = StateDiffers, "our books have it paid on "+date(p.PaidAt)
		}
		if d.Kind != "" {
			ok = false
			add(d)
		}
		if p.AmountFen != pl.amount {
			ok = false
			d.Kind, d.Detail = AmountDiffers, fmt.Sprintf("paid %s by the statement, %s by our books", pay.Yuan(pl.amount), pay.Yuan(p.AmountFen))
			if pl.n > 1 {
				d.Detail = fmt.Sprintf("paid %d times by the statement (%s in all), once by our books (%s)", pl.n, pay.Yuan(pl.amount), pay.Yuan(p.AmountFen))
			}
			add(d)
		}
		if ok {
			rep.Matched += pl.n
		}
	}

	// What our side of the day has and the statement lacks.
	for i := range payments {
		p := &payments[i]
		if paidThatDay(p) && payLines[p.OutTradeNo] == nil {
			add(Difference{Kind: MissingInStatement, OutTradeNo: p.OutTradeNo, PaymentID: p.ID, Ours: oursPay(p), Detail: "paid by our books, not in the statement"})
		}
	}
	for i := range refunds {
		r := &refunds[i]
		if refundedThatDay(r) && !refundSeen[r.OutRefundNo] {
			no, _ := refundPayment(r)
			add(Difference{Kind: MissingInStatement, OutTradeNo: no, OutRefundNo: r.OutRefundNo, PaymentID: r.PaymentID, RefundID: r.ID, Ours: oursRefund(r),
				Detail: "refunded by our books, not in the statement"})
		}
	}
	slices.SortStableFunc(rep.Differences, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(a.OutTradeNo, b.OutTradeNo), cmp.Compare(a.OutRefundNo, b.OutRefundNo), cmp.Compare(a.Kind, b.Kind))
	})
	return rep
}
