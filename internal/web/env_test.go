package web

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/crawl"
	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// testNow() is the instant the tests run at: the next working day at 10:00
// Beijing, or YUNYI_TEST_NOW (see testclock).
func testNow() time.Time { return testclock.Start() }

// testMasterKey seals the practitioners' signing keys in tests.
var testMasterKey = []byte("yunyi-test-master-key-32-bytes!!")

type clock = testclock.Clock

// env is a real server over a real store with the demo data.
type env struct {
	t     *testing.T
	db    *sqlstore.DB
	s     *Server
	ts    *httptest.Server
	clock *clock
}

var relaxed = map[string][2]float64{"login-ip": {6000, 1000}, "login-pair": {6000, 1000}, "login-user": {6000, 1000}, "register-ip": {6000, 1000}}

func newEnv(t *testing.T, db *sqlstore.DB, limits map[string][2]float64, configure ...func(*Config)) *env {
	t.Helper()
	c := testclock.New()
	al := audit.NewLogger(db)
	t.Cleanup(al.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fast := crawl.DefaultOptions
	fast.PerHost, fast.Backoff = 1000, 10*time.Millisecond // fixture sites on loopback
	cfg := Config{Demo: true, Now: c.Now, SigningKey: testMasterKey, Limits: limits, Crawl: &fast, BlobDir: t.TempDir(), PayLoop: -1,
		QualificationLoop: -1} // the tests call Revalidate
	cfg.PaySandbox.TimeFactor = 0.001 // the providers' delays and retries in milliseconds
	for _, f := range configure {
		if f != nil {
			f(&cfg)
		}
	}
	s, err := New(cfg, db, al, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := demo.Load(context.Background(), db, testNow()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Booking().GenerateAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	return &env{t: t, db: db, s: s, ts: ts, clock: c}
}

// eachEnv runs fn on a fresh server on every engine. Tests on envs share
// nothing, so they run in parallel with each other (see TestMain).
func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Parallel()
	eachEnvAlone(t, fn)
}

// eachEnvAlone is eachEnv for a test that measures the process (its
// memory): it runs before the parallel tests start, alone.
func eachEnvAlone(t *testing.T, fn func(t *testing.T, e *env)) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) { fn(t, newEnv(t, db, relaxed)) })
}

// TestMain runs up to four tests at once unless -test.parallel says
// otherwise: an env's set-up waits mostly on the store (PostgreSQL's work
// is another process's), so two cores stay busier with four.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "4")
	}
	os.Exit(m.Run())
}

type resp struct {
	status int
	body   map[string]any
	raw    []byte
	header http.Header
}

// errCode is the error code of an error answer.
func (r resp) errCode() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	return ""
}

func (r resp) errMessage() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// fieldCodes maps field → code of an invalid_input answer.
func (r resp) fieldCodes() map[string]string {
	out := map[string]string{}
	e, _ := r.body["error"].(map[string]any)
	fs, _ := e["fields"].([]any)
	for _, f := range fs {
		m := f.(map[string]any)
		out[m["field"].(string)] = m["code"].(string)
	}
	return out
}

func (r resp) items() []any {
	it, _ := r.body["items"].([]any)
	return it
}

func (e *env) req(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, raw: raw, header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("bad JSON from %s %s: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

func (e *env) login(username string) string {
	e.t.Helper()
	r := e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": demo.Password})
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", username, r.status, r.raw)
	}
	return r.body["token"].(string)
}

var ridSeq = 40

// newRID returns a fresh valid resident ID of someone aged years.
func newRID(years int) string {
	ridSeq++
	return identity.MakeResidentID("110108", testNow().AddDate(-years, 0, -30), ridSeq, identity.Female)
}

func (e *env) register(username string, years int) (string, map[string]any) {
	e.t.Helper()
	r := e.req("POST", "/api/v1/auth/register", "", map[string]string{"username": username, "password": "secret-123",
		"name": "测试用户", "resident_id": newRID(years), "phone": "13912345678"})
	if r.status != 201 {
		e.t.Fatalf("register: %d %s", r.status, r.raw)
	}
	l := e.req("POST", "/api/v1/auth/login", "", map[string]string{"username": username, "password": "secret-123"})
	if l.status != 200 {
		e.t.Fatalf("login: %d %s", l.status, l.raw)
	}
	return l.body["token"].(string), r.body
}

func (e *env) count(table string) int {
	var n int
	if err := e.db.Writer().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func jsonUnmarshal(b []byte, v any) { json.Unmarshal(b, v) }
