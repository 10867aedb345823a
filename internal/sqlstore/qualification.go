package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/qualification"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/supervision"
)

var _ qualification.Store = (*DB)(nil)

// Error codes of the qualification's store.
const (
	CodeApplicationPending = "application_pending" // another application waits for a decision
	CodeApplicationDecided = "application_decided" // decided already
	CodeDocumentCount      = "document_count"
	CodeDocumentTotal      = "document_total"
)

const applicationCols = `id, institution, kind, status, departments, services, practitioners, note, submitted_by, submitted_at,
	decided_by, decided_at, reasons, valid_from, valid_until`

func scanApplication(row interface{ Scan(...any) error }) (*qualification.Application, error) {
	var a qualification.Application
	var kind, status, depts, svcs, docs string
	var submitted, decided int64
	if err := row.Scan(&a.ID, &a.Institution, &kind, &status, &depts, &svcs, &docs, &a.Note, &a.SubmittedBy, &submitted,
		&a.DecidedBy, &decided, &a.Reasons, &a.ValidFrom, &a.ValidUntil); err != nil {
		return nil, notFound(err)
	}
	a.Kind, a.Status = qualification.Kind(kind), qualification.Status(status)
	a.SubmittedAt, a.DecidedAt = fromMicros(submitted), fromMicros(decided)
	a.Departments, a.Services, a.Practitioners, a.Documents = []string{}, []string{}, []int64{}, []qualification.Document{}
	if err := json.Unmarshal([]byte(depts), &a.Departments); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(svcs), &a.Services); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(docs), &a.Practitioners); err != nil {
		return nil, err
	}
	return &a, nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (db *DB) CreateApplication(ctx context.Context, a *qualification.Application, entry *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO qualification_applications (institution, kind, status, departments, services, practitioners,
			note, submitted_by, submitted_at) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8) RETURNING id`,
			a.Institution, string(a.Kind), jsonText(a.Departments), jsonText(a.Services), jsonText(a.Practitioners), a.Note,
			a.SubmittedBy, micros(a.SubmittedAt)).Scan(&a.ID)
		if ok, _ := isUnique(err); ok {
			return errs.E(CodeApplicationPending)
		}
		if err != nil {
			return fkInvalid(err, "institution")
		}
		a.Status = qualification.Pending
		for i := range a.Documents {
			d := &a.Documents[i]
			d.ApplicationID = a.ID
			if err := insertDocument(ctx, tx, d); err != nil {
				return err
			}
		}
		if entry != nil {
			entry.ObjectID = itoa64(a.ID)
			return db.appendAuditTx(ctx, tx, []*audit.Entry{entry})
		}
		return nil
	})
}

func itoa64(v int64) string { return strconv.FormatInt(v, 10) }

func insertDocument(ctx context.Context, tx *sql.Tx, d *qualification.Document) error {
	return tx.QueryRowContext(ctx, `INSERT INTO qualification_documents (application_id, name, content_type, size, sha256, blob_key, uploaded_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, d.ApplicationID, d.Name, d.ContentType, d.Size, d.SHA256, d.BlobKey,
		d.UploadedBy, micros(d.CreatedAt)).Scan(&d.ID)
}

const documentCols = `id, application_id, name, content_type, size, sha256, blob_key, uploaded_by, created_at`

func scanDocument(row interface{ Scan(...any) error }) (*qualification.Document, error) {
	var d qualification.Document
	var at int64
	if err := row.Scan(&d.ID, &d.ApplicationID, &d.Name, &d.ContentType, &d.Size, &d.SHA256, &d.BlobKey, &d.UploadedBy, &at); err != nil {
		return nil, notFound(err)
	}
	d.CreatedAt = fromMicros(at)
	return &d, nil
}

func (db *DB) documents(ctx context.Context, applicationID int64) ([]qualification.Document, error) {
	rows, err := db.query(ctx, `SELECT `+documentCols+` FROM qualification_documents WHERE application_id = $1 ORDER BY id`, applicationID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanDocument)
}

func (db *DB) Application(ctx context.Context, id int64) (*qualification.Application, error) {
	a, err := scanApplication(db.QueryRowContext(ctx, `SELECT `+applicationCols+` FROM qualification_applications WHERE id = $1`, id))
	if err != nil {
		return nil, err
	}
	a.Documents, err = db.documents(ctx, id)
	return a, err
}

func (db *DB) Applications(ctx context.Context, f qualification.Filter) ([]qualification.Application, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 200
	}
	rows, err := db.query(ctx, `SELECT `+applicationCols+` FROM qualification_applications
		WHERE ($1 = '' OR institution = $1) AND ($2 = '' OR status = $2) ORDER BY submitted_at DESC, id DESC LIMIT $3`,
		f.Institution, string(f.Status), f.Limit)
	if err != nil {
		return nil, err
	}
	list, err := collect(rows, scanApplication)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].Documents, err = db.documents(ctx, list[i].ID); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func (db *DB) AddDocument(ctx context.Context, d *qualification.Document, entry *audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if db.Engine == Postgres {
			lock = " FOR UPDATE" // documents added at once count one after the other
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM qualification_applications WHERE id = $1`+lock, d.ApplicationID).Scan(&status); err != nil {
			return notFound(err)
		}
		if status != string(qualification.Pending) {
			return errs.E(CodeApplicationDecided)
		}
		var n int
		var total int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM qualification_documents WHERE application_id = $1`,
			d.ApplicationID).Scan(&n, &total); err != nil {
			return err
		}
		if n >= qualification.MaxDocuments {
			return errs.E(CodeDocumentCount, qualification.MaxDocuments)
		}
		if total+d.Size > qualification.MaxTotalBytes {
			return errs.E(CodeDocumentTotal, qualification.MaxTotalBytes>>20)
		}
		if err := insertDocument(ctx, tx, d); err != nil {
			return err
		}
		if entry != nil {
			return db.appendAuditTx(ctx, tx, []*audit.Entry{entry})
		}
		return nil
	})
}

func (db *DB) Document(ctx context.Context, applicationID, id int64) (*qualification.Document, error) {
	return scanDocument(db.QueryRowContext(ctx, `SELECT `+documentCols+` FROM qualification_documents WHERE application_id = $1 AND id = $2`,
		applicationID, id))
}

func (db *DB) Decide(ctx context.Context, d qualification.Decision, tell qualification.Teller, entry *audit.Entry) (*qualification.Application, []schedule.Appointment, error) {
	var told []schedule.Appointment
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var institution string
		if err := tx.QueryRowContext(ctx, `SELECT institution FROM qualification_applications WHERE id = $1`, d.ApplicationID).Scan(&institution); err != nil {
			return notFound(err)
		}
		status, from, until := qualification.Refused, "", ""
		if d.Approve {
			status, from, until = qualification.Approved, d.From, d.Until
		}
		// Decided once: the first decision wins, a second finds it decided.
		res, err := tx.ExecContext(ctx, `UPDATE qualification_applications SET status = $2, decided_by = $3, decided_at = $4, reasons = $5,
			valid_from = $6, valid_until = $7 WHERE id = $1 AND status = 'pending'`,
			d.ApplicationID, string(status), d.By, micros(d.At), d.Reasons, from, until)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errs.E(CodeApplicationDecided)
		}
		if d.Approve {
			var was string
			if err := tx.QueryRowContext(ctx, `SELECT status FROM institutions WHERE code = $1`, institution).Scan(&was); err != nil {
				return notFound(err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE institutions SET status = 'approved', approved_on = $2, valid_until = $3, status_note = '',
				reminded_for = '', updated_at = $4 WHERE code = $1`, institution, qualification.Day(d.At), until, micros(d.At)); err != nil {
				return err
			}
			if was == string(directory.QualSuspended) {
				if told, err = reopen(ctx, tx, institution, d.At, tell); err != nil {
					return err
				}
			}
		}
		if entry != nil {
			if err := db.appendAuditTx(ctx, tx, []*audit.Entry{entry}); err != nil {
				return err
			}
		}
		return db.emit(ctx, tx, qualEvent(institution, d.At, string(status), "application/"+itoa64(d.ApplicationID)))
	})
	if err != nil {
		return nil, nil, err
	}
	a, err := db.Application(ctx, d.ApplicationID)
	return a, told, err
}

// bookedFrom is every family booked (or holding a place) on a slot of the
// institution that starts after at.
func bookedFrom(ctx context.Context, tx *sql.Tx, institution string, at time.Time) ([]schedule.Appointment, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+apptCols+apptFrom+` WHERE a.institution = $1 AND a.status IN ('booked', 'held') AND s.starts_at > $2
		ORDER BY s.starts_at, a.id`, institution, micros(at))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAppointment)
}

// tellAll writes each family's notice in the transaction.
func tellAll(ctx context.Context, tx *sql.Tx, list []schedule.Appointment, tell qualification.Teller) error {
	if tell == nil {
		return nil
	}
	for _, a := range list {
		n := tell(a)
		if err := insertNotice(ctx, tx, &n); err != nil {
			return err
		}
	}
	return nil
}

// slotSuspended is the status of a slot closed by its institution's
// suspension: it takes no booking (the booking's write takes only open
// slots) and opens again when the services do.
const slotSuspended = "suspended"

// reopen opens the future slots a suspension closed and tells their
// families.
func reopen(ctx context.Context, tx *sql.Tx, institution string, at time.Time, tell qualification.Teller) ([]schedule.Appointment, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE slots SET status = 'open' WHERE institution = $1 AND status = $2 AND starts_at > $3`,
		institution, slotSuspended, micros(at)); err != nil {
		return nil, err
	}
	list, err := bookedFrom(ctx, tx, institution, at)
	if err != nil {
		return nil, err
	}
	return list, tellAll(ctx, tx, list, tell)
}

func (db *DB) Suspend(ctx context.Context, s qualification.Suspension) ([]schedule.Appointment, bool, error) {
	var list []schedule.Appointment
	done := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		q := `UPDATE institutions SET status = 'suspended', status_note = $2, updated_at = $3 WHERE code = $1 AND status = 'approved'`
		args := []any{s.Institution, s.Reason, micros(s.At)}
		if s.OverdueOn != "" {
			q += ` AND valid_until <> '' AND valid_until < $4`
			args = append(args, s.OverdueOn)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // not approved (or not overdue): nothing to do
		}
		done = true
		if _, err := tx.ExecContext(ctx, `UPDATE slots SET status = $2 WHERE institution = $1 AND status = 'open' AND starts_at > $3`,
			s.Institution, slotSuspended, micros(s.At)); err != nil {
			return err
		}
		if list, err = bookedFrom(ctx, tx, s.Institution, s.At); err != nil {
			return err
		}
		if err := tellAll(ctx, tx, list, s.Tell); err != nil {
			return err
		}
		if s.Audit != nil {
			if err := db.appendAuditTx(ctx, tx, []*audit.Entry{s.Audit}); err != nil {
				return err
			}
		}
		ev := qualEvent(s.Institution, s.At, string(directory.QualSuspended), "")
		if s.OverdueOn != "" {
			ev.Codes = []string{"revalidation-lapsed"} // N-23
		}
		return db.emit(ctx, tx, ev)
	})
	if err != nil || !done {
		return nil, false, err
	}
	return list, true, nil
}

func (db *DB) Reinstate(ctx context.Context, r qualification.Reinstatement) ([]schedule.Appointment, bool, error) {
	var list []schedule.Appointment
	done := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE institutions SET status = 'approved', status_note = $2, updated_at = $3
			WHERE code = $1 AND status = 'suspended' AND approved_on <> '' AND (valid_until = '' OR valid_until >= $4)`,
			r.Institution, r.Note, micros(r.At), r.Today)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		done = true
		if list, err = reopen(ctx, tx, r.Institution, r.At, r.Tell); err != nil {
			return err
		}
		if r.Audit != nil {
			if err := db.appendAuditTx(ctx, tx, []*audit.Entry{r.Audit}); err != nil {
				return err
			}
		}
		return db.emit(ctx, tx, qualEvent(r.Institution, r.At, string(directory.QualApproved), ""))
	})
	if err != nil || !done {
		return nil, false, err
	}
	return list, true, nil
}

func (db *DB) Overdue(ctx context.Context, day string) ([]string, error) {
	rows, err := db.query(ctx, `SELECT code FROM institutions WHERE status = 'approved' AND valid_until <> '' AND valid_until < $1 ORDER BY code`, day)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (db *DB) RemindRevalidations(ctx context.Context, until string, at time.Time, remind qualification.Reminder) ([]directory.Institution, error) {
	var out []directory.Institution
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		// The compare-and-set: an end is reminded by the transaction that
		// marks it; another server's finds it marked.
		rows, err := tx.QueryContext(ctx, `UPDATE institutions SET reminded_for = valid_until
			WHERE status = 'approved' AND valid_until <> '' AND valid_until <= $1 AND reminded_for <> valid_until
			AND NOT EXISTS (SELECT 1 FROM qualification_applications q WHERE q.institution = institutions.code AND q.status = 'pending')
			RETURNING code, name, name_en, valid_until`, until)
		if err != nil {
			return err
		}
		for rows.Next() {
			var i directory.Institution
			if err := rows.Scan(&i.Code, &i.Name, &i.NameEN, &i.ValidUntil); err != nil {
				rows.Close()
				return err
			}
			i.Status = directory.QualApproved
			out = append(out, i)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var entries []*audit.Entry
		for _, inst := range out {
			admins, err := adminAccounts(ctx, tx, inst.Code)
			if err != nil {
				return err
			}
			if remind == nil {
				continue
			}
			notices, entry := remind(inst, admins)
			for i := range notices {
				if notices[i].CreatedAt.IsZero() {
					notices[i].CreatedAt = at
				}
				if err := insertNotice(ctx, tx, &notices[i]); err != nil {
					return err
				}
			}
			if entry != nil {
				entries = append(entries, entry)
			}
		}
		return db.appendAuditTx(ctx, tx, entries)
	})
	return out, err
}

// adminAccounts are the institution's admin accounts (they are told of
// its re-validation), read in the re-validation's transaction.
func adminAccounts(ctx context.Context, tx *sql.Tx, institution string) ([]int64, error) {
	q, args := staffQuery(institution, []string{"institution_admin"})
	return scanIDs(tx.QueryContext(ctx, q, args...))
}

// InstitutionAdmins lists the admin accounts of an institution (they are
// told of the regulator's decisions).
func (db *DB) InstitutionAdmins(ctx context.Context, institution string) ([]int64, error) {
	return db.StaffAccounts(ctx, institution, "institution_admin")
}

// qualEvent is a qualification change's event for the supervision feed:
// the institution's new status (or an application's refusal).
func qualEvent(institution string, at time.Time, status, ref string) feed {
	return feed{Event: supervision.Event{Institution: institution, Kind: supervision.QualificationChanged, OccurredAt: at, Outcome: status, Ref: ref}}
}
