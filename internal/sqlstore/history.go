package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/history"
)

var _ history.Store = (*DB)(nil)

// visitRows is how many visits one INSERT writes (11 parameters each:
// 2,200 a statement, under every engine's limit).
const visitRows = 200

// historyTx is how many visits one transaction writes at most.
const historyTx = 5000

// InsertVisits writes visits with multi-row INSERT … ON CONFLICT DO
// NOTHING statements, up to historyTx in one transaction (an import gives a
// batch at a time); the count of rows each statement inserted is the
// count of new visits. The MRNs of a transaction's visits are recorded
// first, in it (upsertMRNs).
func (db *DB) InsertVisits(ctx context.Context, visits []history.Visit) (int, error) {
	added := 0
	now := micros(db.now())
	const prefix = `INSERT INTO visit_history (institution, department, resident_id, visit_date, diagnosis_code, diagnosis_name, definite, source, external_id, imported_at, mrn) VALUES `
	const suffix = ` ON CONFLICT (institution, external_id) DO NOTHING`
	rows := make([][]any, 0, visitRows)
	for start := 0; start < len(visits); start += historyTx {
		part := visits[start:min(start+historyTx, len(visits))]
		n := 0
		err := db.tx(ctx, func(tx *sql.Tx) error {
			if err := db.upsertMRNs(ctx, tx, part, now); err != nil {
				return err
			}
			var full *sql.Stmt // the statement of a whole chunk, prepared once
			defer func() {
				if full != nil {
					full.Close()
				}
			}()
			for at := 0; at < len(part); at += visitRows {
				rows = rows[:0]
				for _, v := range part[at:min(at+visitRows, len(part))] {
					rows = append(rows, []any{v.Institution, v.Department, v.ResidentID, v.Date, v.DiagnosisCode, v.DiagnosisName, v.Definite, v.Source, v.ExternalID, now, v.MRN})
				}
				text, args := db.valuesStatement(prefix, rows, nil, suffix)
				var res sql.Result
				var err error
				if len(rows) == visitRows && len(part) > visitRows {
					if full == nil {
						if full, err = tx.PrepareContext(ctx, text); err != nil {
							return err
						}
					}
					res, err = full.ExecContext(ctx, args...)
				} else {
					res, err = tx.ExecContext(ctx, text, args...)
				}
				if err != nil {
					return fmt.Errorf("insert visit_history: %w", err)
				}
				k, err := res.RowsAffected()
				if err != nil {
					return err
				}
				n += int(k)
			}
			return nil
		})
		if err != nil {
			return added, err
		}
		added += n
	}
	return added, db.boundWAL(ctx)
}

// upsertMRNs records the MRNs of visits, one row each (the last visit's
// name, birth date and sex that are not empty win), with multi-row
// upserts: a record's fields are replaced by those the file gives, its
// link is kept.
func (db *DB) upsertMRNs(ctx context.Context, tx *sql.Tx, visits []history.Visit, now int64) error {
	type key struct{ inst, mrn string }
	at := map[key]int{}
	var rows [][]any
	for _, v := range visits {
		if v.MRN == "" {
			continue
		}
		k := key{v.Institution, v.MRN}
		i, ok := at[k]
		if !ok {
			i = len(rows)
			at[k] = i
			rows = append(rows, []any{v.Institution, v.MRN, "", "", "", now})
		}
		for j, f := range []string{v.PatientName, v.BirthDate, v.Sex} {
			if f != "" {
				rows[i][2+j] = f
			}
		}
	}
	for _, c := range valueChunks(rows) {
		text, args := db.valuesStatement(`INSERT INTO history_mrns (institution, mrn, name, birth_date, sex, created_at) VALUES `, c, nil,
			` ON CONFLICT (institution, mrn) DO UPDATE SET
				name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE history_mrns.name END,
				birth_date = CASE WHEN excluded.birth_date <> '' THEN excluded.birth_date ELSE history_mrns.birth_date END,
				sex = CASE WHEN excluded.sex <> '' THEN excluded.sex ELSE history_mrns.sex END
			WHERE excluded.name <> '' OR excluded.birth_date <> '' OR excluded.sex <> ''`)
		if _, err := tx.ExecContext(ctx, text, args...); err != nil {
			return fmt.Errorf("upsert history_mrns: %w", err)
		}
	}
	return nil
}

// walBound is the size over which a bulk write checkpoints SQLite's WAL
// itself: the background checkpointer (PASSIVE) copies frames beside the
// writer, but the WAL starts over only once a checkpoint has caught up
// between two transactions, which never happens while an import writes
// batch after batch, so the WAL would grow by the whole import (16 GB for
// 3.5 million visits, each batch of random index inserts rewriting
// thousands of pages).
var walBound int64 = 64 << 20

// boundWAL checkpoints the WAL and truncates it (on the writer's
// connection, between two batches) when it is over walBound. A reader
// still on an older snapshot leaves it for the next batch.
func (db *DB) boundWAL(ctx context.Context) error {
	p := db.Path()
	if db.Engine != SQLite || p == "" {
		return nil
	}
	if fi, err := os.Stat(p + "-wal"); err != nil || fi.Size() < walBound {
		return nil
	}
	_, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// LastDefiniteVisits answers many queries with one statement: the
// definite visits of the queries' people in their institutions (an index
// range each; a person has a few), under their resident IDs and under the
// MRNs linked to them (a second index range each, empty for most), the
// department and the latest on or before each query's day picked here.
// (Listing the departments too made the index probe every person in every
// department of a batch.)
func (db *DB) LastDefiniteVisits(ctx context.Context, qs []history.Query) ([]history.Last, error) {
	out := make([]history.Last, len(qs))
	if len(qs) == 0 {
		return out, nil
	}
	var args []any
	list := func(vals func(history.Query) string) string {
		seen := map[string]bool{}
		from := len(args) + 1
		for _, q := range qs {
			if v := vals(q); !seen[v] {
				seen[v] = true
				args = append(args, v)
			}
		}
		// Padded with the last value to a multiple of 8 (past 8), so that
		// few statement texts exist to keep prepared.
		for n := len(args) - from + 1; n > 8 && n%8 != 0; n++ {
			args = append(args, args[len(args)-1])
		}
		return params(from, len(args)-from+1)
	}
	people := list(func(q history.Query) string { return q.ResidentID })
	institutions := list(func(q history.Query) string { return q.Institution })
	// The MRN branch names the same parameters again; its conditions
	// repeat the partial indexes' (an engine uses one only when the query
	// says so).
	q := `SELECT resident_id, institution, department, visit_date, diagnosis_code FROM visit_history
		WHERE resident_id IN (` + people + `) AND institution IN (` + institutions + `) AND definite
		UNION ALL
		SELECT m.resident_id, v.institution, v.department, v.visit_date, v.diagnosis_code FROM history_mrns m
		JOIN visit_history v ON v.institution = m.institution AND v.mrn = m.mrn
		WHERE m.resident_id IN (` + people + `) AND m.resident_id <> '' AND m.institution IN (` + institutions + `)
		AND v.mrn <> '' AND v.resident_id = '' AND v.definite
		ORDER BY visit_date DESC, diagnosis_code`
	// Kept prepared: a statement for each padded count of people and of
	// institutions.
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type key struct{ rid, inst, dept string }
	byKey := map[key][]int{}
	for i, q := range qs {
		k := key{q.ResidentID, q.Institution, q.Department}
		byKey[k] = append(byKey[k], i)
	}
	for rows.Next() {
		var k key
		var date, code string
		if err := rows.Scan(&k.rid, &k.inst, &k.dept, &date, &code); err != nil {
			return nil, err
		}
		for _, i := range byKey[k] {
			if !out[i].Found && date <= qs[i].OnOrBefore { // the latest first
				out[i] = history.Last{Found: true, Date: date, DiagnosisCode: code}
			}
		}
	}
	return out, rows.Err()
}

// Visits lists a person's visits, under their resident ID and under the
// MRNs linked to it (with the resident ID they are linked to).
func (db *DB) Visits(ctx context.Context, residentID string) ([]history.Visit, error) {
	rows, err := db.query(ctx, `SELECT institution, department, resident_id, visit_date, diagnosis_code, diagnosis_name, definite, source, external_id, mrn
		FROM visit_history WHERE resident_id = $1
		UNION ALL
		SELECT v.institution, v.department, m.resident_id, v.visit_date, v.diagnosis_code, v.diagnosis_name, v.definite, v.source, v.external_id, v.mrn
		FROM history_mrns m JOIN visit_history v ON v.institution = m.institution AND v.mrn = m.mrn
		WHERE m.resident_id = $1 AND m.resident_id <> '' AND v.mrn <> '' AND v.resident_id = ''
		ORDER BY visit_date DESC`, residentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []history.Visit{}
	for rows.Next() {
		var v history.Visit
		if err := rows.Scan(&v.Institution, &v.Department, &v.ResidentID, &v.Date, &v.DiagnosisCode, &v.DiagnosisName, &v.Definite, &v.Source, &v.ExternalID, &v.MRN); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// LinkMRNs links each MRN with one conditional upsert: a new record is
// made linked; an existing one is linked only when it is not yet and its
// birth date is unknown or the resident ID's. When nothing was written,
// the record says why (linked to the same or another resident ID, or
// another birth date). One transaction for all.
func (db *DB) LinkMRNs(ctx context.Context, links []history.Link) ([]history.LinkResult, error) {
	out := make([]history.LinkResult, len(links))
	if len(links) == 0 {
		return out, nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for i, l := range links {
			at := micros(l.At)
			res, err := tx.ExecContext(ctx, `INSERT INTO history_mrns (institution, mrn, resident_id, linked_by, linked_account, linked_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $6)
				ON CONFLICT (institution, mrn) DO UPDATE SET resident_id = excluded.resident_id, linked_by = excluded.linked_by,
					linked_account = excluded.linked_account, linked_at = excluded.linked_at
				WHERE history_mrns.resident_id = '' AND (history_mrns.birth_date = '' OR history_mrns.birth_date = $7)`,
				l.Institution, l.MRN, l.ResidentID, l.By, l.Account, at, l.BirthDate)
			if err != nil {
				if isForeignKey(err) {
					return errs.Wrap(errs.NotFound, err)
				}
				return fmt.Errorf("link history_mrns: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n > 0 {
				out[i] = history.Linked
				continue
			}
			var rid, birth string
			if err := tx.QueryRowContext(ctx, `SELECT resident_id, birth_date FROM history_mrns WHERE institution = $1 AND mrn = $2`, l.Institution, l.MRN).
				Scan(&rid, &birth); err != nil {
				return err
			}
			switch rid {
			case l.ResidentID:
				out[i] = history.AlreadyLinked
			case "":
				out[i] = history.LinkBirth
			default:
				out[i] = history.LinkConflict
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const mrnColumns = `institution, mrn, name, birth_date, sex, resident_id, linked_by, linked_account, linked_at`

func scanMRN(sc interface{ Scan(...any) error }) (*history.MRN, error) {
	var m history.MRN
	var at int64
	if err := sc.Scan(&m.Institution, &m.MRN, &m.Name, &m.BirthDate, &m.Sex, &m.ResidentID, &m.LinkedBy, &m.LinkedAccount, &at); err != nil {
		return nil, err
	}
	m.LinkedAt = fromMicros(at)
	return &m, nil
}

// MRN is an institution's record of an MRN.
func (db *DB) MRN(ctx context.Context, institution, mrn string) (*history.MRN, error) {
	m, err := scanMRN(db.QueryRowContext(ctx, `SELECT `+mrnColumns+` FROM history_mrns WHERE institution = $1 AND mrn = $2`, institution, mrn))
	if err != nil {
		return nil, notFound(err)
	}
	return m, nil
}

// MRNsLinkedTo lists the MRNs linked to the resident IDs, by institution
// and MRN.
func (db *DB) MRNsLinkedTo(ctx context.Context, residentIDs []string) ([]history.MRN, error) {
	out := []history.MRN{}
	if len(residentIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(residentIDs))
	for i, r := range residentIDs {
		args[i] = r
	}
	rows, err := db.query(ctx, `SELECT `+mrnColumns+` FROM history_mrns WHERE resident_id IN (`+params(1, len(args))+`) AND resident_id <> ''
		ORDER BY institution, mrn`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMRN(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// MRNs lists an institution's MRNs, linked or not, by MRN, with the
// visits kept under each (the partial index of visits by MRN, an index
// range an MRN) and how many MRNs there are in all.
func (db *DB) MRNs(ctx context.Context, q history.MRNQuery) ([]history.MRNSummary, int, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 1000
	}
	cond := `m.institution = $1 AND m.resident_id = ''`
	if q.Linked {
		cond = `m.institution = $1 AND m.resident_id <> ''`
	}
	var total int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM history_mrns m WHERE `+cond, q.Institution).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.query(ctx, `SELECT m.institution, m.mrn, m.name, m.birth_date, m.sex, m.resident_id, m.linked_by, m.linked_account, m.linked_at,
		(SELECT COUNT(*) FROM visit_history v WHERE v.institution = m.institution AND v.mrn = m.mrn AND v.mrn <> ''),
		COALESCE((SELECT MAX(v.visit_date) FROM visit_history v WHERE v.institution = m.institution AND v.mrn = m.mrn AND v.mrn <> ''), '')
		FROM history_mrns m WHERE `+cond+` ORDER BY m.mrn LIMIT $2 OFFSET $3`, q.Institution, q.Limit, max(q.Offset, 0))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []history.MRNSummary{}
	for rows.Next() {
		var x history.MRNSummary
		m, err := scanMRN(extraScan{rows, []any{&x.Visits, &x.LastVisit}})
		if err != nil {
			return nil, 0, err
		}
		x.MRN = *m
		out = append(out, x)
	}
	return out, total, rows.Err()
}

// RelinkMRN corrects or removes an MRN's link in one transaction: the
// record read (its link before, its birth date), then replaced.
func (db *DB) RelinkMRN(ctx context.Context, r history.Relink) (string, error) {
	var previous string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var birth string
		if err := tx.QueryRowContext(ctx, `SELECT resident_id, birth_date FROM history_mrns WHERE institution = $1 AND mrn = $2`, r.Institution, r.MRN).
			Scan(&previous, &birth); err != nil {
			return notFound(err)
		}
		by := history.LinkAdmin
		if r.ResidentID == "" {
			by = ""
		} else if birth != "" && birth != r.BirthDate {
			var f errs.Fields
			f.Add("resident_id", "birth_mismatch")
			return f.Err()
		}
		_, err := tx.ExecContext(ctx, `UPDATE history_mrns SET resident_id = $3, linked_by = $4, linked_account = $5, linked_at = $6
			WHERE institution = $1 AND mrn = $2`, r.Institution, r.MRN, r.ResidentID, by, r.Account, micros(r.At))
		return err
	})
	return previous, err
}

func (db *DB) CreateImport(ctx context.Context, institution, format string, by int64, at time.Time) (int64, error) {
	var id int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO history_imports (institution, format, status, by_account, created_at) VALUES ($1, $2, 'running', $3, $4) RETURNING id`,
		institution, format, by, micros(at)).Scan(&id)
	return id, err
}

// importDetails is what an import's row keeps of its report beyond the
// counts and problems (column details, JSON).
type importDetails struct {
	Ignored      []history.Ignored `json:"ignored,omitempty"`
	UnderMRN     int               `json:"under_mrn,omitempty"`
	MRNLinks     int               `json:"mrn_links,omitempty"`
	Notes        []history.Problem `json:"notes,omitempty"`
	NotesOmitted int               `json:"notes_omitted,omitempty"`
}

func (db *DB) UpdateImport(ctx context.Context, institution string, r *history.Report, finished time.Time) error {
	problems, _ := json.Marshal(r.Problems)
	details, _ := json.Marshal(importDetails{Ignored: r.Ignored, UnderMRN: r.UnderMRN, MRNLinks: r.MRNLinks, Notes: r.Notes, NotesOmitted: r.NotesOmitted})
	_, err := db.w.ExecContext(ctx, `UPDATE history_imports SET status = $3, total = $4, processed = $5, imported = $6, duplicates = $7, failed = $8,
		errors = $9, finished_at = $10, details = $11 WHERE id = $1 AND institution = $2`,
		r.ID, institution, r.Status, r.Total, r.Processed, r.Imported, r.Duplicates, r.Failed, string(problems), micros(finished), string(details))
	return err
}

func (db *DB) Import(ctx context.Context, institution string, id int64) (*history.Report, error) {
	r := &history.Report{ID: id}
	var problems, details string
	err := db.QueryRowContext(ctx, `SELECT status, format, total, processed, imported, duplicates, failed, errors, details FROM history_imports WHERE id = $1 AND institution = $2`,
		id, institution).Scan(&r.Status, &r.Format, &r.Total, &r.Processed, &r.Imported, &r.Duplicates, &r.Failed, &problems, &details)
	if err != nil {
		return nil, notFound(err)
	}
	json.Unmarshal([]byte(problems), &r.Problems)
	var d importDetails
	json.Unmarshal([]byte(details), &d)
	r.Ignored, r.UnderMRN, r.MRNLinks, r.Notes, r.NotesOmitted = d.Ignored, d.UnderMRN, d.MRNLinks, d.Notes, d.NotesOmitted
	if r.Problems == nil {
		r.Problems = []history.Problem{}
	}
	r.ProblemsOmitted = max(0, r.Failed-len(r.Problems))
	return r, nil
}

// SetVisitDate moves an imported visit to another date (the demo keeps its
// history at the same distance from today).
func (db *DB) SetVisitDate(ctx context.Context, institution, externalID, date string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE visit_history SET visit_date = $3 WHERE institution = $1 AND external_id = $2`, institution, externalID, date)
	return err
}
