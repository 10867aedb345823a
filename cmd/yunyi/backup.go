package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// `yunyi backup` and `yunyi restore`: a consistent backup taken while the
// server serves, and its restore into an empty database (the file format:
// docs/backup.md).

func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", defaultDB(), "SQLite file or postgres:// URL of the database to back up (it is not migrated nor written to)")
	out := fs.String("out", "", "the backup file to write (- for standard output); written as a temporary file beside it and renamed when complete")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: yunyi backup [--db yunyi.db | postgres://...] --out FILE")
	}
	start := time.Now()
	report := stdout
	var h *sqlstore.BackupHeader
	var size int64
	if *out == "-" {
		report = stderr
		cw := &countingWriter{w: stdout}
		var err error
		if h, err = sqlstore.BackupDSN(ctx, *dsn, cw); err != nil {
			return err
		}
		size = cw.n
	} else {
		var err error
		if h, size, err = backupToFile(ctx, *dsn, *out); err != nil {
			return err
		}
	}
	fmt.Fprintf(report, "backup of the %s database (schema version %d) written to %s: %d tables, %d rows, %d bytes, in %s\n",
		h.Engine, h.SchemaVersion, *out, len(h.Tables), h.TotalRows(), size, time.Since(start).Round(time.Millisecond))
	if len(h.Skipped) > 0 {
		fmt.Fprintf(report, "not Yunyi's, not saved: %s\n", strings.Join(h.Skipped, ", "))
	}
	return nil
}

// backupToFile writes the backup to a temporary file (mode 0600: it holds
// patients' data) beside name, synced, then renamed to name: a backup cut
// short never stands where a complete one is expected.
func backupToFile(ctx context.Context, dsn, name string) (*sqlstore.BackupHeader, int64, error) {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".partial-*")
	if err != nil {
		return nil, 0, err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	cw := &countingWriter{w: f}
	h, err := sqlstore.BackupDSN(ctx, dsn, cw)
	if err != nil {
		return nil, 0, err
	}
	if err := f.Sync(); err != nil {
		return nil, 0, err
	}
	if err := f.Close(); err != nil {
		return nil, 0, err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return nil, 0, err
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself on disk
		d.Close()
	}
	return h, cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func restoreCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", defaultDB(), "SQLite file (need not exist) or postgres:// URL of the empty database to restore into")
	// Flags may come before or after the file.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		return errors.New("usage: yunyi restore [--db yunyi.db | postgres://...] FILE")
	}
	var in io.Reader = os.Stdin
	if files[0] != "-" {
		f, err := os.Open(files[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	start := time.Now()
	rep, err := sqlstore.RestoreDSN(ctx, *dsn, in)
	if err != nil {
		return fmt.Errorf("restore %s: %w", files[0], err)
	}
	h := rep.Header
	fmt.Fprintf(stdout, "restored %s (a %s backup of %s, schema version %d) into the %s database: %d tables, %d rows, counts checked, audit chain verified (%d entries), in %s\n",
		files[0], h.Engine, h.TakenAt.Format(time.RFC3339), h.SchemaVersion, engineOf(*dsn), len(h.Tables), rep.Rows, rep.AuditEntries,
		time.Since(start).Round(time.Millisecond))
	if latest := sqlstore.LatestMigration(); h.SchemaVersion < latest {
		fmt.Fprintf(stdout, "the database is at schema version %d: yunyi serve (or yunyi migrate) brings it to %d\n", h.SchemaVersion, latest)
	}
	return nil
}

func engineOf(dsn string) sqlstore.Engine {
	if sqlstore.IsPostgresDSN(dsn) {
		return sqlstore.Postgres
	}
	return sqlstore.SQLite
}
