package sqlstore_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/oversight"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// The dashboard's aggregations on both engines (issue 13): visits counted
// on their day by how they ended (a cancelled booking not at all), the
// waiting and talk times' p50/p90 by nearest rank for each day, over the
// range and over every institution — the same as oversight.Percentile
// over the same values — and ratings by score.
func TestDashboardRowsStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		at := now()
		if _, _, err := demo.Load(ctx, db, at); err != nil {
			t.Fatal(err)
		}
		w := db.Writer()
		var svc, dept string
		var doc, patient, account int64
		if err := w.QueryRow(`SELECT code, department FROM services WHERE institution = 'bch' AND kind = 'first_visit' ORDER BY code LIMIT 1`).Scan(&svc, &dept); err != nil {
			t.Fatal(err)
		}
		if err := w.QueryRow(`SELECT id FROM practitioners WHERE institution = 'bch' AND profession = 'doctor' ORDER BY id LIMIT 1`).Scan(&doc); err != nil {
			t.Fatal(err)
		}
		if err := w.QueryRow(`SELECT patient_id, account_id FROM account_patients ORDER BY account_id, patient_id LIMIT 1`).Scan(&patient, &account); err != nil {
			t.Fatal(err)
		}
		// Ten days ahead of the demo's data, a visit a day: waits of 1..10
		// minutes in an odd order, talks of 3 minutes more; the third a
		// no-show and the fifth cancelled (neither timed).
		first := at.In(dates.Beijing).AddDate(0, 0, 30)
		first = time.Date(first.Year(), first.Month(), first.Day(), 9, 0, 0, 0, dates.Beijing)
		waits := []int64{7, 2, 9, 1, 10, 4, 6, 3, 8, 5}
		var timedWaits, timedTalks []int64
		for i, wm := range waits {
			start := first.AddDate(0, 0, i)
			d := start.Format(dates.Layout)
			var slot, appt int64
			if err := w.QueryRow(`INSERT INTO slots (service, institution, department, practitioner_id, kind, day, starts_at, capacity)
				VALUES ($1, 'bch', $2, $3, 'first_visit', $4, $5, 5) RETURNING id`, svc, dept, doc, d, start.UnixMicro()).Scan(&slot); err != nil {
				t.Fatal(err)
			}
			status, state := "booked", "completed"
			switch i {
			case 2:
				state = "no_show"
			case 4:
				status = "cancelled"
			}
			if err := w.QueryRow(`INSERT INTO appointments (slot_id, patient_id, account_id, service, institution, department, day, kind, status, idem_key, created_at)
				VALUES ($1, $2, $3, $4, 'bch', $5, $6, 'first_visit', $7, $8, $9) RETURNING id`, slot, patient, account, svc, dept, d, status,
				"dash-"+d, at.UnixMicro()).Scan(&appt); err != nil {
				t.Fatal(err)
			}
			waiting, started, ended := start.Add(-time.Duration(wm)*time.Minute), start, start.Add(time.Duration(wm+3)*time.Minute)
			if state == "no_show" {
				waiting, started, ended = time.Time{}, time.Time{}, time.Time{}
			}
			if _, err := w.Exec(`INSERT INTO visits (appointment_id, state, waiting_since, started_at, ended_at) VALUES ($1, $2, $3, $4, $5)`,
				appt, state, micros(waiting), micros(started), micros(ended)); err != nil {
				t.Fatal(err)
			}
			if state == "completed" && status == "booked" {
				timedWaits, timedTalks = append(timedWaits, wm*60), append(timedTalks, (wm+3)*60)
				if _, err := w.Exec(`INSERT INTO visit_ratings (visit_id, institution, patient_id, account_id, score, created_at) VALUES ($1, 'bch', $2, $3, $4, $5)`,
					appt, patient, account, 1+i%5, at.UnixMicro()); err != nil {
					t.Fatal(err)
				}
			}
		}
		q := oversight.DashboardQuery{From: first.Format(dates.Layout), To: first.AddDate(0, 0, 9).Format(dates.Layout), By: oversight.ByDay}
		ps := q.Periods()
		rows, err := db.DashboardRows(ctx, q, ps, at)
		if err != nil {
			t.Fatal(err)
		}
		d := oversight.Assemble(q, ps, rows)
		tot := d.Overall.Total
		if tot.Visits != 9 || tot.Completed != 8 || tot.NoShows != 1 || tot.FirstVisits != 9 || tot.FirstVisitsEnded != 8 {
			t.Fatalf("visits: %+v", tot)
		}
		sort.Slice(timedWaits, func(i, j int) bool { return timedWaits[i] < timedWaits[j] })
		sort.Slice(timedTalks, func(i, j int) bool { return timedTalks[i] < timedTalks[j] })
		for _, f := range []oversight.Counts{tot, d.Institutions[0].Total} {
			if f.Waits != 8 || f.WaitP50 != oversight.Percentile(timedWaits, 50) || f.WaitP90 != oversight.Percentile(timedWaits, 90) ||
				f.Talks != 8 || f.TalkP50 != oversight.Percentile(timedTalks, 50) || f.TalkP90 != oversight.Percentile(timedTalks, 90) {
				t.Fatalf("times %+v, want p50/p90 of %v and %v", f, timedWaits, timedTalks)
			}
		}
		if tot.WaitP50 != 4*60 || tot.WaitP90 != 8*60 {
			t.Fatalf("p50 %d p90 %d", tot.WaitP50, tot.WaitP90)
		}
		if p := d.Overall.Periods[0]; p.Waits != 1 || p.WaitP50 != 7*60 || p.WaitP90 != 7*60 || p.TalkP90 != 10*60 {
			t.Fatalf("the first day: %+v", p)
		}
		if p := d.Overall.Periods[4]; p.Visits != 0 || p.Waits != 0 {
			t.Fatalf("the cancelled day: %+v", p)
		}
		sum := 0
		for i, n := range d.Overall.RatingsByScore {
			sum += (i + 1) * n
		}
		if tot.Ratings != 8 || sum != tot.RatingSum || tot.Satisfaction != float64(int(float64(sum)/8*100+0.5))/100 {
			t.Fatalf("ratings %+v %v", tot, d.Overall.RatingsByScore)
		}
		// By week, the same range: the periods add up to the same total.
		q.By = oversight.ByWeek
		ps = q.Periods()
		if rows, err = db.DashboardRows(ctx, q, ps, at); err != nil {
			t.Fatal(err)
		}
		wk := oversight.Assemble(q, ps, rows).Overall
		n := 0
		for _, p := range wk.Periods {
			n += p.Visits
		}
		if n != 9 || wk.Total.WaitP90 != tot.WaitP90 {
			t.Fatalf("by week: %d visits, p90 %d", n, wk.Total.WaitP90)
		}
	})
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// G-4 on both engines: one bulletin a period; a published bulletin is
// never written again, even by a writer that did not see it published
// (the store's compare-and-set on the draft state); its frozen figures
// read back as they were stored.
func TestBulletinStore(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		at := now().UTC().Truncate(time.Microsecond)
		b, err := oversight.NewBulletin(oversight.BulletinIn{Period: oversight.PeriodMonth}, at, 7)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateBulletin(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
		dup := *b
		if err := db.CreateBulletin(ctx, &dup, nil); errs.Code(err) != oversight.CodeBulletinExists {
			t.Fatalf("a second of the period: %v", err)
		}
		stale := *b // a writer that read the draft before it was published
		b.Commentary = "意见"
		b.Publish(&oversight.Dashboard{DashboardQuery: b.Query(), Overall: oversight.Figures{Name: "全市合计", Total: oversight.Counts{Visits: 12}}}, at, 7)
		if err := db.PublishBulletin(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
		stale.Title, stale.Commentary = "改", "改"
		if err := db.SaveBulletin(ctx, &stale, nil); errs.Code(err) != oversight.CodeBulletinPublished {
			t.Fatalf("a stale edit: %v", err)
		}
		stale.Figures = &oversight.Dashboard{}
		if err := db.PublishBulletin(ctx, &stale, nil); errs.Code(err) != oversight.CodeBulletinPublished {
			t.Fatalf("published twice: %v", err)
		}
		got, err := db.Bulletin(ctx, b.ID)
		if err != nil || !got.Published() || got.Commentary != "意见" || got.Figures == nil || got.Figures.Overall.Total.Visits != 12 ||
			!got.PublishedAt.Equal(at) || got.Figures.From != b.From {
			t.Fatalf("read back: %+v %v", got, err)
		}
		if err := db.SaveBulletin(ctx, &oversight.Bulletin{ID: 999999}, nil); errs.Code(err) != errs.NotFound {
			t.Fatalf("a bulletin that does not exist: %v", err)
		}
		if list, err := db.Bulletins(ctx, true); err != nil || len(list) != 1 {
			t.Fatalf("published: %v %v", list, err)
		}
	})
}
