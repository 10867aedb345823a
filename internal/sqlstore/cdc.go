package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/yunyi-health/yunyi/internal/cdc"
)

// Reports of notifiable diseases to disease control (W-5; package cdc).

func (db *DB) NotifiableDiseases(ctx context.Context) ([]cdc.Disease, error) {
	return notifiableIn(ctx, db.r)
}

type rowsQuerier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func notifiableIn(ctx context.Context, q rowsQuerier) ([]cdc.Disease, error) {
	rows, err := q.QueryContext(ctx, `SELECT code, name, name_en, class, active, updated_by, updated_at FROM notifiable_diseases ORDER BY code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []cdc.Disease{}
	for rows.Next() {
		var d cdc.Disease
		var at int64
		if err := rows.Scan(&d.Code, &d.Name, &d.NameEN, &d.Class, &d.Active, &d.UpdatedBy, &at); err != nil {
			return nil, err
		}
		d.UpdatedAt = fromMicros(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// SaveNotifiable adds a disease to the list or changes it.
func (db *DB) SaveNotifiable(ctx context.Context, d *cdc.Disease) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO notifiable_diseases (code, name, name_en, class, active, updated_by, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO UPDATE SET name = excluded.name, name_en = excluded.name_en,
		class = excluded.class, active = excluded.active, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		d.Code, d.Name, d.NameEN, d.Class, d.Active, d.UpdatedBy, micros(d.UpdatedAt))
	return err
}

// enqueueCDC writes a report for each diagnosis of the visit's latest
// signed record that is on the notifiable list, in the transaction that
// signed it; a diagnosis reported before is not reported again.
func (db *DB) enqueueCDC(ctx context.Context, tx *sql.Tx, visitID int64, at time.Time) error {
	var body, inst string
	err := tx.QueryRowContext(ctx, `SELECT r.body, a.institution FROM records r JOIN appointments a ON a.id = r.visit_id
		WHERE r.visit_id = $1 AND r.version > 0 ORDER BY r.version DESC LIMIT 1`, visitID).Scan(&body, &inst)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec recordJSON
	if err := json.Unmarshal([]byte(body), &rec); err != nil || len(rec.Diagnoses) == 0 {
		return nil
	}
	list, err := notifiableIn(ctx, tx)
	if err != nil {
		return err
	}
	for _, d := range rec.Diagnoses {
		dis, ok := cdc.Match(list, d.Code)
		if !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cdc_outbox (visit_id, code, disease, institution, created_at, next_at)
			VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (visit_id, code) DO NOTHING`, visitID, d.Code, dis.Code, inst, micros(at)); err != nil {
			return err
		}
	}
	return nil
}

const reportCols = `id, visit_id, code, disease, institution, created_at, attempts, next_at, last_error, sent_at`

func scanReport(row interface{ Scan(...any) error }) (*cdc.Report, error) {
	var r cdc.Report
	var created, next, sent int64
	if err := row.Scan(&r.ID, &r.VisitID, &r.Code, &r.Disease, &r.Institution, &created, &r.Attempts, &next, &r.LastError, &sent); err != nil {
		return nil, notFound(err)
	}
	r.CreatedAt, r.NextAt, r.SentAt = fromMicros(created), fromMicros(next), fromMicros(sent)
	return &r, nil
}

// ClaimReports leases the due reports, oldest first: one UPDATE …
// RETURNING, so two senders never take the same report.
func (db *DB) ClaimReports(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]cdc.Report, error) {
	rows, err := db.w.QueryContext(ctx, `UPDATE cdc_outbox SET next_at = $1 WHERE id IN (SELECT id FROM cdc_outbox
		WHERE sent_at = 0 AND next_at <= $2 ORDER BY next_at, id LIMIT $3) AND sent_at = 0 AND next_at <= $2 RETURNING `+reportCols,
		micros(now.Add(lease)), micros(now), limit)
	if err != nil {
		return nil, err
	}
	list, err := collect(rows, scanReport)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].NextAt = time.Time{}
	}
	return list, nil
}

func (db *DB) ReportSent(ctx context.Context, id int64, body []byte, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE cdc_outbox SET sent_at = $1, body = $2, attempts = attempts + 1, last_error = '' WHERE id = $3`,
		micros(at), string(body), id)
	return err
}

func (db *DB) ReportFailed(ctx context.Context, id int64, reason string, next time.Time) error {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	_, err := db.w.ExecContext(ctx, `UPDATE cdc_outbox SET attempts = attempts + 1, last_error = $1, next_at = $2 WHERE id = $3 AND sent_at = 0`,
		reason, micros(next), id)
	return err
}

// CDCReports lists the outbox, newest first.
func (db *DB) CDCReports(ctx context.Context, limit int) ([]cdc.Report, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	rows, err := db.query(ctx, `SELECT `+reportCols+` FROM cdc_outbox ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanReport)
}

// CDCSandboxReceive stores a message the sandbox receiver took, once per
// message id (a second delivery counts); it answers whether it was new.
func (db *DB) CDCSandboxReceive(ctx context.Context, messageID string, body []byte, at time.Time) (bool, error) {
	res, err := db.w.ExecContext(ctx, `INSERT INTO cdc_sandbox_received (message_id, body, received_at) VALUES ($1, $2, $3)
		ON CONFLICT (message_id) DO UPDATE SET deliveries = cdc_sandbox_received.deliveries + 1`, messageID, string(body), micros(at))
	if err != nil {
		return false, err
	}
	var n int
	if err := db.w.QueryRowContext(ctx, `SELECT deliveries FROM cdc_sandbox_received WHERE message_id = $1`, messageID).Scan(&n); err != nil {
		return false, err
	}
	_ = res
	return n == 1, nil
}

// CDCReceived is one message the sandbox receiver holds.
type CDCReceived struct {
	MessageID  string          `json:"message_id"`
	Deliveries int             `json:"deliveries"`
	ReceivedAt time.Time       `json:"received_at"`
	Bundle     json.RawMessage `json:"bundle"`
}

// CDCSandboxReceived lists what the sandbox receiver holds, newest first.
func (db *DB) CDCSandboxReceived(ctx context.Context, limit int) ([]CDCReceived, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	rows, err := db.query(ctx, `SELECT message_id, deliveries, received_at, body FROM cdc_sandbox_received ORDER BY received_at DESC, message_id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []CDCReceived{}
	for rows.Next() {
		var r CDCReceived
		var at int64
		var body string
		if err := rows.Scan(&r.MessageID, &r.Deliveries, &at, &body); err != nil {
			return nil, err
		}
		r.ReceivedAt, r.Bundle = fromMicros(at), json.RawMessage(body)
		out = append(out, r)
	}
	return out, rows.Err()
}
