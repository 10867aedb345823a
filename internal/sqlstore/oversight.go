package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/oversight"
	"github.com/yunyi-health/yunyi/internal/supervision"
)

var _ oversight.Store = (*DB)(nil)

func (db *DB) OversightCategories(ctx context.Context) (oversight.Categories, error) {
	rows, err := db.query(ctx, `SELECT list, code, name, name_en, position FROM oversight_categories ORDER BY list, position, code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out oversight.Categories
	for rows.Next() {
		var c oversight.Category
		if err := rows.Scan(&c.List, &c.Code, &c.Name, &c.NameEN, &c.Position); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (db *DB) OversightDeadlines(ctx context.Context) ([]oversight.Deadline, error) {
	rows, err := db.query(ctx, `SELECT kind, category, severity, step, amount, unit FROM oversight_deadlines ORDER BY kind, step, category, severity`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []oversight.Deadline{}
	for rows.Next() {
		var d oversight.Deadline
		var kind, step string
		if err := rows.Scan(&kind, &d.Category, &d.Severity, &step, &d.Within, &d.Unit); err != nil {
			return nil, err
		}
		d.Kind, d.Step = oversight.Kind(kind), oversight.State(step)
		out = append(out, d)
	}
	return out, rows.Err()
}

// commitWith writes a change's notices and audit entry in its transaction.
func (db *DB) commitWith(ctx context.Context, tx *sql.Tx, notes []notify.Notification, e *audit.Entry) error {
	for i := range notes {
		if err := insertNotice(ctx, tx, &notes[i]); err != nil {
			return err
		}
	}
	if e != nil {
		return db.appendAuditTx(ctx, tx, []*audit.Entry{e})
	}
	return nil
}

const caseCols = `id, kind, institution, visit_id, patient_id, reporter_id, reporter_role, category, severity, text, state, reported_at,
	triaged_at, investigating_at, closed_at, triage_note, investigation_note, findings, handler_id, triage_due, investigate_due, close_due, alerted_state`

func scanCase(row interface{ Scan(...any) error }) (*oversight.Case, error) {
	var c oversight.Case
	var kind, state, alerted string
	var reported, triaged, investigating, closed, tDue, iDue, cDue int64
	if err := row.Scan(&c.ID, &kind, &c.Institution, &c.VisitID, &c.PatientID, &c.ReporterID, &c.ReporterRole, &c.Category, &c.Severity, &c.Text,
		&state, &reported, &triaged, &investigating, &closed, &c.TriageNote, &c.InvestigationNote, &c.Findings, &c.HandlerID, &tDue, &iDue, &cDue,
		&alerted); err != nil {
		return nil, notFound(err)
	}
	c.Kind, c.State, c.AlertedState = oversight.Kind(kind), oversight.State(state), oversight.State(alerted)
	c.ReportedAt, c.TriagedAt, c.InvestigatingAt, c.ClosedAt = fromMicros(reported), fromMicros(triaged), fromMicros(investigating), fromMicros(closed)
	c.Due = map[oversight.State]time.Time{oversight.Triaged: fromMicros(tDue), oversight.Investigating: fromMicros(iDue), oversight.Closed: fromMicros(cDue)}
	return &c, nil
}

func (db *DB) CreateCase(ctx context.Context, c *oversight.Case, notes []notify.Notification, e *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO oversight_cases (kind, institution, visit_id, patient_id, reporter_id, reporter_role, category, severity,
			text, state, reported_at, triage_due, investigate_due, close_due, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			RETURNING id`, string(c.Kind), c.Institution, c.VisitID, c.PatientID, c.ReporterID, c.ReporterRole, c.Category, c.Severity, c.Text, string(c.State),
			micros(c.ReportedAt), micros(c.Due[oversight.Triaged]), micros(c.Due[oversight.Investigating]), micros(c.Due[oversight.Closed]),
			micros(c.NextDue())).Scan(&c.ID)
		if isForeignKey(err) {
			var f errs.Fields
			f.Add("institution", "not_found")
			return f.Err()
		}
		if err != nil {
			return err
		}
		if e != nil {
			e.ObjectID = strconv.FormatInt(c.ID, 10)
		}
		for i := range notes {
			notes[i].Ref = string(c.Kind) + "/" + strconv.FormatInt(c.ID, 10)
		}
		if err := db.commitWith(ctx, tx, notes, e); err != nil {
			return err
		}
		kind := supervision.ComplaintFiled
		if c.Kind == oversight.KindAdverseEvent {
			kind = supervision.AdverseEventReported
		}
		return db.emit(ctx, tx, caseEvent(c, kind, c.ReportedAt))
	})
}

// caseEvent is a complaint's or adverse event's event for the supervision
// feed: its category, severity and state, never its text.
func caseEvent(c *oversight.Case, kind supervision.Kind, at time.Time) feed {
	return feed{Event: supervision.Event{Institution: c.Institution, Kind: kind, OccurredAt: at, Visit: c.VisitID, Category: c.Category,
		Severity: c.Severity, Outcome: string(c.State), Ref: string(c.Kind) + "/" + strconv.FormatInt(c.ID, 10)}, PatientID: c.PatientID}
}

func (db *DB) Case(ctx context.Context, id int64) (*oversight.Case, error) {
	return scanCase(db.QueryRowContext(ctx, `SELECT `+caseCols+` FROM oversight_cases WHERE id = $1`, id))
}

func (db *DB) Cases(ctx context.Context, f oversight.Filter) ([]oversight.Case, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Kind != "" {
		where = append(where, "kind = "+arg(string(f.Kind)))
	}
	if f.Institution != "" {
		where = append(where, "institution = "+arg(f.Institution))
	}
	if f.Account != 0 {
		a := arg(f.Account)
		if f.ByPatient {
			where = append(where, "(reporter_id = "+a+" OR (patient_id <> 0 AND patient_id IN (SELECT patient_id FROM account_patients WHERE account_id = "+a+")))")
		} else {
			where = append(where, "reporter_id = "+a)
		}
	}
	if f.State != "" {
		where = append(where, "state = "+arg(string(f.State)))
	}
	if !f.OverdueAt.IsZero() {
		where = append(where, "due_at <> 0 AND due_at < "+arg(micros(f.OverdueAt)))
	}
	q := `SELECT ` + caseCols + ` FROM oversight_cases`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 200
	}
	q += ` ORDER BY id DESC LIMIT ` + arg(limit)
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collectCases(rows)
}

func collectCases(rows *sql.Rows) ([]oversight.Case, error) {
	defer rows.Close()
	out := []oversight.Case{}
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

func (db *DB) StepCase(ctx context.Context, c *oversight.Case, from oversight.State, notes []notify.Notification, e *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oversight_cases SET state = $3, triaged_at = $4, investigating_at = $5, closed_at = $6, triage_note = $7,
			investigation_note = $8, findings = $9, handler_id = $10, due_at = $11 WHERE id = $1 AND state = $2`, c.ID, string(from), string(c.State),
			micros(c.TriagedAt), micros(c.InvestigatingAt), micros(c.ClosedAt), c.TriageNote, c.InvestigationNote, c.Findings, c.HandlerID, micros(c.NextDue()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return oversight.IllegalStep(string(from), string(c.State)) // another step came first
		}
		if err := db.commitWith(ctx, tx, notes, e); err != nil {
			return err
		}
		kind, at := supervision.ComplaintStepped, c.TriagedAt
		if c.Kind == oversight.KindAdverseEvent {
			kind = supervision.AdverseEventStepped
		}
		switch c.State {
		case oversight.Investigating:
			at = c.InvestigatingAt
		case oversight.Closed:
			at = c.ClosedAt
		}
		return db.emit(ctx, tx, caseEvent(c, kind, at))
	})
}

func (db *DB) OverdueCases(ctx context.Context, now time.Time) ([]oversight.Case, error) {
	var out []oversight.Case
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE oversight_cases SET alerted_state = state WHERE due_at <> 0 AND due_at < $1 AND alerted_state <> state
			RETURNING `+caseCols, micros(now))
		if err != nil {
			return err
		}
		out, err = collectCases(rows)
		return err
	})
	return out, err
}

// --- ratings ---

func (db *DB) AddRating(ctx context.Context, r *oversight.Rating, e *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO visit_ratings (visit_id, institution, doctor_id, patient_id, account_id, score, comment, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.VisitID, r.Institution, r.DoctorID, r.PatientID, r.AccountID, r.Score, r.Comment, micros(r.CreatedAt))
		if u, _ := isUnique(err); u {
			return errs.E(oversight.CodeAlreadyRated)
		}
		if err != nil {
			return err
		}
		if err := db.commitWith(ctx, tx, nil, e); err != nil {
			return err
		}
		return db.emit(ctx, tx, feed{Event: supervision.Event{Institution: r.Institution, Kind: supervision.RatingGiven, OccurredAt: r.CreatedAt,
			Visit: r.VisitID, Practitioner: r.DoctorID, Score: r.Score}, PatientID: r.PatientID})
	})
}

func (db *DB) Rating(ctx context.Context, visitID int64) (*oversight.Rating, error) {
	var r oversight.Rating
	var created int64
	err := db.QueryRowContext(ctx, `SELECT visit_id, institution, doctor_id, patient_id, account_id, score, comment, created_at FROM visit_ratings
		WHERE visit_id = $1`, visitID).Scan(&r.VisitID, &r.Institution, &r.DoctorID, &r.PatientID, &r.AccountID, &r.Score, &r.Comment, &created)
	if err != nil {
		return nil, notFound(err)
	}
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

func (db *DB) RatingSummaries(ctx context.Context, institution string) ([]oversight.RatingSummary, error) {
	rows, err := db.query(ctx, `SELECT institution, score, COUNT(*) FROM visit_ratings WHERE ($1 = '' OR institution = $1)
		GROUP BY institution, score ORDER BY institution, score`, institution)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []oversight.RatingSummary{}
	for rows.Next() {
		var inst string
		var score, n int
		if err := rows.Scan(&inst, &score, &n); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Institution != inst {
			out = append(out, oversight.RatingSummary{Institution: inst})
		}
		s := &out[len(out)-1]
		if score >= 1 && score <= 5 {
			s.ByScore[score-1] += n
		}
	}
	for i := range out {
		s := &out[i]
		sum := 0
		for k, n := range s.ByScore {
			s.Count += n
			sum += (k + 1) * n
		}
		if s.Count > 0 {
			s.Average = float64(int(float64(sum)/float64(s.Count)*100+0.5)) / 100
		}
	}
	return out, rows.Err()
}

// --- rectification orders ---

const rectCols = `id, institution, inspected_on, findings, deadline_date, deadline_at, state, round_no, issued_by, issued_at, suspended_at,
	suspension_reason, alerted_round`

func scanRect(row interface{ Scan(...any) error }) (*oversight.Rectification, error) {
	var r oversight.Rectification
	var state string
	var deadline, issued, suspended int64
	if err := row.Scan(&r.ID, &r.Institution, &r.InspectedOn, &r.Findings, &r.DeadlineDate, &deadline, &state, &r.Round, &r.IssuedBy, &issued,
		&suspended, &r.SuspensionReason, &r.AlertedRound); err != nil {
		return nil, notFound(err)
	}
	r.State = oversight.RectState(state)
	r.Deadline, r.IssuedAt, r.SuspendedAt = fromMicros(deadline), fromMicros(issued), fromMicros(suspended)
	return &r, nil
}

func insertEvent(ctx context.Context, tx *sql.Tx, ev *oversight.Event) error {
	return tx.QueryRowContext(ctx, `INSERT INTO rectification_events (rectification_id, kind, text, deadline, late, actor_id, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, ev.RectificationID, ev.Kind, ev.Text, ev.Deadline, ev.Late, ev.ActorID, micros(ev.At)).Scan(&ev.ID)
}

func (db *DB) CreateRectification(ctx context.Context, r *oversight.Rectification, notes []notify.Notification, e *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO rectifications (institution, inspected_on, findings, deadline_date, deadline_at, state, round_no,
			issued_by, issued_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, r.Institution, r.InspectedOn, r.Findings, r.DeadlineDate,
			micros(r.Deadline), string(r.State), r.Round, r.IssuedBy, micros(r.IssuedAt)).Scan(&r.ID)
		if isForeignKey(err) {
			var f errs.Fields
			f.Add("institution", "not_found")
			return f.Err()
		}
		if err != nil {
			return err
		}
		for i := range r.Events {
			r.Events[i].RectificationID = r.ID
			if err := insertEvent(ctx, tx, &r.Events[i]); err != nil {
				return err
			}
		}
		if e != nil {
			e.ObjectID = strconv.FormatInt(r.ID, 10)
		}
		for i := range notes {
			notes[i].Ref = "rectification/" + strconv.FormatInt(r.ID, 10)
		}
		return db.commitWith(ctx, tx, notes, e)
	})
}

func (db *DB) Rectification(ctx context.Context, id int64) (*oversight.Rectification, error) {
	r, err := scanRect(db.QueryRowContext(ctx, `SELECT `+rectCols+` FROM rectifications WHERE id = $1`, id))
	if err != nil {
		return nil, err
	}
	rows, err := db.query(ctx, `SELECT id, rectification_id, kind, text, deadline, late, actor_id, at FROM rectification_events
		WHERE rectification_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r.Events = []oversight.Event{}
	for rows.Next() {
		var ev oversight.Event
		var at int64
		if err := rows.Scan(&ev.ID, &ev.RectificationID, &ev.Kind, &ev.Text, &ev.Deadline, &ev.Late, &ev.ActorID, &at); err != nil {
			return nil, err
		}
		ev.At = fromMicros(at)
		r.Events = append(r.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if r.Files, err = db.rectFiles(ctx, `rectification_id = $1`, id); err != nil {
		return nil, err
	}
	for i := range r.Events {
		for _, f := range r.Files {
			if f.EventID == r.Events[i].ID {
				r.Events[i].Files = append(r.Events[i].Files, f)
			}
		}
	}
	return r, nil
}

const fileCols = `id, rectification_id, event_id, name, content_type, size, sha256, blob_key, uploaded_by, created_at`

func (db *DB) rectFiles(ctx context.Context, where string, args ...any) ([]oversight.File, error) {
	rows, err := db.query(ctx, `SELECT `+fileCols+` FROM rectification_files WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []oversight.File{}
	for rows.Next() {
		var f oversight.File
		var created int64
		if err := rows.Scan(&f.ID, &f.RectificationID, &f.EventID, &f.Name, &f.ContentType, &f.Size, &f.SHA256, &f.BlobKey, &f.UploadedBy, &created); err != nil {
			return nil, err
		}
		f.CreatedAt = fromMicros(created)
		out = append(out, f)
	}
	return out, rows.Err()
}

func (db *DB) Rectifications(ctx context.Context, f oversight.RectFilter) ([]oversight.Rectification, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Institution != "" {
		where = append(where, "institution = "+arg(f.Institution))
	}
	if !f.OverdueAt.IsZero() {
		where = append(where, "state IN ('issued', 'reopened') AND deadline_at < "+arg(micros(f.OverdueAt)))
	}
	q := `SELECT ` + rectCols + ` FROM rectifications`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 200
	}
	q += ` ORDER BY id DESC LIMIT ` + arg(limit)
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRect)
}

func (db *DB) AddRectificationFile(ctx context.Context, f *oversight.File) error {
	return db.w.QueryRowContext(ctx, `INSERT INTO rectification_files (rectification_id, name, content_type, size, sha256, blob_key, uploaded_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, f.RectificationID, f.Name, f.ContentType, f.Size, f.SHA256, f.BlobKey, f.UploadedBy,
		micros(f.CreatedAt)).Scan(&f.ID)
}

func (db *DB) RectificationFile(ctx context.Context, rectID, fileID int64) (*oversight.File, error) {
	fs, err := db.rectFiles(ctx, `rectification_id = $1 AND id = $2`, rectID, fileID)
	if err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, errs.E(errs.NotFound)
	}
	return &fs[0], nil
}

func (db *DB) StepRectification(ctx context.Context, r *oversight.Rectification, from oversight.RectState, ev *oversight.Event, fileIDs []int64,
	notes []notify.Notification, e *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE rectifications SET state = $3, round_no = $4, deadline_date = $5, deadline_at = $6, suspended_at = $7,
			suspension_reason = $8 WHERE id = $1 AND state = $2`, r.ID, string(from), string(r.State), r.Round, r.DeadlineDate, micros(r.Deadline),
			micros(r.SuspendedAt), r.SuspensionReason)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return oversight.IllegalStep(string(from), string(r.State))
		}
		ev.RectificationID = r.ID
		if err := insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		for _, id := range fileIDs {
			res, err := tx.ExecContext(ctx, `UPDATE rectification_files SET event_id = $3 WHERE id = $2 AND rectification_id = $1 AND event_id = 0`, r.ID, id, ev.ID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				var f errs.Fields
				f.Add("files", "not_found")
				return f.Err()
			}
		}
		return db.commitWith(ctx, tx, notes, e)
	})
}

func (db *DB) OverdueRectifications(ctx context.Context, now time.Time) ([]oversight.Rectification, error) {
	var out []oversight.Rectification
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE rectifications SET alerted_round = round_no WHERE state IN ('issued', 'reopened') AND deadline_at < $1
			AND alerted_round < round_no RETURNING `+rectCols, micros(now))
		if err != nil {
			return err
		}
		out, err = collect(rows, scanRect)
		return err
	})
	return out, err
}

func (db *DB) StaffAccounts(ctx context.Context, institution string, roles ...string) ([]int64, error) {
	q, args := staffQuery(institution, roles)
	if q == "" {
		return nil, nil
	}
	return db.IDs(ctx, q, args...)
}

// staffQuery selects the enabled accounts of some roles, of one
// institution ("" for all): the one query behind StaffAccounts,
// InstitutionAdmins and a re-validation's reminders.
func staffQuery(institution string, roles []string) (string, []any) {
	if len(roles) == 0 {
		return "", nil
	}
	args := []any{institution}
	var in []string
	for _, r := range roles {
		args = append(args, r)
		in = append(in, "$"+strconv.Itoa(len(args)))
	}
	return `SELECT id FROM accounts WHERE ($1 = '' OR institution = $1) AND role IN (` + strings.Join(in, ", ") + `) AND NOT disabled ORDER BY id`, args
}
