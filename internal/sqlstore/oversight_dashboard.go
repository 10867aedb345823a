package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/oversight"
)

var _ oversight.DashboardStore = (*DB)(nil)

// The regulator's dashboard (issue 13): every figure is a GROUP BY of the
// store, the same SQL on both engines. The periods are a VALUES list
// (index, first and last day, first and next instant) that the rows join:
// a visit counts on its appointment's day, a case on the instant it was
// reported. Times are percentiles by window functions (nearest rank:
// the smallest value whose rank * 100 >= p * n).

// adhoc runs a read whose text varies with its input (the periods): it is
// not kept as a prepared statement.
func (db *DB) adhoc(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.r.QueryContext(db.readCtx(ctx), q, args...)
}

// periodsCTE is "WITH p (idx, lo, hi, lo_us, hi_us) AS (VALUES ...)", its
// arguments appended to args.
func periodsCTE(ps []oversight.Period, args *[]any) string {
	var b strings.Builder
	b.WriteString(`WITH p (idx, lo, hi, lo_us, hi_us) AS (VALUES `)
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		n := len(*args)
		ph := func(k int) string { return "$" + strconv.Itoa(n+k) }
		b.WriteString("(CAST(" + ph(1) + " AS INTEGER), CAST(" + ph(2) + " AS TEXT), CAST(" + ph(3) + " AS TEXT), CAST(" + ph(4) +
			" AS BIGINT), CAST(" + ph(5) + " AS BIGINT))")
		*args = append(*args, i, p.From, p.To, micros(p.Start), micros(p.End))
	}
	b.WriteString(")")
	return b.String()
}

// DashboardRows aggregates the figures of q's periods; now decides which
// cases are overdue.
func (db *DB) DashboardRows(ctx context.Context, q oversight.DashboardQuery, periods []oversight.Period, now time.Time) (*oversight.DashboardRows, error) {
	out := &oversight.DashboardRows{}
	args := []any{q.Institution}
	with := periodsCTE(periods, &args)

	// Visits by institution, period, kind and department, and how they ended.
	rows, err := db.adhoc(ctx, with+`
		SELECT a.institution, p.idx, a.kind, a.department, COALESCE(d.name, a.department), COALESCE(d.name_en, ''), COUNT(*),
			SUM(CASE WHEN v.state = 'completed' THEN 1 ELSE 0 END), SUM(CASE WHEN v.state = 'terminated' THEN 1 ELSE 0 END),
			SUM(CASE WHEN v.state = 'no_show' THEN 1 ELSE 0 END)
		FROM appointments a JOIN p ON a.day >= p.lo AND a.day <= p.hi
		LEFT JOIN visits v ON v.appointment_id = a.id
		LEFT JOIN departments d ON d.institution = a.institution AND d.code = a.department
		WHERE a.status = 'booked' AND ($1 = '' OR a.institution = $1)
		GROUP BY a.institution, p.idx, a.kind, a.department, d.name, d.name_en`, args...)
	if err != nil {
		return nil, err
	}
	if err := scanAll(rows, func(r *sql.Rows) error {
		var v oversight.VisitRow
		if err := r.Scan(&v.Institution, &v.Period, &v.Kind, &v.Department, &v.DepartmentName, &v.DepartmentNameEN, &v.Visits, &v.Completed,
			&v.Terminated, &v.NoShows); err != nil {
			return err
		}
		out.Visits = append(out.Visits, v)
		return nil
	}); err != nil {
		return nil, err
	}

	// Reasons of the first visits terminated (the same list of reasons
	// grouped; split here).
	first, last := periods[0].From, periods[len(periods)-1].To
	rows, err = db.query(ctx, `SELECT t.institution, t.reasons, COUNT(*) FROM terminations t JOIN appointments a ON a.id = t.visit_id
		WHERE t.kind = 'first_visit' AND a.day >= $2 AND a.day <= $3 AND ($1 = '' OR a.institution = $1)
		GROUP BY t.institution, t.reasons`, q.Institution, first, last)
	if err != nil {
		return nil, err
	}
	if out.TerminationReasons, err = reasonRows(rows, func(s string) []string {
		var list []string
		json.Unmarshal([]byte(s), &list)
		return list
	}); err != nil {
		return nil, err
	}

	// Prescriptions reviewed and rejected, on their visit's day.
	rows, err = db.adhoc(ctx, with+`
		SELECT pr.institution, p.idx, COUNT(*), SUM(CASE WHEN pr.status = 'rejected' THEN 1 ELSE 0 END)
		FROM prescriptions pr JOIN appointments a ON a.id = pr.visit_id JOIN p ON a.day >= p.lo AND a.day <= p.hi
		WHERE pr.reviewed_at <> 0 AND ($1 = '' OR pr.institution = $1)
		GROUP BY pr.institution, p.idx`, args...)
	if err != nil {
		return nil, err
	}
	if err := scanAll(rows, func(r *sql.Rows) error {
		var v oversight.ReviewRow
		if err := r.Scan(&v.Institution, &v.Period, &v.Reviewed, &v.Rejected); err != nil {
			return err
		}
		out.Reviews = append(out.Reviews, v)
		return nil
	}); err != nil {
		return nil, err
	}
	rows, err = db.query(ctx, `SELECT pr.institution, pr.review, COUNT(*) FROM prescriptions pr JOIN appointments a ON a.id = pr.visit_id
		WHERE pr.status = 'rejected' AND a.day >= $2 AND a.day <= $3 AND ($1 = '' OR pr.institution = $1)
		GROUP BY pr.institution, pr.review`, q.Institution, first, last)
	if err != nil {
		return nil, err
	}
	if out.RejectionReasons, err = reasonRows(rows, func(s string) []string {
		var rv rxReview
		json.Unmarshal([]byte(s), &rv)
		return rv.Reasons
	}); err != nil {
		return nil, err
	}

	// Waiting (from the waiting room, or the check-in, to the call-in) and
	// talk (from the call-in to the end) times, in seconds.
	if out.Waits, err = db.percentiles(ctx, with, args, `(v.started_at - CASE WHEN v.waiting_since <> 0 THEN v.waiting_since ELSE v.checked_in_at END) / 1000000`,
		`v.started_at <> 0 AND (v.waiting_since <> 0 OR v.checked_in_at <> 0)
		AND v.started_at >= CASE WHEN v.waiting_since <> 0 THEN v.waiting_since ELSE v.checked_in_at END`); err != nil {
		return nil, err
	}
	if out.Talks, err = db.percentiles(ctx, with, args, `(v.ended_at - v.started_at) / 1000000`,
		`v.started_at <> 0 AND v.ended_at >= v.started_at AND v.state IN ('completed', 'terminated')`); err != nil {
		return nil, err
	}

	// Satisfaction, on the rated visit's day.
	rows, err = db.adhoc(ctx, with+`
		SELECT r.institution, p.idx, r.score, COUNT(*)
		FROM visit_ratings r JOIN appointments a ON a.id = r.visit_id JOIN p ON a.day >= p.lo AND a.day <= p.hi
		WHERE ($1 = '' OR r.institution = $1)
		GROUP BY r.institution, p.idx, r.score`, args...)
	if err != nil {
		return nil, err
	}
	if err := scanAll(rows, func(r *sql.Rows) error {
		var v oversight.RatingRow
		if err := r.Scan(&v.Institution, &v.Period, &v.Score, &v.N); err != nil {
			return err
		}
		out.Ratings = append(out.Ratings, v)
		return nil
	}); err != nil {
		return nil, err
	}

	// Complaints and adverse events reported in each period: still open,
	// and past their next step's deadline now.
	nowArg := "$" + strconv.Itoa(len(args)+1)
	rows, err = db.adhoc(ctx, with+`
		SELECT c.institution, c.kind, p.idx, COUNT(*), SUM(CASE WHEN c.state <> 'closed' THEN 1 ELSE 0 END),
			SUM(CASE WHEN c.due_at <> 0 AND c.due_at < `+nowArg+` THEN 1 ELSE 0 END)
		FROM oversight_cases c JOIN p ON c.reported_at >= p.lo_us AND c.reported_at < p.hi_us
		WHERE ($1 = '' OR c.institution = $1)
		GROUP BY c.institution, c.kind, p.idx`, append(args, micros(now))...)
	if err != nil {
		return nil, err
	}
	if err := scanAll(rows, func(r *sql.Rows) error {
		var v oversight.CaseRow
		var kind string
		if err := r.Scan(&v.Institution, &kind, &v.Period, &v.Reported, &v.Open, &v.Overdue); err != nil {
			return err
		}
		v.Kind = oversight.Kind(kind)
		out.Cases = append(out.Cases, v)
		return nil
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// percentiles is the count, median and 90th percentile of expr over the
// visits that match cond, per institution and period, per institution
// over the range (period -1), over every institution per period
// (institution "") and over everything: each row of s is counted in its
// four groups.
func (db *DB) percentiles(ctx context.Context, with string, args []any, expr, cond string) ([]oversight.PercentileRow, error) {
	rows, err := db.adhoc(ctx, with+`,
		s (inst, idx, secs) AS (
			SELECT a.institution, p.idx, `+expr+` FROM visits v JOIN appointments a ON a.id = v.appointment_id
			JOIN p ON a.day >= p.lo AND a.day <= p.hi
			WHERE `+cond+` AND a.status = 'booked' AND ($1 = '' OR a.institution = $1)),
		g (inst, idx, secs) AS (
			SELECT inst, idx, secs FROM s UNION ALL SELECT inst, -1, secs FROM s
			UNION ALL SELECT '', idx, secs FROM s UNION ALL SELECT '', -1, secs FROM s),
		r (inst, idx, secs, rn, n) AS (
			SELECT inst, idx, secs, ROW_NUMBER() OVER (PARTITION BY inst, idx ORDER BY secs), COUNT(*) OVER (PARTITION BY inst, idx) FROM g)
		SELECT inst, idx, MAX(n), MIN(CASE WHEN rn * 100 >= n * 50 THEN secs END), MIN(CASE WHEN rn * 100 >= n * 90 THEN secs END)
		FROM r GROUP BY inst, idx`, args...)
	if err != nil {
		return nil, err
	}
	var out []oversight.PercentileRow
	err = scanAll(rows, func(r *sql.Rows) error {
		var v oversight.PercentileRow
		if err := r.Scan(&v.Institution, &v.Period, &v.N, &v.P50, &v.P90); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

func scanAll(rows *sql.Rows, each func(*sql.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func reasonRows(rows *sql.Rows, split func(string) []string) ([]oversight.ReasonRow, error) {
	var out []oversight.ReasonRow
	err := scanAll(rows, func(r *sql.Rows) error {
		var v oversight.ReasonRow
		var s string
		if err := r.Scan(&v.Institution, &s, &v.N); err != nil {
			return err
		}
		v.Reasons = split(s)
		out = append(out, v)
		return nil
	})
	return out, err
}

// PrescribingByDoctor is N-15's per-doctor figures of the range's visits.
func (db *DB) PrescribingByDoctor(ctx context.Context, q oversight.DashboardQuery) ([]oversight.DoctorFigures, error) {
	rows, err := db.query(ctx, `SELECT pr.institution, pr.doctor_id, COALESCE(pt.name, ''), COUNT(*),
			SUM(CASE WHEN pr.status IN ('approved', 'dispensed') THEN 1 ELSE 0 END), SUM(CASE WHEN pr.status = 'rejected' THEN 1 ELSE 0 END),
			CAST(SUM(CASE WHEN pr.status IN ('approved', 'dispensed') THEN pr.total_fen ELSE 0 END) AS BIGINT)
		FROM prescriptions pr JOIN appointments a ON a.id = pr.visit_id LEFT JOIN practitioners pt ON pt.id = pr.doctor_id
		WHERE a.day >= $2 AND a.day <= $3 AND ($1 = '' OR pr.institution = $1)
		GROUP BY pr.institution, pr.doctor_id, pt.name ORDER BY pr.institution, pr.doctor_id`, q.Institution, q.From, q.To)
	if err != nil {
		return nil, err
	}
	out := []oversight.DoctorFigures{}
	err = scanAll(rows, func(r *sql.Rows) error {
		var d oversight.DoctorFigures
		if err := r.Scan(&d.Institution, &d.DoctorID, &d.DoctorName, &d.Prescriptions, &d.Approved, &d.Rejected, &d.TotalFen); err != nil {
			return err
		}
		if reviewed := d.Approved + d.Rejected; reviewed > 0 {
			d.RejectionRate = float64(int(float64(d.Rejected)/float64(reviewed)*10000+0.5)) / 10000
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

// NotableVisits are the range's terminated visits and those with a
// rejected prescription, newest first.
func (db *DB) NotableVisits(ctx context.Context, q oversight.DashboardQuery, limit int) ([]oversight.VisitRef, error) {
	rows, err := db.query(ctx, `SELECT a.id, a.institution, a.department, a.kind, a.day, COALESCE(v.state, a.status),
			(SELECT COUNT(*) FROM prescriptions pr WHERE pr.visit_id = a.id AND pr.status = 'rejected') AS rejected
		FROM appointments a LEFT JOIN visits v ON v.appointment_id = a.id
		WHERE a.day >= $2 AND a.day <= $3 AND ($1 = '' OR a.institution = $1)
			AND (v.state = 'terminated' OR EXISTS (SELECT 1 FROM prescriptions pr WHERE pr.visit_id = a.id AND pr.status = 'rejected'))
		ORDER BY a.day DESC, a.id DESC LIMIT $4`, q.Institution, q.From, q.To, limit)
	if err != nil {
		return nil, err
	}
	out := []oversight.VisitRef{}
	err = scanAll(rows, func(r *sql.Rows) error {
		var v oversight.VisitRef
		if err := r.Scan(&v.ID, &v.Institution, &v.Department, &v.Kind, &v.Day, &v.State, &v.Rejected); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// VisitChat counts a visit's messages by sender and kind, with the first
// and last times and the number of pre-consultation files; no text.
func (db *DB) VisitChat(ctx context.Context, visitID int64) (*oversight.ChatMeta, error) {
	rows, err := db.query(ctx, `SELECT sender_role, kind, COUNT(*), MIN(created_at), MAX(created_at) FROM messages WHERE visit_id = $1
		GROUP BY sender_role, kind ORDER BY sender_role, kind`, visitID)
	if err != nil {
		return nil, err
	}
	out := &oversight.ChatMeta{ByKind: []oversight.ChatCount{}}
	var first, last int64
	err = scanAll(rows, func(r *sql.Rows) error {
		var c oversight.ChatCount
		var lo, hi int64
		if err := r.Scan(&c.Sender, &c.Kind, &c.N, &lo, &hi); err != nil {
			return err
		}
		out.Messages += c.N
		if first == 0 || lo < first {
			first = lo
		}
		last = max(last, hi)
		out.ByKind = append(out.ByKind, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.First, out.Last = fromMicros(first), fromMicros(last)
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM attachments WHERE visit_id = $1`, visitID).Scan(&out.Attachments)
	return out, err
}
