package web

import (
	"context"
	"time"

	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// The parts of the daily reconciliation (source=).
const (
	sourcePayments  = "payments"  // the payment providers' statements
	sourceInsurance = "insurance" // the insurance bureau's totals and details
)

// reconcileInsurance reconciles an institution's day with the insurance
// bureau (医保对账): its totals (3201) and details (3202) matched with the
// orders our books settled with insurance that day and their ledger
// journals (entries: the day's). Details the day's records do not match
// are looked up by settlement id and order reference, so that a record of
// another day or state is listed as such rather than as missing. Without
// always, an institution that neither settles insurance at delivery nor
// has an insurance settlement that day gets none (nil).
func (s *Server) reconcileInsurance(ctx context.Context, code string, from, to time.Time, entries []billing.Entry, always bool) (*billing.InsuranceReport, error) {
	ours, err := s.db.InsuranceSettlementsOn(ctx, code, from, to)
	if err != nil {
		return nil, err
	}
	if !always && len(ours) == 0 {
		set, err := s.db.DeliverySettings(ctx, code)
		if err != nil {
			return nil, err
		}
		if !set.InsuranceAtDelivery {
			return nil, nil
		}
	}
	bureau := s.bureau(ctx)
	totals, err := bureau.Totals(ctx, code, from)
	if err != nil {
		s.log.Warn("insurance reconciliation: totals (3201)", "institution", code, "err", err)
		return nil, errs.E(codeInsUnavailable)
	}
	details, err := bureau.Details(ctx, code, from)
	if err != nil {
		s.log.Warn("insurance reconciliation: details (3202)", "institution", code, "err", err)
		return nil, errs.E(codeInsUnavailable)
	}
	known := map[string]bool{}
	for _, r := range ours {
		if r.SetlID != "" {
			known["s:"+r.SetlID] = true
		}
		if r.OrderRef != "" {
			known["r:"+r.OrderRef] = true
		}
	}
	var setlIDs, refs []string
	for _, d := range details {
		if !known["s:"+d.SetlID] && !known["r:"+d.OrderRef] {
			setlIDs, refs = append(setlIDs, d.SetlID), append(refs, d.OrderRef)
		}
	}
	if len(setlIDs) > 0 {
		more, err := s.db.InsuranceRecordsNamed(ctx, code, setlIDs, refs)
		if err != nil {
			return nil, err
		}
		ours = append(ours, more...)
	}
	rep := billing.ReconcileInsurance(from, totals, details, ours, entries)
	return &rep, nil
}
