// Package testclock gives every test the instant it runs at, so that the suite
// holds on any date.
//
// The instant is 10:00 Beijing time of the next working day after today, or
// the RFC 3339 time in YUNYI_TEST_NOW (CI runs the suite a second time about
// 400 days ahead). Tests derive every date they need from it; only facts that
// are history in the seeds keep their own dates.
//
// Where this fake clock meets a real one, the server's clock wins on purpose:
// session cookies carry Max-Age (the browser or cookie jar counts it on its own
// clock) and the server alone decides expiry; certificates a test makes are
// valid around the real time, since TLS checks them against the real clock.
package testclock

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// Env is the variable that sets the tests' instant.
const Env = "YUNYI_TEST_NOW"

var (
	mu     sync.Mutex
	starts = map[string]time.Time{}
)

// Start returns the instant the tests run at (see the package comment). A
// malformed YUNYI_TEST_NOW panics: a test run on the wrong date would prove
// nothing. Call it while tests run, not in a package variable's initializer:
// go test caches a package's result by the variables its tests read, and a
// read before the tests start is not seen.
func Start() time.Time {
	v := os.Getenv(Env)
	mu.Lock()
	defer mu.Unlock()
	if t, ok := starts[v]; ok {
		return t
	}
	t := NextWorkingDay(time.Now())
	if v != "" {
		var err error
		if t, err = time.Parse(time.RFC3339, v); err != nil {
			panic(fmt.Sprintf("%s=%q is not an RFC 3339 time: %v", Env, v, err))
		}
	}
	starts[v] = t
	return t
}

// NextWorkingDay returns 10:00 Beijing time of the first Monday-to-Friday day
// after t's Beijing date.
func NextWorkingDay(t time.Time) time.Time {
	d := t.In(dates.Beijing)
	d = time.Date(d.Year(), d.Month(), d.Day(), 10, 0, 0, 0, dates.Beijing).AddDate(0, 0, 1)
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// Day returns the Beijing date of Start plus days, as YYYY-MM-DD.
func Day(days int) string {
	return Start().In(dates.Beijing).AddDate(0, 0, days).Format(dates.Layout)
}

// Clock is a settable clock that starts at Start.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock at Start.
func New() *Clock { return &Clock{t: Start()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
