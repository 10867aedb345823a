package billing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/insurance"
	"github.com/yunyi-health/yunyi/internal/pay"
)

// The daily reconciliation with the insurance bureau (医保对账): the
// bureau's totals (3201) and details (3202) of an institution's day
// matched with our books — the orders settled with insurance at delivery
// (M-2) and the ledger journals of their fund and personal-account shares.
// The differences use the payment reconciliation's kinds, the bureau's
// details standing for the statement: MissingInLedger (settled at the
// bureau, not by our books), MissingInStatement (settled by our books, not
// at the bureau), AmountDiffers (a share differs, named in Share),
// StateDiffers (e.g. reversed at the bureau, settled by our books), and
// TotalsDiffer for the totals.

// TotalsDiffer: the bureau's totals of the day (3201) differ from our
// books' (or from the sums of the bureau's own details).
const TotalsDiffer = "totals_differ"

// Ledger accounts of an insurance settlement: what the pooled fund and the
// persons' accounts owe the institution.
const (
	InsuranceFundAccount     = "insurance:fund"
	InsurancePersonalAccount = "insurance:account"
)

// SettlementJournal is the name of the journal of an order's insurance
// settlement: the fund's and the personal account's shares owed to the
// institution (the cash share is a payment of its own).
func SettlementJournal(orderID int64, setlID string) string {
	return fmt.Sprintf("settlement:%d:%s", orderID, setlID)
}

// InsuranceRecord is our record of an order settled (or being settled)
// with insurance. State is the order's settlement state (pre, cash_paid,
// settled, reversed: "settled" and "reversed" are the bureau's words too).
type InsuranceRecord struct {
	OrderID    int64  `json:"order_id"`
	PatientID  int64  `json:"patient_id"`
	SetlID     string `json:"setl_id,omitempty"` // the bureau's, once settled
	OrderRef   string `json:"order_ref"`         // the order's reference at the bureau (its latest attempt)
	State      string `json:"state"`
	FundFen    int64  `json:"fund_fen"`
	AccountFen int64  `json:"account_fen"`
	CashFen    int64  `json:"cash_fen"`
	// At is when our books settled it: the time of its journal, or, for a
	// settlement with neither a fund nor an account share (no journal),
	// when its cash share was paid; zero when our books have neither.
	At time.Time `json:"at,omitzero"`
}

// TotalFen is the order's settled total: fund + account + cash.
func (r *InsuranceRecord) TotalFen() int64 { return r.FundFen + r.AccountFen + r.CashFen }

// InsuranceTotals are a day's count and sums of standing settlements.
type InsuranceTotals struct {
	Count      int   `json:"count"`
	TotalFen   int64 `json:"total_fen"`
	FundFen    int64 `json:"fund_fen"`
	AccountFen int64 `json:"account_fen"`
	CashFen    int64 `json:"cash_fen"`
}

func (t *InsuranceTotals) add(total, fund, account, cash int64) {
	t.Count++
	t.TotalFen += total
	t.FundFen += fund
	t.AccountFen += account
	t.CashFen += cash
}

// InsuranceSide is one side's view of a settlement in a difference.
type InsuranceSide struct {
	State      string    `json:"state"` // settled or reversed; ours may also be pre or cash_paid
	SetlID     string    `json:"setl_id,omitempty"`
	TotalFen   int64     `json:"total_fen"`
	FundFen    int64     `json:"fund_fen"`
	AccountFen int64     `json:"account_fen"`
	CashFen    int64     `json:"cash_fen"`
	At         time.Time `json:"at,omitzero"`
}

// InsuranceDifference is one disagreement between the bureau and our
// books.
type InsuranceDifference struct {
	Kind     string `json:"kind"`
	SetlID   string `json:"setl_id,omitempty"`
	OrderRef string `json:"order_ref,omitempty"`
	OrderID  int64  `json:"order_id,omitempty"`
	// Share is what differs, for AmountDiffers (total, fund, account,
	// cash) and TotalsDiffer (count too).
	Share  string         `json:"share,omitempty"`
	Ours   *InsuranceSide `json:"ours,omitempty"`   // nil: not in our books
	Theirs *InsuranceSide `json:"theirs,omitempty"` // nil: not at the bureau
	Detail string         `json:"detail"`
}

// InsuranceReport is the reconciliation of an institution's day (a
// Beijing date) with the insurance bureau.
type InsuranceReport struct {
	Day     string `json:"day"`
	Details int    `json:"details"` // lines of the bureau's details (3202), reversed ones included
	Matched int    `json:"matched"` // detail lines our books agree with
	// Bureau is the bureau's totals (3201); BureauDetails the sums of its
	// details that stand; Ours our books' settlements of the day.
	Bureau        InsuranceTotals `json:"bureau"`
	BureauDetails InsuranceTotals `json:"bureau_details"`
	Ours          InsuranceTotals `json:"ours"`
	// What the day's settlement journals move on the fund's and the
	// personal accounts' ledger accounts.
	LedgerFundFen    int64                 `json:"ledger_fund_fen"`
	LedgerAccountFen int64                 `json:"ledger_account_fen"`
	Differences      []InsuranceDifference `json:"differences"`
}

// ReconcileInsurance matches the bureau's totals (3201) and details (3202)
// of day with our records and the ledger, and lists every difference. A
// detail is matched with our record by setl_id, or — for a record that
// never learnt its setl_id (the bureau's answer was lost) — by the order's
// reference.
//
// Our side of the day is every record settled with At that day. ours may
// hold others too — those the details name that our books place on another
// day or in another state — which are matched but not expected. entries
// are the ledger's entries of the day (at least the settlement journals):
// each settled record of the day with a fund or account share must have
// its journal (SettlementJournal) moving those shares on
// InsuranceFundAccount and InsurancePersonalAccount and summing to zero.
//
// A settlement the bureau lists as reversed agrees with a record that is
// not settled (or with none): nothing stands on either side. The totals
// are compared as well, so that a difference shows even where the details
// cannot tell it.
func ReconcileInsurance(day time.Time, totals *insurance.Totals, details []insurance.Settlement, ours []InsuranceRecord, entries []Entry) InsuranceReport {
	from, to := DayBounds(day)
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(from) && t.Before(to) }
	date := func(t time.Time) string { return t.In(dates.Beijing).Format(dates.Layout) }
	rep := InsuranceReport{Day: from.Format(dates.Layout), Details: len(details), Differences: []InsuranceDifference{}}
	add := func(d InsuranceDifference) { rep.Differences = append(rep.Differences, d) }
	if totals != nil {
		rep.Bureau = InsuranceTotals{Count: totals.Count, TotalFen: totals.TotalFen, FundFen: totals.FundFen, AccountFen: totals.AccountFen, CashFen: totals.CashFen}
	}

	// Our records, once each, by setl_id and by order reference.
	var recs []*InsuranceRecord
	byOrder := map[int64]bool{}
	bySetl, byRef := map[string]*InsuranceRecord{}, map[string]*InsuranceRecord{}
	for i := range ours {
		r := &ours[i]
		if byOrder[r.OrderID] {
			continue
		}
		byOrder[r.OrderID] = true
		recs = append(recs, r)
		if r.SetlID != "" {
			bySetl[r.SetlID] = r
		}
		if r.OrderRef != "" {
			byRef[r.OrderRef] = r
		}
	}
	settledThatDay := func(r *InsuranceRecord) bool { return r.State == insurance.StateSettled && in(r.At) }
	oursSide := func(r *InsuranceRecord) *InsuranceSide {
		return &InsuranceSide{State: r.State, SetlID: r.SetlID, TotalFen: r.TotalFen(), FundFen: r.FundFen, AccountFen: r.AccountFen, CashFen: r.CashFen, At: r.At.UTC()}
	}

	// The ledger: what each settlement journal moves on each account.
	journals := map[string]map[string]int64{}
	var journalNames []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Journal, "settlement:") {
			continue
		}
		if journals[e.Journal] == nil {
			journals[e.Journal] = map[string]int64{}
			journalNames = append(journalNames, e.Journal)
		}
		journals[e.Journal][e.Account] += e.AmountFen
		switch e.Account {
		case InsuranceFundAccount:
			rep.LedgerFundFen += e.AmountFen
		case InsurancePersonalAccount:
			rep.LedgerAccountFen += e.AmountFen
		}
	}
	checked := map[string]bool{}
	// journalOK checks the journal of a record settled that day, listing
	// what is wrong with it.
	journalOK := func(r *InsuranceRecord, d InsuranceDifference) bool {
		name := SettlementJournal(r.OrderID, r.SetlID)
		checked[name] = true
		j := journals[name]
		if j == nil {
			if r.FundFen == 0 && r.AccountFen == 0 {
				return true // paid wholly in cash: nothing owed by the insurance
			}
			d.Kind, d.Detail = MissingInLedger, fmt.Sprintf("settled by our order, with no journal %s in the ledger", name)
			add(d)
			return false
		}
		var sum int64
		for _, v := range j {
			sum += v
		}
		ok := true
		for _, s := range []struct {
			share, account string
			want           int64
		}{{"fund", InsuranceFundAccount, r.FundFen}, {"account", InsurancePersonalAccount, r.AccountFen}} {
			if got := j[s.account]; got != s.want {
				ok = false
				d.Kind, d.Share = AmountDiffers, s.share
				d.Detail = fmt.Sprintf("journal %s moves %s on %s, our order %s", name, pay.Yuan(got), s.account, pay.Yuan(s.want))
				add(d)
			}
		}
		if sum != 0 {
			ok = false
			d.Kind, d.Share, d.Detail = AmountDiffers, "", fmt.Sprintf("journal %s sums to %s, not zero", name, pay.Yuan(sum))
			add(d)
		}
		return ok
	}

	// The bureau's details.
	details = slices.Clone(details)
	slices.SortStableFunc(details, func(a, b insurance.Settlement) int {
		return cmp.Or(cmp.Compare(a.SetlID, b.SetlID), cmp.Compare(a.OrderRef, b.OrderRef))
	})
	seen := map[string]bool{}
	matched := map[int64]bool{}
	for i := range details {
		s := &details[i]
		theirs := &InsuranceSide{State: s.State, SetlID: s.SetlID, TotalFen: s.TotalFen, FundFen: s.FundFen, AccountFen: s.AccountFen, CashFen: s.CashFen, At: s.At.UTC()}
		d := InsuranceDifference{SetlID: s.SetlID, OrderRef: s.OrderRef, Theirs: theirs}
		if s.State == insurance.StateSettled {
			rep.BureauDetails.add(s.TotalFen, s.FundFen, s.AccountFen, s.CashFen)
		}
		if seen[s.SetlID] {
			d.Kind, d.Detail = MissingInLedger, "the same settlement is in the bureau's details twice"
			add(d)
			continue
		}
		seen[s.SetlID] = true
		r := bySetl[s.SetlID]
		if r == nil {
			if x := byRef[s.OrderRef]; x != nil && x.SetlID == "" {
				r = x
			}
		}
		if r == nil {
			if s.State == insurance.StateReversed {
				rep.Matched++ // reversed there, unknown here: nothing stands
				continue
			}
			d.Kind, d.Detail = MissingInLedger, "settled at the bureau, not by our books"
			add(d)
			continue
		}
		matched[r.OrderID] = true
		d.OrderID, d.Ours = r.OrderID, oursSide(r)
		ok := true
		switch {
		case s.State == insurance.StateReversed && r.State == insurance.StateSettled:
			d.Kind, d.Detail = StateDiffers, "reversed at the bureau, settled by our books"
		case s.State == insurance.StateReversed:
			// reversed there, not settled here: nothing stands
		case s.State != insurance.StateSettled:
			d.Kind, d.Detail = StateDiffers, "the bureau has it "+s.State
		case r.State != insurance.StateSettled:
			d.Kind, d.Detail = StateDiffers, "settled at the bureau; our books have it "+r.State
		case r.SetlID != s.SetlID:
			d.Kind, d.Detail = StateDiffers, "settled at the bureau; our order does not know its settlement id"
		case !r.At.IsZero() && !in(r.At):
			d.Kind, d.Detail = StateDiffers, "our books settled it on "+date(r.At)
		}
		if d.Kind != "" {
			ok = false
			add(d)
		}
		if s.State == insurance.StateSettled && r.State == insurance.StateSettled {
			shareDiffers := false
			for _, x := range []struct {
				share        string
				theirs, ours int64
			}{{"fund", s.FundFen, r.FundFen}, {"account", s.AccountFen, r.AccountFen}, {"cash", s.CashFen, r.CashFen}} {
				if x.theirs != x.ours {
					ok, shareDiffers = false, true
					d.Kind, d.Share = AmountDiffers, x.share
					d.Detail = fmt.Sprintf("%s share %s at the bureau, %s by our books", x.share, pay.Yuan(x.theirs), pay.Yuan(x.ours))
					add(d)
				}
			}
			if !shareDiffers && s.TotalFen != r.TotalFen() {
				ok = false
				d.Kind, d.Share = AmountDiffers, "total"
				d.Detail = fmt.Sprintf("total %s at the bureau, %s by our books", pay.Yuan(s.TotalFen), pay.Yuan(r.TotalFen()))
				add(d)
			}
			if settledThatDay(r) {
				d.Share = ""
				if !journalOK(r, d) {
					ok = false
				}
			}
		}
		if ok {
			rep.Matched++
		}
	}

	// What our side of the day has and the bureau lacks.
	for _, r := range recs {
		if !settledThatDay(r) {
			continue
		}
		rep.Ours.add(r.TotalFen(), r.FundFen, r.AccountFen, r.CashFen)
		checked[SettlementJournal(r.OrderID, r.SetlID)] = true // its journal: checked above, or its difference listed
		if !matched[r.OrderID] {
			add(InsuranceDifference{Kind: MissingInStatement, SetlID: r.SetlID, OrderRef: r.OrderRef, OrderID: r.OrderID, Ours: oursSide(r),
				Detail: "settled by our books, not in the bureau's details"})
		}
	}
	// Settlement journals of the day that belong to no settlement of the
	// day by our records.
	for _, name := range journalNames {
		if checked[name] {
			continue
		}
		d := InsuranceDifference{Kind: StateDiffers, Detail: fmt.Sprintf("journal %s of the day belongs to no order our books settled that day", name)}
		var id int64
		if _, err := fmt.Sscanf(name, "settlement:%d:", &id); err == nil {
			d.OrderID = id
			d.SetlID = name[strings.LastIndexByte(name, ':')+1:]
			for _, r := range recs {
				if r.OrderID == id {
					d.OrderRef, d.Ours = r.OrderRef, oursSide(r)
					d.Detail = fmt.Sprintf("journal %s of the day, for an order our books have %s", name, r.State)
					if r.State == insurance.StateSettled {
						d.Detail += " on " + date(r.At)
					}
				}
			}
		}
		add(d)
	}

	// The totals: the bureau's against ours, and against its own details.
	type share struct {
		name         string
		theirs, ours int64
	}
	cmpTotals := func(theirs, ours InsuranceTotals) []share {
		var out []share
		for _, x := range []share{{"count", int64(theirs.Count), int64(ours.Count)}, {"total", theirs.TotalFen, ours.TotalFen},
			{"fund", theirs.FundFen, ours.FundFen}, {"account", theirs.AccountFen, ours.AccountFen}, {"cash", theirs.CashFen, ours.CashFen}} {
			if x.theirs != x.ours {
				out = append(out, x)
			}
		}
		return out
	}
	money := func(x share) (string, string) {
		if x.name == "count" {
			return fmt.Sprint(x.theirs), fmt.Sprint(x.ours)
		}
		return pay.Yuan(x.theirs), pay.Yuan(x.ours)
	}
	for _, x := range cmpTotals(rep.Bureau, rep.Ours) {
		a, b := money(x)
		add(InsuranceDifference{Kind: TotalsDiffer, Share: x.name, Detail: fmt.Sprintf("%s of the day %s by the bureau's totals (3201), %s by our books", x.name, a, b)})
	}
	for _, x := range cmpTotals(rep.Bureau, rep.BureauDetails) {
		a, b := money(x)
		add(InsuranceDifference{Kind: TotalsDiffer, Share: x.name, Detail: fmt.Sprintf("%s of the day %s by the bureau's totals (3201), %s by the sum of its details (3202)", x.name, a, b)})
	}

	slices.SortStableFunc(rep.Differences, func(a, b InsuranceDifference) int {
		return cmp.Or(cmp.Compare(a.SetlID, b.SetlID), cmp.Compare(a.OrderRef, b.OrderRef), cmp.Compare(a.OrderID, b.OrderID),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Share, b.Share))
	})
	return rep
}
