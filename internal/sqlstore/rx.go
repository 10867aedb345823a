package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/supervision"
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

func (db *DB) LatestVersion(ctx context.Context, visitID int64) (int64, int, rx.Status, error) {
	var id int64
	var version int
	var status string
	err := db.QueryRowContext(ctx, `SELECT id, version, status FROM prescriptions WHERE visit_id = $1 ORDER BY version DESC LIMIT 1`, visitID).
		Scan(&id, &version, &status)
	if err == sql.ErrNoRows {
		return 0, 0, "", nil
	}
	return id, version, rx.Status(status), err
}

// ReservePrescriptionID hands out the next id: on PostgreSQL from the
// table's identity sequence (shared by every server), on SQLite (one
// server a file) from a counter started at the largest id stored.
func (db *DB) ReservePrescriptionID(ctx context.Context) (int64, error) {
	if db.Engine == Postgres {
		var id int64
		err := db.w.QueryRowContext(ctx, `SELECT nextval(pg_get_serial_sequence('prescriptions', 'id'))`).Scan(&id)
		return id, err
	}
	db.rxSeq.Lock()
	defer db.rxSeq.Unlock()
	if db.rxSeq.next == 0 {
		if err := db.loadRxSeq(ctx); err != nil {
			return 0, err
		}
	}
	id := db.rxSeq.next
	db.rxSeq.next++
	return id, nil
}

// loadRxSeq (re)starts the SQLite counter after the largest id stored
// (rxSeq held).
func (db *DB) loadRxSeq(ctx context.Context) error {
	var maxID int64
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM prescriptions`).Scan(&maxID); err != nil {
		return err
	}
	db.rxSeq.next = max(db.rxSeq.next, maxID+1)
	return nil
}

const rxInsertCols = `id, visit_id, version, revises, institution, department, patient_id, doctor_id, status, body, issued_at, valid_days,
	valid_until, total_fen, doctor_sig, updated_at`

// Issue writes a batch of signed prescriptions: one multi-row INSERT that
// skips a row whose id or visit and version is taken, then the notices
// and audit entries of those written.
func (db *DB) Issue(ctx context.Context, reqs []*rx.IssueRequest) error {
	rows := make([][]any, 0, len(reqs))
	now := micros(db.now())
	for _, r := range reqs {
		r.Err = nil
		p := r.P
		body, err := json.Marshal(rxBody{PatientName: p.PatientName, PatientSex: p.PatientSex, PatientAge: p.PatientAge, DoctorName: p.DoctorName,
			Items: p.Items, Diagnoses: p.Diagnoses, WeightKg: p.WeightKg, Allergies: p.Allergies, Supply: p.Supply, LongTermWhy: p.LongTermWhy, Note: p.Note,
			Verdicts: p.Verdicts, Confirmed: p.Confirmed})
		if err != nil {
			return err
		}
		sig := ""
		if len(p.Signatures) > 0 {
			raw, err := json.Marshal(p.Signatures[0])
			if err != nil {
				return err
			}
			sig = string(raw)
		}
		rows = append(rows, []any{p.ID, p.VisitID, p.Version, p.Revises, p.Institution, p.Department, p.PatientID, p.DoctorID, string(p.Status),
			string(body), micros(p.IssuedAt), p.ValidDays, micros(p.ValidUntil), p.TotalFen, sig, now})
	}
	written := make(map[int64]bool, len(reqs))
	err := db.tx(ctx, func(tx *sql.Tx) error {
		clear(written)
		for _, c := range valueChunks(rows) {
			text, args := db.valuesStatement(`INSERT INTO prescriptions (`+rxInsertCols+`) VALUES `, c, nil, ` ON CONFLICT DO NOTHING RETURNING id`)
			ids, err := scanIDs(tx.QueryContext(ctx, text, args...))
			if err != nil {
				return err
			}
			for _, id := range ids {
				written[id] = true
			}
		}
		var notices [][]any
		var entries []*audit.Entry
		var evs []feed
		for _, r := range reqs {
			if written[r.P.ID] {
				notices, entries = appendNotices(notices, r.Notes, r.P.ID), appendEntry(entries, r.Audit)
				evs = append(evs, rxEvent(r.P, supervision.PrescriptionIssued, r.P.IssuedAt, r.P.DoctorID, ""))
			}
		}
		if err := db.insertMany(ctx, tx, "notifications", noticeCols, notices); err != nil {
			return err
		}
		if err := db.appendAuditTx(ctx, tx, entries); err != nil {
			return err
		}
		return db.emit(ctx, tx, evs...)
	})
	if err != nil {
		return err
	}
	conflicts := false
	for _, r := range reqs {
		if !written[r.P.ID] {
			r.Err, conflicts = errs.E(errs.Conflict), true
		}
	}
	if conflicts && db.Engine == SQLite {
		db.rxSeq.Lock()
		err = db.loadRxSeq(ctx) // another handle on the file may have taken ids
		db.rxSeq.Unlock()
	}
	return err
}

// appendNotices adds a prescription's notices as notification rows.
func appendNotices(rows [][]any, notes []notify.Notification, id int64) [][]any {
	for i := range notes {
		n := &notes[i]
		n.Ref = fmt.Sprintf("prescription/%d", id)
		rows = append(rows, []any{n.AccountID, n.Kind, n.Title, n.Body, n.TitleEN, n.BodyEN, n.Ref, micros(n.CreatedAt)})
	}
	return rows
}

func appendEntry(entries []*audit.Entry, e *audit.Entry) []*audit.Entry {
	if e == nil {
		return entries
	}
	return append(entries, e)
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

var rxReviewCasts = []string{"BIGINT", "TEXT", "BIGINT", "TEXT", "BIGINT", "TEXT", "TEXT"}

// Review writes a batch of reviews: one UPDATE … FROM (VALUES …) whose
// compare and set (still pending, still valid at the review's time)
// decides each, then the notices and audit entries of those that went
// through. A prescription asked for twice in one batch is decided by the
// first request; the second finds it decided.
func (db *DB) Review(ctx context.Context, reqs []*rx.ReviewRequest) error {
	var rows [][]any
	first := make(map[int64]*rx.ReviewRequest, len(reqs))
	for _, r := range reqs {
		r.Err = nil
		p := r.P
		if first[p.ID] != nil {
			continue
		}
		first[p.ID] = r
		review, _ := json.Marshal(rxReview{Reasons: p.ReviewReasons, Note: p.ReviewNote})
		psig := ""
		if n := len(p.Signatures); p.Status == rx.Approved && n > 0 && p.Signatures[n-1].Role == rx.RolePharmacist {
			raw, err := json.Marshal(p.Signatures[n-1])
			if err != nil {
				return err
			}
			psig = string(raw)
		}
		rows = append(rows, []any{p.ID, string(p.Status), p.ReviewerID, p.ReviewerName, micros(p.ReviewedAt), string(review), psig})
	}
	done := make(map[int64]bool, len(rows))
	failed := map[int64]error{}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		clear(done)
		clear(failed)
		for _, c := range valueChunks(rows) {
			text, args := db.valuesStatement(`UPDATE prescriptions SET status = v.column2, reviewer_id = v.column3, reviewer_name = v.column4,
				reviewed_at = v.column5, review = v.column6, pharmacist_sig = v.column7, updated_at = v.column5 FROM (VALUES `, c, rxReviewCasts,
				`) AS v WHERE prescriptions.id = v.column1 AND prescriptions.status = 'pending_review' AND prescriptions.valid_until >= v.column5
				RETURNING prescriptions.id`)
			ids, err := scanIDs(tx.QueryContext(ctx, text, args...))
			if err != nil {
				return err
			}
			for _, id := range ids {
				done[id] = true
			}
		}
		var lost [][]any
		for id := range first {
			if !done[id] {
				lost = append(lost, []any{id})
				failed[id] = errs.E(errs.NotFound)
			}
		}
		if len(lost) > 0 {
			text, args := db.valuesStatement(`SELECT id, status FROM prescriptions WHERE id IN (`, lost, nil, `)`)
			rs, err := tx.QueryContext(ctx, text, args...)
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				var id int64
				var status string
				if err := rs.Scan(&id, &status); err != nil {
					return err
				}
				if status == string(rx.PendingReview) {
					failed[id] = errs.E(rx.CodeExpired)
				} else {
					failed[id] = errs.E(rx.CodeNotPending)
				}
			}
			if err := rs.Err(); err != nil {
				return err
			}
		}
		var notices [][]any
		var entries []*audit.Entry
		var evs []feed
		for _, r := range reqs {
			if id := r.P.ID; first[id] == r && done[id] {
				notices, entries = appendNotices(notices, r.Notes, id), appendEntry(entries, r.Audit)
				evs = append(evs, rxEvent(r.P, supervision.PrescriptionReviewed, r.P.ReviewedAt, r.P.ReviewerID, string(r.P.Status)))
			}
		}
		if err := db.insertMany(ctx, tx, "notifications", noticeCols, notices); err != nil {
			return err
		}
		if err := db.appendAuditTx(ctx, tx, entries); err != nil {
			return err
		}
		return db.emit(ctx, tx, evs...)
	})
	if err != nil {
		return err
	}
	for _, r := range reqs {
		switch {
		case first[r.P.ID] != r && done[r.P.ID]:
			r.Err = errs.E(rx.CodeNotPending)
		case !done[r.P.ID]:
			r.Err = failed[r.P.ID]
		}
	}
	return nil
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

// rxEvent is a prescription's event for the supervision feed: its
// diagnoses and the codes of the rules the doctor confirmed, never its
// drugs' directions or the review's free-text reasons.
func rxEvent(p *rx.Prescription, kind supervision.Kind, at time.Time, by int64, outcome string) feed {
	return feed{Event: supervision.Event{Institution: p.Institution, Kind: kind, OccurredAt: at, Visit: p.VisitID, Practitioner: by,
		Department: p.Department, Diagnoses: p.Diagnoses, Codes: p.Confirmed, Outcome: outcome, Ref: "prescription/" + strconv.FormatInt(p.ID, 10)},
		PatientID: p.PatientID}
}
