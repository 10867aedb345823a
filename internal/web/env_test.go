package web

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/crawl"
	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
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
	staff map[string]demo.Account // the demo's staff accounts, with their TOTP secrets
}

var relaxed = map[string][2]float64{"login-ip": {6000, 1000}, "login-pair": {6000, 1000}, "login-user": {6000, 1000}, "register-ip": {6000, 1000},
	"sms-ip": {6000, 1000}, "child-account": {6000, 1000}}

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
	// The identity check answers in a millisecond, an unavailable one in 30.
	cfg.IDCheckSandbox = identity.SandboxCheckConfig{Delay: time.Millisecond, Timeout: 30 * time.Millisecond}
	for _, f := range configure {
		if f != nil {
			f(&cfg)
		}
	}
	s, err := New(cfg, db, al, log)
	if err != nil {
		t.Fatal(err)
	}
	var staff map[string]demo.Account
	if st, ok := seeded.Load(db); ok { // a copy of the seeded store (seed_test.go)
		staff = st.(map[string]demo.Account)
	} else if staff, err = loadDemo(context.Background(), db, s); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(openapiCheck(t, s))
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	return &env{t: t, db: db, s: s, ts: ts, clock: c, staff: staff}
}

// loadDemo loads the demo into a migrated store, enrols its staff's second
// factor and generates the slots; it returns the staff accounts.
func loadDemo(ctx context.Context, db *sqlstore.DB, s *Server) (map[string]demo.Account, error) {
	accts, _, err := demo.Load(ctx, db, testNow())
	if err != nil {
		return nil, err
	}
	// The demo's staff log in with a second factor (N-20): the helpers
	// below compute its codes from the known secrets on the test clock.
	if accts, err = demo.EnrolStaff(ctx, db, s.Identity(), accts); err != nil {
		return nil, err
	}
	staff := map[string]demo.Account{}
	for _, a := range accts {
		if a.TOTPSecret != "" {
			staff[a.Username] = a
		}
	}
	if _, err := s.Booking().GenerateAll(ctx); err != nil {
		return nil, err
	}
	return staff, nil
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
	eachSeeded(t, func(t *testing.T, db *sqlstore.DB) { fn(t, newEnv(t, db, relaxed)) })
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
	code := m.Run()
	oaStats.report()
	dropTemplates()
	os.Exit(code)
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

// login logs a demo account in through the API. A staff account sends a
// code of its second factor (N-20), and a doctor confirms their identity
// for the session at once (N-7), as a doctor does before a session of
// visits. A staff account's session is kept per database and given again
// while it is valid: a TOTP code is good once, and tests log the same
// staff in many times at one instant of the test clock.
func (e *env) login(username string) string {
	e.t.Helper()
	a, staff := e.staff[username]
	if staff {
		if tok := e.keptSession(username); tok != "" {
			return tok
		}
	}
	body := map[string]string{"username": username, "password": demo.Password}
	if staff {
		body["totp"] = e.totp(username)
	}
	r := e.req("POST", "/api/v1/auth/login", "", body)
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", username, r.status, r.raw)
	}
	tok := r.body["token"].(string)
	if staff {
		if a.Role == string(identity.RoleDoctor) {
			e.confirmIdentity(username, tok)
		}
		kept.Lock()
		kept.tokens[keptKey{e.db, username}] = tok
		kept.Unlock()
	}
	return tok
}

// confirmIdentity confirms a doctor's session with a code (N-7).
func (e *env) confirmIdentity(username, tok string) {
	e.t.Helper()
	if r := e.req("POST", "/api/v1/me/identity-confirmation", tok, map[string]string{"totp": e.totp(username)}); r.status != 200 {
		e.t.Fatalf("identity confirmation of %s: %d %s", username, r.status, r.raw)
	}
}

type keptKey struct {
	db   *sqlstore.DB
	user string
}

// kept holds what the login helpers share between the servers of a
// database: the staff's sessions, and the last TOTP step each account used.
var kept = struct {
	sync.Mutex
	tokens map[keptKey]string
	steps  map[keptKey]int64
}{tokens: map[keptKey]string{}, steps: map[keptKey]int64{}}

// keptSession returns the staff account's kept session while the store
// holds it valid on this env's clock (read from the store: nothing is
// touched), its doctor's identity confirmation renewed when it lapsed.
func (e *env) keptSession(username string) string {
	e.t.Helper()
	kept.Lock()
	tok := kept.tokens[keptKey{e.db, username}]
	kept.Unlock()
	if tok == "" {
		return ""
	}
	ctx := context.Background()
	sess, acct, err := e.db.SessionAccount(ctx, identity.HashToken(tok))
	if err != nil || !sess.Valid(e.clock.Now()) || acct.Disabled {
		return ""
	}
	if acct.Role == identity.RoleDoctor {
		until, err := e.db.SessionConfirmedUntil(ctx, sess.TokenHash)
		if err != nil {
			e.t.Fatal(err)
		}
		if !e.clock.Now().Before(until) {
			e.confirmIdentity(username, tok)
		}
	}
	return tok
}

// totp returns a code of a demo staff account's second factor that the
// server accepts now: a step around the env's clock that the account has
// not used (codes are good once). When the three steps around the clock
// are spent, the clock moves on to the next step (at most 30 seconds).
func (e *env) totp(username string) string {
	e.t.Helper()
	a, ok := e.staff[username]
	if !ok {
		e.t.Fatalf("%s has no known second factor", username)
	}
	kept.Lock()
	defer kept.Unlock()
	k := keptKey{e.db, username}
	now := e.clock.Now()
	cur := identity.TOTPStep(now)
	step := max(cur-1, kept.steps[k]+1)
	if step > cur+1 {
		e.clock.Add(time.Unix((step-1)*int64(identity.TOTPPeriod/time.Second), 0).Sub(now))
	}
	kept.steps[k] = step
	code, err := identity.TOTPCodeAt(a.TOTPSecret, step)
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

// withTOTP adds a code to a login's body when it is a demo staff
// account's with the demo password (a wrong password needs none).
func (e *env) withTOTP(body map[string]string) map[string]string {
	if _, ok := e.staff[body["username"]]; ok && body["password"] == demo.Password {
		body["totp"] = e.totp(body["username"])
	}
	return body
}

var ridSeq = 40

// newRID returns a fresh valid resident ID of someone aged years.
func newRID(years int) string {
	ridSeq++
	return identity.MakeResidentID("110108", testNow().AddDate(-years, 0, -30), ridSeq, identity.Female)
}

// phoneSeq numbers the phones of registrations: each number has its own
// limit of SMS codes (N-5).
var phoneSeq atomic.Int64

// newPhone returns a mobile number no other registration of the tests uses.
func newPhone() string { return fmt.Sprintf("139%08d", 10_000_000+phoneSeq.Add(1)) }

// smsCode reads the newest code texted to phone from the SMS sandbox's log
// (what the admin's SMS page shows).
func (e *env) smsCode(phone string) string {
	e.t.Helper()
	log, err := e.db.SMSSent(context.Background(), phone, 1)
	if err != nil || len(log) == 0 {
		e.t.Fatalf("no SMS to %s: %v", phone, err)
	}
	code := smsCodeRe.FindString(log[0].Text)
	if code == "" {
		e.t.Fatalf("no code in %q", log[0].Text)
	}
	return code
}

var smsCodeRe = regexp.MustCompile(`\b[0-9]{6}\b`)

// withCode asks for a registration code for body's phone and returns body
// with it (N-5: registration proves the phone).
func (e *env) withCode(body map[string]string) map[string]string {
	e.t.Helper()
	if r := e.req("POST", "/api/v1/auth/sms-code", "", map[string]string{"phone": body["phone"], "purpose": "register"}); r.status != 202 {
		e.t.Fatalf("sms-code: %d %s", r.status, r.raw)
	}
	out := map[string]string{}
	for k, v := range body {
		out[k] = v
	}
	out["sms_code"] = e.smsCode(body["phone"])
	return out
}

func (e *env) register(username string, years int) (string, map[string]any) {
	e.t.Helper()
	r := e.req("POST", "/api/v1/auth/register", "", e.withCode(map[string]string{"username": username, "password": "secret-123",
		"name": "测试用户", "resident_id": newRID(years), "phone": newPhone()}))
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
