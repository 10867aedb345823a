package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/rx"
)

var _ rx.Store = (*DB)(nil)

func (db *DB) Formulary(ctx context.Context, institution string) ([]rx.FormularyItem, error) {
	rows, err := db.query(ctx, `SELECT institution, drug, price_fen, online FROM rx_formulary WHERE institution = $1 ORDER BY drug`, institution)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*rx.FormularyItem, error) {
		var f rx.FormularyItem
		return &f, r.Scan(&f.Institution, &f.Drug, &f.PriceFen, &f.Online)
	})
}

// SaveFormulary inserts or updates formulary entries, a few hundred rows a
// statement.
func (db *DB) SaveFormulary(ctx context.Context, items []rx.FormularyItem) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(items); start += 200 {
			end := min(start+200, len(items))
			var b strings.Builder
			args := make([]any, 0, 4*(end-start))
			b.WriteString(`INSERT INTO rx_formulary (institution, drug, price_fen, online) VALUES `)
			for i, it := range items[start:end] {
				if i > 0 {
					b.WriteString(", ")
				}
				n := len(args)
				fmt.Fprintf(&b, "($%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4)
				args = append(args, it.Institution, it.Drug, it.PriceFen, it.Online)
			}
			b.WriteString(` ON CONFLICT (institution, drug) DO UPDATE SET price_fen = excluded.price_fen, online = excluded.online`)
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

const rxRuleCols = `id, institution, code, source, severity, message_zh, message_en, expr, detail, position, active`

func (db *DB) RxRules(ctx context.Context, institution string) ([]rx.Rule, error) {
	rows, err := db.query(ctx, `SELECT `+rxRuleCols+` FROM rx_rules WHERE $1 = '' OR institution = '' OR institution = $1 ORDER BY position, code, institution`, institution)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*rx.Rule, error) {
		var x rx.Rule
		return &x, r.Scan(&x.ID, &x.Institution, &x.Code, &x.Source, &x.Severity, &x.MessageZH, &x.MessageEN, &x.Expr, &x.Detail, &x.Position, &x.Active)
	})
}

// SaveRxRule inserts a rule or replaces the one of the same institution and
// code.
func (db *DB) SaveRxRule(ctx context.Context, r *rx.Rule) error {
	return db.w.QueryRowContext(ctx, `INSERT INTO rx_rules (institution, code, source, severity, message_zh, message_en, expr, detail, position, active, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (institution, code) DO UPDATE SET source = excluded.source, severity = excluded.severity, message_zh = excluded.message_zh,
			message_en = excluded.message_en, expr = excluded.expr, detail = excluded.detail, position = excluded.position,
			active = excluded.active, updated_at = excluded.updated_at
		RETURNING id`, r.Institution, r.Code, r.Source, r.Severity, r.MessageZH, r.MessageEN, r.Expr, r.Detail, r.Position, r.Active, micros(db.now())).Scan(&r.ID)
}

func (db *DB) PrescribeWindow(ctx context.Context, institution string) (time.Duration, error) {
	var h int
	err := db.QueryRowContext(ctx, `SELECT prescribe_window_hours FROM rx_settings WHERE institution = $1`, institution).Scan(&h)
	if err == sql.ErrNoRows {
		return rx.DefaultWindow, nil
	}
	return time.Duration(h) * time.Hour, err
}

// SetPrescribeWindow sets an institution's window after a visit (data).
func (db *DB) SetPrescribeWindow(ctx context.Context, institution string, hours int) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO rx_settings (institution, prescribe_window_hours) VALUES ($1, $2)
		ON CONFLICT (institution) DO UPDATE SET prescribe_window_hours = excluded.prescribe_window_hours`, institution, hours)
	return err
}

func (db *DB) SigningKey(ctx context.Context, practitionerID int64) (string, []byte, error) {
	var pub string
	var sealed []byte
	err := db.QueryRowContext(ctx, `SELECT public_key, sealed FROM signing_keys WHERE practitioner_id = $1`, practitionerID).Scan(&pub, &sealed)
	return pub, sealed, notFound(err)
}

func (db *DB) AddSigningKey(ctx context.Context, practitionerID int64, pub string, sealed []byte, at time.Time) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO signing_keys (practitioner_id, public_key, sealed, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (practitioner_id) DO NOTHING`, practitionerID, pub, sealed, micros(at))
	return err
}

// rxBody is the part of a prescription kept as JSON.
type rxBody struct {
	PatientName string       `json:"patient_name"`
	PatientSex  string       `json:"patient_sex"`
	PatientAge  string       `json:"patient_age"`
	DoctorName  string       `json:"doctor_name"`
	Items       []rx.Item    `json:"items"`
	Diagnoses   []string     `json:"diagnoses"`
	WeightKg    float64      `json:"weight_kg"`
	Allergies   string       `json:"allergies,omitempty"`
	Supply      rx.Supply    `json:"supply"`
	LongTermWhy string       `json:"long_term_reason"`
	Note        string       `json:"note"`
	Verdicts    []rx.Verdict `json:"verdicts"`
	Confirmed   []string     `json:"confirmed"`
}

type rxReview struct {
	Reasons []string `json:"reasons"`
	Note    string   `json:"note"`
}

const rxCols = `id, visit_id, version, revises, institution, department, patient_id, doctor_id, status, body, issued_at, valid_days,
	valid_until, total_fen, reviewer_id, reviewer_name, reviewed_at, review, doctor_sig, pharmacist_sig`

func scanRx(row interface{ Scan(...any) error }) (*rx.Prescription, error) {
	var p rx.Prescription
	var body, review, dsig, psig string
	var issued, until, reviewed int64
	if err := row.Scan(&p.ID, &p.VisitID, &p.Version, &p.Revises, &p.Institution, &p.Department, &p.PatientID, &p.DoctorID, &p.Status,
		&body, &issued, &p.ValidDays, &until, &p.TotalFen, &p.ReviewerID, &p.ReviewerName, &reviewed, &review, &dsig, &psig); err != nil {
		return nil, notFound(err)
	}
	var b rxBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return nil, fmt.Errorf("prescription %d: %w", p.ID, err)
	}
	p.PatientName, p.PatientSex, p.PatientAge, p.DoctorName = b.PatientName, b.PatientSex, b.PatientAge, b.DoctorName
	p.Items, p.Diagnoses, p.WeightKg, p.Supply, p.LongTermWhy, p.Note = b.Items, b.Diagnoses, b.WeightKg, b.Supply, b.LongTermWhy, b.Note
	p.Verdicts, p.Confirmed, p.Allergies = b.Verdicts, b.Confirmed, b.Allergies
	p.IssuedAt, p.ValidUntil, p.ReviewedAt = fromMicros(issued), fromMicros(until), fromMicros(reviewed)
	if review != "" {
		var rv rxReview
		if err := json.Unmarshal([]byte(review), &rv); err == nil {
			p.ReviewReasons, p.ReviewNote = rv.Reasons, rv.Note
		}
	}
	for _, s := range []string{dsig, psig} {
		if s == "" {
			continue
		}
		var sig rx.Signature
		if err := json.Unmarshal([]byte(s), &sig); err != nil {
			return nil, fmt.Errorf("prescription %d signature: %w", p.ID, err)
		}
		p.Signatures = append(p.Signatures, sig)
	}
	return &p, nil
}

func (db *DB) Issue(ctx context.Context, p *rx.Prescription, sign func(*rx.Prescription) (rx.Signature, error), notes []notify.Notification) error {
	body, err := json.Marshal(rxBody{PatientName: p.PatientName, PatientSex: p.PatientSex, PatientAge: p.PatientAge, DoctorName: p.DoctorName,
		Items: p.Items, Diagnoses: p.Diagnoses, WeightKg: p.WeightKg, Allergies: p.Allergies, Supply: p.Supply, LongTermWhy: p.LongTermWhy, Note: p.Note,
		Verdicts: p.Verdicts, Confirmed: p.Confirmed})
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		var latestID int64
		var latest int
		var latestStatus string
		err := tx.QueryRowContext(ctx, `SELECT id, version, status FROM prescriptions WHERE visit_id = $1 ORDER BY version DESC LIMIT 1`, p.VisitID).
			Scan(&latestID, &latest, &latestStatus)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if p.Revises != 0 && (p.Revises != latestID || latestStatus != string(rx.Rejected)) {
			return errs.E(rx.CodeRevises)
		}
		p.Version = latest + 1
		now := micros(db.now())
		if err := tx.QueryRowContext(ctx, `INSERT INTO prescriptions (visit_id, version, revises, institution, department, patient_id, doctor_id,
			status, body, issued_at, valid_days, valid_until, total_fen, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
			p.VisitID, p.Version, p.Revises, p.Institution, p.Department, p.PatientID, p.DoctorID, string(p.Status), string(body),
			micros(p.IssuedAt), p.ValidDays, micros(p.ValidUntil), p.TotalFen, now).Scan(&p.ID); err != nil {
			if u, _ := isUnique(err); u {
				return errs.E(errs.Conflict)
			}
			return err
		}
		sig, err := sign(p)
		if err != nil {
			return err
		}
		raw, _ := json.Marshal(sig)
		if _, err := tx.ExecContext(ctx, `UPDATE prescriptions SET doctor_sig = $2 WHERE id = $1`, p.ID, string(raw)); err != nil {
			return err
		}
		p.Signatures = []rx.Signature{sig}
		for i := range notes {
			notes[i].Ref = fmt.Sprintf("prescription/%d", p.ID)
			if err := insertNotice(ctx, tx, &notes[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (db *DB) Prescription(ctx context.Context, id int64) (*rx.Prescription, error) {
	return scanRx(db.QueryRowContext(ctx, `SELECT `+rxCols+` FROM prescriptions WHERE id = $1`, id))
}

func (db *DB) Prescriptions(ctx context.Context, f rx.Filter) ([]rx.Prescription, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 200
	}
	where := []string{"1 = 1"}
	args := []any{}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Institution != "" {
		where = append(where, "institution = "+arg(f.Institution))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if f.VisitID != 0 {
		where = append(where, "visit_id = "+arg(f.VisitID))
	}
	if f.DoctorID != 0 {
		where = append(where, "doctor_id = "+arg(f.DoctorID))
	}
	if f.PatientIDs != nil {
		if len(f.PatientIDs) == 0 {
			return []rx.Prescription{}, nil
		}
		var ps []string
		for _, id := range f.PatientIDs {
			ps = append(ps, arg(id))
		}
		where = append(where, "patient_id IN ("+strings.Join(ps, ", ")+")")
	}
	order := "issued_at, id" // the review queue: oldest first
	if f.Status != rx.PendingReview {
		order = "issued_at DESC, id DESC"
	}
	rows, err := db.query(ctx, `SELECT `+rxCols+` FROM prescriptions WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT `+arg(f.Limit), args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRx)
}

func (db *DB) Review(ctx context.Context, p *rx.Prescription, sign func(*rx.Prescription) (rx.Signature, error), notes []notify.Notification) error {
	review, _ := json.Marshal(rxReview{Reasons: p.ReviewReasons, Note: p.ReviewNote})
	return db.tx(ctx, func(tx *sql.Tx) error {
		psig := ""
		if sign != nil {
			sig, err := sign(p)
			if err != nil {
				return err
			}
			raw, _ := json.Marshal(sig)
			psig = string(raw)
			p.Signatures = append(p.Signatures, sig)
		}
		res, err := tx.ExecContext(ctx, `UPDATE prescriptions SET status = $2, reviewer_id = $3, reviewer_name = $4, reviewed_at = $5, review = $6,
			pharmacist_sig = $7, updated_at = $5 WHERE id = $1 AND status = 'pending_review' AND valid_until >= $5`,
			p.ID, string(p.Status), p.ReviewerID, p.ReviewerName, micros(p.ReviewedAt), string(review), psig)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var status string
			var until int64
			if err := tx.QueryRowContext(ctx, `SELECT status, valid_until FROM prescriptions WHERE id = $1`, p.ID).Scan(&status, &until); err != nil {
				return notFound(err)
			}
			if status == string(rx.PendingReview) {
				return errs.E(rx.CodeExpired)
			}
			return errs.E(rx.CodeNotPending)
		}
		for i := range notes {
			notes[i].Ref = fmt.Sprintf("prescription/%d", p.ID)
			if err := insertNotice(ctx, tx, &notes[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (db *DB) Expire(ctx context.Context, now time.Time) ([]rx.Prescription, error) {
	var out []rx.Prescription
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE prescriptions SET status = 'expired', updated_at = $1
			WHERE status = 'pending_review' AND valid_until < $1 RETURNING `+rxCols, micros(now))
		if err != nil {
			return err
		}
		out, err = collect(rows, scanRx)
		return err
	})
	return out, err
}

func (db *DB) Stats(ctx context.Context, institution string, from, to time.Time) ([]rx.DoctorStats, error) {
	rows, err := db.query(ctx, `SELECT `+rxCols+` FROM prescriptions WHERE institution = $1 AND issued_at >= $2 AND issued_at < $3 ORDER BY doctor_id, id`,
		institution, micros(from), micros(to))
	if err != nil {
		return nil, err
	}
	ps, err := collect(rows, scanRx)
	if err != nil {
		return nil, err
	}
	var out []rx.DoctorStats
	for _, p := range ps {
		if len(out) == 0 || out[len(out)-1].DoctorID != p.DoctorID {
			out = append(out, rx.DoctorStats{DoctorID: p.DoctorID, DoctorName: p.DoctorName, Drugs: map[string]int{}})
		}
		s := &out[len(out)-1]
		s.Prescriptions++
		switch p.Status {
		case rx.Approved, rx.Dispensed:
			s.Approved++
			s.TotalFen += p.TotalFen
		case rx.Rejected:
			s.Rejected++
		}
		for _, it := range p.Items {
			s.Drugs[it.Drug]++
		}
	}
	return out, nil
}
