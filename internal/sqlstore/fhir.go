package sqlstore

// Queries of the FHIR R4 API (internal/web/fhir_*.go) that the other
// stores do not answer: searches with paging and a total, and the
// confirmation of a held place by $book.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Page is a window of a search: Limit rows from Offset.
type Page struct {
	Limit, Offset int
}

func (p Page) clamp() Page {
	if p.Limit <= 0 || p.Limit > 1000 {
		p.Limit = 1000
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	return p
}

// where builds a WHERE clause with numbered parameters.
type where struct {
	conds []string
	args  []any
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) in(col string, vals []any) {
	if len(vals) == 0 {
		w.add("1 = 0")
		return
	}
	ps := make([]string, len(vals))
	for i, v := range vals {
		ps[i] = w.arg(v)
	}
	w.add(col + " IN (" + strings.Join(ps, ", ") + ")")
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return " WHERE 1 = 1"
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// queryOnce runs a read whose text varies with its filters, unprepared:
// the SQLite statement cache keeps only fixed texts.
func (db *DB) queryOnce(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.r.QueryContext(db.readCtx(ctx), q, args...)
}

func (db *DB) countOnce(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	err := db.r.QueryRowContext(db.readCtx(ctx), q, args...).Scan(&n)
	return n, err
}

func int64s(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// --- slots ---

// FHIRSlotQuery selects slots; zero fields do not filter.
type FHIRSlotQuery struct {
	IDs            []int64 // nil: any
	Institution    string
	Service        string
	Department     string
	PractitionerID int64
	From, To       time.Time // starts at or after From, before To
	// Statuses are FHIR slot statuses: free (open with a place left),
	// busy (open and full), busy-unavailable (closed, or of an institution
	// not approved for internet diagnosis, S-1).
	Statuses []string
}

// slotApproved: the slot's institution may offer internet diagnosis.
const slotApproved = `EXISTS (SELECT 1 FROM institutions i WHERE i.code = s.institution AND i.status = 'approved')`

// FHIRSlots lists slots by start, with how many match in all.
func (db *DB) FHIRSlots(ctx context.Context, q FHIRSlotQuery, p Page) ([]schedule.Slot, int, error) {
	p = p.clamp()
	var w where
	if q.IDs != nil {
		w.in("s.id", int64s(q.IDs))
	}
	if q.Institution != "" {
		w.add("s.institution = " + w.arg(q.Institution))
	}
	if q.Service != "" {
		w.add("s.service = " + w.arg(q.Service))
	}
	if q.Department != "" {
		w.add("s.department = " + w.arg(q.Department))
	}
	if q.PractitionerID != 0 {
		w.add("s.practitioner_id = " + w.arg(q.PractitionerID))
	}
	if !q.From.IsZero() {
		w.add("s.starts_at >= " + w.arg(micros(q.From)))
	}
	if !q.To.IsZero() {
		w.add("s.starts_at < " + w.arg(micros(q.To)))
	}
	if len(q.Statuses) > 0 {
		var ors []string
		for _, st := range q.Statuses {
			switch st {
			case "free":
				ors = append(ors, "(s.status = 'open' AND s.booked < s.capacity AND "+slotApproved+")")
			case "busy":
				ors = append(ors, "(s.status = 'open' AND s.booked >= s.capacity AND "+slotApproved+")")
			case "busy-unavailable":
				ors = append(ors, "(s.status <> 'open' OR NOT "+slotApproved+")")
			}
		}
		if len(ors) == 0 {
			ors = append(ors, "1 = 0")
		}
		w.add("(" + strings.Join(ors, " OR ") + ")")
	}
	from := ` FROM slots s LEFT JOIN practitioners p ON p.id = s.practitioner_id` + w.String()
	total, err := db.countOnce(ctx, `SELECT COUNT(*)`+from, w.args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := db.queryOnce(ctx, `SELECT `+slotCols+from+fmt.Sprintf(` ORDER BY s.starts_at, s.id LIMIT %d OFFSET %d`, p.Limit, p.Offset), w.args...)
	if err != nil {
		return nil, 0, err
	}
	out, err := collect(rows, scanSlot)
	return out, total, err
}

// FHIRScheduleKey is one practitioner's sessions of one service: a FHIR
// Schedule.
type FHIRScheduleKey struct {
	Service        string
	PractitionerID int64
}

// FHIRSchedules lists the (service, practitioner) pairs that have weekly
// sessions or slots, by service and practitioner; empty filters match all.
func (db *DB) FHIRSchedules(ctx context.Context, service string, practitioner int64) ([]FHIRScheduleKey, error) {
	rows, err := db.query(ctx, `SELECT service, practitioner_id FROM schedules WHERE ($1 = '' OR service = $1) AND ($2 = 0 OR practitioner_id = $2)
		UNION SELECT service, practitioner_id FROM slots WHERE ($1 = '' OR service = $1) AND ($2 = 0 OR practitioner_id = $2)
		ORDER BY 1, 2`, service, practitioner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []FHIRScheduleKey{}
	for rows.Next() {
		var k FHIRScheduleKey
		if err := rows.Scan(&k.Service, &k.PractitionerID); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// --- appointments and visits ---

// FHIRApptQuery selects appointments (and the visits they are). States are
// (appointment status, visit state) pairs, the visit state "booked" for a
// visit that has not moved yet; nil matches every pair.
type FHIRApptQuery struct {
	IDs            []int64 // nil: any
	PatientIDs     []int64 // nil: any; empty: none
	Institution    string
	PractitionerID int64
	Department     string
	SlotID         int64
	Service        string
	From, To       time.Time // the session starts at or after From, before To
	States         [][2]string
}

func (q FHIRApptQuery) where() *where {
	w := &where{}
	if q.IDs != nil {
		w.in("a.id", int64s(q.IDs))
	}
	if q.PatientIDs != nil {
		w.in("a.patient_id", int64s(q.PatientIDs))
	}
	if q.Institution != "" {
		w.add("a.institution = " + w.arg(q.Institution))
	}
	if q.PractitionerID != 0 {
		w.add("s.practitioner_id = " + w.arg(q.PractitionerID))
	}
	if q.Department != "" {
		w.add("a.department = " + w.arg(q.Department))
	}
	if q.SlotID != 0 {
		w.add("a.slot_id = " + w.arg(q.SlotID))
	}
	if q.Service != "" {
		w.add("a.service = " + w.arg(q.Service))
	}
	if !q.From.IsZero() {
		w.add("s.starts_at >= " + w.arg(micros(q.From)))
	}
	if !q.To.IsZero() {
		w.add("s.starts_at < " + w.arg(micros(q.To)))
	}
	if q.States != nil {
		var ors []string
		for _, st := range q.States {
			ors = append(ors, "(a.status = "+w.arg(st[0])+" AND COALESCE(v.state, 'booked') = "+w.arg(st[1])+")")
		}
		if len(ors) == 0 {
			ors = append(ors, "1 = 0")
		}
		w.add("(" + strings.Join(ors, " OR ") + ")")
	}
	return w
}

// FHIRAppointment is an appointment with its session's practitioner.
type FHIRAppointment struct {
	schedule.Appointment
	PractitionerID int64
}

// FHIRAppointments lists appointments by their session's start (then id),
// with how many match in all.
func (db *DB) FHIRAppointments(ctx context.Context, q FHIRApptQuery, p Page) ([]FHIRAppointment, int, error) {
	p = p.clamp()
	w := q.where()
	from := apptFrom + ` LEFT JOIN visits v ON v.appointment_id = a.id` + w.String()
	total, err := db.countOnce(ctx, `SELECT COUNT(*)`+from, w.args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := db.queryOnce(ctx, `SELECT `+apptCols+from+fmt.Sprintf(` ORDER BY s.starts_at, a.id LIMIT %d OFFSET %d`, p.Limit, p.Offset), w.args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []FHIRAppointment{}
	for rows.Next() {
		a, err := scanAppointment(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, FHIRAppointment{Appointment: *a, PractitionerID: a.PractitionerID})
	}
	return out, total, rows.Err()
}

// FHIRVisits lists the visits of appointments as FHIRAppointments does.
func (db *DB) FHIRVisits(ctx context.Context, q FHIRApptQuery, p Page) ([]visit.Visit, int, error) {
	p = p.clamp()
	w := q.where()
	from := visitFrom + w.String()
	total, err := db.countOnce(ctx, `SELECT COUNT(*)`+from, w.args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := db.queryOnce(ctx, `SELECT `+visitCols+from+fmt.Sprintf(` ORDER BY s.starts_at, a.id LIMIT %d OFFSET %d`, p.Limit, p.Offset), w.args...)
	if err != nil {
		return nil, 0, err
	}
	out, err := collect(rows, scanVisit)
	return out, total, err
}

// --- patients ---

// FHIRPatientQuery selects the patients a staff member sees: those with a
// booking (held or booked) in their sight.
type FHIRPatientQuery struct {
	Sight      authz.Sight
	IDs        []int64 // nil: any
	ResidentID string
	Name       string // contains
}

// FHIRPatientsAt lists the patients of an institution by id, with how
// many match in all.
func (db *DB) FHIRPatientsAt(ctx context.Context, q FHIRPatientQuery, p Page) ([]identity.Patient, int, error) {
	p = p.clamp()
	var w where
	w.add(bookedIn(&w, "p.id", q.Sight))
	if q.IDs != nil {
		w.in("p.id", int64s(q.IDs))
	}
	if q.ResidentID != "" {
		w.add("p.resident_id = " + w.arg(q.ResidentID))
	}
	if q.Name != "" {
		w.add("p.name LIKE " + w.arg("%"+likeEscape(q.Name)+"%") + ` ESCAPE '\'`)
	}
	from := ` FROM patients p` + w.String()
	total, err := db.countOnce(ctx, `SELECT COUNT(*)`+from, w.args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := db.queryOnce(ctx, `SELECT `+patientCols+from+fmt.Sprintf(` ORDER BY p.id LIMIT %d OFFSET %d`, p.Limit, p.Offset), w.args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []identity.Patient{}
	for rows.Next() {
		pt, err := scanPatient(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *pt)
	}
	return out, total, rows.Err()
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// bookedIn is the condition that the patient (the column) has a booking
// (held or booked) in a staff member's sight.
func bookedIn(w *where, patient string, sight authz.Sight) string {
	cond := "EXISTS (SELECT 1 FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE a.patient_id = " + patient +
		" AND a.institution = " + w.arg(sight.Institution) + " AND a.status IN ('booked', 'held')"
	if sight.PractitionerID != 0 {
		cond += " AND s.practitioner_id = " + w.arg(sight.PractitionerID)
	}
	if sight.Department != "" {
		cond += " AND a.department = " + w.arg(sight.Department)
	}
	return cond + ")"
}

// FHIRPatientSeen says whether a patient has a booking (held or booked) in
// a staff member's sight.
func (db *DB) FHIRPatientSeen(ctx context.Context, patientID int64, sight authz.Sight) (bool, error) {
	var w where
	cond := bookedIn(&w, w.arg(patientID), sight)
	var ok bool
	err := db.QueryRowContext(ctx, `SELECT `+cond, w.args...).Scan(&ok)
	return ok, err
}

// --- $book of a held place ---

// CodeHoldGone: the hold to confirm is no longer held (it expired or was
// cancelled).
const CodeHoldGone = "hold_gone"

// ConfirmHold books a held appointment whose hold has not expired at at: a
// single compare-and-set, committed with the notice and the audit entry
// (its ObjectID filled in). A hold that expired, was cancelled or was
// confirmed already answers hold_gone.
func (db *DB) ConfirmHold(ctx context.Context, id int64, at time.Time, n *notify.Notification, e *audit.Entry) (*schedule.Appointment, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var got int64
		err := tx.QueryRowContext(ctx, `UPDATE appointments SET status = 'booked', pay_by = 0 WHERE id = $1 AND status = 'held' AND pay_by > $2 RETURNING id`,
			id, micros(at)).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.E(CodeHoldGone)
		}
		if err != nil {
			return err
		}
		if n != nil {
			n.Ref = "appointment/" + strconv.FormatInt(id, 10)
			if err := db.insertMany(ctx, tx, "notifications", noticeCols, [][]any{{n.AccountID, n.Kind, n.Title, n.Body, n.TitleEN, n.BodyEN, n.Ref, micros(n.CreatedAt)}}); err != nil {
				return err
			}
		}
		if e != nil {
			e.ObjectID = strconv.FormatInt(id, 10)
			return db.appendAuditTx(ctx, tx, []*audit.Entry{e})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.Appointment(ctx, id)
}

// extraScan scans a row's last columns into extra after what a scan
// function of the other stores reads.
type extraScan struct {
	row   interface{ Scan(...any) error }
	extra []any
}

func (e extraScan) Scan(dest ...any) error { return e.row.Scan(append(dest, e.extra...)...) }
