package sqlstore

import (
	"context"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/policy"
)

var _ policy.Store = (*DB)(nil)

const ruleCols = `id, institution, department, service, code, source, message_zh, message_en, passed_zh, passed_en, expr, position, active`

func (db *DB) Rules(ctx context.Context, institution string) ([]policy.Rule, error) {
	rows, err := db.query(ctx, `SELECT `+ruleCols+` FROM policy_rules
		WHERE institution = '' OR $1 = '' OR institution = $1 ORDER BY institution, department, service, position, code`, institution)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []policy.Rule{}
	for rows.Next() {
		var r policy.Rule
		if err := rows.Scan(&r.ID, &r.Institution, &r.Department, &r.Service, &r.Code, &r.Source, &r.MessageZH, &r.MessageEN, &r.PassedZH, &r.PassedEN, &r.Expr, &r.Position, &r.Active); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (db *DB) SaveRule(ctx context.Context, r *policy.Rule) error {
	now := micros(db.now())
	if r.ID == 0 {
		err := db.w.QueryRowContext(ctx, `INSERT INTO policy_rules (institution, department, service, code, source, message_zh, message_en, passed_zh, passed_en,
			expr, position, active, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			r.Institution, r.Department, r.Service, r.Code, r.Source, r.MessageZH, r.MessageEN, r.PassedZH, r.PassedEN, r.Expr, r.Position, r.Active, now).Scan(&r.ID)
		return duplicateField(err, "code")
	}
	res, err := db.w.ExecContext(ctx, `UPDATE policy_rules SET department = $3, service = $4, code = $5, source = $6, message_zh = $7,
		message_en = $8, passed_zh = $9, passed_en = $10, expr = $11, position = $12, active = $13, updated_at = $14 WHERE id = $1 AND institution = $2`,
		r.ID, r.Institution, r.Department, r.Service, r.Code, r.Source, r.MessageZH, r.MessageEN, r.PassedZH, r.PassedEN, r.Expr, r.Position, r.Active, now)
	if err != nil {
		return duplicateField(err, "code")
	}
	return mustAffect(res)
}

func (db *DB) DeleteRule(ctx context.Context, id int64, institution string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM policy_rules WHERE id = $1 AND institution = $2`, id, institution)
	if err != nil {
		return err
	}
	if err := mustAffect(res); err != nil {
		return errs.E(errs.NotFound)
	}
	return nil
}
