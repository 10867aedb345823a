package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/referral"
)

// Referrals and record-sharing consents (issue 16; package referral).

const referralSelect = `SELECT r.id, r.visit_id, r.patient_id, COALESCE(pt.name, ''), r.from_institution, r.from_department, r.from_account,
	COALESCE(pr.name, ''), r.to_institution, r.to_department, r.direction, r.urgency, r.reason, r.summary, r.state, r.decided_by, r.decided_at,
	r.note, r.created_at
	FROM referrals r LEFT JOIN patients pt ON pt.id = r.patient_id LEFT JOIN practitioners pr ON pr.account_id = r.from_account `

func scanReferral(row interface{ Scan(...any) error }) (*referral.Referral, error) {
	var r referral.Referral
	var dir, urg, state string
	var decided, created int64
	if err := row.Scan(&r.ID, &r.VisitID, &r.PatientID, &r.PatientName, &r.FromInstitution, &r.FromDepartment, &r.FromAccount, &r.FromDoctor,
		&r.ToInstitution, &r.ToDepartment, &dir, &urg, &r.Reason, &r.Summary, &state, &r.DecidedBy, &decided, &r.Note, &created); err != nil {
		return nil, notFound(err)
	}
	r.Direction, r.Urgency, r.State = referral.Direction(dir), referral.Urgency(urg), referral.State(state)
	r.DecidedAt, r.CreatedAt = fromMicros(decided), fromMicros(created)
	return &r, nil
}

// CreateReferral stores a new referral (state created).
func (db *DB) CreateReferral(ctx context.Context, r *referral.Referral) error {
	r.State = referral.Created
	return db.w.QueryRowContext(ctx, `INSERT INTO referrals (visit_id, patient_id, from_institution, from_department, from_account,
		to_institution, to_department, direction, urgency, reason, summary, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
		r.VisitID, r.PatientID, r.FromInstitution, r.FromDepartment, r.FromAccount, r.ToInstitution, r.ToDepartment, string(r.Direction),
		string(r.Urgency), r.Reason, r.Summary, string(r.State), micros(r.CreatedAt)).Scan(&r.ID)
}

func (db *DB) Referral(ctx context.Context, id int64) (*referral.Referral, error) {
	return scanReferral(db.QueryRowContext(ctx, referralSelect+`WHERE r.id = $1`, id))
}

// inInts appends "IN ($n, …)" of ids to a query whose arguments are args.
func inInts(args []any, ids []int64) (string, []any) {
	if len(ids) == 0 {
		return "IN (NULL)", args
	}
	ph := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		ph[i] = fmt.Sprintf("$%d", len(args))
	}
	return "IN (" + strings.Join(ph, ", ") + ")", args
}

// Referrals lists referrals newest first: an institution's (sent or
// received) or a family's.
func (db *DB) Referrals(ctx context.Context, f referral.Filter) ([]referral.Referral, error) {
	var where []string
	var args []any
	if f.Institution != "" {
		args = append(args, f.Institution)
		where = append(where, fmt.Sprintf("(r.from_institution = $%d OR r.to_institution = $%d)", len(args), len(args)))
	}
	if f.Patients != nil {
		var in string
		in, args = inInts(args, f.Patients)
		where = append(where, "r.patient_id "+in)
	}
	if f.State != "" {
		args = append(args, string(f.State))
		where = append(where, fmt.Sprintf("r.state = $%d", len(args)))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	q := referralSelect
	if len(where) > 0 {
		q += "WHERE " + strings.Join(where, " AND ")
	}
	rows, err := db.query(ctx, q+fmt.Sprintf(" ORDER BY r.created_at DESC, r.id DESC LIMIT %d", f.Limit), args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanReferral)
}

// DecideReferral moves a created referral to its decision, once.
func (db *DB) DecideReferral(ctx context.Context, d referral.Decision) (*referral.Referral, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE referrals SET state = $1, decided_by = $2, decided_at = $3, note = $4 WHERE id = $5 AND state = 'created'`,
		string(d.To), d.By, micros(d.At), d.Note, d.ReferralID)
	if err != nil {
		return nil, err
	}
	n, _ := res.RowsAffected()
	r, err := db.Referral(ctx, d.ReferralID)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return r, errs.E(referral.CodeIllegal)
	}
	return r, nil
}

// ReferredIn answers the newest acceptance of a referral of the patient to
// the department (zero: none), one indexed read.
func (db *DB) ReferredIn(ctx context.Context, patientID int64, institution, department string, at time.Time) (time.Time, error) {
	var v int64
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(decided_at), 0) FROM referrals WHERE patient_id = $1 AND to_institution = $2
		AND to_department = $3 AND state = 'accepted' AND decided_at <= $4`, patientID, institution, department, micros(at)).Scan(&v)
	return fromMicros(v), err
}

// --- consents ---

const consentSelect = `SELECT c.id, c.patient_id, COALESCE(pt.name, ''), c.grantee, c.source, c.valid_from, c.valid_to, c.granted_by, c.created_at,
	c.revoked_by, c.revoked_at FROM record_consents c LEFT JOIN patients pt ON pt.id = c.patient_id `

func scanConsent(row interface{ Scan(...any) error }) (*referral.Consent, error) {
	var c referral.Consent
	var created, revoked int64
	if err := row.Scan(&c.ID, &c.PatientID, &c.PatientName, &c.Grantee, &c.Source, &c.ValidFrom, &c.ValidTo, &c.GrantedBy, &created,
		&c.RevokedBy, &revoked); err != nil {
		return nil, notFound(err)
	}
	c.CreatedAt, c.RevokedAt = fromMicros(created), fromMicros(revoked)
	return &c, nil
}

func (db *DB) CreateConsent(ctx context.Context, c *referral.Consent) error {
	return db.w.QueryRowContext(ctx, `INSERT INTO record_consents (patient_id, grantee, source, valid_from, valid_to, granted_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, c.PatientID, c.Grantee, c.Source, c.ValidFrom, c.ValidTo, c.GrantedBy,
		micros(c.CreatedAt)).Scan(&c.ID)
}

func (db *DB) Consent(ctx context.Context, id int64) (*referral.Consent, error) {
	return scanConsent(db.QueryRowContext(ctx, consentSelect+`WHERE c.id = $1`, id))
}

// Consents are the patients' consents, newest first.
func (db *DB) Consents(ctx context.Context, patients []int64) ([]referral.Consent, error) {
	in, args := inInts(nil, patients)
	rows, err := db.query(ctx, consentSelect+`WHERE c.patient_id `+in+` ORDER BY c.created_at DESC, c.id DESC`, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanConsent)
}

// RevokeConsent revokes a consent once; a revoked one answers
// consent_revoked.
func (db *DB) RevokeConsent(ctx context.Context, id, by int64, at time.Time) (*referral.Consent, error) {
	res, err := db.w.ExecContext(ctx, `UPDATE record_consents SET revoked_by = $1, revoked_at = $2 WHERE id = $3 AND revoked_at = 0`, by, micros(at), id)
	if err != nil {
		return nil, err
	}
	n, _ := res.RowsAffected()
	c, err := db.Consent(ctx, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return c, errs.E(referral.CodeConsentDone)
	}
	return c, nil
}

// SharedRecords reads the latest signed record of each of the patient's
// visits at other institutions than grantee (of source only, when given).
func (db *DB) SharedRecords(ctx context.Context, patientID int64, grantee, source string) ([]referral.SharedRecord, error) {
	rows, err := db.query(ctx, `SELECT a.id, a.institution, a.department, COALESCE(p.name, ''), r.version, r.signed_at, r.body
		FROM appointments a JOIN records r ON r.visit_id = a.id AND r.version = (SELECT MAX(version) FROM records x WHERE x.visit_id = a.id)
		JOIN slots s ON s.id = a.slot_id LEFT JOIN practitioners p ON p.id = s.practitioner_id
		WHERE a.patient_id = $1 AND r.version > 0 AND a.institution <> $2 AND ($3 = '' OR a.institution = $3)
		ORDER BY r.signed_at DESC, a.id DESC LIMIT 200`, patientID, grantee, source)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []referral.SharedRecord{}
	for rows.Next() {
		var s referral.SharedRecord
		var signed int64
		var body string
		if err := rows.Scan(&s.VisitID, &s.Institution, &s.Department, &s.Doctor, &s.Version, &signed, &body); err != nil {
			return nil, err
		}
		var b recordJSON
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			return nil, fmt.Errorf("record of visit %d: %w", s.VisitID, err)
		}
		s.SignedAt, s.ChiefComplaint, s.PresentIllness, s.Observations, s.Advice = fromMicros(signed), b.ChiefComplaint, b.PresentIllness,
			b.Observations, b.Advice
		s.Diagnoses = []referral.Diagnosis{}
		for _, d := range b.Diagnoses {
			s.Diagnoses = append(s.Diagnoses, referral.Diagnosis{Code: d.Code, Name: d.Name})
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// RecordReads lists the audited reads of the patients' records by other
// institutions, newest first, with the reader's name.
func (db *DB) RecordReads(ctx context.Context, patients []int64, limit int) ([]referral.Read, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	ids := make([]string, len(patients))
	for i, p := range patients {
		ids[i] = fmt.Sprint(p)
	}
	var args []any
	ph := []string{}
	for _, id := range ids {
		args = append(args, id)
		ph = append(ph, fmt.Sprintf("$%d", len(args)))
	}
	if len(ph) == 0 {
		return []referral.Read{}, nil
	}
	acts := []string{}
	for _, a := range referral.ReadActions {
		args = append(args, a)
		acts = append(acts, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := db.query(ctx, `SELECT l.at, l.object_id, COALESCE(pt.name, ''), COALESCE(pr.name, ac.username, ''), l.actor_role, l.institution,
		l.action, l.detail FROM audit_log l LEFT JOIN accounts ac ON ac.id = l.actor_id LEFT JOIN practitioners pr ON pr.account_id = l.actor_id
		LEFT JOIN patients pt ON CAST(pt.id AS TEXT) = l.object_id
		WHERE l.object_type = 'patient' AND l.object_id IN (`+strings.Join(ph, ", ")+`) AND l.action IN (`+strings.Join(acts, ", ")+`)
		ORDER BY l.seq DESC LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []referral.Read{}
	for rows.Next() {
		var r referral.Read
		var at int64
		var pid string
		if err := rows.Scan(&at, &pid, &r.PatientName, &r.Reader, &r.Role, &r.Institution, &r.Action, &r.Detail); err != nil {
			return nil, err
		}
		r.At = fromMicros(at)
		fmt.Sscan(pid, &r.PatientID)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DoctorSeesPatient says whether the doctor's account has a visit (booked
// or later, not cancelled) of the patient.
func (db *DB) DoctorSeesPatient(ctx context.Context, doctorAccount, patientID int64) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM appointments a JOIN slots s ON s.id = a.slot_id
		JOIN practitioners p ON p.id = s.practitioner_id WHERE a.patient_id = $1 AND p.account_id = $2 AND a.status NOT IN ('cancelled', 'expired')`,
		patientID, doctorAccount).Scan(&n)
	return n > 0, err
}
