package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/retention"
	"github.com/yunyi-health/yunyi/internal/supervision"
	"github.com/yunyi-health/yunyi/internal/visit"
)

var _ visit.Store = (*DB)(nil)

// collect scans every row with scan, closing the rows.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (*T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// visitCols reads a visit from its appointment; a visit without a row is
// booked (or cancelled with its appointment).
const visitCols = `a.id, CASE WHEN a.status IN ('cancelled', 'expired') THEN 'cancelled' WHEN a.status = 'held' THEN 'held' ELSE COALESCE(v.state, 'booked') END,
	a.patient_id, COALESCE(pt.name, ''), a.account_id, a.institution, a.department, a.service, COALESCE(sv.name, ''), a.kind, s.starts_at,
	s.practitioner_id, COALESCE(p.name, ''), COALESCE(p.account_id, 0),
	COALESCE(NULLIF(v.questionnaire, ''), COALESCE(sv.questionnaire, '')), COALESCE(v.answers, '{}'),
	COALESCE(v.checked_in_at, 0), COALESCE(v.waiting_since, 0), COALESCE(v.started_at, 0), COALESCE(v.ended_at, 0),
	COALESCE(v.call_started_at, 0), COALESCE(v.call_ended_at, 0), COALESCE(v.call_seconds, 0), COALESCE(v.refund_due, FALSE),
	a.slot_id, a.number, s.delay_us, COALESCE(sv.visit_minutes, 0), COALESCE(sv.late_notice_minutes, 0),
	COALESCE(v.calls, 0), COALESCE(v.line_after, 0), COALESCE(v.skipped_at, 0)`

const visitFrom = ` FROM appointments a JOIN slots s ON s.id = a.slot_id LEFT JOIN practitioners p ON p.id = s.practitioner_id
	LEFT JOIN patients pt ON pt.id = a.patient_id LEFT JOIN services sv ON sv.code = a.service
	LEFT JOIN visits v ON v.appointment_id = a.id`

func scanVisit(row interface{ Scan(...any) error }) (*visit.Visit, error) {
	var v visit.Visit
	var state, kind, answers string
	var start, ci, ws, st, en, cs, ce, delay, skipped int64
	var visitMinutes, lateMinutes int
	if err := row.Scan(&v.ID, &state, &v.PatientID, &v.PatientName, &v.AccountID, &v.Institution, &v.Department, &v.Service, &v.ServiceName,
		&kind, &start, &v.DoctorID, &v.DoctorName, &v.DoctorAccountID, &v.Questionnaire, &answers,
		&ci, &ws, &st, &en, &cs, &ce, &v.CallSeconds, &v.RefundDue,
		&v.SlotID, &v.Number, &delay, &visitMinutes, &lateMinutes, &v.Calls, &v.LineAfter, &skipped); err != nil {
		return nil, notFound(err)
	}
	v.State, v.Kind = visit.State(state), directory.ServiceKind(kind)
	v.Start = fromMicros(start)
	v.CheckedInAt, v.WaitingSince, v.StartedAt, v.EndedAt = fromMicros(ci), fromMicros(ws), fromMicros(st), fromMicros(en)
	v.CallStartedAt, v.CallEndedAt = fromMicros(cs), fromMicros(ce)
	svc := directory.Service{VisitMinutes: visitMinutes, LateNoticeMinutes: lateMinutes}
	v.VisitLength, v.LateNotice, v.Delay = svc.VisitLength(), svc.LateNotice(), time.Duration(delay)*time.Microsecond
	v.SkippedAt = fromMicros(skipped)
	v.SetEstimate()
	v.Answers = map[string]any{}
	json.Unmarshal([]byte(answers), &v.Answers)
	return &v, nil
}

func (db *DB) Visit(ctx context.Context, id int64) (*visit.Visit, error) {
	return scanVisit(db.QueryRowContext(ctx, `SELECT `+visitCols+visitFrom+` WHERE a.id = $1`, id))
}

func visitIn(ctx context.Context, tx *sql.Tx, id int64) (*visit.Visit, error) {
	return scanVisit(tx.QueryRowContext(ctx, `SELECT `+visitCols+visitFrom+` WHERE a.id = $1`, id))
}

// Queue is a doctor's visits of a day, session by session, each in line
// order (by number; see visit.SortLine).
func (db *DB) Queue(ctx context.Context, doctorAccountID int64, day string) ([]visit.Visit, error) {
	rows, err := db.query(ctx, `SELECT `+visitCols+visitFrom+` WHERE p.account_id = $1 AND a.day = $2 AND a.status = 'booked'
		ORDER BY s.starts_at, a.number, a.id`, doctorAccountID, day)
	if err != nil {
		return nil, err
	}
	out, err := collect(rows, scanVisit)
	visit.SortLine(out)
	return out, err
}

// Line is a session's visits in line order.
func (db *DB) Line(ctx context.Context, slotID int64) ([]visit.Visit, error) {
	rows, err := db.query(ctx, `SELECT `+visitCols+visitFrom+` WHERE a.slot_id = $1 AND a.status = 'booked'`, slotID)
	if err != nil {
		return nil, err
	}
	out, err := collect(rows, scanVisit)
	visit.SortLine(out)
	return out, err
}

// Skip moves a visit whose patient missed a call behind the next one
// still to be seen of its session: a compare-and-set on its state and its
// missed calls, so two clicks on one call count once.
func (db *DB) Skip(ctx context.Context, t visit.Transition, calls int, also func(tx visit.Tx) error) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := ensureVisit(ctx, tx, t.VisitID, t.At); err != nil {
			return err
		}
		v, err := visitIn(ctx, tx, t.VisitID)
		if err != nil {
			return err
		}
		if _, err := visit.Next(v.State, visit.ActSkip); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+visitCols+visitFrom+` WHERE a.slot_id = $1 AND a.status = 'booked'`, v.SlotID)
		if err != nil {
			return err
		}
		line, err := collect(rows, scanVisit)
		if err != nil {
			return err
		}
		visit.SortLine(line)
		place, _ := visit.Behind(line, v.ID) // 0: none follows, it stays
		res, err := tx.ExecContext(ctx, `UPDATE visits SET calls = calls + 1, updated_at = $3,
			line_after = CASE WHEN $4 > 0 THEN $4 ELSE line_after END, skipped_at = CASE WHEN $4 > 0 THEN $3 ELSE skipped_at END
			WHERE appointment_id = $1 AND calls = $2 AND state IN `+inStates(visit.From(visit.ActSkip)), t.VisitID, calls, micros(t.At), place)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return visit.Illegal(visit.ActSkip, v.State)
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO visit_steps (visit_id, action, from_state, to_state, by_account, at) VALUES ($1, $2, $3, $3, $4, $5)`,
			t.VisitID, string(visit.ActSkip), string(v.State), t.By, micros(t.At)); err != nil {
			return err
		}
		if also != nil {
			return also(visitTx{ctx: ctx, tx: tx, now: t.At})
		}
		return nil
	})
}

// ensureVisit makes the row of a booked appointment's visit.
func ensureVisit(ctx context.Context, tx *sql.Tx, id int64, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO visits (appointment_id, state, updated_at)
		SELECT id, 'booked', $2 FROM appointments WHERE id = $1 AND status = 'booked'
		ON CONFLICT (appointment_id) DO NOTHING`, id, micros(at))
	return err
}

var stepColumn = map[visit.Action]string{
	visit.ActCheckIn: "checked_in_at", visit.ActWait: "waiting_since", visit.ActStart: "started_at",
	visit.ActComplete: "ended_at", visit.ActTerminate: "ended_at", visit.ActNoShow: "ended_at", visit.ActCancel: "ended_at",
}

func inStates(states []visit.State) string {
	q := make([]string, len(states))
	for i, s := range states {
		q[i] = "'" + string(s) + "'"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// step applies a transition inside tx: a compare-and-set on the state.
func step(ctx context.Context, tx *sql.Tx, t visit.Transition, extra string) error {
	if err := ensureVisit(ctx, tx, t.VisitID, t.At); err != nil {
		return err
	}
	from := visit.From(t.Action)
	var prev string
	err := tx.QueryRowContext(ctx, `SELECT v.state FROM visits v JOIN appointments a ON a.id = v.appointment_id
		WHERE v.appointment_id = $1 AND a.status = 'booked'`, t.VisitID).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		cur, lerr := visitIn(ctx, tx, t.VisitID)
		if lerr != nil {
			return lerr
		}
		return visit.Illegal(t.Action, cur.State)
	}
	if err != nil {
		return err
	}
	guard := ""
	if t.Action == visit.ActNoShow { // see visit.NoShowAllowed
		guard = fmt.Sprintf(" AND (state <> 'waiting' OR calls >= %d)", visit.CallsBeforeNoShow-1)
	}
	res, err := tx.ExecContext(ctx, `UPDATE visits SET state = $2, `+stepColumn[t.Action]+` = $3, updated_at = $3`+extra+`
		WHERE appointment_id = $1 AND state IN `+inStates(from)+guard, t.VisitID, string(t.To), micros(t.At))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return visit.Illegal(t.Action, visit.State(prev))
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO visit_steps (visit_id, action, from_state, to_state, by_account, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.VisitID, string(t.Action), prev, string(t.To), t.By, micros(t.At))
	return err
}

type visitTx struct {
	ctx context.Context
	tx  *sql.Tx
	now time.Time
}

func (x visitTx) SignRecord(r *visit.Record) error {
	body, _ := json.Marshal(recordBody(r))
	r.Version, r.SignedAt = 1, x.now
	_, err := x.tx.ExecContext(x.ctx, `INSERT INTO records (visit_id, version, body, author_id, signed_at, updated_at) VALUES ($1, 1, $2, $3, $4, $4)`,
		r.VisitID, string(body), r.AuthorID, micros(x.now))
	return err
}

func (x visitTx) SaveTermination(t *visit.Termination) error {
	reasons, _ := json.Marshal(t.Reasons)
	_, err := x.tx.ExecContext(x.ctx, `INSERT INTO terminations (visit_id, institution, department, kind, doctor_id, reasons, note,
		ref_department, urgency, advice, by_account, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		t.VisitID, t.Institution, t.Department, t.Kind, t.DoctorID, string(reasons), t.Note, t.Referral.Department, t.Referral.Urgency,
		t.Referral.Advice, t.By, micros(t.At))
	if err != nil {
		return err
	}
	_, err = x.tx.ExecContext(x.ctx, `UPDATE visits SET refund_due = TRUE WHERE appointment_id = $1`, t.VisitID)
	return err
}

func (x visitTx) Notify(n *notify.Notification) error { return insertNotice(x.ctx, x.tx, n) }

// RunLate sets the session's delay; with tell, one statement marks the
// visits still to be seen whose families were not told yet (late_noticed
// 0, a compare-and-set: a second call-in tells nobody twice), which are
// then read with their new times.
func (x visitTx) RunLate(slotID, except int64, delay time.Duration, tell bool) ([]visit.Visit, error) {
	if _, err := x.tx.ExecContext(x.ctx, `UPDATE slots SET delay_us = $2 WHERE id = $1`, slotID, delay.Microseconds()); err != nil {
		return nil, err
	}
	if !tell {
		return nil, nil
	}
	rows, err := x.tx.QueryContext(x.ctx, `UPDATE appointments SET late_noticed = $3
		WHERE slot_id = $1 AND id <> $2 AND status = 'booked' AND late_noticed = 0
		AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.appointment_id = appointments.id AND v.state NOT IN `+inStates(visit.From(visit.ActSkip))+`)
		RETURNING id`, slotID, except, micros(x.now))
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	out := make([]visit.Visit, 0, len(ids))
	for _, id := range ids {
		v, err := visitIn(x.ctx, x.tx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, nil
}

func (db *DB) Step(ctx context.Context, t visit.Transition, also func(tx visit.Tx) error) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		extra := ""
		if t.Action == visit.ActComplete || t.Action == visit.ActTerminate {
			// A call still open ends with the visit.
			extra = `, call_seconds = call_seconds + CASE WHEN call_started_at > call_ended_at THEN ($3 - call_started_at) / 1000000 ELSE 0 END,
				call_ended_at = CASE WHEN call_started_at > call_ended_at THEN $3 ELSE call_ended_at END`
		}
		if err := step(ctx, tx, t, extra); err != nil {
			return err
		}
		if also != nil {
			if err := also(visitTx{ctx: ctx, tx: tx, now: t.At}); err != nil {
				return err
			}
		}
		if t.Action == visit.ActComplete {
			// W-5: a notifiable disease of the signed record is reported.
			if err := db.enqueueCDC(ctx, tx, t.VisitID, t.At); err != nil {
				return err
			}
		}
		return db.emitStep(ctx, tx, t)
	})
}

// stepKinds are the visit steps the supervision feed reports.
var stepKinds = map[visit.Action]supervision.Kind{visit.ActStart: supervision.VisitStarted, visit.ActComplete: supervision.VisitEnded,
	visit.ActNoShow: supervision.VisitNoShow, visit.ActTerminate: supervision.VisitTerminated}

// emitStep reports a visit's start, end, no-show or termination to the
// supervision feed (N-16, N-22), after what the step wrote: the signed
// record's diagnoses, the termination's reasons.
func (db *DB) emitStep(ctx context.Context, tx *sql.Tx, t visit.Transition) error {
	kind, ok := stepKinds[t.Action]
	if !ok {
		return nil
	}
	v, err := visitIn(ctx, tx, t.VisitID)
	if err != nil {
		return err
	}
	ev := feed{Event: supervision.Event{Institution: v.Institution, Kind: kind, OccurredAt: t.At, Visit: v.ID, Practitioner: v.DoctorID,
		Department: v.Department, ServiceKind: string(v.Kind), Outcome: string(t.To)}, PatientID: v.PatientID}
	switch t.Action {
	case visit.ActComplete:
		var body string
		err := tx.QueryRowContext(ctx, `SELECT body FROM records WHERE visit_id = $1 AND version > 0 ORDER BY version DESC LIMIT 1`, v.ID).Scan(&body)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var r recordJSON
		json.Unmarshal([]byte(body), &r)
		for _, d := range r.Diagnoses {
			ev.Diagnoses = append(ev.Diagnoses, d.Code)
		}
	case visit.ActTerminate:
		var reasons string
		err := tx.QueryRowContext(ctx, `SELECT reasons FROM terminations WHERE visit_id = $1`, v.ID).Scan(&reasons)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		json.Unmarshal([]byte(reasons), &ev.Codes)
	}
	return db.emit(ctx, tx, ev)
}

// SaveAnswers stores the pre-consultation while it may change; checkIn,
// when given, also moves a booked visit to checked_in.
func (db *DB) SaveAnswers(ctx context.Context, id int64, questionnaire string, answers map[string]any, checkIn *visit.Transition) error {
	body, err := json.Marshal(answers)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		if checkIn != nil {
			now = checkIn.At
		}
		if err := ensureVisit(ctx, tx, id, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE visits SET answers = $2, questionnaire = $3, updated_at = $4
			WHERE appointment_id = $1 AND state IN ('booked', 'checked_in', 'waiting')
			AND EXISTS (SELECT 1 FROM appointments a WHERE a.id = $1 AND a.status = 'booked')`, id, string(body), questionnaire, micros(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E("visit_locked")
		}
		if checkIn != nil {
			var state string
			if err := tx.QueryRowContext(ctx, `SELECT state FROM visits WHERE appointment_id = $1`, id).Scan(&state); err != nil {
				return err
			}
			if visit.State(state) == visit.Booked {
				return step(ctx, tx, *checkIn, "")
			}
		}
		return nil
	})
}

// --- attachments ---

const attachmentCols = `id, visit_id, purpose, name, content_type, size, sha256, blob_key, uploaded_by, created_at`

func scanAttachment(row interface{ Scan(...any) error }) (*visit.Attachment, error) {
	var a visit.Attachment
	var created int64
	if err := row.Scan(&a.ID, &a.VisitID, &a.Purpose, &a.Name, &a.ContentType, &a.Size, &a.SHA256, &a.BlobKey, &a.UploadedBy, &created); err != nil {
		return nil, notFound(err)
	}
	a.CreatedAt = fromMicros(created)
	return &a, nil
}

// AddAttachment stores an attachment's row if the visit stays within its
// limits (checked in the same transaction): attachment_limit otherwise.
func (db *DB) AddAttachment(ctx context.Context, a *visit.Attachment, maxFiles int, maxTotal int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		var total int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM attachments WHERE visit_id = $1 AND purpose = $2`,
			a.VisitID, a.Purpose).Scan(&n, &total); err != nil {
			return err
		}
		if n+1 > maxFiles {
			return errs.E("attachment_count", maxFiles)
		}
		if total+a.Size > maxTotal {
			return errs.E("attachment_total", maxTotal/(1<<20))
		}
		return tx.QueryRowContext(ctx, `INSERT INTO attachments (visit_id, purpose, name, content_type, size, sha256, blob_key, uploaded_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, a.VisitID, a.Purpose, a.Name, a.ContentType, a.Size, a.SHA256, a.BlobKey,
			a.UploadedBy, micros(a.CreatedAt)).Scan(&a.ID)
	})
}

func (db *DB) Attachments(ctx context.Context, visitID int64) ([]visit.Attachment, error) {
	rows, err := db.query(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE visit_id = $1 ORDER BY id`, visitID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAttachment)
}

func (db *DB) Attachment(ctx context.Context, visitID, id int64) (*visit.Attachment, error) {
	return scanAttachment(db.QueryRowContext(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE visit_id = $1 AND id = $2`, visitID, id))
}

// DeleteAttachment removes a file of a visit: a pre-consultation file
// while the answers may still change (a draft), any other only once its
// record's retention period has ended at now (N-17: a pre-consultation
// file of a started visit is part of the visit record, a chat image of the
// chat; retention.OfAttachment). It returns the row so the caller can
// delete the blob.
func (db *DB) DeleteAttachment(ctx context.Context, visitID, id int64, now time.Time) (*visit.Attachment, error) {
	var out *visit.Attachment
	err := db.tx(ctx, func(tx *sql.Tx) error {
		a, err := scanAttachment(tx.QueryRowContext(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE visit_id = $1 AND id = $2`, visitID, id))
		if err != nil {
			return err
		}
		v, err := visitIn(ctx, tx, visitID)
		if err != nil {
			return err
		}
		if typ, draft := retention.OfAttachment(a.Purpose, v.State.AnswersLocked()); !draft {
			p, err := retentionIn(ctx, tx, typ)
			if err != nil {
				return err
			}
			if err := p.MayDelete(a.CreatedAt, now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM attachments WHERE id = $1`, id); err != nil {
			return err
		}
		out = a
		return nil
	})
	return out, err
}

// --- chat ---

// AppendMessages numbers and writes a batch of messages in one
// transaction: each visit's counter is taken once for its messages of the
// batch (a row lock, so servers sharing the database number one visit's
// messages without gaps or repeats), in batch order. A message whose sender
// already sent its client id is not written again: it gets the stored
// number and Replayed.
//
// On PostgreSQL the transaction commits without waiting for its WAL flush
// (synchronous_commit off, for this transaction only): a slow disk's flush
// stalls (hundreds of milliseconds here) would otherwise hold up every
// conversation. A database crash can lose at most the last few hundred
// milliseconds of chat, never corrupt it; this is what SQLite's
// synchronous=NORMAL in WAL mode gives every write. Records, bookings and
// the audit log keep synchronous commits.
func (db *DB) AppendMessages(ctx context.Context, ms []visit.Message) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if db.Engine == Postgres {
			if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
		}
		if err := markReplays(ctx, tx, ms); err != nil {
			return err
		}
		// Each visit's counter, advanced by its new messages, in one
		// statement (PostgreSQL first locks the rows in id order, so two
		// servers' batches never wait on each other in a cycle).
		count := map[int64]int64{}
		var order []int64
		for _, m := range ms {
			if m.Replayed {
				continue
			}
			if count[m.VisitID] == 0 {
				order = append(order, m.VisitID)
			}
			count[m.VisitID]++
		}
		slices.Sort(order)
		next, err := db.takeChatNumbers(ctx, tx, order, count)
		if err != nil {
			return err
		}
		rows := make([][]any, 0, len(ms))
		for i := range ms {
			m := &ms[i]
			if m.Replayed {
				continue
			}
			m.Seq = next[m.VisitID]
			next[m.VisitID]++
			rows = append(rows, []any{m.VisitID, m.Seq, m.SenderID, string(m.SenderRole), m.Kind, m.Text, m.AttachmentID, m.ClientID, micros(m.CreatedAt)})
		}
		// A repeat inside the batch answers with its first's number.
		type key struct {
			visit, sender int64
			client        string
		}
		firsts := map[key]int64{}
		for _, m := range ms {
			if !m.Replayed && m.ClientID != "" {
				firsts[key{m.VisitID, m.SenderID, m.ClientID}] = m.Seq
			}
		}
		for i := range ms {
			if m := &ms[i]; m.Replayed && m.Seq == 0 {
				m.Seq = firsts[key{m.VisitID, m.SenderID, m.ClientID}]
			}
		}
		for len(rows) > 0 {
			n := min(len(rows), 100)
			if err := db.insertMany(ctx, tx, "messages", "visit_id, seq, sender_id, sender_role, kind, body, attachment_id, client_id, created_at", rows[:n]); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	})
}

// takeChatNumbers advances the counters of the visits by their counts and
// returns the first new number of each.
func (db *DB) takeChatNumbers(ctx context.Context, tx *sql.Tx, visits []int64, count map[int64]int64) (map[int64]int64, error) {
	next := map[int64]int64{}
	if len(visits) == 0 {
		return next, nil
	}
	ids := make([]string, len(visits))
	var args []any
	var sel []string
	for i, v := range visits {
		ids[i] = strconv.FormatInt(v, 10)
		args = append(args, v, count[v])
		sel = append(sel, fmt.Sprintf("SELECT CAST($%d AS BIGINT) AS id, CAST($%d AS BIGINT) AS n", 2*i+1, 2*i+2))
	}
	if db.Engine == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT appointment_id FROM visits WHERE appointment_id IN (`+strings.Join(ids, ",")+`)
			ORDER BY appointment_id FOR UPDATE`); err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, `UPDATE visits SET chat_seq = chat_seq + c.n FROM (`+strings.Join(sel, " UNION ALL ")+`) AS c
		WHERE visits.appointment_id = c.id RETURNING visits.appointment_id, visits.chat_seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("chat numbering: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v, last int64
		if err := rows.Scan(&v, &last); err != nil {
			return nil, err
		}
		next[v] = last - count[v] + 1
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(next) != len(visits) {
		return nil, fmt.Errorf("chat numbering: %d of %d visits found", len(next), len(visits))
	}
	return next, nil
}

// markReplays finds the messages of a batch already stored under their
// sender's client id, in one query by the unique index's leading columns,
// and repeats inside the batch.
func markReplays(ctx context.Context, tx *sql.Tx, ms []visit.Message) error {
	type key struct {
		visit, sender int64
		client        string
	}
	seen := map[key]bool{}
	visits := map[int64]bool{}
	var clients []any
	for i := range ms {
		m := &ms[i]
		m.Replayed = false
		if m.ClientID == "" {
			continue
		}
		k := key{m.VisitID, m.SenderID, m.ClientID}
		if seen[k] {
			m.Replayed = true // a repeat inside the batch: numbered with the first below
			continue
		}
		seen[k] = true
		visits[m.VisitID] = true
		clients = append(clients, m.ClientID)
	}
	if len(clients) == 0 {
		return nil
	}
	var vs []string
	for v := range visits {
		vs = append(vs, strconv.FormatInt(v, 10))
	}
	ph := make([]string, len(clients))
	for i := range clients {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	rows, err := tx.QueryContext(ctx, `SELECT visit_id, sender_id, client_id, seq FROM messages WHERE visit_id IN (`+strings.Join(vs, ",")+`)
		AND client_id IN (`+strings.Join(ph, ",")+`)`, clients...)
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := map[key]int64{}
	for rows.Next() {
		var k key
		var seq int64
		if err := rows.Scan(&k.visit, &k.sender, &k.client, &seq); err != nil {
			return err
		}
		stored[k] = seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range ms {
		m := &ms[i]
		if seq, ok := stored[key{m.VisitID, m.SenderID, m.ClientID}]; ok && m.ClientID != "" {
			m.Seq, m.Replayed = seq, true
		}
	}
	return nil
}

func (db *DB) Messages(ctx context.Context, visitID, after int64, limit int) ([]visit.Message, error) {
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	rows, err := db.query(ctx, `SELECT m.visit_id, m.seq, m.sender_id, m.sender_role, m.kind, m.body, m.attachment_id, m.client_id, m.created_at,
		COALESCE(pr.name, '')
		FROM messages m LEFT JOIN practitioners pr ON pr.account_id = m.sender_id AND m.sender_role = 'doctor'
		WHERE m.visit_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3`, visitID, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []visit.Message{}
	for rows.Next() {
		var m visit.Message
		var role string
		var created int64
		if err := rows.Scan(&m.VisitID, &m.Seq, &m.SenderID, &role, &m.Kind, &m.Text, &m.AttachmentID, &m.ClientID, &created, &m.SenderName); err != nil {
			return nil, err
		}
		m.SenderRole, m.CreatedAt = visit.Party(role), fromMicros(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (db *DB) MarkChatRead(ctx context.Context, visitID, accountID, seq int64) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO chat_reads (visit_id, account_id, seq) VALUES ($1, $2, $3)
		ON CONFLICT (visit_id, account_id) DO UPDATE SET seq = CASE WHEN excluded.seq > chat_reads.seq THEN excluded.seq ELSE chat_reads.seq END`,
		visitID, accountID, seq)
	return err
}

func (db *DB) ChatRead(ctx context.Context, visitID int64) (map[int64]int64, error) {
	rows, err := db.query(ctx, `SELECT account_id, seq FROM chat_reads WHERE visit_id = $1`, visitID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var a, s int64
		if err := rows.Scan(&a, &s); err != nil {
			return nil, err
		}
		out[a] = s
	}
	return out, rows.Err()
}

// CallEvent records a call's start (the first connection) or end: the
// call's seconds add up over reconnections.
func (db *DB) CallEvent(ctx context.Context, visitID int64, started bool, at time.Time) error {
	var q string
	if started {
		q = `UPDATE visits SET call_started_at = $2 WHERE appointment_id = $1 AND state = 'in_progress' AND call_started_at <= call_ended_at`
	} else {
		q = `UPDATE visits SET call_ended_at = $2, call_seconds = call_seconds + ($2 - call_started_at) / 1000000
			WHERE appointment_id = $1 AND call_started_at > call_ended_at`
	}
	_, err := db.w.ExecContext(ctx, q, visitID, micros(at))
	return err
}

// --- records ---

type recordJSON struct {
	ChiefComplaint string            `json:"chief_complaint"`
	PresentIllness string            `json:"present_illness"`
	History        string            `json:"history"`
	Observations   string            `json:"observations"`
	Diagnoses      []visit.Diagnosis `json:"diagnoses"`
	Advice         string            `json:"advice"`
}

func recordBody(r *visit.Record) recordJSON {
	return recordJSON{r.ChiefComplaint, r.PresentIllness, r.History, r.Observations, r.Diagnoses, r.Advice}
}

func scanRecord(row interface{ Scan(...any) error }) (*visit.Record, error) {
	var r visit.Record
	var body string
	var signed, updated int64
	if err := row.Scan(&r.VisitID, &r.Version, &body, &r.AuthorID, &r.AmendReason, &signed, &updated, &r.AuthorName); err != nil {
		return nil, notFound(err)
	}
	var b recordJSON
	json.Unmarshal([]byte(body), &b)
	r.ChiefComplaint, r.PresentIllness, r.History, r.Observations, r.Diagnoses, r.Advice = b.ChiefComplaint, b.PresentIllness, b.History, b.Observations, b.Diagnoses, b.Advice
	if r.Diagnoses == nil {
		r.Diagnoses = []visit.Diagnosis{}
	}
	r.SignedAt, r.UpdatedAt = fromMicros(signed), fromMicros(updated)
	return &r, nil
}

const recordSelect = `SELECT r.visit_id, r.version, r.body, r.author_id, r.amend_reason, r.signed_at, r.updated_at, COALESCE(p.name, '')
	FROM records r LEFT JOIN practitioners p ON p.account_id = r.author_id `

// SaveDraft stores the draft while the visit is in progress.
func (db *DB) SaveDraft(ctx context.Context, r *visit.Record) error {
	body, _ := json.Marshal(recordBody(r))
	return db.tx(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM visits WHERE appointment_id = $1`, r.VisitID).Scan(&state)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if visit.State(state) != visit.InProgress {
			return errs.E("record_locked")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO records (visit_id, version, body, author_id, updated_at) VALUES ($1, 0, $2, $3, $4)
			ON CONFLICT (visit_id, version) DO UPDATE SET body = excluded.body, author_id = excluded.author_id, updated_at = excluded.updated_at`,
			r.VisitID, string(body), r.AuthorID, micros(r.UpdatedAt))
		return err
	})
}

func (db *DB) Draft(ctx context.Context, visitID int64) (*visit.Record, error) {
	return scanRecord(db.QueryRowContext(ctx, recordSelect+`WHERE r.visit_id = $1 AND r.version = 0`, visitID))
}

// Records are the signed versions, oldest first.
func (db *DB) Records(ctx context.Context, visitID int64) ([]visit.Record, error) {
	rows, err := db.query(ctx, recordSelect+`WHERE r.visit_id = $1 AND r.version > 0 ORDER BY r.version`, visitID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRecord)
}

// AddAmendment adds the next version of a signed record.
func (db *DB) AddAmendment(ctx context.Context, r *visit.Record) error {
	body, _ := json.Marshal(recordBody(r))
	return db.tx(ctx, func(tx *sql.Tx) error {
		var last int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM records WHERE visit_id = $1`, r.VisitID).Scan(&last); err != nil {
			return err
		}
		if last == 0 {
			return errs.E("record_not_signed")
		}
		r.Version = last + 1
		_, err := tx.ExecContext(ctx, `INSERT INTO records (visit_id, version, body, author_id, amend_reason, signed_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`, r.VisitID, r.Version, string(body), r.AuthorID, r.AmendReason, micros(r.SignedAt))
		if ok, _ := isUnique(err); ok {
			return errs.E(errs.Conflict)
		}
		if err != nil {
			return err
		}
		return db.enqueueCDC(ctx, tx, r.VisitID, r.SignedAt) // W-5: a diagnosis added by the amendment
	})
}

// --- questionnaires and reasons ---

type questionnaireBody struct {
	Fields   []visit.Field   `json:"fields"`
	RedFlags []visit.RedFlag `json:"red_flags"`
}

func scanQuestionnaire(row interface{ Scan(...any) error }) (*visit.Questionnaire, error) {
	var q visit.Questionnaire
	var body string
	var updated int64
	if err := row.Scan(&q.Code, &q.Title, &q.TitleEN, &body, &updated); err != nil {
		return nil, notFound(err)
	}
	var b questionnaireBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return nil, err
	}
	q.Fields, q.RedFlags, q.UpdatedAt = b.Fields, b.RedFlags, fromMicros(updated)
	if q.RedFlags == nil {
		q.RedFlags = []visit.RedFlag{}
	}
	return &q, nil
}

func (db *DB) Questionnaire(ctx context.Context, code string) (*visit.Questionnaire, error) {
	return scanQuestionnaire(db.QueryRowContext(ctx, `SELECT code, title, title_en, body, updated_at FROM questionnaires WHERE code = $1`, code))
}

func (db *DB) Questionnaires(ctx context.Context) ([]visit.Questionnaire, error) {
	rows, err := db.query(ctx, `SELECT code, title, title_en, body, updated_at FROM questionnaires ORDER BY code`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanQuestionnaire)
}

func (db *DB) SaveQuestionnaire(ctx context.Context, q *visit.Questionnaire) error {
	body, _ := json.Marshal(questionnaireBody{q.Fields, q.RedFlags})
	_, err := db.w.ExecContext(ctx, `INSERT INTO questionnaires (code, title, title_en, body, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (code) DO UPDATE SET title = excluded.title, title_en = excluded.title_en, body = excluded.body, updated_at = excluded.updated_at`,
		q.Code, q.Title, q.TitleEN, string(body), micros(q.UpdatedAt))
	return err
}

func (db *DB) TerminationReasons(ctx context.Context) ([]visit.Reason, error) {
	rows, err := db.query(ctx, `SELECT code, name, name_en, active, position FROM termination_reasons ORDER BY position, code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []visit.Reason{}
	for rows.Next() {
		var r visit.Reason
		if err := rows.Scan(&r.Code, &r.Name, &r.NameEN, &r.Active, &r.Position); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (db *DB) SaveTerminationReason(ctx context.Context, r *visit.Reason) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO termination_reasons (code, name, name_en, active, position) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, name_en = excluded.name_en, active = excluded.active, position = excluded.position`,
		r.Code, r.Name, r.NameEN, r.Active, r.Position)
	return err
}

const terminationCols = `visit_id, institution, department, kind, doctor_id, reasons, note, ref_department, urgency, advice, by_account, at`

func scanTermination(row interface{ Scan(...any) error }) (*visit.Termination, error) {
	var t visit.Termination
	var reasons string
	var at int64
	if err := row.Scan(&t.VisitID, &t.Institution, &t.Department, &t.Kind, &t.DoctorID, &reasons, &t.Note, &t.Referral.Department,
		&t.Referral.Urgency, &t.Referral.Advice, &t.By, &at); err != nil {
		return nil, notFound(err)
	}
	json.Unmarshal([]byte(reasons), &t.Reasons)
	t.At = fromMicros(at)
	return &t, nil
}

func (db *DB) Termination(ctx context.Context, visitID int64) (*visit.Termination, error) {
	return scanTermination(db.QueryRowContext(ctx, `SELECT `+terminationCols+` FROM terminations WHERE visit_id = $1`, visitID))
}

func (db *DB) Terminations(ctx context.Context, f visit.TerminationFilter) ([]visit.Termination, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	where, args := []string{"1 = 1"}, []any{}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Institution != "" {
		where = append(where, "institution = "+arg(f.Institution))
	}
	if !f.From.IsZero() {
		where = append(where, "at >= "+arg(micros(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "at < "+arg(micros(f.To)))
	}
	rows, err := db.query(ctx, `SELECT `+terminationCols+` FROM terminations WHERE `+strings.Join(where, " AND ")+` ORDER BY at DESC LIMIT `+arg(f.Limit), args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanTermination)
}

// --- SMS sandbox log ---

var _ notify.SMSLog = (*DB)(nil)

func (db *DB) RecordSMS(ctx context.Context, r *notify.SMSRecord) error {
	return db.w.QueryRowContext(ctx, `INSERT INTO sms_log (to_phone, body, kind, status, error, provider_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, r.To, r.Text, r.Kind, r.Status, r.Error, r.ProviderID, micros(r.CreatedAt)).Scan(&r.ID)
}

func (db *DB) SMSSent(ctx context.Context, to string, limit int) ([]notify.SMSRecord, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := db.query(ctx, `SELECT id, to_phone, body, kind, status, error, provider_id, created_at FROM sms_log
		WHERE ($1 = '' OR to_phone = $1) ORDER BY id DESC LIMIT $2`, to, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []notify.SMSRecord{}
	for rows.Next() {
		var r notify.SMSRecord
		var created int64
		if err := rows.Scan(&r.ID, &r.To, &r.Text, &r.Kind, &r.Status, &r.Error, &r.ProviderID, &created); err != nil {
			return nil, err
		}
		r.CreatedAt = fromMicros(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// estimatedAt is a visit's estimated time in SQL over visitFrom, as
// visit.Visit.SetEstimate computes it: the session's start + (place - 1)
// visit lengths (10 minutes unless the service sets one) + the session's
// delay; the session's start for a visit without a number.
var estimatedAt = `(s.starts_at + CASE WHEN a.number > 0 THEN
	CAST(60000000 AS BIGINT) * (CASE WHEN COALESCE(v.line_after, 0) >= a.number THEN v.line_after ELSE a.number - 1 END)
	* (CASE WHEN COALESCE(sv.visit_minutes, 0) > 0 THEN sv.visit_minutes ELSE ` + strconv.Itoa(directory.DefaultVisitMinutes) + ` END) + s.delay_us ELSE 0 END)`

// DueReminders marks and returns the visits still to be seen whose
// estimated time is between from and to and that have not been reminded
// yet. Each is marked with a compare-and-set, so two servers never both
// remind one.
func (db *DB) DueReminders(ctx context.Context, from, to time.Time) ([]visit.Visit, error) {
	var out []visit.Visit
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// A session lasts less than a day: its start bounds the search.
		rows, err := tx.QueryContext(ctx, `SELECT `+visitCols+visitFrom+` WHERE a.status = 'booked' AND s.starts_at < $2 AND s.starts_at >= $3
			AND COALESCE(v.state, 'booked') IN `+inStates(visit.From(visit.ActSkip))+`
			AND `+estimatedAt+` >= $1 AND `+estimatedAt+` < $2
			AND COALESCE(v.reminded_at, 0) = 0 ORDER BY s.starts_at, a.number LIMIT 500`, micros(from), micros(to), micros(from.Add(-24*time.Hour)))
		if err != nil {
			return err
		}
		due, err := collect(rows, scanVisit)
		if err != nil {
			return err
		}
		for _, v := range due {
			if err := ensureVisit(ctx, tx, v.ID, from); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE visits SET reminded_at = $2 WHERE appointment_id = $1 AND reminded_at = 0`, v.ID, micros(from))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				out = append(out, v)
			}
		}
		return nil
	})
	return out, err
}
