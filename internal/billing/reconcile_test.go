package billing

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/pay"
)

// books is one day of a provider's business on both sides: our records and
// ledger, and the statement the provider publishes.
type books struct {
	payments []Payment
	refunds  []Refund
	entries  []Entry
	lines    []pay.StatementLine
}

var recDay = time.Date(2026, 1, 5, 0, 0, 0, 0, dates.Beijing)

func at(day time.Time, hour, minute int) time.Time {
	return day.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute).UTC()
}

// sampleBooks: YY1 paid 30.00 that day; YY2 paid 50.00 that day and
// refunded in full (YR2) that day; YY3 paid the day before, 10.00 of it
// refunded (YR3) that day; YY4 paid the day after (not that day's); YY5
// still pending.
func sampleBooks() books {
	prev, next := recDay.AddDate(0, 0, -1), recDay.AddDate(0, 0, 1)
	b := books{
		payments: []Payment{
			{ID: 1, OutTradeNo: "YY1", TransactionID: "T1", AmountFen: 3000, Provider: "wechat", Institution: "ccmc", Status: Paid, PaidAt: at(recDay, 0, 0)},
			{ID: 2, OutTradeNo: "YY2", TransactionID: "T2", AmountFen: 5000, RefundedFen: 5000, Provider: "wechat", Institution: "ccmc", Status: Refunded, PaidAt: at(recDay, 9, 30)},
			{ID: 3, OutTradeNo: "YY3", TransactionID: "T3", AmountFen: 2000, RefundedFen: 1000, Provider: "wechat", Institution: "ccmc", Status: Paid, PaidAt: at(prev, 23, 59)},
			{ID: 4, OutTradeNo: "YY4", TransactionID: "T4", AmountFen: 2000, Provider: "wechat", Institution: "ccmc", Status: Paid, PaidAt: at(next, 0, 0)},
			{ID: 5, OutTradeNo: "YY5", AmountFen: 2000, Provider: "wechat", Institution: "ccmc", Status: Pending},
		},
		refunds: []Refund{
			{ID: 21, PaymentID: 2, OutRefundNo: "YR2", AmountFen: 5000, Status: RefundSucceeded, ProviderID: "R2", DoneAt: at(recDay, 10, 0)},
			{ID: 31, PaymentID: 3, OutRefundNo: "YR3", AmountFen: 1000, Status: RefundSucceeded, ProviderID: "R3", DoneAt: at(recDay, 23, 59)},
		},
		lines: []pay.StatementLine{
			{OutTradeNo: "YY1", TransactionID: "T1", State: pay.StateSuccess, AmountFen: 3000, At: at(recDay, 0, 0)},
			{OutTradeNo: "YY2", TransactionID: "T2", State: pay.StateSuccess, AmountFen: 5000, At: at(recDay, 9, 30)},
			{OutTradeNo: "YY2", TransactionID: "T2", State: pay.StateRefund, RefundFen: 5000, OutRefundNo: "YR2", RefundID: "R2", At: at(recDay, 10, 0)},
			{OutTradeNo: "YY3", TransactionID: "T3", State: pay.StateRefund, RefundFen: 1000, OutRefundNo: "YR3", RefundID: "R3", At: at(recDay, 23, 59)},
		},
	}
	for i := range b.payments {
		if p := &b.payments[i]; !p.PaidAt.IsZero() {
			b.entries = append(b.entries, PaymentJournal(p, p.PaidAt)...)
		}
	}
	for i := range b.refunds {
		r := &b.refunds[i]
		b.entries = append(b.entries, RefundJournal(&b.payments[r.PaymentID-1], r, r.DoneAt)...)
	}
	return b
}

func (b *books) pay(no string) *Payment {
	for i := range b.payments {
		if b.payments[i].OutTradeNo == no {
			return &b.payments[i]
		}
	}
	panic(no)
}

func (b *books) refund(no string) *Refund {
	for i := range b.refunds {
		if b.refunds[i].OutRefundNo == no {
			return &b.refunds[i]
		}
	}
	panic(no)
}

func (b *books) dropLine(no, refundNo string) {
	b.lines = slices.DeleteFunc(b.lines, func(l pay.StatementLine) bool { return l.OutTradeNo == no && l.OutRefundNo == refundNo })
}

func (b *books) dropEntries(journal, account string) {
	b.entries = slices.DeleteFunc(b.entries, func(e Entry) bool { return e.Journal == journal && (account == "" || e.Account == account) })
}

func TestReconcile(t *testing.T) {
	type diff struct{ kind, no, refundNo string }
	cases := []struct {
		name    string
		change  func(b *books)
		ledger  bool // ReconcileLedger
		want    []diff
		matched int
	}{
		{name: "agreeing books", matched: 4},
		{name: "agreeing books and journals", ledger: true, matched: 4},
		{name: "a payment the statement lacks", change: func(b *books) { b.dropLine("YY1", "") },
			want: []diff{{MissingInStatement, "YY1", ""}}, matched: 3},
		{name: "a refund the statement lacks", change: func(b *books) { b.dropLine("YY3", "YR3") },
			want: []diff{{MissingInStatement, "YY3", "YR3"}}, matched: 3},
		{name: "a payment our books lack", change: func(b *books) {
			b.lines = append(b.lines, pay.StatementLine{OutTradeNo: "YY9", State: pay.StateSuccess, AmountFen: 100, At: at(recDay, 12, 0)})
		}, want: []diff{{MissingInLedger, "YY9", ""}}, matched: 4},
		{name: "a refund our books lack", change: func(b *books) {
			b.lines = append(b.lines, pay.StatementLine{OutTradeNo: "YY1", State: pay.StateRefund, RefundFen: 100, OutRefundNo: "YR9", At: at(recDay, 12, 0)})
		}, want: []diff{{MissingInLedger, "YY1", "YR9"}}, matched: 4},
		{name: "a payment row deleted", change: func(b *books) {
			b.payments = slices.DeleteFunc(b.payments, func(p Payment) bool { return p.OutTradeNo == "YY1" })
			b.dropEntries("payment:1", "")
		}, ledger: true, want: []diff{{MissingInLedger, "YY1", ""}}, matched: 3},
		{name: "the amount paid differs", change: func(b *books) { b.pay("YY1").AmountFen = 3100 },
			want: []diff{{AmountDiffers, "YY1", ""}}, matched: 3},
		{name: "the amount paid differs from the record and its journal", change: func(b *books) { b.pay("YY1").AmountFen = 3100 }, ledger: true,
			want: []diff{{AmountDiffers, "YY1", ""}, {AmountDiffers, "YY1", ""}}, matched: 3},
		{name: "the amount refunded differs", change: func(b *books) { b.refund("YR3").AmountFen = 900 },
			want: []diff{{AmountDiffers, "YY3", "YR3"}}, matched: 3},
		{name: "paid twice at the provider", change: func(b *books) { b.lines = append(b.lines, b.lines[0]) },
			want: []diff{{AmountDiffers, "YY1", ""}}, matched: 3},
		{name: "still pending in our books", change: func(b *books) { p := b.pay("YY1"); p.Status, p.PaidAt = Pending, time.Time{} },
			want: []diff{{StateDiffers, "YY1", ""}}, matched: 3},
		{name: "paid on another day by our books", change: func(b *books) { b.pay("YY1").PaidAt = at(recDay, -1, 0) },
			want: []diff{{StateDiffers, "YY1", ""}}, matched: 3},
		{name: "a refund still processing in our books", change: func(b *books) { r := b.refund("YR2"); r.Status, r.DoneAt = RefundProcessing, time.Time{} },
			want: []diff{{StateDiffers, "YY2", "YR2"}}, matched: 3},
		{name: "a refund failed in our books", change: func(b *books) { b.refund("YR2").Status = RefundFailed },
			want: []diff{{StateDiffers, "YY2", "YR2"}}, matched: 3},
		{name: "a refund done the next day by our books", change: func(b *books) { b.refund("YR3").DoneAt = at(recDay, 24, 0) },
			want: []diff{{StateDiffers, "YY3", "YR3"}}, matched: 3},
		{name: "a journal deleted", change: func(b *books) { b.dropEntries("payment:2", "") }, ledger: true,
			want: []diff{{MissingInLedger, "YY2", ""}}, matched: 3},
		{name: "a journal deleted, the ledger unchecked", change: func(b *books) { b.dropEntries("payment:2", "") }, matched: 4},
		{name: "half a journal deleted", change: func(b *books) { b.dropEntries("refund:31", "provider:wechat") }, ledger: true,
			want: []diff{{AmountDiffers, "YY3", "YR3"}}, matched: 3},
		{name: "a refund's journal deleted", change: func(b *books) { b.dropEntries("refund:21", "") }, ledger: true,
			want: []diff{{MissingInLedger, "YY2", "YR2"}}, matched: 3},
		{name: "an empty statement", change: func(b *books) { b.lines = nil }, ledger: true,
			want: []diff{{MissingInStatement, "YY1", ""}, {MissingInStatement, "YY2", ""}, {MissingInStatement, "YY2", "YR2"}, {MissingInStatement, "YY3", "YR3"}}},
		{name: "nothing on either side", change: func(b *books) { *b = books{} }, ledger: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := sampleBooks()
			if c.change != nil {
				c.change(&b)
			}
			var rep Report
			if c.ledger {
				rep = ReconcileLedger(recDay.Add(15*time.Hour), b.lines, b.payments, b.refunds, b.entries)
			} else {
				rep = Reconcile(recDay.Add(15*time.Hour), b.lines, b.payments, b.refunds)
			}
			var got []diff
			for _, d := range rep.Differences {
				got = append(got, diff{d.Kind, d.OutTradeNo, d.OutRefundNo})
				if d.Detail == "" || (d.Ours == nil && d.Theirs == nil) {
					t.Errorf("a difference without its sides or words: %+v", d)
				}
				if d.Kind == MissingInLedger && d.Theirs == nil && d.Ours == nil || d.Kind == MissingInStatement && (d.Ours == nil || d.Theirs != nil) {
					t.Errorf("sides of %+v", d)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) || rep.Matched != c.matched {
				t.Fatalf("differences %v (matched %d), want %v (matched %d)\n%+v", got, rep.Matched, c.want, c.matched, rep.Differences)
			}
			if rep.Day != "2026-01-05" || rep.Lines != len(b.lines) || rep.Differences == nil {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

// The totals of the day on each side.
func TestReconcileTotals(t *testing.T) {
	b := sampleBooks()
	rep := ReconcileLedger(recDay, b.lines, b.payments, b.refunds, b.entries)
	if rep.StatementPaidFen != 8000 || rep.LedgerPaidFen != 8000 || rep.StatementRefundedFen != 6000 || rep.LedgerRefundedFen != 6000 {
		t.Fatalf("totals %+v", rep)
	}
	from, to := DayBounds(time.Date(2026, 1, 4, 16, 30, 0, 0, time.UTC)) // 00:30 on the 5th in Beijing
	if !from.Equal(recDay) || !to.Equal(recDay.AddDate(0, 0, 1)) {
		t.Fatalf("day bounds %v %v", from, to)
	}
}
