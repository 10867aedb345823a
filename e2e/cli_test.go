package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

func eachEngine(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, e := range sqltest.Engines {
		t.Run(string(e), func(t *testing.T) { fn(t, sqltest.DSN(t, e)) })
	}
}

// eachEngineAtOnce is eachEngine for a parallel browser test: the engines'
// runs go alongside each other and the other browser tests (TestMain).
func eachEngineAtOnce(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, e := range sqltest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			fn(t, sqltest.DSN(t, e))
		})
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	return api(t, "GET", url, "", nil, v)
}

// serve --demo on an empty database loads the demo data; a second start
// keeps everything and loads nothing again; SIGTERM stops it cleanly.
func TestServeDemoKeepsDataAcrossRestarts(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		dir := t.TempDir()
		s := startServer(t, dir, "--demo", "--db", dsn)
		// The account list is printed before the server serves, but the
		// reader of its output may not have read it all yet.
		out := s.Output()
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out, "liming") && time.Now().Before(deadline); out = s.Output() {
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(out, "demo data loaded") || !strings.Contains(out, "yunyi2026") || !strings.Contains(out, "liming") {
			t.Fatalf("first start must load and print the demo accounts:\n%s", out)
		}
		demoKeysPrinted(t, out)
		t.Logf("cold start to /readyz with demo load (%s): %s", t.Name(), s.Ready)
		var list struct{ Items []map[string]any }
		if getJSON(t, s.URL+"/api/v1/institutions", &list); len(list.Items) != 6 {
			t.Fatalf("want the 6 seed institutions, got %d", len(list.Items))
		}
		// Register someone, then restart.
		if st := register(t, s.URL, map[string]string{"username": "restart1", "password": "secret-123", "name": "重启测试",
			"resident_id": "11010519491231002X", "phone": "13800009999"}); st != 201 {
			t.Fatalf("register: %d", st)
		}
		if err := s.stop(); err != nil {
			t.Fatalf("SIGTERM: %v\n%s", err, s.Output())
		}
		if !strings.Contains(s.Output(), "Yunyi stopped.") {
			t.Fatalf("no clean stop:\n%s", s.Output())
		}
		s2 := startServer(t, dir, "--demo", "--db", dsn)
		if strings.Contains(s2.Output(), "demo data loaded") {
			t.Fatal("the second start reloaded the demo data")
		}
		if getJSON(t, s2.URL+"/api/v1/institutions", &list); len(list.Items) != 6 {
			t.Fatalf("after restart: %d institutions", len(list.Items))
		}
		res, err := http.Post(s2.URL+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"restart1","password":"secret-123"}`))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("the account registered before the restart is gone: %v %v", err, res.Status)
		}
	})
}

// The default store is a SQLite file in the working folder.
func TestDefaultDatabaseIsAFileInTheWorkingFolder(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.stop()
	if out, err := yunyi(t, dir, "audit", "verify"); err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("%v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "yunyi.db")); err != nil {
		t.Fatalf("no yunyi.db in the working folder: %v", err)
	}
}

func TestUserCreateAndAuditVerify(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		dir := t.TempDir()
		if out, err := yunyi(t, dir, "migrate", "--db", dsn); err != nil || !strings.Contains(out, "migration(s) applied") || strings.HasPrefix(out, "0 ") {
			t.Fatalf("migrate: %v %s", err, out)
		}
		if out, err := yunyi(t, dir, "migrate", "--db", dsn); err != nil || !strings.Contains(out, "0 migration(s) applied") {
			t.Fatalf("second migrate: %v %s", err, out)
		}
		out, err := yunyi(t, dir, "user", "create", "--db", dsn, "--username", "wjw", "--password", "regulator-2026", "--role", "regulator")
		if err != nil || !strings.Contains(out, "created account") {
			t.Fatalf("user create: %v %s", err, out)
		}
		// Bad input: a clear error, nothing created.
		for _, args := range [][]string{
			{"--username", "x1", "--password", "regulator-2026", "--role", "regulator"},
			{"--username", "doc1", "--password", "doctor-2026", "--role", "doctor"},
			{"--username", "boss", "--password", "boss-2026", "--role", "king"},
			{"--username", "wjw", "--password", "regulator-2026", "--role", "regulator"},
		} {
			out, err := yunyi(t, dir, append([]string{"user", "create", "--db", dsn}, args...)...)
			if err == nil {
				t.Fatalf("%v accepted: %s", args, out)
			}
		}
		// Log in as the new regulator through the server, then check the chain.
		s := startServer(t, dir, "--db", dsn)
		res, err := http.Post(s.URL+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"wjw","password":"regulator-2026"}`))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("login: %v %v", err, res.Status)
		}
		s.stop()
		out, err = yunyi(t, dir, "audit", "verify", "--db", dsn)
		if err != nil || !strings.Contains(out, "intact: 2 entries") {
			t.Fatalf("verify: %v %s", err, out)
		}
		// Edit a row directly in the database: verify names it.
		db, err := sqlstore.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer().Exec(`UPDATE audit_log SET actor_role = 'sysadmin' WHERE seq = 1`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		out, err = yunyi(t, dir, "audit", "verify", "--db", dsn)
		if err == nil || !strings.Contains(out, "BROKEN") || !strings.Contains(out, "entry 1") {
			t.Fatalf("tampered log passed: %v %s", err, out)
		}
	})
}

func TestVersionAndUsage(t *testing.T) {
	if out, err := yunyi(t, t.TempDir(), "version"); err != nil || !strings.HasPrefix(out, "yunyi ") {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := yunyi(t, t.TempDir(), "frobnicate"); err == nil || !strings.Contains(out, "unknown command") {
		t.Fatalf("%v %s", err, out)
	}
}
