// Package metrics is a small registry of counters, gauges and histograms
// written in the Prometheus text exposition format (version 0.0.4), with
// the Go runtime's basics. Metrics are registered by name, optionally
// with label names; registering a name again with the same kind, help and
// labels returns the metric already there, so packages and servers made
// more than once (tests) can register at start-up without coordination.
//
//	var booked = metrics.NewCounter("yunyi_bookings_total", "Bookings by outcome.", "outcome")
//	booked.With("ok").Inc()
//
// Handler serves a registry at /metrics.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Default is the registry of the process: the one `yunyi serve` exposes.
var Default = NewRegistry()

// Registry holds metric families by name.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry makes an empty registry with the Go runtime's metrics.
func NewRegistry() *Registry {
	r := &Registry{families: map[string]*family{}}
	registerRuntime(r)
	return r
}

type kind string

const (
	kindCounter   kind = "counter"
	kindGauge     kind = "gauge"
	kindHistogram kind = "histogram"
)

// family is one metric name: its help, kind, label names and children by
// label values.
type family struct {
	name, help string
	kind       kind
	labels     []string
	buckets    []float64 // histograms

	mu       sync.RWMutex
	children map[string]any // joined label values → *Counter, *Gauge, *Histogram, gaugeFunc
	values   map[string][]string
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// register returns the family of name, making it; a name registered with
// another kind, help, label names or buckets is a programming error.
func (r *Registry) register(name, help string, k kind, labels []string, buckets []float64) *family {
	if !metricName.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !labelName.MatchString(l) || strings.HasPrefix(l, "__") || (k == kindHistogram && l == "le") {
			panic(fmt.Sprintf("metrics: %s: invalid label name %q", name, l))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.families[name]; ok {
		if f.kind != k || f.help != help || !slices.Equal(f.labels, labels) || !slices.Equal(f.buckets, buckets) {
			panic(fmt.Sprintf("metrics: %s registered again differently", name))
		}
		return f
	}
	f := &family{name: name, help: help, kind: k, labels: slices.Clone(labels), buckets: buckets,
		children: map[string]any{}, values: map[string][]string{}}
	r.families[name] = f
	return f
}

// child returns the metric of the label values, making it with mk.
func (f *family) child(values []string, mk func() any) any {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s: %d label values for %d labels", f.name, len(values), len(f.labels)))
	}
	key := strings.Join(values, "\xff")
	f.mu.RLock()
	c, ok := f.children[key]
	f.mu.RUnlock()
	if ok {
		return c
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.children[key]; ok {
		return c
	}
	c = mk()
	f.children[key] = c
	f.values[key] = slices.Clone(values)
	return c
}

// Counter is a value that only goes up.
type Counter struct{ bits atomic.Uint64 }

// Inc adds 1.
func (c *Counter) Inc() { c.Add(1) }

// Add adds v, which must not be negative.
func (c *Counter) Add(v float64) {
	if v < 0 {
		panic("metrics: counter decreased")
	}
	addFloat(&c.bits, v)
}

// Value is the counter's value.
func (c *Counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

// CounterVec is a counter family with labels.
type CounterVec struct{ f *family }

// With is the counter of the label values (in the order of the names).
func (v *CounterVec) With(values ...string) *Counter {
	return v.f.child(values, func() any { return new(Counter) }).(*Counter)
}

// Gauge is a value that goes up and down.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Add adds v (negative to subtract).
func (g *Gauge) Add(v float64) { addFloat(&g.bits, v) }

// Inc adds 1.
func (g *Gauge) Inc() { g.Add(1) }

// Dec subtracts 1.
func (g *Gauge) Dec() { g.Add(-1) }

// Value is the gauge's value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ f *family }

// With is the gauge of the label values.
func (v *GaugeVec) With(values ...string) *Gauge {
	return v.f.child(values, func() any { return new(Gauge) }).(*Gauge)
}

// valueFunc is a counter or gauge whose value is read at each scrape.
type valueFunc func() float64

// DefBuckets are the default histogram buckets, in seconds: 5 ms to 10 s.
var DefBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Histogram counts observations in buckets, with their sum.
type Histogram struct {
	upper  []float64       // upper bounds, ascending, without +Inf
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64
}

func newHistogram(upper []float64) *Histogram {
	return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
}

// Observe records v.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.upper, v) // the first bound >= v (le is inclusive)
	h.counts[i].Add(1)
	addFloat(&h.sum, v)
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// HistogramVec is a histogram family with labels.
type HistogramVec struct{ f *family }

// With is the histogram of the label values.
func (v *HistogramVec) With(values ...string) *Histogram {
	return v.f.child(values, func() any { return newHistogram(v.f.buckets) }).(*Histogram)
}

func addFloat(bits *atomic.Uint64, v float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// NewCounter registers a counter family with the label names; With gives
// the counter of label values (With() the only one, without labels, which
// is written as 0 from the start).
func (r *Registry) NewCounter(name, help string, labels ...string) *CounterVec {
	v := &CounterVec{r.register(name, help, kindCounter, labels, nil)}
	if len(labels) == 0 {
		v.With()
	}
	return v
}

// NewGauge registers a gauge family (see NewCounter).
func (r *Registry) NewGauge(name, help string, labels ...string) *GaugeVec {
	v := &GaugeVec{r.register(name, help, kindGauge, labels, nil)}
	if len(labels) == 0 {
		v.With()
	}
	return v
}

// NewGaugeFunc registers a gauge without labels whose value f gives at
// each scrape. Registering the name again replaces f.
func (r *Registry) NewGaugeFunc(name, help string, f func() float64) {
	r.register(name, help, kindGauge, nil, nil).setFunc(f)
}

// NewCounterFunc registers a counter without labels whose value f gives
// at each scrape (a total kept elsewhere). Registering it again replaces f.
func (r *Registry) NewCounterFunc(name, help string, f func() float64) {
	r.register(name, help, kindCounter, nil, nil).setFunc(f)
}

func (f *family) setFunc(fn func() float64) {
	f.mu.Lock()
	f.children[""] = valueFunc(fn)
	f.values[""] = nil
	f.mu.Unlock()
}

// NewHistogram registers a histogram family with the upper bounds of its
// buckets (ascending; nil: DefBuckets); +Inf is implied.
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if buckets == nil {
		buckets = DefBuckets
	}
	buckets = slices.Clone(buckets)
	if n := len(buckets); n > 0 && math.IsInf(buckets[n-1], 1) {
		buckets = buckets[:n-1]
	}
	if !slices.IsSorted(buckets) || len(slices.Compact(slices.Clone(buckets))) != len(buckets) {
		panic(fmt.Sprintf("metrics: %s: buckets not ascending", name))
	}
	v := &HistogramVec{r.register(name, help, kindHistogram, labels, buckets)}
	if len(labels) == 0 {
		v.With()
	}
	return v
}

// NewCounter registers a counter in Default.
func NewCounter(name, help string, labels ...string) *CounterVec {
	return Default.NewCounter(name, help, labels...)
}

// NewGauge registers a gauge in Default.
func NewGauge(name, help string, labels ...string) *GaugeVec {
	return Default.NewGauge(name, help, labels...)
}

// NewGaugeFunc registers a gauge function in Default.
func NewGaugeFunc(name, help string, f func() float64) { Default.NewGaugeFunc(name, help, f) }

// NewCounterFunc registers a counter function in Default.
func NewCounterFunc(name, help string, f func() float64) { Default.NewCounterFunc(name, help, f) }

// NewHistogram registers a histogram in Default.
func NewHistogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	return Default.NewHistogram(name, help, buckets, labels...)
}

// ContentType is the media type of the exposition.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteTo writes every family in the text exposition format, sorted by
// name and label values. A family without children yet is written with
// its HELP and TYPE only.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	fams := make([]*family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.name, b.name) })
	cw := &countWriter{w: bufio.NewWriter(w)}
	for _, f := range fams {
		f.write(cw)
	}
	err := cw.w.Flush()
	if cw.err != nil {
		err = cw.err
	}
	return cw.n, err
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) WriteString(s string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(s)
	c.n += int64(n)
	c.err = err
}

func (f *family) write(w *countWriter) {
	w.WriteString("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
	w.WriteString("# TYPE " + f.name + " " + string(f.kind) + "\n")
	f.mu.RLock()
	keys := make([]string, 0, len(f.children))
	for k := range f.children {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	children := make([]any, len(keys))
	values := make([][]string, len(keys))
	for i, k := range keys {
		children[i], values[i] = f.children[k], f.values[k]
	}
	f.mu.RUnlock()
	for i, c := range children {
		labels := f.labelPairs(values[i])
		switch c := c.(type) {
		case *Counter:
			w.WriteString(f.name + braces(labels) + " " + formatFloat(c.Value()) + "\n")
		case *Gauge:
			w.WriteString(f.name + braces(labels) + " " + formatFloat(c.Value()) + "\n")
		case valueFunc:
			w.WriteString(f.name + braces(labels) + " " + formatFloat(c()) + "\n")
		case *Histogram:
			var cum uint64
			for b := range c.counts {
				cum += c.counts[b].Load()
				le := "+Inf"
				if b < len(c.upper) {
					le = formatFloat(c.upper[b])
				}
				w.WriteString(f.name + "_bucket" + braces(append(slices.Clone(labels), `le="`+le+`"`)) + " " + strconv.FormatUint(cum, 10) + "\n")
			}
			w.WriteString(f.name + "_sum" + braces(labels) + " " + formatFloat(math.Float64frombits(c.sum.Load())) + "\n")
			// The count is the +Inf bucket's, read above, so that the two agree.
			w.WriteString(f.name + "_count" + braces(labels) + " " + strconv.FormatUint(cum, 10) + "\n")
		}
	}
}

func (f *family) labelPairs(values []string) []string {
	pairs := make([]string, len(values))
	for i, v := range values {
		pairs[i] = f.labels[i] + `="` + escapeLabel(v) + `"`
	}
	return pairs
}

func braces(pairs []string) string {
	if len(pairs) == 0 {
		return ""
	}
	return "{" + strings.Join(pairs, ",") + "}"
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Handler serves the registry's exposition.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Cache-Control", "no-store")
		if req.Method == http.MethodHead {
			return
		}
		r.WriteTo(w)
	})
}
