package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

var _ identity.Store = (*DB)(nil)

func duplicateField(err error, fallback string) error {
	ok, where := isUnique(err)
	if !ok {
		return err
	}
	field := fallback
	switch {
	case strings.Contains(where, "username"):
		field = "username"
	case strings.Contains(where, "resident_id"):
		field = "resident_id"
	case strings.Contains(where, "account_patients"):
		field = "resident_id"
	case strings.Contains(where, "licence"):
		field = "licence_no"
	}
	var f errs.Fields
	f.Add(field, "duplicate")
	e := f.Err().(*errs.Error)
	e.Code = errs.Duplicate
	e.Err = err
	return e
}

func (db *DB) CreatePatientAccount(ctx context.Context, a *identity.Account, p *identity.Patient) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := insertAccount(ctx, tx, a); err != nil {
			return err
		}
		if err := insertPatient(ctx, tx, p); err != nil {
			return err
		}
		return linkPatient(ctx, tx, a.ID, p.ID, identity.RelSelf, a.CreatedAt)
	})
}

func insertAccount(ctx context.Context, tx *sql.Tx, a *identity.Account) error {
	var inst, pharmacy any
	if a.Institution != "" {
		inst = a.Institution
	}
	if a.Pharmacy != "" {
		pharmacy = a.Pharmacy
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO accounts (username, password_hash, role, institution, pharmacy, phone, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		a.Username, a.PasswordHash, string(a.Role), inst, pharmacy, a.Phone, micros(a.CreatedAt)).Scan(&a.ID)
	if isForeignKey(err) {
		var f errs.Fields
		if a.Pharmacy != "" {
			f.Add("pharmacy", "not_found")
		} else {
			f.Add("institution", "not_found")
		}
		return f.Err()
	}
	return duplicateField(err, "username")
}

func insertPatient(ctx context.Context, tx *sql.Tx, p *identity.Patient) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO patients (name, resident_id, birth_date, sex, phone, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		p.Name, p.ResidentID, p.Birth.Format("2006-01-02"), string(p.Sex), p.Phone, micros(p.CreatedAt)).Scan(&p.ID)
	return duplicateField(err, "resident_id")
}

func linkPatient(ctx context.Context, tx *sql.Tx, accountID, patientID int64, rel identity.Relation, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO account_patients (account_id, patient_id, relation, created_at) VALUES ($1, $2, $3, $4)`,
		accountID, patientID, string(rel), micros(at))
	return duplicateField(err, "resident_id")
}

func (db *DB) CreateAccount(ctx context.Context, a *identity.Account) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return insertAccount(ctx, tx, a) })
}

// accountCols are the columns of an account. failed_logins and locked_until
// (migration 0001) are no longer read or written: logins are throttled in
// memory, never locked (issue 15).
const accountCols = `id, username, password_hash, role, COALESCE(institution, ''), COALESCE(pharmacy, ''), phone, disabled, created_at`

func scanAccount(row interface{ Scan(...any) error }) (*identity.Account, error) {
	var a identity.Account
	var role string
	var created int64
	if err := row.Scan(&a.ID, &a.Username, &a.PasswordHash, &role, &a.Institution, &a.Pharmacy, &a.Phone, &a.Disabled, &created); err != nil {
		return nil, notFound(err)
	}
	a.Role = identity.Role(role)
	a.CreatedAt = fromMicros(created)
	return &a, nil
}

func (db *DB) AccountByUsername(ctx context.Context, username string) (*identity.Account, error) {
	return scanAccount(db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE username = $1`, username))
}

func (db *DB) AccountByID(ctx context.Context, id int64) (*identity.Account, error) {
	return scanAccount(db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
}

// AccountsOfStaff lists the accounts that are not patients' (the security
// administrator's work: no patient is listed), optionally of one role and
// one institution, at most 2,000.
func (db *DB) AccountsOfStaff(ctx context.Context, role, institution string) ([]identity.Account, error) {
	rows, err := db.query(ctx, `SELECT `+accountCols+` FROM accounts WHERE role <> 'patient' AND ($1 = '' OR role = $1)
		AND ($2 = '' OR institution = $2 OR pharmacy = $2) ORDER BY id LIMIT 2000`, role, institution)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAccount)
}

// SetAccountDisabled disables or enables an account; disabling revokes its
// sessions in the same transaction.
func (db *DB) SetAccountDisabled(ctx context.Context, id int64, disabled bool) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET disabled = $2 WHERE id = $1 AND role <> 'patient'`, id, disabled)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound)
		}
		if disabled {
			_, err = tx.ExecContext(ctx, `UPDATE sessions SET revoked = TRUE WHERE account_id = $1`, id)
		}
		return err
	})
}

// Accounts lists accounts, optionally of one institution.
func (db *DB) Accounts(ctx context.Context, institution string) ([]identity.Account, error) {
	rows, err := db.query(ctx, `SELECT `+accountCols+` FROM accounts WHERE ($1 = '' OR institution = $1) ORDER BY id`, institution)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []identity.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

func (db *DB) SetPassword(ctx context.Context, id int64, hash string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, id, hash)
	return err
}

func (db *DB) AddPatient(ctx context.Context, accountID int64, p *identity.Patient, rel identity.Relation) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := insertPatient(ctx, tx, p); err != nil {
			return err
		}
		return linkPatient(ctx, tx, accountID, p.ID, rel, p.CreatedAt)
	})
}

const patientCols = `p.id, p.name, p.resident_id, p.birth_date, p.sex, p.phone, p.created_at`

func scanPatient(row interface{ Scan(...any) error }, extra ...any) (*identity.Patient, error) {
	var p identity.Patient
	var birth, sex string
	var created int64
	dest := append([]any{&p.ID, &p.Name, &p.ResidentID, &birth, &sex, &p.Phone, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, notFound(err)
	}
	p.Birth, _ = time.Parse("2006-01-02", birth)
	p.Sex = identity.Sex(sex)
	p.CreatedAt = fromMicros(created)
	return &p, nil
}

func (db *DB) PatientsOf(ctx context.Context, accountID int64) ([]identity.Patient, error) {
	rows, err := db.query(ctx, `SELECT `+patientCols+`, ap.relation FROM patients p
		JOIN account_patients ap ON ap.patient_id = p.id WHERE ap.account_id = $1 AND p.frozen_at = 0
		ORDER BY CASE ap.relation WHEN 'self' THEN 0 ELSE 1 END, p.id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []identity.Patient{}
	for rows.Next() {
		var rel string
		p, err := scanPatient(rows, &rel)
		if err != nil {
			return nil, err
		}
		p.Relation = identity.Relation(rel)
		out = append(out, *p)
	}
	return out, rows.Err()
}

func (db *DB) PatientByID(ctx context.Context, id int64) (*identity.Patient, error) {
	return scanPatient(db.QueryRowContext(ctx, `SELECT `+patientCols+` FROM patients p WHERE p.id = $1`, id))
}

func (db *DB) AccountPatient(ctx context.Context, accountID, patientID int64) (*identity.Patient, error) {
	var rel string
	p, err := scanPatient(db.QueryRowContext(ctx, `SELECT `+patientCols+`, ap.relation FROM patients p
		JOIN account_patients ap ON ap.patient_id = p.id WHERE ap.account_id = $1 AND p.id = $2 AND p.frozen_at = 0`, accountID, patientID), &rel)
	if err != nil {
		return nil, err
	}
	p.Relation = identity.Relation(rel)
	return p, nil
}

func (db *DB) LinkedAccounts(ctx context.Context, patientID int64) ([]int64, error) {
	// A frozen profile (claimed by a verified person, N-5) is out of its
	// holders' reach.
	return db.IDs(ctx, `SELECT ap.account_id FROM account_patients ap JOIN patients p ON p.id = ap.patient_id
		WHERE ap.patient_id = $1 AND p.frozen_at = 0 ORDER BY ap.account_id`, patientID)
}

// IDs runs a read query whose rows are one integer each.
func (db *DB) IDs(ctx context.Context, q string, args ...any) ([]int64, error) {
	return scanIDs(db.query(ctx, q, args...))
}

// scanIDs reads rows of one integer each.
func scanIDs(rows *sql.Rows, err error) ([]int64, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (db *DB) CreateSession(ctx context.Context, s *identity.Session) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO sessions (token_hash, account_id, kind, csrf, created_at, expires_at, idle_expiry, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		s.TokenHash, s.AccountID, string(s.Kind), s.CSRF, micros(s.CreatedAt), micros(s.ExpiresAt), micros(s.IdleExpiry), s.IP)
	return err
}

func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*identity.Session, error) {
	var s identity.Session
	var kind string
	var created, expires, idle int64
	err := db.QueryRowContext(ctx, `SELECT token_hash, account_id, kind, csrf, created_at, expires_at, idle_expiry, revoked, ip
		FROM sessions WHERE token_hash = $1`, hash).
		Scan(&s.TokenHash, &s.AccountID, &kind, &s.CSRF, &created, &expires, &idle, &s.Revoked, &s.IP)
	if err != nil {
		return nil, notFound(err)
	}
	s.Kind = identity.SessionKind(kind)
	s.CreatedAt, s.ExpiresAt, s.IdleExpiry = fromMicros(created), fromMicros(expires), fromMicros(idle)
	return &s, nil
}

func (db *DB) SessionAccount(ctx context.Context, hash []byte) (*identity.Session, *identity.Account, error) {
	var s identity.Session
	var kind, role string
	var created, expires, idle, acreated int64
	var a identity.Account
	err := db.QueryRowContext(ctx, `SELECT s.token_hash, s.account_id, s.kind, s.csrf, s.created_at, s.expires_at, s.idle_expiry, s.revoked, s.ip,
		a.id, a.username, a.password_hash, a.role, COALESCE(a.institution, ''), COALESCE(a.pharmacy, ''), a.phone, a.disabled, a.created_at
		FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1`, hash).
		Scan(&s.TokenHash, &s.AccountID, &kind, &s.CSRF, &created, &expires, &idle, &s.Revoked, &s.IP,
			&a.ID, &a.Username, &a.PasswordHash, &role, &a.Institution, &a.Pharmacy, &a.Phone, &a.Disabled, &acreated)
	if err != nil {
		return nil, nil, notFound(err)
	}
	s.Kind = identity.SessionKind(kind)
	s.CreatedAt, s.ExpiresAt, s.IdleExpiry = fromMicros(created), fromMicros(expires), fromMicros(idle)
	a.Role = identity.Role(role)
	a.CreatedAt = fromMicros(acreated)
	return &s, &a, nil
}

func (db *DB) TouchSession(ctx context.Context, hash []byte, now, idleExpiry time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE sessions SET idle_expiry = $2 WHERE token_hash = $1 AND NOT revoked`, hash, micros(idleExpiry))
	return err
}

func (db *DB) RevokeSession(ctx context.Context, hash []byte) error {
	_, err := db.w.ExecContext(ctx, `UPDATE sessions SET revoked = TRUE WHERE token_hash = $1`, hash)
	return err
}

func (db *DB) RevokeAccountSessions(ctx context.Context, accountID int64) error {
	_, err := db.w.ExecContext(ctx, `UPDATE sessions SET revoked = TRUE WHERE account_id = $1`, accountID)
	return err
}

// DeleteExpiredSessions removes sessions past their absolute expiry.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < $1 OR idle_expiry < $1`, micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

var _ identity.InviteStore = (*DB)(nil)

func (db *DB) CreateInvite(ctx context.Context, codeHash []byte, inv *identity.Invite) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO guardian_invites (code_hash, patient_id, created_by, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
		codeHash, inv.PatientID, inv.CreatedBy, micros(inv.ExpiresAt), micros(db.now()))
	return err
}

// RedeemInvite spends the code and links the account in one transaction: a
// code is good once, before it expires.
func (db *DB) RedeemInvite(ctx context.Context, codeHash []byte, accountID int64, now time.Time) (*identity.Patient, error) {
	var p *identity.Patient
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var pid int64
		err := tx.QueryRowContext(ctx, `UPDATE guardian_invites SET used_by = $2, used_at = $3
			WHERE code_hash = $1 AND used_by = 0 AND expires_at > $3 RETURNING patient_id`, codeHash, accountID, micros(now)).Scan(&pid)
		if err != nil {
			return notFound(err)
		}
		if err := linkPatient(ctx, tx, accountID, pid, identity.RelChild, now); err != nil {
			if errs.Is(err, errs.Duplicate) {
				var f errs.Fields
				f.Add("code", "already_linked")
				return f.Err()
			}
			return err
		}
		p, err = scanPatient(tx.QueryRowContext(ctx, `SELECT `+patientCols+` FROM patients p WHERE p.id = $1`, pid))
		if p != nil {
			p.Relation = identity.RelChild
		}
		return err
	})
	return p, err
}
