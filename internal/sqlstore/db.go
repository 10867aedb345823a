// Package sqlstore implements every domain store over SQL, for both engines
// Yunyi supports: SQLite (embedded default, modernc.org/sqlite) and
// PostgreSQL (pgx). Queries are written once with $n placeholders, which
// both engines accept.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/metrics"
)

// Engine names a database engine.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is an open store. For SQLite, writes go through a pool of one
// connection (one writer, so "database is locked" never reaches a user) and
// reads through a separate pool; for PostgreSQL both are the same pool.
type DB struct {
	Engine Engine
	w      *sql.DB // writes
	r      *sql.DB // reads
	DSN    string

	stmtMu sync.RWMutex
	stmts  map[string]*sql.Stmt // prepared reads, by query text

	ckpt     *sql.DB // SQLite: the checkpointer's own connection
	ckptStop chan struct{}
	ckptDone chan struct{}

	clock atomic.Pointer[func() time.Time]

	feedSecret atomic.Pointer[[]byte] // the supervision feed's patient-key secret, once read (supervision.go)

	rxSeq struct { // SQLite: the next prescription id to hand out (see ReservePrescriptionID)
		sync.Mutex
		next int64
	}
}

// SetClock makes the store time what it records (created and updated times)
// by the server's clock. The database's own clock (its NOW function and the like)
// is never used: a server run on another clock (tests, demos) stays
// consistent with itself.
func (db *DB) SetClock(now func() time.Time) { db.clock.Store(&now) }

// now is the time by the server's clock (the real one unless SetClock).
func (db *DB) now() time.Time {
	if c := db.clock.Load(); c != nil {
		return (*c)()
	}
	return time.Now()
}

// readStmt returns the prepared statement of a read query. SQLite (modernc)
// parses a query on every unprepared use; PostgreSQL (pgx) caches
// statements itself, so there the plain pool is used.
func (db *DB) readStmt(ctx context.Context, q string) *sql.Stmt {
	if db.Engine != SQLite {
		return nil
	}
	db.stmtMu.RLock()
	st := db.stmts[q]
	db.stmtMu.RUnlock()
	if st != nil {
		return st
	}
	st, err := db.r.PrepareContext(ctx, q)
	if err != nil {
		return nil // the plain query reports the error
	}
	db.stmtMu.Lock()
	if prev := db.stmts[q]; prev != nil {
		st.Close()
		st = prev
	} else {
		db.stmts[q] = st
	}
	db.stmtMu.Unlock()
	return st
}

// readCtx is the context of a read. A SQLite read runs in the process and
// takes microseconds: it is not stopped when the request ends, because
// database/sql watches a cancellable context with a goroutine per query
// (a fifth of a booking's reads). PostgreSQL reads keep the request's
// cancellation.
func (db *DB) readCtx(ctx context.Context) context.Context {
	if db.Engine == SQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// QueryRowContext runs a read query that returns one row.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = db.readCtx(ctx)
	if st := db.readStmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.r.QueryRowContext(ctx, q, args...)
}

// query runs a read query.
func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = db.readCtx(ctx)
	if st := db.readStmt(ctx, q); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, storeErr("read", err)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	return rows, storeErr("read", err)
}

// storeErrors counts the errors of the database itself (issue 17): a
// failed connection, statement, transaction or commit, by operation; not
// an application's refusal (errs.Error), a missing row, or a request
// that ended.
var storeErrors = metrics.NewCounter("yunyi_store_errors_total", "Errors of the database (connection, statement, transaction, commit) by operation: read, begin, write, commit.", "op")

// storeErr counts err when it is the database's and returns it.
func storeErr(op string, err error) error {
	var app *errs.Error
	if err != nil && !errors.As(err, &app) && !errors.Is(err, sql.ErrNoRows) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) {
		storeErrors.With(op).Inc()
	}
	return err
}

// IsPostgresDSN reports whether dsn names a PostgreSQL database.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database named by dsn: a postgres:// URL, or a SQLite file
// path. It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if IsPostgresDSN(dsn) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		db.SetConnMaxIdleTime(5 * time.Minute)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("connect to postgres: %w", err)
		}
		return &DB{Engine: Postgres, w: db, r: db, DSN: dsn, stmts: map[string]*sql.Stmt{}}, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite://")
	if path == "" {
		return nil, errors.New("empty database path")
	}
	q := url.Values{}
	// The writer never checkpoints (a checkpoint inside a commit held up
	// every booking behind it for tens of milliseconds); checkpoint runs
	// beside it.
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(1)", "cache_size(-32000)", "wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Create the file and switch to WAL before the readers open it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rq := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(1)", "query_only(1)", "cache_size(-32000)"} {
		rq.Add("_pragma", p)
	}
	r, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	r.SetConnMaxIdleTime(0)
	cq := url.Values{}
	cq.Add("_pragma", "busy_timeout(10000)")
	ck, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+cq.Encode())
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	ck.SetMaxOpenConns(1)
	db := &DB{Engine: SQLite, w: w, r: r, DSN: dsn, stmts: map[string]*sql.Stmt{}, ckpt: ck, ckptStop: make(chan struct{}), ckptDone: make(chan struct{})}
	go db.checkpointer()
	return db, nil
}

// checkpointer copies the WAL into the database file in the background
// (PASSIVE: it never waits for, nor blocks, the writer or the readers),
// every quarter second while there is something to copy.
func (db *DB) checkpointer() {
	defer close(db.ckptDone)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-db.ckptStop:
			db.ckpt.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			return
		case <-t.C:
			db.ckpt.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// Close closes the pools.
func (db *DB) Close() error {
	db.stmtMu.Lock()
	for _, st := range db.stmts {
		st.Close()
	}
	db.stmts = map[string]*sql.Stmt{}
	db.stmtMu.Unlock()
	if db.ckpt != nil {
		close(db.ckptStop)
		<-db.ckptDone
		db.ckpt.Close()
	}
	err := db.w.Close()
	if db.r != db.w {
		if e := db.r.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Ping checks that the store answers (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Writer exposes the write pool (for tests that tamper with rows).
func (db *DB) Writer() *sql.DB { return db.w }

//go:embed migrations/*.sql
var migrationFS embed.FS

func (db *DB) dialect(sqlText string) string {
	r := strings.NewReplacer(
		"{{id}}", map[Engine]string{SQLite: "INTEGER PRIMARY KEY", Postgres: "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"}[db.Engine],
		"{{blob}}", map[Engine]string{SQLite: "BLOB", Postgres: "BYTEA"}[db.Engine],
		"{{without_rowid}}", map[Engine]string{SQLite: " WITHOUT ROWID", Postgres: ""}[db.Engine],
		// 32 random bytes from the engine's strong generator (PostgreSQL 13+:
		// two random UUIDs, 244 random bits).
		"{{random32}}", map[Engine]string{SQLite: "randomblob(32)",
			Postgres: "decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex')"}[db.Engine],
	)
	sqlText = r.Replace(sqlText)
	// A line "-- postgres: STATEMENT" is a statement for PostgreSQL only.
	if db.Engine == Postgres {
		sqlText = strings.ReplaceAll(sqlText, "\n-- postgres: ", "\n")
	}
	return sqlText
}

// Migrate applies the numbered migrations that have not run yet, each in
// its own transaction, and returns how many it applied.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return 0, err
	}
	sort.Strings(files)
	applied := 0
	for _, f := range files {
		base := filepath.Base(f)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return applied, fmt.Errorf("migration %s: name must start with its number", base)
		}
		body, _ := migrationFS.ReadFile(f)
		done, err := db.migrateOne(ctx, v, db.dialect(string(body)))
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", base, err)
		}
		if done {
			applied++
		}
	}
	return applied, nil
}

func (db *DB) migrateOne(ctx context.Context, version int, body string) (bool, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if db.Engine == Postgres {
		// Serialise concurrent migrators of this schema (several servers
		// starting); migrators of other databases or schemas on the same
		// cluster (the tests' own) do not wait for each other.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7402211, hashtext(current_database() || '.' || current_schema()))`); err != nil {
			return false, err
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	for _, stmt := range splitStatements(body) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now().Unix()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// splitStatements splits a migration on semicolons at line ends, dropping
// comment lines. Migrations keep one statement per semicolon-terminated
// block and no semicolons inside string literals.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// isUnique reports whether err is a unique-constraint violation, and on
// which constraint or column when the engine says.
func isUnique(err error) (bool, string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return true, pe.ConstraintName
	}
	var se *sqlite.Error
	if errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return true, se.Error()
	}
	return false, ""
}

// isForeignKey reports whether err is a foreign-key violation.
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// notFound maps sql.ErrNoRows to errs.NotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Wrap(errs.NotFound, err)
	}
	return err
}

// tx runs fn in a write transaction.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return storeErr("begin", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return storeErr("write", err)
	}
	return storeErr("commit", tx.Commit())
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// insertMany writes rows with multi-row INSERTs: one round trip for many
// rows. On SQLite the parameters are positional (?): the driver looks up
// every $N name linearly, which made large statements quadratic.
func (db *DB) insertMany(ctx context.Context, q execer, table, cols string, rows [][]any) error {
	for _, c := range valueChunks(rows) {
		text, args := db.valuesStatement("INSERT INTO "+table+" ("+cols+") VALUES ", c, nil, "")
		if _, err := q.ExecContext(ctx, text, args...); err != nil {
			return fmt.Errorf("insert %s: %w", table, err)
		}
	}
	return nil
}

// valueChunks splits rows so that one statement's parameters stay under
// 900 (SQLite's old limit of 999, and few enough for any engine).
func valueChunks(rows [][]any) [][][]any {
	if len(rows) == 0 {
		return nil
	}
	per := max(1, 900/len(rows[0]))
	var out [][][]any
	for start := 0; start < len(rows); start += per {
		out = append(out, rows[start:min(start+per, len(rows))])
	}
	return out
}

// valuesStatement writes prefix, a VALUES list of rows and suffix, with its
// arguments. casts, when given, wraps each column's parameter in CAST(… AS
// type) (a VALUES list joined in an UPDATE … FROM needs its types on
// PostgreSQL). On SQLite the parameters are positional (?): the driver
// looks up every $N name linearly, which made large statements quadratic.
func (db *DB) valuesStatement(prefix string, rows [][]any, casts []string, suffix string) (string, []any) {
	positional := db.Engine == SQLite
	width := len(rows[0])
	var sb strings.Builder
	args := make([]any, 0, len(rows)*width)
	sb.WriteString(prefix)
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		for j := range r {
			if j > 0 {
				sb.WriteByte(',')
			}
			if casts != nil && casts[j] != "" {
				sb.WriteString("CAST(")
			}
			if positional {
				sb.WriteByte('?')
			} else {
				sb.WriteString("$" + strconv.Itoa(len(args)+j+1))
			}
			if casts != nil && casts[j] != "" {
				sb.WriteString(" AS " + casts[j] + ")")
			}
		}
		sb.WriteByte(')')
		args = append(args, r...)
	}
	sb.WriteString(suffix)
	return sb.String(), args
}

// InsertRows writes rows into table in one transaction (bulk loads: the
// benchmark's fixtures).
func (db *DB) InsertRows(ctx context.Context, table, cols string, rows [][]any) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.insertMany(ctx, tx, table, cols, rows) })
}

// Path is the SQLite database file ("" for PostgreSQL or an in-memory
// database).
func (db *DB) Path() string {
	if db.Engine != SQLite {
		return ""
	}
	p := strings.TrimPrefix(db.DSN, "sqlite://")
	if p == "" || strings.Contains(p, ":memory:") || strings.HasPrefix(p, "file:") {
		return ""
	}
	return p
}

// Analyze refreshes PostgreSQL's planner statistics (after a bulk load;
// without them it scanned every patient to find one). SQLite is left
// without: its planner picks the same indexes from the schema alone, and
// with the statistics of this build (STAT4) every statement whose bound
// values might change the plan is compiled again at each execution,
// which made every session lookup parse its SQL.
func (db *DB) Analyze(ctx context.Context) error {
	if db.Engine != Postgres {
		return nil
	}
	_, err := db.w.ExecContext(ctx, `ANALYZE`)
	return err
}
