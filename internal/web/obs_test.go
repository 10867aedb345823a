package web

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/metrics"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Request ids (kept when valid, made otherwise, echoed, in the access log
// and JSON errors), metrics per route pattern and status class, HSTS only
// over TLS.
func TestRequestIDMetricsAndHSTS(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		al := audit.NewLogger(db)
		t.Cleanup(al.Close)
		var logs syncBuffer
		reg := metrics.NewRegistry()
		s, err := New(Config{BlobDir: t.TempDir(), Metrics: reg}, db, al,
			slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		get := func(path, id string, tlsOn bool) *httptest.ResponseRecorder {
			r := httptest.NewRequest("GET", path, nil)
			if id != "" {
				r.Header.Set("X-Request-Id", id)
			}
			if tlsOn {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			return w
		}

		w := get("/healthz", "", false)
		made := w.Header().Get("X-Request-Id")
		if !uuidV4.MatchString(made) {
			t.Errorf("made request id %q", made)
		}
		if w.Header().Get("Strict-Transport-Security") != "" {
			t.Error("HSTS over plain HTTP")
		}
		if w := get("/healthz", "abc-123_X.y:z", true); w.Header().Get("X-Request-Id") != "abc-123_X.y:z" {
			t.Errorf("valid id not kept: %q", w.Header().Get("X-Request-Id"))
		} else if !strings.HasPrefix(w.Header().Get("Strict-Transport-Security"), "max-age=") {
			t.Error("no HSTS over TLS")
		}
		for _, bad := range []string{"has space", `quote"`, strings.Repeat("a", 129), "x\x7f"} {
			if got := get("/healthz", bad, false).Header().Get("X-Request-Id"); !uuidV4.MatchString(got) {
				t.Errorf("invalid id %q: answered %q", bad, got)
			}
		}

		// A JSON error names the request.
		w = get("/api/v1/no-such-thing", "trace-42", false)
		var body struct {
			Error struct {
				Code      string `json:"code"`
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 404 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		if body.Error.RequestID != "trace-42" || body.Error.Code != "not_found" {
			t.Errorf("error body %+v", body.Error)
		}

		// A method the path does not take is no route.
		r := httptest.NewRequest("DELETE", "/healthz", nil)
		w = httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 405 || w.Header().Get("X-Request-Id") == "" {
			t.Errorf("DELETE /healthz: %d", w.Code)
		}

		// Every access-log line has the request id.
		lines := 0
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		ids := map[string]bool{}
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("log line %q: %v", sc.Text(), err)
			}
			if l["msg"] != "http" {
				continue
			}
			lines++
			id, _ := l["request_id"].(string)
			if id == "" || l["ip"] != "192.0.2.1" {
				t.Errorf("access log line %s", sc.Text())
			}
			ids[id] = true
		}
		if lines != 8 || !ids[made] || !ids["trace-42"] || !ids["abc-123_X.y:z"] {
			t.Errorf("%d access-log lines, ids %v", lines, ids)
		}

		var exp strings.Builder
		reg.WriteTo(&exp)
		for _, want := range []string{
			`yunyi_http_request_duration_seconds_count{route="GET /healthz",status="2xx"} 6` + "\n",
			`yunyi_http_request_duration_seconds_count{route="unmatched",status="4xx"} 1` + "\n",
			`yunyi_http_request_duration_seconds_count{route="GET /",status="4xx"} 1` + "\n", // the pages' catch-all answers 404
			`yunyi_http_request_duration_seconds_bucket{route="GET /healthz",status="2xx",le="+Inf"} 6` + "\n",
			"# TYPE yunyi_http_request_duration_seconds histogram\n",
			"yunyi_http_requests_in_flight 0\n",
			"# TYPE go_goroutines gauge\n",
		} {
			if !strings.Contains(exp.String(), want) {
				t.Errorf("metrics lack %q:\n%s", want, exp.String())
			}
		}
	})
}

// In flight is counted while a request is answered.
func TestInFlight(t *testing.T) {
	reg := metrics.NewRegistry()
	s := &Server{cfg: Config{Metrics: reg}}
	inside := make(chan struct{})
	release := make(chan struct{})
	h := s.observe(routePattern(handlerCalling(func() { close(inside); <-release })))
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
		close(done)
	}()
	<-inside
	g := reg.NewGauge("yunyi_http_requests_in_flight", "HTTP requests being answered.").With()
	if g.Value() != 1 {
		t.Errorf("in flight %v, want 1", g.Value())
	}
	close(release)
	<-done
	if g.Value() != 0 {
		t.Errorf("in flight %v after, want 0", g.Value())
	}
}

func handlerCalling(f func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f() })
}
