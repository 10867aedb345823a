package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/supervision"
)

var _ directory.Store = (*DB)(nil)

const instCols = `code, name, name_en, alias, status, approved_on, valid_until, status_note, online_since, channel, insurance, delivery, delivery_area`

func scanInstitution(row interface{ Scan(...any) error }) (*directory.Institution, error) {
	var i directory.Institution
	var status string
	if err := row.Scan(&i.Code, &i.Name, &i.NameEN, &i.Alias, &status, &i.ApprovedOn, &i.ValidUntil, &i.StatusNote, &i.OnlineSince, &i.Channel,
		&i.Insurance, &i.Delivery, &i.DeliveryArea); err != nil {
		return nil, notFound(err)
	}
	i.Status = directory.Qualification(status)
	i.Departments = []directory.Department{}
	return &i, nil
}

func (db *DB) Institutions(ctx context.Context) ([]directory.Institution, error) {
	rows, err := db.query(ctx, `SELECT `+instCols+` FROM institutions ORDER BY created_at, code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []directory.Institution{}
	for rows.Next() {
		i, err := scanInstitution(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *i)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	pilots, err := db.Designations(ctx, "")
	if err != nil {
		return nil, err
	}
	today := db.now()
	for k := range out {
		for _, d := range pilots {
			if d.Institution == out[k].Code {
				out[k].Pilots = append(out[k].Pilots, d)
			}
		}
		out[k].MarkPilots(today)
	}
	return out, nil
}

func (db *DB) Institution(ctx context.Context, code string) (*directory.Institution, error) {
	i, err := scanInstitution(db.QueryRowContext(ctx, `SELECT `+instCols+` FROM institutions WHERE code = $1`, code))
	if err != nil {
		return nil, err
	}
	rows, err := db.query(ctx, `SELECT code, name, name_en, online FROM departments WHERE institution = $1 ORDER BY position, code`, code)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for rows.Next() {
		d := directory.Department{Institution: code, Services: []directory.Service{}}
		if err := rows.Scan(&d.Code, &d.Name, &d.NameEN, &d.Online); err != nil {
			rows.Close()
			return nil, err
		}
		idx[d.Code] = len(i.Departments)
		i.Departments = append(i.Departments, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.query(ctx, `SELECT department, code, name, name_en FROM specialties WHERE institution = $1 ORDER BY code`, code)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		s := directory.Specialty{Institution: code}
		if err := rows.Scan(&s.Department, &s.Code, &s.Name, &s.NameEN); err != nil {
			rows.Close()
			return nil, err
		}
		if k, ok := idx[s.Department]; ok {
			i.Departments[k].Specialties = append(i.Departments[k].Specialties, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.query(ctx, `SELECT `+serviceCols+` FROM services WHERE institution = $1 ORDER BY position, code`, code)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		s, err := scanService(rows)
		if err != nil {
			return nil, err
		}
		if k, ok := idx[s.Department]; ok {
			i.Departments[k].Services = append(i.Departments[k].Services, *s)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if i.Pilots, err = db.Designations(ctx, code); err != nil {
		return nil, err
	}
	i.MarkPilots(db.now())
	return i, nil
}

func (db *DB) SaveInstitution(ctx context.Context, i *directory.Institution) error {
	now := micros(db.now())
	// An update changes the description only: the qualification is the
	// regulator's (SetQualification, SetStatusNote and the decisions of
	// package qualification), so an edit read before a suspension cannot
	// undo it.
	_, err := db.w.ExecContext(ctx, `INSERT INTO institutions (`+instCols+`, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, name_en = excluded.name_en, alias = excluded.alias,
			online_since = excluded.online_since, channel = excluded.channel,
			insurance = excluded.insurance, delivery = excluded.delivery, delivery_area = excluded.delivery_area,
			updated_at = excluded.updated_at`,
		i.Code, i.Name, i.NameEN, i.Alias, string(i.Status), i.ApprovedOn, i.ValidUntil, i.StatusNote, i.OnlineSince, i.Channel,
		i.Insurance, i.Delivery, i.DeliveryArea, now)
	return err
}

func (db *DB) SetStatusNote(ctx context.Context, code, note string) error {
	res, err := db.w.ExecContext(ctx, `UPDATE institutions SET status_note = $2, updated_at = $3 WHERE code = $1`, code, note, micros(db.now()))
	if err != nil {
		return err
	}
	return mustAffect(res)
}

func (db *DB) Designations(ctx context.Context, institution string) ([]directory.Designation, error) {
	rows, err := db.query(ctx, `SELECT institution, specialty, from_day, to_day, by_account, updated_at FROM pilot_designations
		WHERE ($1 = '' OR institution = $1) ORDER BY institution, specialty`, institution)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []directory.Designation{}
	for rows.Next() {
		var d directory.Designation
		var at int64
		if err := rows.Scan(&d.Institution, &d.Specialty, &d.From, &d.To, &d.By, &at); err != nil {
			return nil, err
		}
		d.UpdatedAt = fromMicros(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (db *DB) SavePilot(ctx context.Context, d *directory.Designation) error {
	d.UpdatedAt = db.now().UTC().Truncate(time.Microsecond)
	_, err := db.w.ExecContext(ctx, `INSERT INTO pilot_designations (institution, specialty, from_day, to_day, by_account, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (institution, specialty) DO UPDATE SET from_day = excluded.from_day, to_day = excluded.to_day,
			by_account = excluded.by_account, updated_at = excluded.updated_at`,
		d.Institution, d.Specialty, d.From, d.To, d.By, micros(d.UpdatedAt))
	return fkInvalid(err, "specialty")
}

func (db *DB) DeletePilot(ctx context.Context, institution, specialty string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM pilot_designations WHERE institution = $1 AND specialty = $2`, institution, specialty)
	if err != nil {
		return err
	}
	return mustAffect(res)
}

func (db *DB) SetQualification(ctx context.Context, code string, q directory.Qualification, on, note string) error {
	now := db.now()
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE institutions SET status = $2, approved_on = $3, status_note = $4, updated_at = $5 WHERE code = $1`,
			code, string(q), on, note, micros(now))
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			return err
		}
		return db.emit(ctx, tx, qualEvent(code, now, string(q), ""))
	})
}

func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errs.E(errs.NotFound)
	}
	return nil
}

func fkInvalid(err error, field string) error {
	if isForeignKey(err) {
		var f errs.Fields
		f.Add(field, "not_found")
		return f.Err()
	}
	return err
}

func (db *DB) SaveDepartment(ctx context.Context, d *directory.Department) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO departments (institution, code, name, name_en, online, position)
		VALUES ($1, $2, $3, $4, $5, (SELECT COUNT(*) FROM departments WHERE institution = $1))
		ON CONFLICT (institution, code) DO UPDATE SET name = excluded.name, name_en = excluded.name_en, online = excluded.online`,
		d.Institution, d.Code, d.Name, d.NameEN, d.Online)
	return fkInvalid(err, "institution")
}

func (db *DB) SaveSpecialty(ctx context.Context, s *directory.Specialty) error {
	// A specialty's pilot flag is not written here: designations are the
	// regulator's (SavePilot).
	_, err := db.w.ExecContext(ctx, `INSERT INTO specialties (institution, department, code, name, name_en)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (institution, code) DO UPDATE SET department = excluded.department, name = excluded.name,
			name_en = excluded.name_en`,
		s.Institution, s.Department, s.Code, s.Name, s.NameEN)
	return fkInvalid(err, "department")
}

const serviceCols = `institution, department, code, name, name_en, kind, specialty, price_fen, days, active,
	book_min_days, book_max_days, release_time, opens_at, cancel_cutoff_minutes, questionnaire, pay_at, pay_window_minutes, visit_minutes, late_notice_minutes`

func scanService(row interface{ Scan(...any) error }) (*directory.Service, error) {
	var s directory.Service
	var kind, days string
	var opens int64
	if err := row.Scan(&s.Institution, &s.Department, &s.Code, &s.Name, &s.NameEN, &kind, &s.Specialty, &s.PriceFen, &days, &s.Active,
		&s.MinDays, &s.MaxDays, &s.ReleaseTime, &opens, &s.CancelCutoffM, &s.Questionnaire, &s.PayAt, &s.PayWindowMinutes, &s.VisitMinutes, &s.LateNoticeMinutes); err != nil {
		return nil, notFound(err)
	}
	s.OpensAt = fromMicros(opens)
	s.Kind = directory.ServiceKind(kind)
	s.Days, _ = directory.ParseWeekdays(days)
	s.Price = float64(s.PriceFen) / 100
	return &s, nil
}

func (db *DB) SaveService(ctx context.Context, s *directory.Service) error {
	var owner string
	err := db.QueryRowContext(ctx, `SELECT institution FROM services WHERE code = $1`, s.Code).Scan(&owner)
	if err == nil && owner != s.Institution {
		var f errs.Fields
		f.Add("code", "duplicate")
		return f.Err()
	}
	if s.Questionnaire != "" {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM questionnaires WHERE code = $1`, s.Questionnaire).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			var f errs.Fields
			f.Add("questionnaire", "not_found")
			return f.Err()
		}
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO services (`+serviceCols+`, position)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, (SELECT COUNT(*) FROM services WHERE institution = $1))
		ON CONFLICT (code) DO UPDATE SET department = excluded.department, name = excluded.name, name_en = excluded.name_en,
			kind = excluded.kind, specialty = excluded.specialty, price_fen = excluded.price_fen, days = excluded.days,
			active = excluded.active, book_min_days = excluded.book_min_days, book_max_days = excluded.book_max_days,
			release_time = excluded.release_time, opens_at = excluded.opens_at, cancel_cutoff_minutes = excluded.cancel_cutoff_minutes,
			questionnaire = excluded.questionnaire, pay_at = excluded.pay_at, pay_window_minutes = excluded.pay_window_minutes,
			visit_minutes = excluded.visit_minutes, late_notice_minutes = excluded.late_notice_minutes`,
		s.Institution, s.Department, s.Code, s.Name, s.NameEN, string(s.Kind), s.Specialty, s.PriceFen, s.Days.String(), s.Active,
		s.MinDays, s.MaxDays, s.ReleaseTime, micros(s.OpensAt), s.CancelCutoffM, s.Questionnaire, s.PayAt, s.PaymentWindow(),
		int(s.VisitLength()/time.Minute), int(s.LateNotice()/time.Minute))
	return fkInvalid(err, "department")
}

func (db *DB) Service(ctx context.Context, code string) (*directory.Service, error) {
	return scanService(db.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services WHERE code = $1`, code))
}

const practitionerCols = `id, institution, department, COALESCE(account_id, 0), name, profession, title, licence_no, practice_since, internet_since, training_passed_on, bio,
	photo_key, photo_type`

func scanPractitioner(row interface{ Scan(...any) error }) (*directory.Practitioner, error) {
	var p directory.Practitioner
	var prof, title string
	if err := row.Scan(&p.ID, &p.Institution, &p.Department, &p.AccountID, &p.Name, &prof, &title, &p.LicenceNo,
		&p.PracticeSince, &p.InternetSince, &p.TrainingPassedOn, &p.Bio, &p.PhotoKey, &p.PhotoType); err != nil {
		return nil, notFound(err)
	}
	p.Profession = directory.Profession(prof)
	p.Title = directory.Title(title)
	return &p, nil
}

func (db *DB) Practitioners(ctx context.Context, institution string) ([]directory.Practitioner, error) {
	rows, err := db.query(ctx, `SELECT `+practitionerCols+` FROM practitioners WHERE institution = $1 ORDER BY department, id`, institution)
	if err != nil {
		return nil, err
	}
	out := []directory.Practitioner{}
	byID := map[int64]int{}
	for rows.Next() {
		p, err := scanPractitioner(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		byID[p.ID] = len(out)
		out = append(out, *p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sus, err := db.suspensions(ctx, `SELECT s.id, s.practitioner_id, s.scope, s.reason, s.since, s.lifted_at, s.by_account
		FROM practitioner_suspensions s JOIN practitioners p ON p.id = s.practitioner_id WHERE p.institution = $1 ORDER BY s.id`, institution)
	if err != nil {
		return nil, err
	}
	for _, s := range sus {
		if k, ok := byID[s.PractitionerID]; ok {
			out[k].Suspensions = append(out[k].Suspensions, s)
		}
	}
	return out, nil
}

func (db *DB) suspensions(ctx context.Context, q string, arg any) ([]directory.Suspension, error) {
	rows, err := db.query(ctx, q, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []directory.Suspension
	for rows.Next() {
		var s directory.Suspension
		var scope string
		var since, lifted int64
		if err := rows.Scan(&s.ID, &s.PractitionerID, &scope, &s.Reason, &since, &lifted, &s.By); err != nil {
			return nil, err
		}
		s.Scope = directory.SuspensionScope(scope)
		s.Since, s.LiftedAt = fromMicros(since), fromMicros(lifted)
		out = append(out, s)
	}
	return out, rows.Err()
}

func (db *DB) Practitioner(ctx context.Context, id int64) (*directory.Practitioner, error) {
	p, err := scanPractitioner(db.QueryRowContext(ctx, `SELECT `+practitionerCols+` FROM practitioners WHERE id = $1`, id))
	if err != nil {
		return nil, err
	}
	p.Suspensions, err = db.suspensions(ctx, `SELECT id, practitioner_id, scope, reason, since, lifted_at, by_account
		FROM practitioner_suspensions WHERE practitioner_id = $1 ORDER BY id`, id)
	return p, err
}

// PractitionerByAccount is the practitioner record of a staff account.
func (db *DB) PractitionerByAccount(ctx context.Context, accountID int64) (*directory.Practitioner, error) {
	return scanPractitioner(db.QueryRowContext(ctx, `SELECT `+practitionerCols+` FROM practitioners WHERE account_id = $1 ORDER BY id LIMIT 1`, accountID))
}

func (db *DB) SavePractitioner(ctx context.Context, p *directory.Practitioner) error {
	var acct any
	if p.AccountID != 0 {
		acct = p.AccountID
	}
	var err error
	if p.ID == 0 {
		// A new practitioner is onboarded: the supervision feed hears of it
		// (N-22, staff qualification) in the same transaction.
		err = db.tx(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `INSERT INTO practitioners (institution, department, account_id, name, profession, title, licence_no,
				practice_since, internet_since, training_passed_on, bio) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
				p.Institution, p.Department, acct, p.Name, string(p.Profession), string(p.Title), p.LicenceNo,
				p.PracticeSince, p.InternetSince, p.TrainingPassedOn, p.Bio).Scan(&p.ID); err != nil {
				return err
			}
			return db.emit(ctx, tx, feed{Event: supervision.Event{Institution: p.Institution, Kind: supervision.PractitionerOnboarded,
				Practitioner: p.ID, Department: p.Department, Outcome: string(p.Profession), Codes: []string{string(p.Title)}}})
		})
		if err != nil {
			p.ID = 0
		}
	} else {
		var res sql.Result
		res, err = db.w.ExecContext(ctx, `UPDATE practitioners SET department = $3, account_id = $4, name = $5, profession = $6, title = $7,
			licence_no = $8, practice_since = $9, internet_since = $10, training_passed_on = $11, bio = $12
			WHERE id = $1 AND institution = $2`,
			p.ID, p.Institution, p.Department, acct, p.Name, string(p.Profession), string(p.Title), p.LicenceNo,
			p.PracticeSince, p.InternetSince, p.TrainingPassedOn, p.Bio)
		if err == nil {
			err = mustAffect(res)
		}
	}
	if isForeignKey(err) {
		return fkInvalid(err, "institution")
	}
	return duplicateField(err, "licence_no")
}

func (db *DB) SetPhoto(ctx context.Context, practitionerID int64, key, contentType string) (string, error) {
	var old string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT photo_key FROM practitioners WHERE id = $1`, practitionerID).Scan(&old); err != nil {
			return notFound(err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE practitioners SET photo_key = $2, photo_type = $3 WHERE id = $1`, practitionerID, key, contentType)
		return err
	})
	return old, err
}

func (db *DB) AddSuspension(ctx context.Context, s *directory.Suspension) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO practitioner_suspensions (practitioner_id, scope, reason, since, by_account)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, s.PractitionerID, string(s.Scope), s.Reason, micros(s.Since), s.By).Scan(&s.ID); err != nil {
			return err
		}
		return db.emitSuspension(ctx, tx, supervision.PractitionerSuspended, s.PractitionerID, s.Since, string(s.Scope))
	})
	return fkInvalid(err, "practitioner_id")
}

func (db *DB) LiftSuspension(ctx context.Context, practitionerID, suspensionID int64, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var scope string
		err := tx.QueryRowContext(ctx, `UPDATE practitioner_suspensions SET lifted_at = $3 WHERE id = $2 AND practitioner_id = $1 AND lifted_at = 0
			RETURNING scope`, practitionerID, suspensionID, micros(at)).Scan(&scope)
		if err != nil {
			return notFound(err)
		}
		return db.emitSuspension(ctx, tx, supervision.PractitionerLifted, practitionerID, at, scope)
	})
}

// emitSuspension reports a practitioner's suspension (D-1: first visits or
// all) or its lifting to the supervision feed, never its reason's text.
func (db *DB) emitSuspension(ctx context.Context, tx *sql.Tx, kind supervision.Kind, practitionerID int64, at time.Time, scope string) error {
	ev := feed{Event: supervision.Event{Kind: kind, OccurredAt: at, Practitioner: practitionerID, Outcome: scope}}
	if err := tx.QueryRowContext(ctx, `SELECT institution, department FROM practitioners WHERE id = $1`, practitionerID).
		Scan(&ev.Institution, &ev.Department); err != nil {
		return notFound(err)
	}
	return db.emit(ctx, tx, ev)
}
