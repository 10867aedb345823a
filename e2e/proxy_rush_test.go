package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/bench"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// rushHash is an argon2id hash of password with the lightest parameters
// (64 KiB, one pass): identity.CheckPassword reads the parameters from the
// hash, so 5,000 logins check it in milliseconds instead of the 5,000
// hashes of the real parameters (19 MiB, two passes: about 40 ms each
// here, over three minutes of CPU). Everything else a login does is as
// in production.
func rushHash(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// rushCall is one request of the rush: through the proxy (peer 127.0.0.1,
// the client's address in X-Forwarded-For) or from another peer.
func rushCall(client *http.Client, method, url, token, xff string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return res.StatusCode, out, nil
}

// A release rush behind a reverse proxy (issue 17): 5,000 patients behind
// one trusted proxy address (--trusted-proxies; the rush's connections
// come from 127.0.0.1, each patient's own address in X-Forwarded-For) log
// in and book within a minute, one in twenty mistyping the password
// first, and none is throttled: the login throttle's buckets are each
// client's. Meanwhile one abusive client behind the same proxy, guessing
// passwords, is throttled after its burst, and then even its right
// password waits. Behind a proxy that is not trusted (connections from
// 127.0.0.2) every client is the proxy: a few typos shut everyone behind
// it out. The audit log records the patients' own addresses.
func TestProxyRush(t *testing.T) {
	if testing.Short() {
		t.Skip("rate limits run on real time: the rush runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	eachEngine(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		const patients, services, slotsPer = 5000, 5, 4
		const password = "rush-password-1"
		db, err := sqlstore.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		f, err := bench.Build(ctx, db, bench.Spec{Prefix: "px", Services: services, SlotsPer: slotsPer, Capacity: patients / services / slotsPer,
			Patients: patients}, testclock.Start())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Writer().ExecContext(ctx, `UPDATE accounts SET password_hash = $1 WHERE username LIKE 'px-u%'`, rushHash(password)); err != nil {
			t.Fatal(err)
		}
		s := startServer(t, t.TempDir(), "--db", dsn, "--trusted-proxies", "127.0.0.1/32", "--metrics-addr", "off")

		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
		clientAddr := func(i int) string { return fmt.Sprintf("100.%d.%d.%d", 64+i/65536, i/256%256, i%256) }

		// The abusive client, behind the same proxy, during the rush.
		abuser := "203.0.113.66"
		var abuse struct {
			wrong, throttled int
			right            int // its right password, after the guesses
		}
		abuseDone := make(chan struct{})
		go func() {
			defer close(abuseDone)
			for i := range 40 {
				st, _, err := rushCall(client, "POST", s.URL+"/api/v1/auth/login", "", abuser+", 127.0.0.1",
					map[string]string{"username": "px-u004999", "password": fmt.Sprintf("guess-%d", i)})
				switch {
				case err != nil:
					t.Errorf("abuser: %v", err)
					return
				case st == http.StatusUnauthorized:
					abuse.wrong++
				case st == http.StatusTooManyRequests:
					abuse.throttled++
				}
				time.Sleep(20 * time.Millisecond)
			}
			abuse.right, _, _ = rushCall(client, "POST", s.URL+"/api/v1/auth/login", "", abuser,
				map[string]string{"username": "px-u004999", "password": password})
		}()

		// The rush: 64 connections through the proxy.
		var (
			next                  atomic.Int64
			logins, typos, booked atomic.Int64
			throttledMu           sync.Mutex
			throttled             []string
			answers               = map[int]int{}
			start                 = time.Now()
			wg                    sync.WaitGroup
			firstErr              atomic.Value
			loginSpan, bookSpan   atomic.Int64
		)
		fail := func(format string, args ...any) {
			firstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
		}
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= patients {
						return
					}
					u, xff := f.Patients[i], clientAddr(i)
					username := fmt.Sprintf("px-u%06d", i)
					if i%20 == 0 { // a typo first
						st, _, err := rushCall(client, "POST", s.URL+"/api/v1/auth/login", "", xff, map[string]string{"username": username, "password": "rush-passw0rd-1"})
						if err != nil || st != http.StatusUnauthorized {
							throttledMu.Lock()
							throttled = append(throttled, fmt.Sprintf("%s typo: %d %v", username, st, err))
							throttledMu.Unlock()
						}
						typos.Add(1)
					}
					t0 := time.Now()
					st, out, err := rushCall(client, "POST", s.URL+"/api/v1/auth/login", "", xff, map[string]string{"username": username, "password": password})
					loginSpan.Add(int64(time.Since(t0)))
					if err != nil {
						fail("login %s: %v", username, err)
						return
					}
					if st != http.StatusOK {
						throttledMu.Lock()
						throttled = append(throttled, fmt.Sprintf("%s login: %d %v", username, st, out["error"]))
						answers[st]++
						throttledMu.Unlock()
						continue
					}
					logins.Add(1)
					tok, _ := out["token"].(string)
					svc := i % services
					slot := f.Slots[svc][(i/services)%slotsPer]
					t0 = time.Now()
					st, out, err = rushCall(client, "POST", s.URL+"/api/v1/appointments", tok, xff, map[string]any{"slot_id": slot, "patient_id": u.PatientID,
						"answers": map[string]bool{"pregnant": false, "critical": false, "difficult": false, "first_visit": false}})
					bookSpan.Add(int64(time.Since(t0)))
					if err != nil {
						fail("book %s: %v", username, err)
						return
					}
					if st != http.StatusCreated {
						throttledMu.Lock()
						throttled = append(throttled, fmt.Sprintf("%s book: %d %v", username, st, out["error"]))
						answers[st]++
						throttledMu.Unlock()
						continue
					}
					booked.Add(1)
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		<-abuseDone
		if e := firstErr.Load(); e != nil {
			t.Fatal(e)
		}
		t.Logf("%s: %d patients logged in (%d typos first) and %d booked in %s (%.0f logins and bookings a second; mean login %s, booking %s)",
			t.Name(), logins.Load(), typos.Load(), booked.Load(), took.Round(time.Millisecond), float64(logins.Load()+booked.Load())/took.Seconds(),
			time.Duration(loginSpan.Load()/max(logins.Load(), 1)).Round(time.Microsecond), time.Duration(bookSpan.Load()/max(booked.Load(), 1)).Round(time.Microsecond))
		if len(throttled) > 0 {
			t.Fatalf("%d patients refused (%v), e.g. %v", len(throttled), answers, throttled[:min(5, len(throttled))])
		}
		if logins.Load() != patients || booked.Load() != patients {
			t.Fatalf("%d logins, %d bookings, want %d each", logins.Load(), booked.Load(), patients)
		}
		if took > time.Minute {
			t.Errorf("the rush took %s, more than a minute", took)
		}
		// The abuser: its burst of wrong guesses on the account (login-pair:
		// 5, one more a 12 s), then throttled, and even the right password
		// waits; the account's owner logged in from home in the rush.
		if abuse.wrong < 5 || abuse.wrong > 6 || abuse.wrong+abuse.throttled != 40 || abuse.right != http.StatusTooManyRequests {
			t.Errorf("abuser: %d wrong, %d throttled, right password %d; want 5, 35, 429", abuse.wrong, abuse.throttled, abuse.right)
		}

		// The audit log has each patient's own address, not the proxy's.
		for _, i := range []int{0, 1234, 3000} {
			entries, err := db.QueryAudit(ctx, audit.Filter{ObjectType: "account", ObjectID: fmt.Sprintf("px-u%06d", i)})
			if err != nil || len(entries) == 0 {
				t.Fatalf("audit of px-u%06d: %v %v", i, entries, err)
			}
			for _, e := range entries {
				if e.IP != clientAddr(i) {
					t.Errorf("audit of px-u%06d: address %s, want %s", i, e.IP, clientAddr(i))
				}
			}
		}
		entries, err := db.QueryAudit(ctx, audit.Filter{ObjectType: "account", ObjectID: "px-u004999", Limit: 100})
		byAddr := map[string]int{}
		for _, e := range entries {
			byAddr[e.IP]++
		}
		if err != nil || byAddr[abuser] != abuse.wrong || byAddr[clientAddr(4999)] != 1 || len(byAddr) != 2 {
			t.Errorf("audit of the attacked account by address: %v %v; want %d from %s (the guesses checked; a throttled one is refused before), 1 from %s",
				byAddr, err, abuse.wrong, abuser, clientAddr(4999))
		}
		var oversold int
		if err := db.Writer().QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT s.id FROM slots s JOIN appointments a ON a.slot_id = s.id
			WHERE s.service LIKE 'px-%' AND a.status IN ('booked', 'held') GROUP BY s.id, s.capacity HAVING COUNT(*) > s.capacity) x`).Scan(&oversold); err != nil || oversold != 0 {
			t.Fatalf("oversold slots: %d %v", oversold, err)
		}
		db.Close()

		// Behind a proxy that is not trusted (another peer, 127.0.0.2),
		// X-Forwarded-For is not believed: the clients are one, and ten
		// typos of ten different patients shut out the eleventh patient's
		// right password.
		untrusted := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
		for i := range 10 {
			st, _, err := rushCall(untrusted, "POST", s.URL+"/api/v1/auth/login", "", clientAddr(100000+i),
				map[string]string{"username": fmt.Sprintf("px-u%06d", 100+i), "password": "typo"})
			if err != nil {
				t.Skipf("no connection from 127.0.0.2 here: %v", err)
			}
			if st != http.StatusUnauthorized {
				t.Fatalf("typo %d from the untrusted proxy: %d", i, st)
			}
		}
		if st, _, _ := rushCall(untrusted, "POST", s.URL+"/api/v1/auth/login", "", clientAddr(100010),
			map[string]string{"username": "px-u000110", "password": password}); st != http.StatusTooManyRequests {
			t.Errorf("behind an untrusted proxy, the eleventh patient: %d, want 429 (one client)", st)
		}
	})
}
