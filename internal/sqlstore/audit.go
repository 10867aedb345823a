package sqlstore

import (
	"context"
	"database/sql"

	"github.com/yunyi-health/yunyi/internal/audit"
)

var _ audit.Store = (*DB)(nil)

func (db *DB) AppendAudit(ctx context.Context, entries []*audit.Entry) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.appendAuditTx(ctx, tx, entries) })
}

// appendAuditTx chains entries inside tx: a write and its audit entries
// commit together.
func (db *DB) appendAuditTx(ctx context.Context, tx *sql.Tx, entries []*audit.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	{
		lock := ""
		if db.Engine == Postgres {
			lock = " FOR UPDATE" // SQLite transactions are already exclusive (BEGIN IMMEDIATE)
		}
		var head audit.Head
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+lock).Scan(&head.Seq, &head.Hash)
		if err == sql.ErrNoRows {
			// The first entry ever: two writers may both find no head. One
			// inserts it; the other's insert waits for it and does nothing,
			// and the head is read (and locked) again.
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING`, audit.Genesis); err != nil {
				return err
			}
			err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+lock).Scan(&head.Seq, &head.Hash)
		}
		if err != nil {
			return err
		}
		rows := make([][]any, 0, len(entries))
		for _, e := range entries {
			e.Seq = head.Seq + 1
			e.PrevHash = head.Hash
			e.Hash = audit.ComputeHash(head.Hash, e)
			rows = append(rows, []any{e.Seq, micros(e.At), e.ActorID, e.ActorRole, e.Action, e.ObjectType, e.ObjectID,
				e.Institution, e.IP, e.Detail, e.PrevHash, e.Hash})
			head = audit.Head{Seq: e.Seq, Hash: e.Hash}
		}
		if err := db.insertMany(ctx, tx, "audit_log", auditCols, rows); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, head.Seq, head.Hash)
		return err
	}
}

const auditCols = `seq, at, actor_id, actor_role, action, object_type, object_id, institution, ip, detail, prev_hash, hash`

func scanAudit(row interface{ Scan(...any) error }) (*audit.Entry, error) {
	var e audit.Entry
	var at int64
	if err := row.Scan(&e.Seq, &at, &e.ActorID, &e.ActorRole, &e.Action, &e.ObjectType, &e.ObjectID, &e.Institution, &e.IP, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = fromMicros(at)
	return &e, nil
}

func (db *DB) ScanAudit(ctx context.Context, fn func(*audit.Entry) error) error {
	// Page through the log so a long chain never holds one huge result.
	var after int64
	for {
		rows, err := db.query(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000`, after)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return err
			}
			n++
			after = e.Seq
			if err := fn(e); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

func (db *DB) AuditHead(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	err := db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	if err == sql.ErrNoRows {
		return audit.Head{Hash: audit.Genesis}, nil
	}
	return h, err
}

func (db *DB) QueryAudit(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	rows, err := db.query(ctx, `SELECT `+auditCols+` FROM audit_log
		WHERE ($1 = '' OR institution = $1) AND ($2 = '' OR object_type = $2) AND ($3 = '' OR object_id = $3) AND ($4 = 0 OR actor_id = $4)
		ORDER BY seq DESC LIMIT $5`, f.Institution, f.ObjectType, f.ObjectID, f.ActorID, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []audit.Entry{}
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}
