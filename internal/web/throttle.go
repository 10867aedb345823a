package web

import (
	"errors"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// loginThrottle slows password guessing down instead of locking accounts
// (issue 15; N-20 strong authentication, N-19 nothing told about who has
// an account): five wrong passwords used to lock any account for 15
// minutes, so anyone could shut a doctor out before a clinic, and the 423
// told who had an account. Each attempt holds a token of three buckets,
// given back when it succeeds (only failures count):
//
//   - "login-ip": the client's address, on any username (an IPv6 client
//     by its /64, which one subscriber holds);
//   - "login-pair": that address on one username;
//   - "login-user": the username, from every address.
//
// An attempt waits (429 rate_limited with Retry-After, before any password
// is hashed) when its address's or its pair's bucket is empty, or when the
// username's is and this address has failed on it lately. An address with
// no recent failure on the account (the doctor's own phone) still logs in
// while others hammer it; every attacking address gets about one guess
// each time the account's bucket refills. Unknown usernames are throttled
// exactly as known ones, so the answers tell nothing about who exists.
type loginThrottle struct {
	specs   map[string][2]float64 // kind → (failures per minute, burst)
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

// maxThrottleBuckets bounds the throttle's memory: past it, full buckets
// (those equal to a new one) are dropped first, then all.
const maxThrottleBuckets = 200_000

func newLoginThrottle(specs map[string][2]float64) *loginThrottle {
	return &loginThrottle{specs: specs, now: time.Now, buckets: map[string]*rate.Limiter{}}
}

// loginAttempt is an attempt's tokens, kept if it fails.
type loginAttempt struct {
	t   *loginThrottle
	at  time.Time
	res []*rate.Reservation
}

// addrKey is the throttled unit of a client address.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// bucket returns the bucket of kind and key (t.mu held).
func (t *loginThrottle) bucket(kind, key string) *rate.Limiter {
	k := kind + "\x00" + key
	b := t.buckets[k]
	if b == nil {
		spec := t.specs[kind]
		b = rate.NewLimiter(rate.Limit(spec[0]/60), int(spec[1]))
		t.buckets[k] = b
	}
	return b
}

// sweep drops full buckets (a full bucket is a new one) once a minute, or
// when there are too many (t.mu held).
func (t *loginThrottle) sweep(now time.Time) {
	if now.Sub(t.swept) < time.Minute && len(t.buckets) < maxThrottleBuckets {
		return
	}
	t.swept = now
	for k, b := range t.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(t.buckets, k)
		}
	}
	if len(t.buckets) >= maxThrottleBuckets {
		t.buckets = map[string]*rate.Limiter{}
	}
}

// begin takes the tokens of an attempt by username from ip, or answers
// how long to wait.
func (t *loginThrottle) begin(ip, username string) (*loginAttempt, time.Duration) {
	now := t.now()
	user := strings.ToLower(strings.TrimSpace(username))
	addr := addrKey(ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	pair := t.bucket("login-pair", addr+"\x00"+user)
	failedHere := pair.TokensAt(now) < float64(pair.Burst())
	a := &loginAttempt{t: t, at: now}
	var wait time.Duration
	for _, b := range []struct {
		l       *rate.Limiter
		binding bool
	}{{t.bucket("login-ip", addr), true}, {pair, true}, {t.bucket("login-user", user), failedHere}} {
		r := b.l.ReserveN(now, 1)
		d := r.DelayFrom(now)
		if !r.OK() {
			d = time.Minute // a burst of 0: no logins at all
		}
		if d > 0 {
			// Not available now: nothing is taken, and only a binding
			// bucket makes the attempt wait.
			r.CancelAt(now)
			if b.binding {
				wait = max(wait, d)
			}
			continue
		}
		a.res = append(a.res, r)
	}
	if wait > 0 {
		a.giveBack()
		return nil, wait
	}
	return a, 0
}

// giveBack returns the attempt's tokens: it did not fail.
func (a *loginAttempt) giveBack() {
	for _, r := range a.res {
		r.CancelAt(a.at)
	}
	a.res = nil
}

// end closes an attempt: a wrong password (bad_credentials) or a wrong
// second-factor code keeps its tokens, anything else gives them back.
func (a *loginAttempt) end(err error) {
	if loginFailure(err) {
		return
	}
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	a.giveBack()
}

// retryAfter is the wait a rate-limited answer names, carried in its error.
type retryAfter time.Duration

func (d retryAfter) Error() string { return "retry after " + time.Duration(d).String() }

// rateLimited is the error of an attempt that must wait d.
func rateLimited(d time.Duration) error {
	return &errs.Error{Code: errs.RateLimited, Err: retryAfter(d)}
}

// setRetryAfter sets the Retry-After header of a 429 answer: the wait err
// carries in whole seconds (at least one), else a minute.
func setRetryAfter(w http.ResponseWriter, err error) {
	secs := 60
	var ra retryAfter
	var fw identity.FactorWait
	if errors.As(err, &ra) {
		secs = max(1, int(math.Ceil(time.Duration(ra).Seconds())))
	} else if errors.As(err, &fw) {
		secs = max(1, int(math.Ceil(time.Duration(fw).Seconds()))) // the account's codes wait
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}
