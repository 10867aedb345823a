package web

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// Every env starts from the same store: migrated, with the demo data and
// its slots generated. Building that takes seconds on PostgreSQL (dozens
// of migrations and the demo's rows), so it is built once per engine and
// test process, and each test gets its own copy of it: a copy of the
// SQLite file, or a PostgreSQL database created from the template
// database (CREATE DATABASE … TEMPLATE, a copy of its files), dropped when
// the test ends. The template is dropped when the process ends (TestMain).

type seedTemplate struct {
	once  sync.Once
	ref   string                  // a SQLite file, or a PostgreSQL database's name
	staff map[string]demo.Account // the demo's staff with their TOTP secrets
	err   error
}

var (
	seedTemplates = map[sqlstore.Engine]*seedTemplate{sqlstore.SQLite: {}, sqlstore.Postgres: {}}
	seedDir       string   // holds the SQLite template
	seeded        sync.Map // *sqlstore.DB → its staff: a copy of a template
	pgAdmin       *sql.DB  // the connection that creates and drops databases
	pgAdminOnce   sync.Once
	pgAdminErr    error
)

// eachSeeded runs fn on a copy of the seeded store of every engine.
func eachSeeded(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	for _, eng := range sqltest.Engines {
		t.Run(string(eng), func(t *testing.T) { fn(t, seededDB(t, eng)) })
	}
}

// seededDB opens a test's own copy of the engine's seeded store.
func seededDB(t *testing.T, eng sqlstore.Engine) *sqlstore.DB {
	t.Helper()
	if eng == sqlstore.Postgres {
		if err := openPGAdmin(); err != nil {
			if sqltest.RequirePostgres() {
				t.Fatalf("PostgreSQL required but not reachable: %v", err)
			}
			t.Skipf("PostgreSQL not reachable (%v); set YUNYI_REQUIRE_POSTGRES=1 to fail instead", err)
		}
	}
	tp := seedTemplates[eng]
	tp.once.Do(func() { tp.ref, tp.staff, tp.err = buildTemplate(eng) })
	if tp.err != nil {
		t.Fatalf("seeded %s template: %v", eng, tp.err)
	}
	ctx := context.Background()
	var dsn string
	switch eng {
	case sqlstore.SQLite:
		dsn = filepath.Join(t.TempDir(), "yunyi.db")
		if err := copyFile(tp.ref, dsn); err != nil {
			t.Fatal(err)
		}
	case sqlstore.Postgres:
		name := "yunyi_t_" + randHex()
		if _, err := pgAdmin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tp.ref)); err != nil {
			t.Fatalf("copy the seeded template: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := pgAdmin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
				t.Logf("drop database %s: %v", name, err)
			}
		})
		dsn = pgDSN(name)
	}
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	seeded.Store(db, tp.staff)
	return db
}

// buildTemplate makes the engine's seeded store.
func buildTemplate(eng sqlstore.Engine) (ref string, staff map[string]demo.Account, err error) {
	ctx := context.Background()
	var dsn string
	switch eng {
	case sqlstore.SQLite:
		dir, err := os.MkdirTemp("", "yunyi-web-seed-")
		if err != nil {
			return "", nil, err
		}
		seedDir = dir
		dsn, ref = filepath.Join(dir, "build.db"), filepath.Join(dir, "seeded.db")
	case sqlstore.Postgres:
		if err := openPGAdmin(); err != nil {
			return "", nil, err
		}
		ref = "yunyi_tmpl_" + randHex()
		if _, err := pgAdmin.ExecContext(ctx, `CREATE DATABASE `+ref); err != nil {
			return "", nil, err
		}
		dsn = pgDSN(ref)
	}
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return ref, nil, err
	}
	staff, err = seed(ctx, db)
	if err == nil && eng == sqlstore.SQLite {
		// One compact file, the write-ahead log folded in.
		_, err = db.Writer().ExecContext(ctx, `VACUUM INTO '`+ref+`'`)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return ref, staff, err
}

// seed migrates a store, loads the demo, enrols its staff's second factor
// and generates the slots, as newEnv does on a store of its own.
func seed(ctx context.Context, db *sqlstore.DB) (map[string]demo.Account, error) {
	if _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	c := testclock.New()
	al := audit.NewLogger(db)
	defer al.Close()
	dir, err := os.MkdirTemp("", "yunyi-web-seed-blobs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg := Config{Demo: true, Now: c.Now, SigningKey: testMasterKey, Limits: relaxed, BlobDir: dir, PayLoop: -1, QualificationLoop: -1}
	s, err := New(cfg, db, al, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return loadDemo(ctx, db, s)
}

// dropTemplates removes the templates when the tests are done.
func dropTemplates() {
	if tp := seedTemplates[sqlstore.Postgres]; tp.ref != "" && pgAdmin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pgAdmin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+tp.ref+` WITH (FORCE)`)
	}
	if pgAdmin != nil {
		pgAdmin.Close()
	}
	if seedDir != "" {
		os.RemoveAll(seedDir)
	}
}

func openPGAdmin() error {
	pgAdminOnce.Do(func() {
		pgAdmin, pgAdminErr = sql.Open("pgx", sqltest.PostgresURL())
		if pgAdminErr == nil {
			pgAdminErr = pgAdmin.Ping()
		}
	})
	return pgAdminErr
}

// pgDSN is the test server's address with another database.
func pgDSN(name string) string {
	u, _ := url.Parse(sqltest.PostgresURL())
	u.Path = "/" + name
	return u.String()
}

func randHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
