package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/yunyi-health/yunyi/internal/history"
)

var _ history.Store = (*DB)(nil)

// visitRows is how many visits one INSERT writes (10 parameters each:
// 2,000 a statement, under every engine's limit).
const visitRows = 200

// historyTx is how many visits one transaction writes at most.
const historyTx = 5000

// InsertVisits writes visits with multi-row INSERT … ON CONFLICT DO
// NOTHING statements, up to historyTx in one transaction (an import gives a
// batch at a time); the count of rows each statement inserted is the
// count of new visits.
func (db *DB) InsertVisits(ctx context.Context, visits []history.Visit) (int, error) {
	added := 0
	now := micros(db.now())
	const prefix = `INSERT INTO visit_history (institution, department, resident_id, visit_date, diagnosis_code, diagnosis_name, definite, source, external_id, imported_at) VALUES `
	const suffix = ` ON CONFLICT (institution, external_id) DO NOTHING`
	rows := make([][]any, 0, visitRows)
	for start := 0; start < len(visits); start += historyTx {
		part := visits[start:min(start+historyTx, len(visits))]
		n := 0
		err := db.tx(ctx, func(tx *sql.Tx) error {
			var full *sql.Stmt // the statement of a whole chunk, prepared once
			defer func() {
				if full != nil {
					full.Close()
				}
			}()
			for at := 0; at < len(part); at += visitRows {
				rows = rows[:0]
				for _, v := range part[at:min(at+visitRows, len(part))] {
					rows = append(rows, []any{v.Institution, v.Department, v.ResidentID, v.Date, v.DiagnosisCode, v.DiagnosisName, v.Definite, v.Source, v.ExternalID, now})
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
// range each; a person has a few), the department and the latest on or
// before each query's day picked here. (Listing the departments too made
// the index probe every person in every department of a batch.)
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
	q := `SELECT resident_id, institution, department, visit_date, diagnosis_code FROM visit_history WHERE resident_id IN (` +
		list(func(q history.Query) string { return q.ResidentID }) + `) AND institution IN (` +
		list(func(q history.Query) string { return q.Institution }) + `) AND definite ORDER BY visit_date DESC, diagnosis_code`
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

func (db *DB) Visits(ctx context.Context, residentID string) ([]history.Visit, error) {
	rows, err := db.query(ctx, `SELECT institution, department, resident_id, visit_date, diagnosis_code, diagnosis_name, definite, source, external_id
		FROM visit_history WHERE resident_id = $1 ORDER BY visit_date DESC`, residentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []history.Visit{}
	for rows.Next() {
		var v history.Visit
		if err := rows.Scan(&v.Institution, &v.Department, &v.ResidentID, &v.Date, &v.DiagnosisCode, &v.DiagnosisName, &v.Definite, &v.Source, &v.ExternalID); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (db *DB) CreateImport(ctx context.Context, institution, format string, by int64, at time.Time) (int64, error) {
	var id int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO history_imports (institution, format, status, by_account, created_at) VALUES ($1, $2, 'running', $3, $4) RETURNING id`,
		institution, format, by, micros(at)).Scan(&id)
	return id, err
}

func (db *DB) UpdateImport(ctx context.Context, institution string, r *history.Report, finished time.Time) error {
	problems, _ := json.Marshal(r.Problems)
	_, err := db.w.ExecContext(ctx, `UPDATE history_imports SET status = $3, total = $4, processed = $5, imported = $6, duplicates = $7, failed = $8,
		errors = $9, finished_at = $10 WHERE id = $1 AND institution = $2`,
		r.ID, institution, r.Status, r.Total, r.Processed, r.Imported, r.Duplicates, r.Failed, string(problems), micros(finished))
	return err
}

func (db *DB) Import(ctx context.Context, institution string, id int64) (*history.Report, error) {
	r := &history.Report{ID: id}
	var problems string
	err := db.QueryRowContext(ctx, `SELECT status, format, total, processed, imported, duplicates, failed, errors FROM history_imports WHERE id = $1 AND institution = $2`,
		id, institution).Scan(&r.Status, &r.Format, &r.Total, &r.Processed, &r.Imported, &r.Duplicates, &r.Failed, &problems)
	if err != nil {
		return nil, notFound(err)
	}
	json.Unmarshal([]byte(problems), &r.Problems)
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
