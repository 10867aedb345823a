// Package sqltest opens fresh, migrated stores on every engine for tests:
// SQLite in a temporary folder, and PostgreSQL in a schema of its own that is
// dropped afterwards. PostgreSQL tests skip when no server answers, unless
// YUNYI_REQUIRE_POSTGRES=1 (set by CI) makes that a failure.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// PostgresURL is the server tests use: YUNYI_TEST_POSTGRES or the local
// default.
func PostgresURL() string {
	if u := os.Getenv("YUNYI_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RequirePostgres reports whether PostgreSQL must be there.
func RequirePostgres() bool { return os.Getenv("YUNYI_REQUIRE_POSTGRES") == "1" }

// Engines lists the engines to test on.
var Engines = []sqlstore.Engine{sqlstore.SQLite, sqlstore.Postgres}

// DSN returns a data source for a fresh, empty database on engine, removed
// when the test ends. It skips (or fails, see RequirePostgres) when the
// engine is not available.
func DSN(t testing.TB, engine sqlstore.Engine) string {
	t.Helper()
	if engine == sqlstore.SQLite {
		return filepath.Join(t.TempDir(), "yunyi.db")
	}
	base := PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if RequirePostgres() {
			t.Fatalf("PostgreSQL required but not reachable at %s: %v", base, err)
		}
		t.Skipf("PostgreSQL not reachable at %s (%v); set YUNYI_REQUIRE_POSTGRES=1 to fail instead", base, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a migrated store on engine, closed when the test ends.
func Open(t testing.TB, engine sqlstore.Engine) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, DSN(t, engine))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// Each runs fn as a subtest on every engine.
func Each(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, e))
		})
	}
}
