package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/metrics"
)

// Observability: every request gets an id (a valid incoming X-Request-Id,
// else a new one), echoed in the X-Request-Id response header, written in
// the access log and in JSON error bodies; its client address is decided
// once (see clientAddr); its duration is observed per route pattern and
// status class, and requests in flight are counted.

// reqMeta is what the outermost middleware knows of a request. The mux
// fills in the route pattern it matched.
type reqMeta struct {
	id      string
	ip      string
	pattern string
}

type metaKey struct{}

func metaOf(ctx context.Context) *reqMeta {
	m, _ := ctx.Value(metaKey{}).(*reqMeta)
	return m
}

// requestID is the id of the request ("" outside the server's handler).
func requestID(r *http.Request) string {
	if m := metaOf(r.Context()); m != nil {
		return m.id
	}
	return ""
}

const requestIDHeader = "X-Request-Id"

// validRequestID accepts ids of 1 to 128 letters, digits and - _ . : + / =
// (UUIDs, trace ids, base64): nothing that could break a log line.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// newRequestID is a random UUID (version 4).
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// observe is the outermost middleware: request id, client address,
// metrics. The metrics go to cfg.Metrics (default metrics.Default).
func (s *Server) observe(next http.Handler) http.Handler {
	reg := s.cfg.Metrics
	if reg == nil {
		reg = metrics.Default
	}
	duration := reg.NewHistogram("yunyi_http_request_duration_seconds",
		"Time to answer HTTP requests, by route pattern (\"unmatched\" for unknown paths) and status class.",
		metrics.DefBuckets, "route", "status")
	inFlight := reg.NewGauge("yunyi_http_requests_in_flight", "HTTP requests being answered.").With()
	trusted := s.cfg.TrustedProxies
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m := &reqMeta{id: r.Header.Get(requestIDHeader), ip: clientAddr(r, trusted)}
		if !validRequestID(m.id) {
			m.id = newRequestID()
		}
		w.Header().Set(requestIDHeader, m.id)
		r = r.WithContext(context.WithValue(r.Context(), metaKey{}, m))
		inFlight.Inc()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			inFlight.Dec()
			route := m.pattern
			if route == "" {
				route = "unmatched"
			}
			duration.With(route, statusClass(sw.status)).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// routePattern records the pattern the mux matched (the mux sets it on
// the request it was given).
func routePattern(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if m := metaOf(r.Context()); m != nil {
				m.pattern = r.Pattern
			}
		}()
		next.ServeHTTP(w, r)
	})
}

var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(code int) string {
	if code == 0 {
		code = http.StatusOK // nothing written: net/http answers 200
	}
	if c := code / 100; c >= 1 && c <= 5 {
		return statusClasses[c-1]
	}
	return strconv.Itoa(code)
}
