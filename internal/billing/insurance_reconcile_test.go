package billing

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/insurance"
)

// insBooks is one day of insurance settlements at one institution on both
// sides: our orders and ledger, the bureau's details and totals.
type insBooks struct {
	ours    []InsuranceRecord
	entries []Entry
	details []insurance.Settlement
	totals  *insurance.Totals
}

func settlementEntries(r *InsuranceRecord, at time.Time) []Entry {
	j := SettlementJournal(r.OrderID, r.SetlID)
	var out []Entry
	for _, e := range []struct {
		account string
		amount  int64
	}{{InsuranceFundAccount, r.FundFen}, {InsurancePersonalAccount, r.AccountFen}, {InstitutionAccount("xuanwu"), -(r.FundFen + r.AccountFen)}} {
		if e.amount != 0 {
			out = append(out, Entry{Journal: j, Account: e.account, AmountFen: e.amount, PatientID: r.PatientID, Institution: "xuanwu", At: at})
		}
	}
	return out
}

// sampleInsurance: S1 settled with fund, account and cash shares; S2 with
// fund and cash; S3 wholly in cash (no journal); the settlement of order 4
// reversed by the bureau after its answer was lost (our order never learnt
// its setl_id); S5 settled by our books the day before (not of this day).
func sampleInsurance() insBooks {
	prev := recDay.AddDate(0, 0, -1)
	b := insBooks{ours: []InsuranceRecord{
		{OrderID: 1, PatientID: 7, SetlID: "S1", OrderRef: "YY-O1-1", State: insurance.StateSettled, FundFen: 14000, AccountFen: 150000, CashFen: 42000, At: at(recDay, 9, 0)},
		{OrderID: 2, PatientID: 7, SetlID: "S2", OrderRef: "YY-O2-1", State: insurance.StateSettled, FundFen: 7000, CashFen: 3000, At: at(recDay, 11, 0)},
		{OrderID: 3, PatientID: 8, SetlID: "S3", OrderRef: "YY-O3-1", State: insurance.StateSettled, CashFen: 6000, At: at(recDay, 23, 59)},
		{OrderID: 4, PatientID: 8, OrderRef: "YY-O4-1", State: insurance.StateReversed, FundFen: 700, CashFen: 300, At: at(recDay, 12, 0)},
		{OrderID: 5, PatientID: 8, SetlID: "S5", OrderRef: "YY-O5-1", State: insurance.StateSettled, FundFen: 500, CashFen: 500, At: at(prev, 23, 0)},
	}}
	for i := range b.ours {
		r := &b.ours[i]
		if r.State == insurance.StateSettled && r.At.After(recDay) {
			b.entries = append(b.entries, settlementEntries(r, r.At)...)
		}
		st := insurance.Settlement{SetlID: r.SetlID, OrderRef: r.OrderRef, Institution: "xuanwu", State: r.State, At: r.At,
			TotalFen: r.TotalFen(), FundFen: r.FundFen, AccountFen: r.AccountFen, CashFen: r.CashFen}
		switch r.OrderID {
		case 4:
			st.SetlID = "S4"
		case 5:
			continue // the day before's
		}
		b.details = append(b.details, st)
	}
	return b
}

func (b *insBooks) detail(id string) *insurance.Settlement {
	for i := range b.details {
		if b.details[i].SetlID == id {
			return &b.details[i]
		}
	}
	panic(id)
}

func (b *insBooks) rec(id int64) *InsuranceRecord {
	for i := range b.ours {
		if b.ours[i].OrderID == id {
			return &b.ours[i]
		}
	}
	panic(id)
}

// bureauTotals are the bureau's 3201 as its details make them.
func bureauTotals(details []insurance.Settlement) *insurance.Totals {
	t := &insurance.Totals{Institution: "xuanwu", Day: "2026-01-05"}
	for _, s := range details {
		if s.State == insurance.StateSettled {
			t.Count++
			t.TotalFen += s.TotalFen
			t.FundFen += s.FundFen
			t.AccountFen += s.AccountFen
			t.CashFen += s.CashFen
		}
	}
	return t
}

func TestReconcileInsurance(t *testing.T) {
	type diff struct{ kind, setl, share string }
	// Differences of the totals only (no settlement named).
	totals := func(shares ...string) []diff {
		var out []diff
		for _, s := range shares {
			out = append(out, diff{TotalsDiffer, "", s})
		}
		return out
	}
	cases := []struct {
		name    string
		change  func(b *insBooks)
		totals  func(t *insurance.Totals) // the bureau's totals, when not those of its details
		want    []diff
		matched int
	}{
		{name: "agreeing books", matched: 4},
		{name: "a settlement our books lack", change: func(b *insBooks) {
			b.details = append(b.details, insurance.Settlement{SetlID: "S9", OrderRef: "YY-O9-1", State: insurance.StateSettled, TotalFen: 1000, FundFen: 700, CashFen: 300, At: at(recDay, 15, 0)})
		}, want: append(totals("cash", "count", "fund", "total"), diff{MissingInLedger, "S9", ""}), matched: 4},
		{name: "a settlement the bureau lacks", change: func(b *insBooks) {
			b.details = slices.DeleteFunc(b.details, func(s insurance.Settlement) bool { return s.SetlID == "S2" })
		}, want: append(totals("cash", "count", "fund", "total"), diff{MissingInStatement, "S2", ""}), matched: 3},
		{name: "a settlement paid wholly in cash the bureau lacks", change: func(b *insBooks) {
			b.details = slices.DeleteFunc(b.details, func(s insurance.Settlement) bool { return s.SetlID == "S3" })
		}, want: append(totals("cash", "count", "total"), diff{MissingInStatement, "S3", ""}), matched: 3},
		{name: "the fund's share differs", change: func(b *insBooks) { s := b.detail("S1"); s.FundFen -= 100; s.CashFen += 100 },
			want: append(totals("cash", "fund"), diff{AmountDiffers, "S1", "cash"}, diff{AmountDiffers, "S1", "fund"}), matched: 3},
		{name: "the account's share differs", change: func(b *insBooks) { s := b.detail("S1"); s.AccountFen += 100; s.TotalFen += 100 },
			want: append(totals("account", "total"), diff{AmountDiffers, "S1", "account"}), matched: 3},
		{name: "only the bureau's total differs", change: func(b *insBooks) { b.detail("S2").TotalFen += 1 },
			want: append(totals("total"), diff{AmountDiffers, "S2", "total"}), matched: 3},
		{name: "reversed at the bureau, settled by our books", change: func(b *insBooks) { b.detail("S1").State = insurance.StateReversed },
			want: append(totals("account", "cash", "count", "fund", "total"), diff{StateDiffers, "S1", ""}), matched: 3},
		{name: "settled at the bureau, our order still waiting", change: func(b *insBooks) {
			r := b.rec(2)
			r.State, r.SetlID = "cash_paid", ""
			b.entries = slices.DeleteFunc(b.entries, func(e Entry) bool { return e.Journal == SettlementJournal(2, "S2") })
		}, want: append(totals("cash", "count", "fund", "total"), diff{StateDiffers, "S2", ""}), matched: 3},
		{name: "settled by our books on another day", change: func(b *insBooks) {
			b.rec(2).At = at(recDay, 24, 30)
			b.entries = slices.DeleteFunc(b.entries, func(e Entry) bool { return e.Journal == SettlementJournal(2, "S2") })
		}, want: append(totals("cash", "count", "fund", "total"), diff{StateDiffers, "S2", ""}), matched: 3},
		{name: "totals equal, details differ", change: func(b *insBooks) {
			s1, s2 := b.detail("S1"), b.detail("S2")
			s1.FundFen, s1.CashFen = s1.FundFen-100, s1.CashFen+100
			s2.FundFen, s2.CashFen = s2.FundFen+100, s2.CashFen-100
		}, want: []diff{{AmountDiffers, "S1", "cash"}, {AmountDiffers, "S1", "fund"}, {AmountDiffers, "S2", "cash"}, {AmountDiffers, "S2", "fund"}}, matched: 2},
		{name: "totals equal, settlements swapped", change: func(b *insBooks) {
			// The bureau has S2 and a settlement our books lack; our books
			// have S3 (the same amounts), which the bureau lacks.
			s3 := b.detail("S3")
			s3.SetlID, s3.OrderRef = "S8", "YY-O8-1"
		}, want: []diff{{MissingInStatement, "S3", ""}, {MissingInLedger, "S8", ""}}, matched: 3},
		{name: "a journal deleted", change: func(b *insBooks) {
			b.entries = slices.DeleteFunc(b.entries, func(e Entry) bool { return e.Journal == SettlementJournal(1, "S1") })
		}, want: []diff{{MissingInLedger, "S1", ""}}, matched: 3},
		{name: "half a journal deleted", change: func(b *insBooks) {
			b.entries = slices.DeleteFunc(b.entries, func(e Entry) bool { return e.Account == InsurancePersonalAccount })
		}, want: []diff{{AmountDiffers, "S1", ""}, {AmountDiffers, "S1", "account"}}, matched: 3},
		{name: "a journal of an order our books reversed", change: func(b *insBooks) { b.rec(2).State = insurance.StateReversed },
			want: append(totals("cash", "count", "fund", "total"), diff{StateDiffers, "S2", ""}, diff{StateDiffers, "S2", ""}), matched: 3},
		{name: "reversed at the bureau, unknown to our books", change: func(b *insBooks) {
			b.ours = slices.DeleteFunc(b.ours, func(r InsuranceRecord) bool { return r.OrderID == 4 })
		}, matched: 4},
		{name: "the bureau's totals disagree with its details", totals: func(t *insurance.Totals) { t.FundFen += 100 },
			want: totals("fund", "fund"), matched: 4},
		{name: "the same settlement twice in the details", change: func(b *insBooks) { b.details = append(b.details, *b.detail("S2")) },
			totals: func(t *insurance.Totals) { t.Count, t.TotalFen, t.FundFen, t.CashFen = 3, 222000, 21000, 51000 },
			want:   append(totals("cash", "count", "fund", "total"), diff{MissingInLedger, "S2", ""}), matched: 4},
		{name: "nothing on either side", change: func(b *insBooks) { *b = insBooks{} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := sampleInsurance()
			if c.change != nil {
				c.change(&b)
			}
			b.totals = bureauTotals(b.details)
			if c.totals != nil {
				c.totals(b.totals)
			}
			rep := ReconcileInsurance(recDay.Add(15*time.Hour), b.totals, b.details, b.ours, b.entries)
			var got []diff
			for _, d := range rep.Differences {
				got = append(got, diff{d.Kind, d.SetlID, d.Share})
				switch {
				case d.Detail == "":
					t.Errorf("a difference without words: %+v", d)
				case d.Kind == TotalsDiffer && (d.Ours != nil || d.Theirs != nil || d.Share == ""):
					t.Errorf("totals difference %+v", d)
				case d.Kind == MissingInLedger && d.Theirs == nil, d.Kind == MissingInStatement && (d.Ours == nil || d.Theirs != nil),
					(d.Kind == AmountDiffers || d.Kind == StateDiffers) && d.Ours == nil:
					t.Errorf("sides of %+v", d)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) || rep.Matched != c.matched {
				t.Fatalf("differences %v (matched %d), want %v (matched %d)\n%+v", got, rep.Matched, c.want, c.matched, rep.Differences)
			}
			if rep.Day != "2026-01-05" || rep.Details != len(b.details) || rep.Differences == nil {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

// The day's sums on each side, and the ledger's.
func TestReconcileInsuranceTotals(t *testing.T) {
	b := sampleInsurance()
	rep := ReconcileInsurance(recDay, bureauTotals(b.details), b.details, b.ours, b.entries)
	want := InsuranceTotals{Count: 3, TotalFen: 222000, FundFen: 21000, AccountFen: 150000, CashFen: 51000}
	if rep.Ours != want || rep.Bureau != want || rep.BureauDetails != want || rep.LedgerFundFen != 21000 || rep.LedgerAccountFen != 150000 {
		t.Fatalf("totals %+v", rep)
	}
	if len(rep.Differences) != 0 {
		t.Fatalf("differences %+v", rep.Differences)
	}
	if SettlementJournal(12, "SETL1") != "settlement:12:SETL1" {
		t.Fatal(SettlementJournal(12, "SETL1"))
	}
}
