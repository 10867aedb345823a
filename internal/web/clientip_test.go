package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/metrics"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.1.2.3/8, 192.0.2.10 ,2001:db8::/32,::1,::ffff:198.51.100.0/120,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.10/32", "2001:db8::/32", "::1/128", "198.51.100.0/24"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("%d: %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.1-10.0.0.9", "fe80::1%eth0"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if p, err := ParseTrustedProxies(""); err != nil || len(p) != 0 {
		t.Errorf("empty: %v %v", p, err)
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.10, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		peer      string
		xff       []string
		forwarded []string
		want      string
	}{
		{"no proxy, no header", "203.0.113.5:4000", nil, nil, "203.0.113.5"},
		{"spoofed X-Forwarded-For from an untrusted peer", "203.0.113.5:4000", []string{"198.51.100.7"}, nil, "203.0.113.5"},
		{"spoofed Forwarded from an untrusted peer", "203.0.113.5:4000", nil, []string{"for=198.51.100.7"}, "203.0.113.5"},
		{"peer next to a trusted single address", "192.0.2.11:4000", []string{"198.51.100.7"}, nil, "192.0.2.11"},
		{"trusted proxy, no header", "10.0.0.1:4000", nil, nil, "10.0.0.1"},
		{"one trusted proxy", "10.0.0.1:4000", []string{"198.51.100.7"}, nil, "198.51.100.7"},
		{"trusted single address", "192.0.2.10:4000", []string{"198.51.100.7"}, nil, "198.51.100.7"},
		{"chain of proxies, client's spoofed hop ignored", "10.0.0.1:4000", []string{"6.6.6.6, 198.51.100.7, 10.0.0.2, 192.0.2.10"}, nil, "198.51.100.7"},
		{"chain over several header lines", "10.0.0.1:4000", []string{"6.6.6.6", "198.51.100.7, 10.0.0.2"}, nil, "198.51.100.7"},
		{"every hop trusted: the farthest", "10.0.0.1:4000", []string{"10.9.9.9, 10.0.0.2"}, nil, "10.9.9.9"},
		{"hop with a port", "10.0.0.1:4000", []string{"198.51.100.7:4711"}, nil, "198.51.100.7"},
		{"unreadable hop: the trusted one right of it", "10.0.0.1:4000", []string{"198.51.100.7, unknown, 10.0.0.3"}, nil, "10.0.0.3"},
		{"garbage last hop: the peer", "10.0.0.1:4000", []string{"198.51.100.7, not-an-ip"}, nil, "10.0.0.1"},
		{"empty header", "10.0.0.1:4000", []string{""}, nil, "10.0.0.1"},
		{"IPv6 peer and client", "[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, nil, "2001:db8:1::5"},
		{"IPv6 client bracketed with a port", "[2001:db8:ffff::1]:443", []string{"[2001:db8:1::5]:1234"}, nil, "2001:db8:1::5"},
		{"IPv6 untrusted peer", "[2001:db8:1::9]:443", []string{"198.51.100.7"}, nil, "2001:db8:1::9"},
		{"IPv4-mapped trusted peer", "[::ffff:10.0.0.1]:5555", []string{"198.51.100.7"}, nil, "198.51.100.7"},
		{"IPv4-mapped client", "10.0.0.1:4000", []string{"::ffff:198.51.100.7"}, nil, "198.51.100.7"},
		{"Forwarded", "10.0.0.1:4000", nil, []string{"for=192.0.2.60;proto=http;by=203.0.113.43"}, "192.0.2.60"},
		{"Forwarded IPv6 quoted with a port", "10.0.0.1:4000", nil, []string{`for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"Forwarded chain, names in any case", "10.0.0.1:4000", nil, []string{`for=6.6.6.6, for=198.51.100.7;proto=https, For="10.0.0.2"`}, "198.51.100.7"},
		{"Forwarded over several lines", "10.0.0.1:4000", nil, []string{"for=6.6.6.6", "for=198.51.100.7"}, "198.51.100.7"},
		{"Forwarded quoted comma", "10.0.0.1:4000", nil, []string{`for="_a,b";proto=http, for=198.51.100.7`}, "198.51.100.7"},
		{"Forwarded obfuscated last hop", "10.0.0.1:4000", nil, []string{`for=198.51.100.7, for="_hidden"`}, "10.0.0.1"},
		{"Forwarded unknown", "10.0.0.1:4000", nil, []string{"for=unknown"}, "10.0.0.1"},
		{"Forwarded element without for", "10.0.0.1:4000", nil, []string{"for=198.51.100.7, proto=https"}, "10.0.0.1"},
		{"Forwarded unbracketed IPv6 with a port is refused", "10.0.0.1:4000", nil, []string{`for="2001:db8::1]:80"`}, "10.0.0.1"},
		{"X-Forwarded-For wins over Forwarded", "10.0.0.1:4000", []string{"198.51.100.7"}, []string{"for=6.6.6.6"}, "198.51.100.7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range c.forwarded {
				r.Header.Add("Forwarded", v)
			}
			if got := clientAddr(r, trusted); got != c.want {
				t.Errorf("clientAddr = %q, want %q", got, c.want)
			}
			if got := clientAddr(r, nil); c.peer == "10.0.0.1:4000" && got != "10.0.0.1" {
				t.Errorf("without trusted proxies: %q, want the peer", got)
			}
		})
	}
}

// proxiedServer is a server without demo data behind trusted proxies at
// 10.0.0.0/8, with the given limits.
func proxiedServer(t *testing.T, db *sqlstore.DB, limits map[string][2]float64) *Server {
	t.Helper()
	al := audit.NewLogger(db)
	t.Cleanup(al.Close)
	trusted, _ := ParseTrustedProxies("10.0.0.0/8")
	s, err := New(Config{Limits: limits, BlobDir: t.TempDir(), TrustedProxies: trusted, Metrics: metrics.NewRegistry()},
		db, al, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Behind one trusted proxy, 50 forwarded clients have a registration
// bucket each and none is refused, while one abusive client is throttled
// after its burst; a client talking directly cannot escape its bucket by
// writing X-Forwarded-For. A login's audit entry carries the forwarded
// address.
func TestRateLimitsPerForwardedClient(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		const burst = 5
		s := proxiedServer(t, db, map[string][2]float64{"register-ip": {1, burst}})
		register := func(peer, xff string) int {
			r := httptest.NewRequest("POST", "/api/v1/auth/register", strings.NewReader("not json"))
			r.Header.Set("Content-Type", "application/json")
			r.RemoteAddr = peer
			if xff != "" {
				r.Header.Set("X-Forwarded-For", xff)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			return w.Code
		}
		for round := 0; round < burst; round++ {
			for c := 0; c < 50; c++ {
				if code := register("10.0.0.1:40000", fmt.Sprintf("198.51.100.%d", c+1)); code == http.StatusTooManyRequests {
					t.Fatalf("round %d: client %d refused", round, c)
				}
			}
		}
		refused := 0
		for i := 0; i < 30; i++ {
			if register("10.0.0.1:40000", "203.0.113.66, 10.0.0.2") == http.StatusTooManyRequests {
				refused++
			}
		}
		if refused != 30-burst {
			t.Errorf("abusive client: %d of 30 refused, want %d", refused, 30-burst)
		}
		// The well-behaved clients are unaffected by the abusive one.
		if code := register("10.0.0.1:40000", "198.51.100.200"); code == http.StatusTooManyRequests {
			t.Error("a new client refused after the abuse")
		}
		// Spoofing from outside: every request is the peer's.
		refused = 0
		for i := 0; i < 20; i++ {
			if register("203.0.113.99:5000", fmt.Sprintf("198.51.100.%d", i+100)) == http.StatusTooManyRequests {
				refused++
			}
		}
		if refused != 20-burst {
			t.Errorf("direct client with spoofed headers: %d of 20 refused, want %d", refused, 20-burst)
		}

		// The audit log records the forwarded client.
		r := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(`{"username":"nobody-here","password":"wrong-password-1"}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "10.0.0.1:40000"
		r.Header.Set("Forwarded", `for="[2001:db8::42]:5000";proto=https`)
		s.ServeHTTP(httptest.NewRecorder(), r)
		entries, err := db.QueryAudit(context.Background(), audit.Filter{ObjectType: "account", ObjectID: "nobody-here"})
		if err != nil || len(entries) != 1 {
			t.Fatalf("audit entries %v, %v", entries, err)
		}
		if entries[0].IP != "2001:db8::42" {
			t.Errorf("audit IP %q, want 2001:db8::42", entries[0].IP)
		}
	})
}
