package sqlstore

import (
	"context"
	"database/sql"

	"github.com/yunyi-health/yunyi/internal/audit"

	"github.com/yunyi-health/yunyi/internal/authz"
)

// DoctorReach is an institution's reach rules (authz.ReachRule), the
// institution's own (department "") first.
func (db *DB) DoctorReach(ctx context.Context, institution string) ([]authz.ReachRule, error) {
	rows, err := db.query(ctx, `SELECT department, reach FROM doctor_reach WHERE institution = $1 ORDER BY department`, institution)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(row interface{ Scan(...any) error }) (*authz.ReachRule, error) {
		var r authz.ReachRule
		var reach string
		err := row.Scan(&r.Department, &reach)
		r.Reach = authz.Reach(reach)
		return &r, err
	})
}

// SetDoctorReach replaces an institution's reach rules and audits the
// change (e) in one transaction.
func (db *DB) SetDoctorReach(ctx context.Context, institution string, rules []authz.ReachRule, e *audit.Entry) error {
	by, at := e.ActorID, e.At
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM doctor_reach WHERE institution = $1`, institution); err != nil {
			return err
		}
		for _, r := range rules {
			if _, err := tx.ExecContext(ctx, `INSERT INTO doctor_reach (institution, department, reach, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)`,
				institution, r.Department, string(r.Reach), micros(at), by); err != nil {
				return err
			}
		}
		return db.appendAuditTx(ctx, tx, []*audit.Entry{e})
	})
}
