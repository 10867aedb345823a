package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/delivery"
)

// The reads of the daily reconciliation with the insurance bureau (医保对账,
// 3201/3202): an institution's orders settled with insurance at delivery
// (M-2) that our books place on a day, and those the bureau's details name.

// InsuranceSettlementsOn lists an institution's orders settled with
// insurance that our books place in [from, to): the journal of their fund
// and account shares was written then (billing.SettlementJournal), or
// their cash share was paid then (a settlement wholly in cash has no
// journal; an attempt the bureau reversed has none either). Each record's
// At is its journal's time, else its cash share's payment time.
func (db *DB) InsuranceSettlementsOn(ctx context.Context, institution string, from, to time.Time) ([]billing.InsuranceRecord, error) {
	var ids []int64
	seen := map[int64]bool{}
	rows, err := db.query(ctx, `SELECT DISTINCT journal FROM ledger_entries WHERE institution = $1 AND at >= $2 AND at < $3 AND journal LIKE 'settlement:%'`,
		institution, micros(from), micros(to))
	if err != nil {
		return nil, err
	}
	journals, err := collect(rows, func(r interface{ Scan(...any) error }) (*string, error) {
		var j string
		return &j, r.Scan(&j)
	})
	if err != nil {
		return nil, err
	}
	for _, j := range journals {
		if id, ok := settlementOrder(j); ok && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	rows, err = db.query(ctx, `SELECT DISTINCT ref_id FROM payments WHERE institution = $1 AND purpose = $2 AND paid_at >= $3 AND paid_at < $4`,
		institution, billing.ForSettlement, micros(from), micros(to))
	if err != nil {
		return nil, err
	}
	refs, err := collect(rows, func(r interface{ Scan(...any) error }) (*int64, error) {
		var id int64
		return &id, r.Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	for _, id := range refs {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	orders, err := listIn(ctx, db, `SELECT `+orderCols+` FROM delivery_orders WHERE id IN `, ids, scanOrder)
	if err != nil {
		return nil, err
	}
	return db.insuranceRecords(ctx, institution, orders)
}

// InsuranceRecordsNamed lists an institution's orders settled with
// insurance whose settlement id is one of setlIDs or whose reference at
// the bureau (of their latest attempt) is one of refs: those the bureau's
// details name that our books do not place on the day. Neither column is
// indexed: the lookup is bounded by the institution's orders and is asked
// only for details the day's records do not match.
func (db *DB) InsuranceRecordsNamed(ctx context.Context, institution string, setlIDs, refs []string) ([]billing.InsuranceRecord, error) {
	var orders []delivery.Order
	seen := map[int64]bool{}
	for _, q := range []struct {
		col  string
		keys []string
	}{{"setl_id", setlIDs}, {"settle_ref", refs}} {
		var keys []string
		for _, k := range q.keys {
			if k != "" {
				keys = append(keys, k)
			}
		}
		os, err := listInWith(ctx, db, `SELECT `+orderCols+` FROM delivery_orders WHERE institution = $1 AND settle = $2 AND `+q.col+` IN `,
			[]any{institution, delivery.SettleInsurance}, keys, scanOrder)
		if err != nil {
			return nil, err
		}
		for _, o := range os {
			if !seen[o.ID] {
				seen[o.ID] = true
				orders = append(orders, o)
			}
		}
	}
	return db.insuranceRecords(ctx, institution, orders)
}

// insuranceRecords makes the records of an institution's insurance orders
// (others left out), with the time our books settled each.
func (db *DB) insuranceRecords(ctx context.Context, institution string, orders []delivery.Order) ([]billing.InsuranceRecord, error) {
	out := []billing.InsuranceRecord{}
	var names []string
	for _, o := range orders {
		if o.Institution != institution || o.Settle != delivery.SettleInsurance {
			continue
		}
		out = append(out, billing.InsuranceRecord{OrderID: o.ID, PatientID: o.PatientID, SetlID: o.SetlID, OrderRef: o.SettleRef, State: o.SettleState,
			FundFen: o.FundFen, AccountFen: o.AccountFen, CashFen: o.CashFen})
		if o.SetlID != "" {
			names = append(names, billing.SettlementJournal(o.ID, o.SetlID))
		}
	}
	type stamp struct {
		key string
		id  int64
		at  int64
	}
	// The journals' times (the earliest entry of each).
	journalAt := map[string]int64{}
	js, err := listIn(ctx, db, `SELECT journal, at FROM ledger_entries WHERE journal IN `, names, func(r interface{ Scan(...any) error }) (*stamp, error) {
		var s stamp
		return &s, r.Scan(&s.key, &s.at)
	})
	if err != nil {
		return nil, err
	}
	for _, s := range js {
		if t, ok := journalAt[s.key]; !ok || s.at < t {
			journalAt[s.key] = s.at
		}
	}
	// The cash shares' payment times (the latest paid of each order), for
	// the records without a journal. payments has no index on ref_id: the
	// few records without a journal (paid wholly in cash, or reversed) are
	// looked up, not every one.
	var ids []int64
	for _, r := range out {
		if _, ok := journalAt[billing.SettlementJournal(r.OrderID, r.SetlID)]; !ok || r.SetlID == "" {
			ids = append(ids, r.OrderID)
		}
	}
	paidAt := map[int64]int64{}
	ps, err := listInWith(ctx, db, `SELECT ref_id, paid_at FROM payments WHERE purpose = $1 AND paid_at > 0 AND ref_id IN `, []any{billing.ForSettlement}, ids,
		func(r interface{ Scan(...any) error }) (*stamp, error) {
			var s stamp
			return &s, r.Scan(&s.id, &s.at)
		})
	if err != nil {
		return nil, err
	}
	for _, s := range ps {
		paidAt[s.id] = max(paidAt[s.id], s.at)
	}
	for i := range out {
		r := &out[i]
		if t, ok := journalAt[billing.SettlementJournal(r.OrderID, r.SetlID)]; ok && r.SetlID != "" {
			r.At = fromMicros(t)
		} else if t := paidAt[r.OrderID]; t > 0 {
			r.At = fromMicros(t)
		}
	}
	return out, nil
}

// settlementOrder is the order id in a settlement journal's name.
func settlementOrder(journal string) (int64, bool) {
	var id int64
	rest, ok := strings.CutPrefix(journal, "settlement:")
	if !ok {
		return 0, false
	}
	if _, err := fmt.Sscanf(rest, "%d:", &id); err != nil {
		return 0, false
	}
	return id, true
}

// listInWith is listIn with fixed arguments ($1…) before the keys.
func listInWith[K any, T any](ctx context.Context, db *DB, q string, fixed []any, keys []K, scan func(interface{ Scan(...any) error }) (*T, error)) ([]T, error) {
	out := []T{}
	ctx = db.readCtx(ctx)
	for len(keys) > 0 {
		n := min(len(keys), 500)
		ph := make([]string, n)
		args := slices.Clone(fixed)
		for i := range n {
			ph[i] = fmt.Sprintf("$%d", len(fixed)+i+1)
			args = append(args, keys[i])
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
