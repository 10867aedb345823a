package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/retention"
)

// Retention of records (N-17; package retention): the policies, the
// refusal of an early deletion (DeleteAttachment) and the purge's runs.

var _ retention.Store = (*DB)(nil)

const retentionCols = `type, years, purge, updated_at, updated_by`

func scanRetention(row interface{ Scan(...any) error }) (*retention.Policy, error) {
	var p retention.Policy
	var typ string
	var at int64
	if err := row.Scan(&typ, &p.Years, &p.Purge, &at, &p.UpdatedBy); err != nil {
		return nil, notFound(err)
	}
	p.Type, p.UpdatedAt = retention.Type(typ), fromMicros(at)
	out := p.WithRules()
	return &out, nil
}

// RetentionPolicies lists the policies in retention.Types' order.
func (db *DB) RetentionPolicies(ctx context.Context) ([]retention.Policy, error) {
	rows, err := db.query(ctx, `SELECT `+retentionCols+` FROM retention_policies`)
	if err != nil {
		return nil, err
	}
	list, err := collect(rows, scanRetention)
	if err != nil {
		return nil, err
	}
	out := make([]retention.Policy, 0, len(list))
	for _, t := range retention.Types {
		for _, p := range list {
			if p.Type == t {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func (db *DB) RetentionPolicy(ctx context.Context, t retention.Type) (*retention.Policy, error) {
	return scanRetention(db.QueryRowContext(ctx, `SELECT `+retentionCols+` FROM retention_policies WHERE type = $1`, string(t)))
}

// retentionIn is a type's policy read inside tx.
func retentionIn(ctx context.Context, tx *sql.Tx, t retention.Type) (*retention.Policy, error) {
	return scanRetention(tx.QueryRowContext(ctx, `SELECT `+retentionCols+` FROM retention_policies WHERE type = $1`, string(t)))
}

// SaveRetentionPolicy writes the period and the purge switch of a type
// with its audit entry. The table's checks refuse a period under the legal
// minimum and a purge of a type that is never purged, as Validate does.
func (db *DB) SaveRetentionPolicy(ctx context.Context, p retention.Policy, e *audit.Entry) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE retention_policies SET years = $2, purge = $3, updated_at = $4, updated_by = $5 WHERE type = $1`,
			string(p.Type), p.Years, p.Purge, micros(p.UpdatedAt), p.UpdatedBy)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound)
		}
		return db.appendAuditTx(ctx, tx, []*audit.Entry{e})
	})
}

const runCols = `id, owner, started_at, finished_at, chat_messages, chat_files, call_guests, cutoffs`

func scanRun(row interface{ Scan(...any) error }) (*retention.Run, error) {
	var r retention.Run
	var started, finished, msgs, files, guests int64
	var cutoffs string
	if err := row.Scan(&r.ID, &r.Owner, &started, &finished, &msgs, &files, &guests, &cutoffs); err != nil {
		return nil, notFound(err)
	}
	r.StartedAt, r.FinishedAt = fromMicros(started), fromMicros(finished)
	r.Counts = map[retention.Part]int64{retention.ChatMessages: msgs, retention.ChatFiles: files, retention.CallGuests: guests}
	if cutoffs != "" && cutoffs != "{}" {
		json.Unmarshal([]byte(cutoffs), &r.Cutoffs)
	}
	return &r, nil
}

// BeginPurge takes up the open run of this owner (one an error stopped)
// or of an owner that made no progress since stale, or opens a new run; one run is open at a time (a unique
// index on the open runs), so a server finding another's live run gets nil.
func (db *DB) BeginPurge(ctx context.Context, owner string, now, stale time.Time) (*retention.Run, error) {
	var run *retention.Run
	err := db.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanRun(tx.QueryRowContext(ctx, `UPDATE retention_runs SET owner = $1, updated_at = $2
			WHERE finished_at = 0 AND (owner = $1 OR updated_at < $3) RETURNING `+runCols, owner, micros(now), micros(stale)))
		if err == nil {
			run = r
			return nil
		}
		if !errs.Is(err, errs.NotFound) {
			return err
		}
		r, err = scanRun(tx.QueryRowContext(ctx, `INSERT INTO retention_runs (owner, started_at, updated_at) VALUES ($1, $2, $2)
			ON CONFLICT DO NOTHING RETURNING `+runCols, owner, micros(now)))
		if err == nil {
			run = r
			return nil
		}
		if errs.Is(err, errs.NotFound) {
			return nil // another owner's run is under way
		}
		return err
	})
	return run, err
}

// purgeParts are the statements of each part: the rows of a batch, made
// before $1, at most $2 of them, oldest first. A file's statement
// answers its blob key.
var purgeParts = map[retention.Part]struct {
	column string
	query  string
	files  bool
}{
	retention.ChatMessages: {"chat_messages", `DELETE FROM messages WHERE (visit_id, seq) IN
		(SELECT visit_id, seq FROM messages WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, false},
	retention.ChatFiles: {"chat_files", `DELETE FROM attachments WHERE id IN
		(SELECT id FROM attachments WHERE purpose = 'chat' AND created_at < $1 ORDER BY created_at LIMIT $2) RETURNING blob_key`, true},
	// A guest clinician recorded present with a child (N-4) is part of
	// the visit record and stays with it.
	retention.CallGuests: {"call_guests", `DELETE FROM visit_guests WHERE id IN
		(SELECT id FROM visit_guests WHERE created_at < $1 AND present_at = 0 ORDER BY created_at LIMIT $2)`, false},
}

// PurgeBatch removes one batch of a part and counts it in the run, in one
// transaction, while the run is still its owner's.
func (db *DB) PurgeBatch(ctx context.Context, run *retention.Run, part retention.Part, cutoff time.Time, limit int, now time.Time) (int, []string, error) {
	q, ok := purgeParts[part]
	if !ok {
		return 0, nil, errs.Errorf("retention: unknown part %q", part)
	}
	var n int
	var keys []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n, keys = 0, nil
		if q.files {
			rows, err := tx.QueryContext(ctx, q.query, micros(cutoff), limit)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					return err
				}
				keys = append(keys, k)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			n = len(keys)
		} else {
			res, err := tx.ExecContext(ctx, q.query, micros(cutoff), limit)
			if err != nil {
				return err
			}
			c, _ := res.RowsAffected()
			n = int(c)
		}
		res, err := tx.ExecContext(ctx, `UPDATE retention_runs SET `+q.column+` = `+q.column+` + $3, updated_at = $4
			WHERE id = $1 AND owner = $2 AND finished_at = 0`, run.ID, run.Owner, n, micros(now))
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return errs.E(errs.Conflict) // another owner took the run over
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return n, keys, nil
}

// FinishPurge closes the run with its cutoffs and appends its audit
// entry.
func (db *DB) FinishPurge(ctx context.Context, run *retention.Run, now time.Time, e *audit.Entry) error {
	cutoffs, _ := json.Marshal(run.Cutoffs)
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE retention_runs SET finished_at = $3, updated_at = $3, cutoffs = $4
			WHERE id = $1 AND owner = $2 AND finished_at = 0`, run.ID, run.Owner, micros(now), string(cutoffs))
		if err != nil {
			return err
		}
		if c, _ := res.RowsAffected(); c == 0 {
			return errs.E(errs.Conflict)
		}
		return db.appendAuditTx(ctx, tx, []*audit.Entry{e})
	})
}

// PurgeRuns lists the newest runs, newest first.
func (db *DB) PurgeRuns(ctx context.Context, limit int) ([]retention.Run, error) {
	rows, err := db.query(ctx, `SELECT `+runCols+` FROM retention_runs ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRun)
}
