package metrics

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func empty() *Registry { return &Registry{families: map[string]*family{}} }

func exposition(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The text format: HELP and TYPE lines, families and children sorted,
// cumulative buckets with +Inf equal to _count, _sum, escaped label values
// and help.
func TestExposition(t *testing.T) {
	r := empty()
	c := r.NewCounter("app_requests_total", "Requests by code.\nSecond line \\ backslash.", "code", "path")
	c.With("200", "/a").Add(3)
	c.With("500", `/b"\`+"\n").Inc()
	g := r.NewGauge("app_in_flight", "In flight.")
	g.With().Inc()
	g.With().Inc()
	g.With().Dec()
	h := r.NewHistogram("app_duration_seconds", "Durations.", []float64{0.1, 0.5, 1}, "route")
	for _, v := range []float64{0.05, 0.1, 0.2, 0.7, 3} {
		h.With("/x").Observe(v)
	}
	r.NewGaugeFunc("app_answer", "The answer.", func() float64 { return 42 })
	r.NewHistogram("app_empty_seconds", "No labels.", nil)
	got := exposition(t, r)
	want := `# HELP app_answer The answer.
# TYPE app_answer gauge
app_answer 42
# HELP app_duration_seconds Durations.
# TYPE app_duration_seconds histogram
app_duration_seconds_bucket{route="/x",le="0.1"} 2
app_duration_seconds_bucket{route="/x",le="0.5"} 3
app_duration_seconds_bucket{route="/x",le="1"} 4
app_duration_seconds_bucket{route="/x",le="+Inf"} 5
app_duration_seconds_sum{route="/x"} 4.05
app_duration_seconds_count{route="/x"} 5
# HELP app_empty_seconds No labels.
# TYPE app_empty_seconds histogram
app_empty_seconds_bucket{le="0.005"} 0
app_empty_seconds_bucket{le="0.01"} 0
app_empty_seconds_bucket{le="0.025"} 0
app_empty_seconds_bucket{le="0.05"} 0
app_empty_seconds_bucket{le="0.1"} 0
app_empty_seconds_bucket{le="0.25"} 0
app_empty_seconds_bucket{le="0.5"} 0
app_empty_seconds_bucket{le="1"} 0
app_empty_seconds_bucket{le="2.5"} 0
app_empty_seconds_bucket{le="5"} 0
app_empty_seconds_bucket{le="10"} 0
app_empty_seconds_bucket{le="+Inf"} 0
app_empty_seconds_sum 0
app_empty_seconds_count 0
# HELP app_in_flight In flight.
# TYPE app_in_flight gauge
app_in_flight 1
# HELP app_requests_total Requests by code.\nSecond line \\ backslash.
# TYPE app_requests_total counter
app_requests_total{code="200",path="/a"} 3
app_requests_total{code="500",path="/b\"\\\n"} 1
`
	if got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
}

// Registering a name again gives the same metric; differently, a panic.
func TestRegisterAgain(t *testing.T) {
	r := empty()
	a := r.NewCounter("x_total", "X.", "k")
	a.With("v").Inc()
	b := r.NewCounter("x_total", "X.", "k")
	b.With("v").Inc()
	if got := a.With("v").Value(); got != 2 {
		t.Errorf("value %v, want 2", got)
	}
	for name, f := range map[string]func(){
		"other kind":    func() { r.NewGauge("x_total", "X.", "k") },
		"other labels":  func() { r.NewCounter("x_total", "X.", "j") },
		"bad name":      func() { r.NewCounter("x-total", "X.") },
		"bad label":     func() { r.NewCounter("y_total", "Y.", "1k") },
		"le":            func() { r.NewHistogram("h", "H.", nil, "le") },
		"unsorted":      func() { r.NewHistogram("h2", "H.", []float64{1, 0.5}) },
		"label count":   func() { a.With("v", "w") },
		"negative":      func() { a.With("v").Add(-1) },
		"other buckets": func() { r.NewHistogram("h3", "H.", []float64{1}); r.NewHistogram("h3", "H.", []float64{2}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// Concurrent observations all count (run with -race).
func TestConcurrent(t *testing.T) {
	r := empty()
	h := r.NewHistogram("d_seconds", "D.", []float64{1}, "k")
	c := r.NewCounter("n_total", "N.")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				h.With([]string{"a", "b"}[j%2]).Observe(0.5)
				c.With().Inc()
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.WriteTo(io.Discard)
		}()
	}
	wg.Wait()
	if n := h.With("a").Count() + h.With("b").Count(); n != 8000 {
		t.Errorf("count %d", n)
	}
	if v := c.With().Value(); v != 8000 {
		t.Errorf("counter %v", v)
	}
}

// Every line of the default registry's answer is a comment or a sample
// of the text format, and the runtime's basics are there.
func TestHandlerAndRuntime(t *testing.T) {
	r := NewRegistry()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != ContentType {
		t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	sample := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+|\+Inf|-Inf|NaN)$`)
	comment := regexp.MustCompile(`^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$`)
	sc := bufio.NewScanner(rec.Body)
	body := rec.Body.String()
	for sc.Scan() {
		if l := sc.Text(); !sample.MatchString(l) && !comment.MatchString(l) {
			t.Errorf("bad line %q", l)
		}
	}
	for _, name := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "go_gc_cycles_total ", "go_info{version=\"go", "process_start_time_seconds "} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("no %s", name)
		}
	}
	rec = httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/metrics", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}
