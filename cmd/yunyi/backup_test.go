package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// TestBackupRestoreCommands: yunyi backup, yunyi restore into an empty
// database of either engine, audit verify on it; a second restore into it
// and a damaged file are refused.
func TestBackupRestoreCommands(t *testing.T) {
	for _, from := range sqltest.Engines {
		for _, into := range sqltest.Engines {
			t.Run(string(from)+"-to-"+string(into), func(t *testing.T) {
				ctx := context.Background()
				cmd := func(args ...string) (string, error) {
					var out, errOut bytes.Buffer
					err := run(ctx, args, &out, &errOut)
					return out.String() + errOut.String(), err
				}
				src := sqltest.DSN(t, from)
				if out, err := cmd("user", "create", "--db", src, "--username", "bk-admin", "--password", "backup2026", "--role", "sysadmin"); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				dir := t.TempDir()
				file := filepath.Join(dir, "yunyi.backup")
				out, err := cmd("backup", "--db", src, "--out", file)
				if err != nil || !strings.Contains(out, "backup of the "+string(from)+" database") {
					t.Fatalf("backup: %v: %s", err, out)
				}
				if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("backup file: %v %v", fi, err)
				}
				if left, _ := filepath.Glob(filepath.Join(dir, ".*partial*")); len(left) > 0 {
					t.Fatalf("temporary files left: %v", left)
				}

				dst := sqltest.DSN(t, into)
				out, err = cmd("restore", file, "--db", dst)
				if err != nil || !strings.Contains(out, "audit chain verified (1 entries)") {
					t.Fatalf("restore: %v: %s", err, out)
				}
				if out, err := cmd("audit", "verify", "--db", dst); err != nil || !strings.Contains(out, "audit log intact: 1 entries") {
					t.Fatalf("audit verify: %v: %s", err, out)
				}
				// The account came along: its name is taken.
				if out, err := cmd("user", "create", "--db", dst, "--username", "bk-admin", "--password", "backup2026", "--role", "sysadmin"); err == nil {
					t.Fatalf("the restored database lacks the account: %s", out)
				}

				_, err = cmd("restore", "--db", dst, file)
				if err == nil || !errors.Is(err, sqlstore.ErrNotEmpty) {
					t.Fatalf("a second restore into the same database: %v", err)
				}
				damaged := filepath.Join(dir, "damaged.backup")
				b, _ := os.ReadFile(file)
				os.WriteFile(damaged, b[:len(b)/2], 0o600)
				fresh := sqltest.DSN(t, into)
				if _, err := cmd("restore", "--db", fresh, damaged); err == nil || !strings.Contains(err.Error(), "truncated") {
					t.Fatalf("a truncated file: %v", err)
				}
				if into == sqlstore.SQLite {
					if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("a failed restore left %s: %v", fresh, err)
					}
				}

				// To standard output.
				var stdout, stderr bytes.Buffer
				if err := run(ctx, []string{"backup", "--db", src, "--out", "-"}, &stdout, &stderr); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(stderr.String(), "backup of the") || stdout.Len() < 100 || stdout.Bytes()[0] != 0x1f {
					t.Fatalf("backup to standard output: %d bytes, %s", stdout.Len(), stderr.String())
				}
			})
		}
	}
}

func TestBackupUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"backup", "--db", filepath.Join(t.TempDir(), "x.db")}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--out FILE") {
		t.Fatalf("backup without --out: %v", err)
	}
	if err := run(context.Background(), []string{"backup", "--db", filepath.Join(t.TempDir(), "none.db"), "--out", filepath.Join(t.TempDir(), "b")}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "no SQLite database") {
		t.Fatalf("backup of a missing file: %v", err)
	}
	if err := run(context.Background(), []string{"restore"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("restore without a file: %v", err)
	}
}
