package e2e

import (
	"database/sql"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// yunyi rx verify checks the demo's approved prescription against the
// database: valid (exit 0); a changed byte of the stored prescription
// makes it INVALID (exit 1). serve --demo made the operator key file
// yunyi.keys with mode 0600.
func TestRxVerifyCommand(t *testing.T) {
	eachEngine(t, func(t *testing.T, dsn string) {
		dir := t.TempDir()
		s := startServer(t, dir, "--demo", "--db", dsn)
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
		out, err := yunyi(t, dir, "rx", "verify", "--id", "1", "--db", dsn)
		if err != nil || !strings.Contains(out, "valid") || strings.Contains(out, "INVALID") || !strings.Contains(out, "pharmacist") {
			t.Fatalf("verify the demo prescription: %v\n%s", err, out)
		}
		driver, source := "sqlite", dsn
		if strings.HasPrefix(dsn, "postgres") {
			driver = "pgx"
		}
		db, err := sql.Open(driver, source)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var body string
		if err := db.QueryRow(`SELECT body FROM prescriptions WHERE id = 1`).Scan(&body); err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(body, `"days":7`, `"days":8`, 1)
		if changed == body {
			t.Fatalf("nothing to change in %s", body)
		}
		if _, err := db.Exec(`UPDATE prescriptions SET body = $1 WHERE id = 1`, changed); err != nil {
			t.Fatal(err)
		}
		out, err = yunyi(t, dir, "rx", "verify", "--id", "1", "--db", dsn)
		if err == nil || !strings.Contains(out, "INVALID") {
			t.Fatalf("a changed prescription verifies: %v\n%s", err, out)
		}
	})
}
