package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// Second factors, login challenges, identity confirmations (N-7) and the
// session settings (migration 0028). Every check-and-spend is one
// statement: a TOTP step, a recovery code and a challenge's attempt cannot
// be used twice by two requests at once.

var _ identity.FactorStore = (*DB)(nil)

func (db *DB) Factor(ctx context.Context, accountID int64) (*identity.Factor, error) {
	f := identity.Factor{AccountID: accountID}
	var pendingAt, confirmed, wait int64
	err := db.QueryRowContext(ctx, `SELECT secret, pending, pending_at, confirmed_at, last_step, failures, wait_until
		FROM totp_factors WHERE account_id = $1`, accountID).
		Scan(&f.Secret, &f.Pending, &pendingAt, &confirmed, &f.LastStep, &f.Failures, &wait)
	if err != nil {
		return nil, notFound(err)
	}
	f.PendingAt, f.ConfirmedAt, f.WaitUntil = fromMicros(pendingAt), fromMicros(confirmed), fromMicros(wait)
	return &f, nil
}

func (db *DB) SavePendingTOTP(ctx context.Context, accountID int64, sealed []byte, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO totp_factors (account_id, pending, pending_at) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO UPDATE SET pending = excluded.pending, pending_at = excluded.pending_at`, accountID, sealed, micros(at))
	return err
}

func (db *DB) ConfirmTOTP(ctx context.Context, accountID int64, pending []byte, step int64, at time.Time, recovery [][]byte) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp_factors SET secret = pending, pending = NULL, pending_at = 0, confirmed_at = $3,
			last_step = $4, failures = 0, wait_until = 0 WHERE account_id = $1 AND pending = $2`, accountID, pending, micros(at), step)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.E(errs.Conflict)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = $1`, accountID); err != nil {
			return err
		}
		rows := make([][]any, len(recovery))
		for i, h := range recovery {
			rows[i] = []any{accountID, h, micros(at)}
		}
		return db.insertMany(ctx, tx, "recovery_codes", "account_id, code_hash, created_at", rows)
	})
}

func (db *DB) EnrolTOTP(ctx context.Context, accountID int64, sealed []byte, at time.Time) (bool, error) {
	res, err := db.w.ExecContext(ctx, `INSERT INTO totp_factors (account_id, secret, confirmed_at) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO NOTHING`, accountID, sealed, micros(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (db *DB) UseTOTPStep(ctx context.Context, accountID, step int64) (bool, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE totp_factors SET last_step = $2, failures = 0, wait_until = 0
		WHERE account_id = $1 AND confirmed_at > 0 AND last_step < $2`, accountID, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (db *DB) FailTOTP(ctx context.Context, accountID int64) (int, error) {
	var n int
	err := db.w.QueryRowContext(ctx, `UPDATE totp_factors SET failures = failures + 1 WHERE account_id = $1 RETURNING failures`, accountID).Scan(&n)
	return n, notFound(err)
}

func (db *DB) DelayTOTP(ctx context.Context, accountID int64, until time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE totp_factors SET wait_until = $2 WHERE account_id = $1 AND wait_until < $2`, accountID, micros(until))
	return err
}

func (db *DB) RemoveTOTP(ctx context.Context, accountID int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = $1`, accountID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM totp_factors WHERE account_id = $1`, accountID)
		return err
	})
}

func (db *DB) UseRecoveryCode(ctx context.Context, accountID int64, hash []byte, at time.Time) (bool, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at = 0`,
		accountID, hash, micros(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (db *DB) RecoveryCodesLeft(ctx context.Context, accountID int64) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at = 0`, accountID).Scan(&n)
	return n, err
}

func (db *DB) CreateLoginChallenge(ctx context.Context, c *identity.LoginChallenge) error {
	// Challenges past their time go with the new one's write.
	if _, err := db.w.ExecContext(ctx, `DELETE FROM login_challenges WHERE expires_at < $1`, micros(c.CreatedAt)); err != nil {
		return err
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO login_challenges (token_hash, account_id, kind, ip, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.TokenHash, c.AccountID, string(c.Kind), c.IP, micros(c.CreatedAt), micros(c.ExpiresAt))
	return err
}

func (db *DB) TakeLoginChallenge(ctx context.Context, hash []byte, now time.Time, maxAttempts int) (*identity.LoginChallenge, error) {
	c := identity.LoginChallenge{TokenHash: hash}
	var kind string
	var created, expires int64
	err := db.w.QueryRowContext(ctx, `UPDATE login_challenges SET attempts = attempts + 1
		WHERE token_hash = $1 AND expires_at > $2 AND attempts < $3
		RETURNING account_id, kind, ip, created_at, expires_at, attempts`, hash, micros(now), maxAttempts).
		Scan(&c.AccountID, &kind, &c.IP, &created, &expires, &c.Attempts)
	if err != nil {
		return nil, notFound(err)
	}
	c.Kind, c.CreatedAt, c.ExpiresAt = identity.SessionKind(kind), fromMicros(created), fromMicros(expires)
	return &c, nil
}

func (db *DB) DeleteLoginChallenge(ctx context.Context, hash []byte) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM login_challenges WHERE token_hash = $1`, hash)
	return err
}

func (db *DB) ConfirmSession(ctx context.Context, tokenHash []byte, accountID int64, at, until time.Time) error {
	// Confirmations past their time go with the new one's write.
	if _, err := db.w.ExecContext(ctx, `DELETE FROM session_confirmations WHERE valid_until < $1`, micros(at)); err != nil {
		return err
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO session_confirmations (token_hash, account_id, confirmed_at, valid_until) VALUES ($1, $2, $3, $4)
		ON CONFLICT (token_hash) DO UPDATE SET confirmed_at = excluded.confirmed_at, valid_until = excluded.valid_until`, tokenHash, accountID, micros(at), micros(until))
	return err
}

func (db *DB) SessionConfirmedUntil(ctx context.Context, tokenHash []byte) (time.Time, error) {
	var until int64
	err := db.QueryRowContext(ctx, `SELECT c.valid_until FROM session_confirmations c JOIN sessions s ON s.token_hash = c.token_hash
		WHERE c.token_hash = $1 AND NOT s.revoked AND s.account_id = c.account_id`, tokenHash).Scan(&until)
	if err == sql.ErrNoRows {
		return time.Time{}, nil
	}
	return fromMicros(until), err
}

func (db *DB) RevokeOtherSessions(ctx context.Context, accountID int64, keep []byte) error {
	_, err := db.w.ExecContext(ctx, `UPDATE sessions SET revoked = TRUE WHERE account_id = $1 AND token_hash <> $2`, accountID, keep)
	return err
}

func (db *DB) SecuritySettings(ctx context.Context) ([]identity.SecuritySetting, error) {
	rows, err := db.query(ctx, `SELECT institution, staff_idle_minutes, patient_idle_minutes, confirmation_minutes, updated_at, updated_by
		FROM security_settings ORDER BY institution`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []identity.SecuritySetting
	for rows.Next() {
		var s identity.SecuritySetting
		var at int64
		if err := rows.Scan(&s.Institution, &s.StaffIdleMinutes, &s.PatientIdleMinutes, &s.ConfirmationMinutes, &at, &s.UpdatedBy); err != nil {
			return nil, err
		}
		s.UpdatedAt = fromMicros(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

func (db *DB) SaveSecuritySetting(ctx context.Context, s identity.SecuritySetting) error {
	if s.Institution != "" {
		if _, err := db.Institution(ctx, s.Institution); err != nil {
			return err
		}
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO security_settings (institution, staff_idle_minutes, patient_idle_minutes, confirmation_minutes, updated_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (institution) DO UPDATE SET staff_idle_minutes = excluded.staff_idle_minutes, patient_idle_minutes = excluded.patient_idle_minutes,
			confirmation_minutes = excluded.confirmation_minutes, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		s.Institution, s.StaffIdleMinutes, s.PatientIdleMinutes, s.ConfirmationMinutes, micros(s.UpdatedAt), s.UpdatedBy)
	return err
}
