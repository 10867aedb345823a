package sqlstore

// Backup and restore (`yunyi backup`, `yunyi restore`), on both engines,
// in one portable file format (docs/backup.md):
//
// A backup is a gzip stream of JSON values, one a line:
//
//  1. the header: {"format":"yunyi-backup","format_version":1,"engine":...,
//     "schema_version":24,"taken_at":...,"tables":[{"name","columns":[{"name","type"}],"rows"}],
//     "sequences":[{"table","column","next"}]}: every Yunyi table of the
//     schema version (schema_migrations aside), parents before the tables
//     whose foreign keys name them, with its row count;
//  2. for each table in the header's order, {"table":NAME} and then one JSON
//     array a row, the values in the header's column order: null; a number
//     (an integer or float column); true or false; a string (text); an object
//     {"base64":...} for bytes (or text that is not UTF-8); {"float":"NaN"|"+Inf"|"-Inf"};
//  3. {"end":true,"tables":N,"rows":TOTAL}.
//
// The backup reads one snapshot: a READ ONLY REPEATABLE READ transaction
// on PostgreSQL, a read transaction on SQLite in WAL mode. Neither blocks
// the writers; the header's counts and every row come from that snapshot.
// PostgreSQL's identity sequences are saved as the id each would hand out
// next.
//
// A restore goes into an empty database (no table in the SQLite file, or
// in the PostgreSQL schema the connection's search_path selects), in one
// transaction: the schema made by the migrations up to the backup's
// version, the rows (COPY on PostgreSQL; the reference rows migrations
// wrote are replaced by the backup's), the sequences moved past both the
// rows and the saved positions, then the checks: each table's count against
// the header, the foreign keys, the audit chain. Anything wrong, including
// a damaged or truncated file (gzip's checksum is read to the end before
// the commit), rolls everything back. A backup of one engine restores into
// the other.

import (
	"bufio"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/yunyi-health/yunyi/internal/audit"
)

const (
	backupFormat        = "yunyi-backup"
	backupFormatVersion = 1
)

// ErrNotEmpty is returned (wrapped, with what the target holds) by a
// restore into a database that already has tables.
var ErrNotEmpty = errors.New("the target database is not empty")

// BackupHeader is the first line of a backup.
type BackupHeader struct {
	Format        string           `json:"format"`
	FormatVersion int              `json:"format_version"`
	Engine        Engine           `json:"engine"`
	SchemaVersion int              `json:"schema_version"`
	TakenAt       time.Time        `json:"taken_at"`
	Tables        []BackupTable    `json:"tables"`
	Sequences     []BackupSequence `json:"sequences,omitempty"`
	// Skipped are tables of the schema that are not Yunyi's: not saved.
	Skipped []string `json:"skipped_tables,omitempty"`
}

// BackupTable is a table of a backup: its columns and how many rows follow.
type BackupTable struct {
	Name    string         `json:"name"`
	Columns []BackupColumn `json:"columns"`
	Rows    int64          `json:"rows"`
}

// BackupColumn is a column and its kind: int, float, bool, text or bytes.
type BackupColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// BackupSequence is where a PostgreSQL sequence of a column stood: the
// value it would hand out next.
type BackupSequence struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Next   int64  `json:"next"`
}

// TotalRows is the number of rows of every table.
func (h *BackupHeader) TotalRows() int64 {
	var n int64
	for _, t := range h.Tables {
		n += t.Rows
	}
	return n
}

// RestoreReport says what a restore wrote and checked.
type RestoreReport struct {
	Header       *BackupHeader
	Rows         int64 // rows written (equal to the header's total)
	AuditEntries int64 // audit entries whose chain was verified
}

// ---------------------------------------------------------------------------
// Backup

// Backup writes a backup of the store to w, from one snapshot, while the
// store goes on serving (through the read pool on SQLite).
func (db *DB) Backup(ctx context.Context, w io.Writer) (*BackupHeader, error) {
	return backupFrom(ctx, db.Engine, db.r, w, db.now())
}

// BackupDSN backs up the database at dsn without migrating it or writing
// to it. A SQLite file is read through a connection of its own that only
// reads, so a server using the file goes on writing and is never held up
// by a checkpoint on close.
func BackupDSN(ctx context.Context, dsn string, w io.Writer) (*BackupHeader, error) {
	var pool *sql.DB
	var engine Engine
	if IsPostgresDSN(dsn) {
		p, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		pool, engine = p, Postgres
	} else {
		path := strings.TrimPrefix(dsn, "sqlite://")
		if fi, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no SQLite database at %s: %w", path, err)
		} else if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a SQLite database file", path)
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "query_only(1)")
		p, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+q.Encode())
		if err != nil {
			return nil, err
		}
		pool, engine = p, SQLite
	}
	defer pool.Close()
	pool.SetMaxOpenConns(1)
	if err := pool.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open %s database: %w", engine, err)
	}
	return backupFrom(ctx, engine, pool, w, time.Now())
}

func backupFrom(ctx context.Context, engine Engine, pool *sql.DB, w io.Writer, now time.Time) (*BackupHeader, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if engine == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := sqlTx{tx}
	// The first read fixes the snapshot (SQLite: a deferred transaction).
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return nil, fmt.Errorf("not a Yunyi database (no schema_migrations): %w", err)
	}
	if latest := LatestMigration(); version > latest {
		return nil, fmt.Errorf("the database is at schema version %d and this yunyi knows up to %d: back it up with the yunyi that serves it", version, latest)
	}
	if version == 0 {
		return nil, errors.New("the database has no schema yet: nothing to back up")
	}
	want, err := yunyiSchema(ctx, version)
	if err != nil {
		return nil, err
	}
	cat, err := readCatalog(ctx, engine, q)
	if err != nil {
		return nil, err
	}
	h := &BackupHeader{Format: backupFormat, FormatVersion: backupFormatVersion, Engine: engine, SchemaVersion: version, TakenAt: now.UTC()}
	for name := range cat {
		if _, ok := want[name]; !ok && name != "schema_migrations" {
			h.Skipped = append(h.Skipped, name)
		}
	}
	sort.Strings(h.Skipped)
	if err := sameColumns(want, cat, fmt.Sprintf("Yunyi's schema version %d", version), "the database", true); err != nil {
		return nil, fmt.Errorf("the database's schema differs from what its migrations made: %w", err)
	}
	order, err := fkOrder(cat, want)
	if err != nil {
		return nil, err
	}
	for _, name := range order {
		t := cat[name]
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(name)).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		h.Tables = append(h.Tables, BackupTable{Name: name, Columns: t.cols, Rows: n})
	}
	if engine == Postgres {
		for _, name := range order {
			for _, s := range cat[name].seqs {
				var last int64
				var called bool
				if err := tx.QueryRowContext(ctx, `SELECT last_value, is_called FROM `+s.seq).Scan(&last, &called); err != nil {
					return nil, fmt.Errorf("sequence %s: %w", s.seq, err)
				}
				next := last
				if called {
					next++
				}
				h.Sequences = append(h.Sequences, BackupSequence{Table: name, Column: s.col, Next: next})
			}
		}
	}

	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(gz, 256<<10)
	head, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	bw.Write(head)
	bw.WriteByte('\n')
	var total int64
	buf := make([]byte, 0, 4096)
	for _, t := range h.Tables {
		buf = append(buf[:0], `{"table":`...)
		buf = appendJSONString(buf, t.Name)
		buf = append(buf, "}\n"...)
		if _, err := bw.Write(buf); err != nil {
			return nil, err
		}
		n, err := writeRows(ctx, tx, cat[t.Name], t, bw)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t.Name, err)
		}
		if n != t.Rows {
			return nil, fmt.Errorf("table %s: %d rows read, %d counted in the same snapshot", t.Name, n, t.Rows)
		}
		total += n
	}
	fmt.Fprintf(bw, "{\"end\":true,\"tables\":%d,\"rows\":%d}\n", len(h.Tables), total)
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return h, tx.Commit()
}

// writeRows writes a table's rows, one JSON array a line, in primary-key
// order.
func writeRows(ctx context.Context, tx *sql.Tx, ct *catTable, t BackupTable, w *bufio.Writer) (int64, error) {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c.Name)
	}
	q := `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + quoteIdent(t.Name)
	if len(ct.pk) > 0 {
		pk := make([]string, len(ct.pk))
		for i, c := range ct.pk {
			pk[i] = quoteIdent(c)
		}
		q += ` ORDER BY ` + strings.Join(pk, ", ")
	}
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	buf := make([]byte, 0, 4096)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		buf = append(buf[:0], '[')
		for i, v := range vals {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = appendValue(buf, v, t.Columns[i].Type); err != nil {
				return n, fmt.Errorf("column %s: %w", t.Columns[i].Name, err)
			}
		}
		buf = append(buf, "]\n"...)
		if _, err := w.Write(buf); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// appendValue writes one value of a row as JSON.
func appendValue(b []byte, v any, typ string) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case int64:
		if typ == "bool" { // SQLite keeps booleans as integers
			return strconv.AppendBool(b, x != 0), nil
		}
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		switch {
		case math.IsNaN(x):
			return append(b, `{"float":"NaN"}`...), nil
		case math.IsInf(x, 1):
			return append(b, `{"float":"+Inf"}`...), nil
		case math.IsInf(x, -1):
			return append(b, `{"float":"-Inf"}`...), nil
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		if utf8.ValidString(x) {
			return appendJSONString(b, x), nil
		}
		return appendBase64(b, []byte(x)), nil
	case []byte:
		return appendBase64(b, x), nil
	}
	return b, fmt.Errorf("value of unexpected type %T", v)
}

func appendBase64(b, v []byte) []byte {
	b = append(b, `{"base64":"`...)
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, `"}`...)
}

// appendJSONString writes s (valid UTF-8) as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// ---------------------------------------------------------------------------
// Restore

// RestoreDSN restores the backup read from r into the empty database at
// dsn (a SQLite file that need not exist yet). A target that has tables is
// refused before anything is written to it (ErrNotEmpty); a failed restore
// leaves nothing behind (a SQLite file it created is removed). The
// database is left at the backup's schema version: the server migrates it
// further when it opens it.
func RestoreDSN(ctx context.Context, dsn string, r io.Reader) (*RestoreReport, error) {
	created := ""
	if !IsPostgresDSN(dsn) {
		path := strings.TrimPrefix(dsn, "sqlite://")
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			created = path
		case err != nil:
			return nil, err
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("%s is not a file", path)
		case fi.Size() > 0:
			// Look before opening: opening for writing would already
			// switch a file to WAL mode.
			if err := sqliteFileEmpty(ctx, path); err != nil {
				return nil, err
			}
		}
	}
	db, err := Open(ctx, dsn)
	if err != nil {
		if created != "" {
			removeSQLite(created)
		}
		return nil, err
	}
	rep, err := db.Restore(ctx, r)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil && created != "" {
		removeSQLite(created)
	}
	return rep, err
}

// removeSQLite removes a database file and its WAL and shared-memory files.
func removeSQLite(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		os.Remove(p)
	}
}

// sqliteFileEmpty checks, read-only, that a SQLite file has no schema.
func sqliteFileEmpty(ctx context.Context, path string) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	c, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer c.Close()
	tx, err := c.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer tx.Rollback()
	return checkEmpty(ctx, SQLite, sqlTx{tx})
}

// Restore restores the backup read from r into this store, which must be
// empty: see RestoreDSN.
func (db *DB) Restore(ctx context.Context, r io.Reader) (*RestoreReport, error) {
	gz, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("not a Yunyi backup (not a gzip stream): %w", err)
	}
	dec := json.NewDecoder(gz)
	dec.UseNumber()
	var h BackupHeader
	if err := dec.Decode(&h); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, damaged("in its header", err)
		}
		return nil, fmt.Errorf("not a Yunyi backup (no header): %w", err)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	in := &backupReader{dec: dec, h: &h}
	if db.Engine == Postgres {
		return db.restorePostgres(ctx, in)
	}
	tx, err := db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the file's one writer
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rep, err := restoreInto(ctx, SQLite, &sqliteLoader{sqlTx: sqlTx{tx}, db: db}, in)
	if err != nil {
		return nil, err
	}
	return rep, tx.Commit()
}

func (db *DB) restorePostgres(ctx context.Context, in *backupReader) (*RestoreReport, error) {
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Serialise with migrators (a server starting on the same database
	// waits, then finds the schema made).
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7402211)`); err != nil {
		return nil, err
	}
	rep, err := restoreInto(ctx, Postgres, &pgLoader{pgTx{tx}}, in)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	// Fresh planner statistics, as after any bulk load.
	names := make([]string, len(in.h.Tables))
	for i, t := range in.h.Tables {
		names[i] = quoteIdent(t.Name)
	}
	if _, err := conn.Exec(ctx, `ANALYZE `+strings.Join(names, ", ")); err != nil {
		return nil, err
	}
	return rep, nil
}

func (h *BackupHeader) check() error {
	if h.Format != backupFormat {
		return errors.New("not a Yunyi backup (its header does not say format yunyi-backup)")
	}
	if h.FormatVersion < 1 || h.FormatVersion > backupFormatVersion {
		return fmt.Errorf("backup format version %d: this yunyi reads version %d", h.FormatVersion, backupFormatVersion)
	}
	if latest := LatestMigration(); h.SchemaVersion < 1 || h.SchemaVersion > latest {
		return fmt.Errorf("the backup is of schema version %d and this yunyi knows versions 1 to %d: restore it with the yunyi that made it, or a newer one", h.SchemaVersion, latest)
	}
	seen := map[string]bool{}
	for _, t := range h.Tables {
		if t.Name == "" || seen[t.Name] || len(t.Columns) == 0 || t.Rows < 0 {
			return fmt.Errorf("damaged backup header: table %q", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// backupReader reads the rows of a backup after its header.
type backupReader struct {
	dec *json.Decoder
	h   *BackupHeader
}

// damaged wraps a read error: the file ends early or its bytes were
// changed.
func damaged(where string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("backup file truncated (%s): %w", where, err)
	}
	return fmt.Errorf("backup file damaged (%s): %w", where, err)
}

// marker reads a line that must be an object and returns it.
func (in *backupReader) marker(where string) (map[string]any, error) {
	var v any
	if err := in.dec.Decode(&v); err != nil {
		return nil, damaged(where, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, damaged(where, fmt.Errorf("a row where none was expected: the file has more rows than its header counts"))
	}
	return m, nil
}

// end reads the end line and checks that nothing follows it, reading to
// the end of the gzip stream, which checks its CRC and length.
func (in *backupReader) end(total int64) error {
	m, err := in.marker("end")
	if err != nil {
		return err
	}
	if m["end"] != true {
		return damaged("end", errors.New("no end line after the last table"))
	}
	if n, _ := m["rows"].(json.Number); n.String() != strconv.FormatInt(total, 10) {
		return damaged("end", fmt.Errorf("the end line counts %v rows, the header %d", m["rows"], total))
	}
	var extra any
	if err := in.dec.Decode(&extra); err != io.EOF {
		if err == nil {
			err = errors.New("data after the end line")
		}
		return damaged("after the end", err)
	}
	return nil
}

// rowSource streams one table's rows from the file, converted for the
// target's columns (pgx.CopyFromSource).
type rowSource struct {
	in    *backupReader
	table string
	types []string // the target's kinds of the columns
	left  int64
	read  int64
	vals  []any
	err   error
}

func (s *rowSource) Next() bool {
	if s.left == 0 || s.err != nil {
		return false
	}
	var v any
	if err := s.in.dec.Decode(&v); err != nil {
		s.err = damaged(fmt.Sprintf("table %s, row %d", s.table, s.read+1), err)
		return false
	}
	raw, ok := v.([]any)
	if !ok {
		s.err = damaged(fmt.Sprintf("table %s", s.table), fmt.Errorf("%d rows where the header counts %d", s.read, s.read+s.left))
		return false
	}
	if len(raw) != len(s.types) {
		s.err = damaged(fmt.Sprintf("table %s, row %d", s.table, s.read+1), fmt.Errorf("%d values for %d columns", len(raw), len(s.types)))
		return false
	}
	vals := make([]any, len(raw))
	for i, x := range raw {
		c, err := convertValue(x, s.types[i])
		if err != nil {
			s.err = damaged(fmt.Sprintf("table %s, row %d, column %d", s.table, s.read+1, i+1), err)
			return false
		}
		vals[i] = c
	}
	s.vals = vals
	s.left--
	s.read++
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.vals, nil }
func (s *rowSource) Err() error             { return s.err }

// convertValue turns a decoded JSON value into the Go value of a column of
// kind typ.
func convertValue(x any, typ string) (any, error) {
	switch v := x.(type) {
	case nil:
		return nil, nil
	case bool:
		if typ == "int" {
			if v {
				return int64(1), nil
			}
			return int64(0), nil
		}
		return v, nil
	case json.Number:
		switch typ {
		case "float":
			return v.Float64()
		case "bool":
			n, err := v.Float64()
			return n != 0, err
		case "text":
			return v.String(), nil
		}
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		return v.Float64()
	case string:
		if typ == "bytes" {
			return []byte(v), nil
		}
		return v, nil
	case map[string]any:
		if s, ok := v["base64"].(string); ok && len(v) == 1 {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, err
			}
			if typ == "bytes" {
				return b, nil
			}
			return string(b), nil
		}
		if s, ok := v["float"].(string); ok && len(v) == 1 {
			switch s {
			case "NaN":
				return math.NaN(), nil
			case "+Inf":
				return math.Inf(1), nil
			case "-Inf":
				return math.Inf(-1), nil
			}
		}
	}
	return nil, fmt.Errorf("unexpected value %v", x)
}

// loader is the restore's transaction on one engine.
type loader interface {
	txQuerier
	// load writes the rows of src into table and returns how many.
	load(ctx context.Context, table string, cols []string, src *rowSource) (int64, error)
}

// restoreInto runs a restore inside the target's transaction.
func restoreInto(ctx context.Context, engine Engine, x loader, in *backupReader) (*RestoreReport, error) {
	h := in.h
	if err := checkEmpty(ctx, engine, x); err != nil {
		return nil, err
	}
	if err := migrateTo(ctx, engine, x, h.SchemaVersion); err != nil {
		return nil, err
	}
	cat, err := readCatalog(ctx, engine, x)
	if err != nil {
		return nil, err
	}
	delete(cat, "schema_migrations")
	fromFile := map[string][]string{}
	pos := map[string]int{}
	for i, t := range h.Tables {
		pos[t.Name] = i
		for _, c := range t.Columns {
			fromFile[t.Name] = append(fromFile[t.Name], c.Name)
		}
	}
	if err := sameColumns(fromFile, cat, "the backup", fmt.Sprintf("schema version %d", h.SchemaVersion), false); err != nil {
		return nil, fmt.Errorf("the backup does not match its schema version: %w", err)
	}
	for _, t := range h.Tables {
		for _, p := range cat[t.Name].parents {
			if p != t.Name && pos[p] > pos[t.Name] {
				return nil, fmt.Errorf("damaged backup header: table %s comes before %s, which its foreign keys name", t.Name, p)
			}
		}
	}
	if engine == SQLite {
		// Checked once before the commit (foreign_key_check below).
		if err := x.exec(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
			return nil, err
		}
	}
	// The rows some migrations wrote (reference data) come from the
	// backup, as the source had them.
	for i := len(h.Tables) - 1; i >= 0; i-- {
		if err := x.exec(ctx, `DELETE FROM `+quoteIdent(h.Tables[i].Name)); err != nil {
			return nil, err
		}
	}
	rep := &RestoreReport{Header: h}
	for _, t := range h.Tables {
		m, err := in.marker("table " + t.Name)
		if err != nil {
			return nil, err
		}
		if m["table"] != t.Name {
			return nil, damaged("table "+t.Name, fmt.Errorf("found %v where the header has table %s", m["table"], t.Name))
		}
		ct := cat[t.Name]
		types := map[string]string{}
		for _, c := range ct.cols {
			types[c.Name] = c.Type
		}
		src := &rowSource{in: in, table: t.Name, left: t.Rows}
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c.Name
			src.types = append(src.types, types[c.Name])
		}
		n, err := x.load(ctx, t.Name, cols, src)
		if src.err != nil {
			return nil, src.err
		}
		if err != nil {
			return nil, fmt.Errorf("restore table %s (row %d): %w", t.Name, src.read, err)
		}
		if n != t.Rows {
			return nil, fmt.Errorf("restore table %s: %d rows written, the header counts %d", t.Name, n, t.Rows)
		}
		rep.Rows += n
	}
	if err := in.end(rep.Rows); err != nil {
		return nil, err
	}
	// Sequences: past the largest id restored and past where the source's
	// stood (ids handed out and not kept are not given again).
	if engine == Postgres {
		next := map[[2]string]int64{}
		for _, s := range h.Sequences {
			next[[2]string{s.Table, s.Column}] = s.Next
		}
		for _, t := range h.Tables {
			for _, s := range cat[t.Name].seqs {
				var maxID int64
				if err := queryOne(ctx, x, `SELECT COALESCE(MAX(`+quoteIdent(s.col)+`), 0) FROM `+quoteIdent(t.Name), nil, &maxID); err != nil {
					return nil, err
				}
				n := max(maxID+1, next[[2]string{t.Name, s.col}], 1)
				if err := x.exec(ctx, `SELECT setval($1::regclass, $2, false)`, s.seq, n); err != nil {
					return nil, fmt.Errorf("sequence of %s.%s: %w", t.Name, s.col, err)
				}
			}
		}
	}
	// Checks: the counts, the foreign keys, the audit chain.
	for _, t := range h.Tables {
		var n int64
		if err := queryOne(ctx, x, `SELECT COUNT(*) FROM `+quoteIdent(t.Name), nil, &n); err != nil {
			return nil, err
		}
		if n != t.Rows {
			return nil, fmt.Errorf("restore check: table %s holds %d rows, the backup's header %d", t.Name, n, t.Rows)
		}
	}
	if engine == SQLite {
		var bad []string
		err := x.queryRows(ctx, `PRAGMA foreign_key_check`, nil, func(scan func(...any) error) error {
			var table, parent string
			var rowid, fk any
			if err := scan(&table, &rowid, &parent, &fk); err != nil {
				return err
			}
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("%s row %v names a missing %s", table, rowid, parent))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			return nil, fmt.Errorf("restore check: foreign keys broken: %s", strings.Join(bad, "; "))
		}
	}
	n, problem, err := audit.Verify(ctx, auditReader{x})
	if err != nil {
		return nil, fmt.Errorf("restore check: audit log: %w", err)
	}
	if problem != nil {
		return nil, fmt.Errorf("restore check: the backup's %w", problem)
	}
	rep.AuditEntries = n
	return rep, nil
}

// checkEmpty refuses a target that has any table (or other object).
func checkEmpty(ctx context.Context, engine Engine, x txQuerier) error {
	var names []string
	collect := func(scan func(...any) error) error {
		var n string
		if err := scan(&n); err != nil {
			return err
		}
		names = append(names, n)
		return nil
	}
	if engine == Postgres {
		var schema sql.NullString
		if err := queryOne(ctx, x, `SELECT current_schema()::text`, nil, &schema); err != nil {
			return err
		}
		if !schema.Valid {
			return errors.New("the connection's search_path names no schema that exists: create the schema first")
		}
		if err := x.queryRows(ctx, `SELECT relname::text FROM pg_class WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
			AND relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY relname`, nil, collect); err != nil {
			return err
		}
	} else if err := x.queryRows(ctx, `SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`, nil, collect); err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	what := fmt.Sprintf("%d tables", len(names))
	for _, n := range names {
		if n == "schema_migrations" {
			var v int
			if err := queryOne(ctx, x, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`, nil, &v); err == nil {
				what += fmt.Sprintf(", Yunyi schema version %d", v)
			}
		}
	}
	if len(names) > 3 {
		names = append(names[:3], "…")
	}
	return fmt.Errorf("%w (%s: %s): restore goes only into a new, empty database (a new SQLite file, or a new PostgreSQL database or schema) and makes the schema itself; run neither yunyi migrate nor yunyi serve on it first",
		ErrNotEmpty, what, strings.Join(names, ", "))
}

// ---------------------------------------------------------------------------
// Migrations and schemas

type migration struct {
	version int
	name    string
	body    string
}

var migrations = sync.OnceValues(func() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []migration
	for _, f := range files {
		base := filepath.Base(f)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its number", base)
		}
		body, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, base, string(body)})
	}
	return out, nil
})

// LatestMigration is the newest schema version this binary knows.
func LatestMigration() int {
	ms, _ := migrations()
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrateTo makes the schema of version in an empty database, inside the
// caller's transaction, as Migrate would have step by step.
func migrateTo(ctx context.Context, engine Engine, x txQuerier, version int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if err := x.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	d := &DB{Engine: engine}
	for _, m := range ms {
		if m.version > version {
			break
		}
		for _, stmt := range splitStatements(d.dialect(m.body)) {
			if err := x.exec(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s: %w\n%s", m.name, err, stmt)
			}
		}
		if err := x.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.version, time.Now().Unix()); err != nil {
			return err
		}
	}
	return nil
}

var schemaCache sync.Map // version -> map[string][]string

// yunyiSchema lists Yunyi's tables and their columns at a schema version
// (schema_migrations aside), from the migrations run on an in-memory
// SQLite database.
func yunyiSchema(ctx context.Context, version int) (map[string][]string, error) {
	if s, ok := schemaCache.Load(version); ok {
		return s.(map[string][]string), nil
	}
	mem, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	conn, err := mem.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := migrateTo(ctx, SQLite, sqlTx{tx}, version); err != nil {
		return nil, err
	}
	cat, err := readCatalog(ctx, SQLite, sqlTx{tx})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for name, t := range cat {
		if name == "schema_migrations" {
			continue
		}
		for _, c := range t.cols {
			out[name] = append(out[name], c.Name)
		}
	}
	schemaCache.Store(version, out)
	return out, nil
}

// sameColumns checks that every table of want is in got with the same
// columns (in any order), and, unless extraOK, that got has no other table
// (schema_migrations aside).
func sameColumns(want map[string][]string, got catalog, wantName, gotName string, extraOK bool) error {
	var problems []string
	for name, cols := range want {
		t, ok := got[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s has table %s, %s does not", wantName, name, gotName))
			continue
		}
		have := map[string]bool{}
		for _, c := range t.cols {
			have[c.Name] = true
		}
		for _, c := range cols {
			if !have[c] {
				problems = append(problems, fmt.Sprintf("%s has column %s.%s, %s does not", wantName, name, c, gotName))
			}
			delete(have, c)
		}
		for c := range have {
			problems = append(problems, fmt.Sprintf("%s has column %s.%s, %s does not", gotName, name, c, wantName))
		}
	}
	if !extraOK {
		for name := range got {
			if _, ok := want[name]; !ok && name != "schema_migrations" {
				problems = append(problems, fmt.Sprintf("%s has table %s, %s does not", gotName, name, wantName))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	if len(problems) > 5 {
		problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
	}
	return errors.New(strings.Join(problems, "; "))
}

// ---------------------------------------------------------------------------
// Catalogs

type catTable struct {
	cols    []BackupColumn
	pk      []string
	parents []string // tables its foreign keys name
	seqs    []catSeq // PostgreSQL: columns with a sequence
}

type catSeq struct{ col, seq string }

type catalog map[string]*catTable

// readCatalog reads the tables of the database (PostgreSQL: of the current
// schema), their columns, primary keys, foreign keys and sequences.
func readCatalog(ctx context.Context, engine Engine, x txQuerier) (catalog, error) {
	cat := catalog{}
	table := func(name string) *catTable {
		t := cat[name]
		if t == nil {
			t = &catTable{}
			cat[name] = t
		}
		return t
	}
	if engine == SQLite {
		var names []string
		if err := x.queryRows(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`, nil,
			func(scan func(...any) error) error {
				var n string
				err := scan(&n)
				names = append(names, n)
				return err
			}); err != nil {
			return nil, err
		}
		for _, name := range names {
			t := table(name)
			type pkCol struct {
				n   int64
				col string
			}
			var pk []pkCol
			if err := x.queryRows(ctx, `SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid`, []any{name}, func(scan func(...any) error) error {
				var col, typ string
				var n int64
				if err := scan(&col, &typ, &n); err != nil {
					return err
				}
				t.cols = append(t.cols, BackupColumn{Name: col, Type: kindOf(typ)})
				if n > 0 {
					pk = append(pk, pkCol{n, col})
				}
				return nil
			}); err != nil {
				return nil, err
			}
			sort.Slice(pk, func(i, j int) bool { return pk[i].n < pk[j].n })
			for _, p := range pk {
				t.pk = append(t.pk, p.col)
			}
			if err := x.queryRows(ctx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list($1)`, []any{name}, func(scan func(...any) error) error {
				var p string
				err := scan(&p)
				t.parents = append(t.parents, p)
				return err
			}); err != nil {
				return nil, err
			}
		}
		return cat, nil
	}
	const ns = `(SELECT oid FROM pg_namespace WHERE nspname = current_schema())`
	if err := x.queryRows(ctx, `SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = `+ns+` AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY c.relname, a.attnum`, nil, func(scan func(...any) error) error {
		var name, col, typ string
		if err := scan(&name, &col, &typ); err != nil {
			return err
		}
		t := table(name)
		t.cols = append(t.cols, BackupColumn{Name: col, Type: kindOf(typ)})
		return nil
	}); err != nil {
		return nil, err
	}
	if err := x.queryRows(ctx, `SELECT c.relname::text, a.attname::text
		FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
		WHERE i.indisprimary AND c.relnamespace = `+ns+`
		ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)`, nil, func(scan func(...any) error) error {
		var name, col string
		if err := scan(&name, &col); err != nil {
			return err
		}
		table(name).pk = append(table(name).pk, col)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := x.queryRows(ctx, `SELECT DISTINCT c.relname::text, p.relname::text
		FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
		WHERE k.contype = 'f' AND c.relnamespace = `+ns, nil, func(scan func(...any) error) error {
		var name, parent string
		if err := scan(&name, &parent); err != nil {
			return err
		}
		table(name).parents = append(table(name).parents, parent)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := x.queryRows(ctx, `SELECT c.relname::text, a.attname::text, pg_get_serial_sequence(format('%I.%I', current_schema(), c.relname), a.attname)
		FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = `+ns+` AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
		AND pg_get_serial_sequence(format('%I.%I', current_schema(), c.relname), a.attname) IS NOT NULL
		ORDER BY 1, 2`, nil, func(scan func(...any) error) error {
		var name, col, seq string
		if err := scan(&name, &col, &seq); err != nil {
			return err
		}
		table(name).seqs = append(table(name).seqs, catSeq{col, seq})
		return nil
	}); err != nil {
		return nil, err
	}
	return cat, nil
}

// kindOf maps a declared column type to the backup's kinds.
func kindOf(decl string) string {
	d := strings.ToLower(decl)
	switch {
	case strings.Contains(d, "int"):
		return "int"
	case strings.Contains(d, "bool"):
		return "bool"
	case strings.Contains(d, "doub"), strings.Contains(d, "real"), strings.Contains(d, "floa"), strings.Contains(d, "numeric"):
		return "float"
	case strings.Contains(d, "blob"), strings.Contains(d, "bytea"):
		return "bytes"
	}
	return "text"
}

// fkOrder orders the tables of want so that every table comes after the
// tables its foreign keys name (by name among equals).
func fkOrder(cat catalog, want map[string][]string) ([]string, error) {
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	state := map[string]int{} // 1 visiting, 2 done
	var out []string
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("the foreign keys of tables %s form a cycle: they cannot be restored in order", strings.Join(append(path, n), " → "))
		case 2:
			return nil
		}
		state[n] = 1
		parents := append([]string(nil), cat[n].parents...)
		sort.Strings(parents)
		for _, p := range parents {
			if _, ok := want[p]; ok && p != n {
				if err := visit(p, append(path, n)); err != nil {
					return err
				}
			}
		}
		state[n] = 2
		out = append(out, n)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// ---------------------------------------------------------------------------
// One transaction, either engine

type txQuerier interface {
	exec(ctx context.Context, q string, args ...any) error
	// queryRows calls fn for each row, with the row's Scan.
	queryRows(ctx context.Context, q string, args []any, fn func(scan func(...any) error) error) error
}

// queryOne scans the one row of a query.
func queryOne(ctx context.Context, x txQuerier, q string, args []any, dest ...any) error {
	found := false
	err := x.queryRows(ctx, q, args, func(scan func(...any) error) error {
		found = true
		return scan(dest...)
	})
	if err == nil && !found {
		err = sql.ErrNoRows
	}
	return err
}

type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, q, args...)
	return err
}

func (t sqlTx) queryRows(ctx context.Context, q string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.Exec(ctx, q, args...)
	return err
}

func (t pgTx) queryRows(ctx context.Context, q string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// pgLoader loads a table with COPY, streamed from the file.
type pgLoader struct{ pgTx }

func (l *pgLoader) load(ctx context.Context, table string, cols []string, src *rowSource) (int64, error) {
	return l.tx.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
}

// sqliteLoader loads a table with multi-row INSERTs.
type sqliteLoader struct {
	sqlTx
	db *DB
}

func (l *sqliteLoader) load(ctx context.Context, table string, cols []string, src *rowSource) (int64, error) {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = quoteIdent(c)
	}
	prefix := `INSERT INTO ` + quoteIdent(table) + ` (` + strings.Join(quoted, ", ") + `) VALUES `
	per := max(1, 900/len(cols))
	var full *sql.Stmt // the statement of a full batch, prepared once
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	var n int64
	batch := make([][]any, 0, per)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		text, args := l.db.valuesStatement(prefix, batch, nil, "")
		var err error
		if len(batch) == per {
			if full == nil {
				if full, err = l.tx.PrepareContext(ctx, text); err != nil {
					return err
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = l.tx.ExecContext(ctx, text, args...)
		}
		n += int64(len(batch))
		batch = batch[:0]
		return err
	}
	for src.Next() {
		batch = append(batch, src.vals)
		if len(batch) == per {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if src.err != nil {
		return n, src.err
	}
	return n, flush()
}

// auditReader reads the audit chain inside the restore's transaction, for
// audit.Verify.
type auditReader struct{ x txQuerier }

func (a auditReader) AppendAudit(context.Context, []*audit.Entry) error {
	return errors.New("restore: the audit log is read-only here")
}

func (a auditReader) QueryAudit(context.Context, audit.Filter) ([]audit.Entry, error) {
	return nil, errors.New("restore: not supported")
}

type scanFunc func(...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

func (a auditReader) ScanAudit(ctx context.Context, fn func(*audit.Entry) error) error {
	var after int64
	for {
		var page []*audit.Entry
		err := a.x.queryRows(ctx, `SELECT `+auditCols+` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 5000`, []any{after}, func(scan func(...any) error) error {
			e, err := scanAudit(scanFunc(scan))
			if err != nil {
				return err
			}
			page = append(page, e)
			return nil
		})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		after = page[len(page)-1].Seq
	}
}

func (a auditReader) AuditHead(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	err := queryOne(ctx, a.x, `SELECT seq, hash FROM audit_head WHERE id = 1`, nil, &h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{Hash: audit.Genesis}, nil
	}
	return h, err
}
