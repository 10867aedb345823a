package bench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/web"
)

// Holds is the hold load's outcome (issue 12): every place of a paid
// service is held by a booking, 70 % are paid, the 30 % left unpaid
// expire and their places are booked again by other patients.
type Holds struct {
	Places   int
	Held     Result // the first bookings: each a hold
	Paid     int
	Expired  int    // holds ended by the server's expiry
	Rebooked Result // other patients booking the places given back
	Taken    int    // places held or booked at the end (must be Places)
	Oversold int
}

// runHolds runs the hold load over fx (a paid service's slots, more
// patients than places) against the server at base, whose clock is
// time.Now plus skew.
func runHolds(ctx context.Context, db *sqlstore.DB, srv *web.Server, skew *atomic.Int64, fx *Fixture, places, clients int,
	run func(name string, clients int, jobs []job, rate float64, opened bool) Result) (*Holds, error) {
	h := &Holds{Places: places}
	perSlot := places / (len(fx.Services) * len(fx.Slots[0]))
	jobs := make([]job, 0, places)
	for i := 0; i < places; i++ {
		svc := i % len(fx.Services)
		k := (i / len(fx.Services)) / perSlot
		jobs = append(jobs, job{user: fx.Patients[i], slot: fx.Slots[svc][k%len(fx.Slots[svc])]})
	}
	h.Held = run("holds", clients, jobs, 0, false)
	ids := make([]string, 0, len(fx.Services))
	for _, s := range fx.Services {
		ids = append(ids, "'"+s+"'")
	}
	inSvc := "service IN (" + strings.Join(ids, ",") + ")"
	// 70 % pay (the payment path itself is `yunyi bench pay`'s): their
	// bookings are confirmed as a recorded payment confirms them.
	res, err := db.Writer().ExecContext(ctx, fmt.Sprintf(`UPDATE appointments SET status = 'booked', pay_by = 0 WHERE id IN
		(SELECT id FROM appointments WHERE status = 'held' AND %s AND id %% 10 < 7)`, inSvc))
	if err != nil {
		return nil, err
	}
	n, _ := res.RowsAffected()
	h.Paid = int(n)
	// The payment window passes: the server's expiry gives the rest back
	// (the other loads' unpaid holds too).
	skew.Add(int64(16 * time.Minute))
	for {
		k, err := srv.ExpireHolds(ctx)
		if err != nil {
			return nil, err
		}
		if k == 0 {
			break
		}
	}
	if err := db.Writer().QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM appointments WHERE status = 'expired' AND %s`, inSvc)).Scan(&h.Expired); err != nil {
		return nil, err
	}
	// Other patients (each with history in the slot's department) book the
	// places given back.
	svcOf := map[int64]int{}
	for i, slots := range fx.Slots {
		for _, id := range slots {
			svcOf[id] = i
		}
	}
	spare := make([][]BenchUser, len(fx.Services))
	for i := places; i < len(fx.Patients); i++ {
		spare[i%len(fx.Services)] = append(spare[i%len(fx.Services)], fx.Patients[i])
	}
	rows, err := db.Writer().QueryContext(ctx, fmt.Sprintf(`SELECT id, capacity - booked FROM slots WHERE %s AND booked < capacity ORDER BY id`, inSvc))
	if err != nil {
		return nil, err
	}
	jobs = jobs[:0]
	for rows.Next() {
		var slot int64
		var free int
		if err := rows.Scan(&slot, &free); err != nil {
			rows.Close()
			return nil, err
		}
		svc := svcOf[slot]
		for ; free > 0 && len(spare[svc]) > 0; free-- {
			jobs = append(jobs, job{user: spare[svc][0], slot: slot})
			spare[svc] = spare[svc][1:]
		}
	}
	rows.Close()
	h.Rebooked = run("holds rebooked", clients, jobs, 0, false)
	if err := db.Writer().QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM appointments WHERE status IN ('booked', 'held') AND %s`, inSvc)).Scan(&h.Taken); err != nil {
		return nil, err
	}
	if h.Oversold, err = oversold(ctx, db); err != nil {
		return nil, err
	}
	return h, nil
}

// HoldsTable renders the hold loads as Markdown.
func HoldsTable(reps []*Report) string {
	var b strings.Builder
	b.WriteString("| engine | places | held (first bookings) | held/s | p99 | paid | expired | rebooked | taken at the end | oversold |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range reps {
		h := r.Holds
		if h == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %s | %d | %d | %d of %d | %d | %d |\n", r.Engine, h.Places, h.Held.OK, h.Held.OKPerSec,
			h.Held.P99.Round(100*time.Microsecond), h.Paid, h.Expired, h.Rebooked.OK, h.Rebooked.Requests, h.Taken, h.Oversold)
	}
	return b.String()
}
