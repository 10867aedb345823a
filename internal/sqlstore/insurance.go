package sqlstore

import (
	"context"
	"time"

	"github.com/yunyi-health/yunyi/internal/insurance"
)

// Binding is a social-security card bound to a patient (M-3).
type Binding struct {
	PatientID  int64          `json:"patient_id"`
	CardNo     string         `json:"card_no"`
	Region     string         `json:"region"`
	Kind       insurance.Kind `json:"kind"`
	PsnNo      string         `json:"-"`
	VerifiedAt time.Time      `json:"verified_at"`
}

// BindInsurance stores (or replaces) a patient's verified card.
func (db *DB) BindInsurance(ctx context.Context, b *Binding) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO patient_insurance (patient_id, card_no, region, kind, psn_no, verified_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (patient_id) DO UPDATE SET card_no = excluded.card_no, region = excluded.region, kind = excluded.kind, psn_no = excluded.psn_no,
		verified_at = excluded.verified_at`, b.PatientID, b.CardNo, b.Region, string(b.Kind), b.PsnNo, micros(b.VerifiedAt))
	return err
}

// InsuranceBound says whether a patient has a bound card (M-3).
func (db *DB) InsuranceBound(ctx context.Context, patientID int64) (bool, error) {
	var n int
	err := db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM patient_insurance WHERE patient_id = $1`, patientID).Scan(&n)
	return n > 0, err
}

// InsuranceOf is a patient's bound card (not_found when none).
func (db *DB) InsuranceOf(ctx context.Context, patientID int64) (*Binding, error) {
	b := &Binding{PatientID: patientID}
	var kind string
	var at int64
	err := db.w.QueryRowContext(ctx, `SELECT card_no, region, kind, psn_no, verified_at FROM patient_insurance WHERE patient_id = $1`, patientID).
		Scan(&b.CardNo, &b.Region, &kind, &b.PsnNo, &at)
	if err != nil {
		return nil, notFound(err)
	}
	b.Kind, b.VerifiedAt = insurance.Kind(kind), fromMicros(at)
	return b, nil
}
