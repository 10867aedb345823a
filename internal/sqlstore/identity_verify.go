package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// Identity that cannot be squatted (N-5, issue 15): SMS codes, verified
// phones, verified profiles and claims (identity.RealName), and the
// sandbox identity check's register. Migration 0029.

var (
	_ identity.CodeStore       = (*DB)(nil)
	_ identity.VerifiedStore   = (*DB)(nil)
	_ identity.SandboxRegistry = (*DB)(nil)
)

// SaveSMSCode stores a code in one statement that also checks the phone's
// limits (identity.CodePolicy), so that every server sharing the database
// counts the same codes.
func (db *DB) SaveSMSCode(ctx context.Context, c *identity.SMSCode, p identity.CodePolicy) (time.Duration, error) {
	now := c.CreatedAt
	hourAgo := now.Add(-time.Hour)
	err := db.w.QueryRowContext(ctx, `INSERT INTO sms_codes (phone, purpose, salt, code_hash, ip, account_id, created_at, expires_at)
		SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS BIGINT), CAST($7 AS BIGINT), CAST($8 AS BIGINT)
		WHERE NOT EXISTS (SELECT 1 FROM sms_codes WHERE phone = $1 AND created_at > $9)
		AND (SELECT COUNT(*) FROM sms_codes WHERE phone = $1 AND created_at > $10) < $11
		RETURNING id`,
		c.Phone, c.Purpose, hex.EncodeToString(c.Salt), hex.EncodeToString(c.Hash), c.IP, c.AccountID, micros(now), micros(c.ExpiresAt),
		micros(now.Add(-p.Resend)), micros(hourAgo), p.PerHour).Scan(&c.ID)
	if err == nil {
		return 0, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	// Refused: how long until the phone may have a code again.
	var last, oldest int64
	var n int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(created_at), 0), COALESCE(MIN(created_at), 0), COUNT(*) FROM sms_codes
		WHERE phone = $1 AND created_at > $2`, c.Phone, micros(hourAgo)).Scan(&last, &oldest, &n); err != nil {
		return 0, err
	}
	wait := fromMicros(last).Add(p.Resend).Sub(now)
	if n >= p.PerHour {
		wait = max(wait, fromMicros(oldest).Add(time.Hour).Sub(now))
	}
	return max(wait, time.Second), nil
}

// LiveSMSCode returns the newest code of a phone and purpose if it can
// still be used.
func (db *DB) LiveSMSCode(ctx context.Context, phone, purpose string, now time.Time, maxAttempts int) (*identity.SMSCode, error) {
	var c identity.SMSCode
	var salt, hash string
	var created, expires, used int64
	err := db.w.QueryRowContext(ctx, `SELECT id, phone, purpose, salt, code_hash, ip, account_id, attempts, created_at, expires_at, used_at
		FROM sms_codes WHERE phone = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1`, phone, purpose).
		Scan(&c.ID, &c.Phone, &c.Purpose, &salt, &hash, &c.IP, &c.AccountID, &c.Attempts, &created, &expires, &used)
	if err != nil {
		return nil, notFound(err)
	}
	if used != 0 || expires <= micros(now) || c.Attempts >= maxAttempts {
		return nil, errs.E(errs.NotFound)
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	if c.Salt, err = hex.DecodeString(salt); err != nil {
		return nil, err
	}
	if c.Hash, err = hex.DecodeString(hash); err != nil {
		return nil, err
	}
	return &c, nil
}

// FailSMSCode counts a wrong entry.
func (db *DB) FailSMSCode(ctx context.Context, id int64) error {
	_, err := db.w.ExecContext(ctx, `UPDATE sms_codes SET attempts = attempts + 1 WHERE id = $1`, id)
	return err
}

// DropSMSCode removes a code that was not sent.
func (db *DB) DropSMSCode(ctx context.Context, id int64) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM sms_codes WHERE id = $1 AND used_at = 0`, id)
	return err
}

// spendCode uses a code once: a code spent, expired or gone meanwhile is
// sms_code_invalid.
func spendCode(ctx context.Context, tx *sql.Tx, id int64, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE sms_codes SET used_at = $2 WHERE id = $1 AND used_at = 0 AND expires_at > $2`, id, micros(now))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var f errs.Fields
		f.Add("sms_code", "sms_code_invalid")
		return f.Err()
	}
	return nil
}

// verifyPhone records that an account's phone was proved.
func verifyPhone(ctx context.Context, q execer, accountID int64, phone string, at time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO phone_verifications (account_id, phone, verified_at) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO UPDATE SET phone = excluded.phone, verified_at = excluded.verified_at`, accountID, phone, micros(at))
	return err
}

// MarkPhoneVerified records that an account's phone was proved (the demo's
// accounts; registration does it in its own transaction).
func (db *DB) MarkPhoneVerified(ctx context.Context, accountID int64, phone string, at time.Time) error {
	return verifyPhone(ctx, db.w, accountID, phone, at)
}

// PhoneVerified reports whether the account's phone was proved.
func (db *DB) PhoneVerified(ctx context.Context, accountID int64, phone string) (bool, error) {
	var n int
	err := db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM phone_verifications WHERE account_id = $1 AND phone = $2`, accountID, phone).Scan(&n)
	return n > 0 && phone != "", err
}

// CreateVerifiedAccount implements identity.VerifiedStore.
func (db *DB) CreateVerifiedAccount(ctx context.Context, codeID int64, a *identity.Account, p *identity.Patient, now time.Time, tell identity.ClaimNotices) (*identity.Claim, error) {
	var claim *identity.Claim
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := spendCode(ctx, tx, codeID, now); err != nil {
			return err
		}
		if err := insertAccount(ctx, tx, a); err != nil {
			return err
		}
		if err := verifyPhone(ctx, tx, a.ID, a.Phone, now); err != nil {
			return err
		}
		c, err := placeVerifiedPatient(ctx, tx, a.ID, a.Phone, p, now, tell)
		if err != nil {
			return err
		}
		claim = c
		return linkPatient(ctx, tx, a.ID, p.ID, identity.RelSelf, now)
	})
	if err != nil {
		return nil, err
	}
	return claim, nil
}

// AddVerifiedPatient implements identity.VerifiedStore.
func (db *DB) AddVerifiedPatient(ctx context.Context, codeID int64, acct *identity.Account, p *identity.Patient, rel identity.Relation, now time.Time, tell identity.ClaimNotices) (*identity.Claim, error) {
	var claim *identity.Claim
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if codeID != 0 {
			if err := spendCode(ctx, tx, codeID, now); err != nil {
				return err
			}
			if err := verifyPhone(ctx, tx, acct.ID, acct.Phone, now); err != nil {
				return err
			}
		}
		c, err := placeVerifiedPatient(ctx, tx, acct.ID, acct.Phone, p, now, tell)
		if err != nil {
			return err
		}
		claim = c
		return linkPatient(ctx, tx, acct.ID, p.ID, rel, now)
	})
	if err != nil {
		return nil, err
	}
	return claim, nil
}

// insertVerifiedPatient creates a profile whose name and ID the identity
// check matched.
func insertVerifiedPatient(ctx context.Context, tx *sql.Tx, p *identity.Patient, now time.Time) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO patients (name, resident_id, birth_date, sex, phone, created_at, verified_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		p.Name, p.ResidentID, p.Birth.Format("2006-01-02"), string(p.Sex), p.Phone, micros(p.CreatedAt), micros(now)).Scan(&p.ID)
	return duplicateField(err, "resident_id")
}

// placeVerifiedPatient creates the verified profile p for the claimant's
// account, claiming its resident ID from the profile that holds it, if one
// does (identity.Claim): that profile is frozen and its ID released, the
// accounts whose own profile it was are disabled and their sessions
// revoked, its open guardian invitations end, the claim is recorded and
// the holders' notices written.
func placeVerifiedPatient(ctx context.Context, tx *sql.Tx, claimant int64, claimantPhone string, p *identity.Patient, now time.Time, tell identity.ClaimNotices) (*identity.Claim, error) {
	var held, heldVerified int64
	var heldName string
	err := tx.QueryRowContext(ctx, `SELECT id, name, verified_at FROM patients WHERE resident_id = $1`, p.ResidentID).Scan(&held, &heldName, &heldVerified)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, insertVerifiedPatient(ctx, tx, p, now)
	}
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT ap.account_id, ap.relation, a.username, a.phone, COALESCE(pv.phone, '')
		FROM account_patients ap JOIN accounts a ON a.id = ap.account_id LEFT JOIN phone_verifications pv ON pv.account_id = a.id
		WHERE ap.patient_id = $1 ORDER BY ap.account_id`, held)
	if err != nil {
		return nil, err
	}
	var holders []identity.Holder
	var own *identity.OwnAccountError
	for rows.Next() {
		var h identity.Holder
		var rel, proved string
		if err := rows.Scan(&h.AccountID, &rel, &h.Username, &h.Phone, &proved); err != nil {
			rows.Close()
			return nil, err
		}
		h.Relation = identity.Relation(rel)
		h.Frozen = h.Relation == identity.RelSelf
		if h.Frozen && proved != "" && proved == h.Phone && proved == claimantPhone {
			own = &identity.OwnAccountError{Username: h.Username}
		}
		holders = append(holders, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, h := range holders {
		if h.AccountID == claimant {
			var f errs.Fields
			f.Add("resident_id", "duplicate")
			e := f.Err().(*errs.Error)
			e.Code = errs.Duplicate
			return nil, e
		}
	}
	if own != nil {
		return nil, own
	}
	var recent int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_claims WHERE resident_id = $1 AND created_at > $2`,
		p.ResidentID, micros(now.Add(-identity.ClaimCooldown))).Scan(&recent); err != nil {
		return nil, err
	}
	if recent > 0 {
		return nil, identity.ErrDisputed
	}
	res, err := tx.ExecContext(ctx, `UPDATE patients SET resident_id = $2, frozen_at = $3 WHERE id = $1 AND frozen_at = 0`,
		held, "frozen:"+strconv.FormatInt(held, 10), micros(now))
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, errs.E(errs.Conflict) // claimed by another request meanwhile
	}
	for _, h := range holders {
		if !h.Frozen {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET disabled = TRUE WHERE id = $1`, h.AccountID); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked = TRUE WHERE account_id = $1`, h.AccountID); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE guardian_invites SET expires_at = $2 WHERE patient_id = $1 AND used_by = 0 AND expires_at > $2`,
		held, micros(now)); err != nil {
		return nil, err
	}
	if err := insertVerifiedPatient(ctx, tx, p, now); err != nil {
		return nil, err
	}
	c := &identity.Claim{ResidentID: p.ResidentID, FrozenPatient: held, FrozenName: heldName, NewPatient: p.ID, Claimant: claimant, Holders: holders, At: now}
	if err := tx.QueryRowContext(ctx, `INSERT INTO identity_claims (resident_id, frozen_patient, frozen_verified, new_patient, claimant_account, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, c.ResidentID, held, heldVerified != 0, p.ID, claimant, micros(now)).Scan(&c.ID); err != nil {
		return nil, err
	}
	if tell != nil {
		for _, n := range tell(c) {
			n.CreatedAt = now
			if err := insertNotice(ctx, tx, &n); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// IdentityClaim is a claim as recorded (for the hospital counter that
// settles a dispute, and for tests).
type IdentityClaim struct {
	ID, FrozenPatient, NewPatient, Claimant int64
	ResidentID                              string
	FrozenVerified                          bool
	At                                      time.Time
}

// IdentityClaims lists the claims of a resident ID, newest first.
func (db *DB) IdentityClaims(ctx context.Context, residentID string) ([]IdentityClaim, error) {
	rows, err := db.query(ctx, `SELECT id, resident_id, frozen_patient, frozen_verified, new_patient, claimant_account, created_at
		FROM identity_claims WHERE resident_id = $1 ORDER BY id DESC`, residentID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*IdentityClaim, error) {
		var c IdentityClaim
		var at int64
		if err := r.Scan(&c.ID, &c.ResidentID, &c.FrozenPatient, &c.FrozenVerified, &c.NewPatient, &c.Claimant, &at); err != nil {
			return nil, err
		}
		c.At = fromMicros(at)
		return &c, nil
	})
}

// EnrolSandboxPerson implements identity.SandboxRegistry.
func (db *DB) EnrolSandboxPerson(ctx context.Context, residentID, name string, at time.Time) (string, error) {
	if _, err := db.w.ExecContext(ctx, `INSERT INTO idcheck_sandbox_persons (resident_id, name, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (resident_id) DO NOTHING`, residentID, name, micros(at)); err != nil {
		return "", err
	}
	var held string
	err := db.w.QueryRowContext(ctx, `SELECT name FROM idcheck_sandbox_persons WHERE resident_id = $1`, residentID).Scan(&held)
	return held, err
}
