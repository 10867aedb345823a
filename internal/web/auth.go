package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

const (
	sessionCookie = "yunyi_session"
	csrfCookie    = "yunyi_csrf" // double-submit token before login
	langCookie    = "yunyi_lang"
)

type ctxKey int

const reqKey ctxKey = 1

// reqInfo is what authentication found out about a request.
type reqInfo struct {
	actor   authz.Actor
	account *identity.Account
	session *identity.Session
	token   string
	cookie  bool // authenticated by the session cookie (CSRF applies)
}

func info(r *http.Request) *reqInfo {
	if v, ok := r.Context().Value(reqKey).(*reqInfo); ok {
		return v
	}
	return &reqInfo{}
}

func actor(r *http.Request) authz.Actor { return info(r).actor }

// clientIP is the client's address: decided once per request by the
// outermost middleware (clientAddr: the socket's peer, or behind trusted
// proxies the forwarded client).
func clientIP(r *http.Request) string {
	if m := metaOf(r.Context()); m != nil {
		return m.ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authenticate resolves the bearer token or session cookie. A bad or expired
// credential leaves the request anonymous (the route decides whether that is
// enough); a browser with a dead cookie has it cleared.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &reqInfo{}
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			ri.token = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
			sess, acct, err := s.ids.Authenticate(r.Context(), ri.token)
			if err != nil {
				// A presented but invalid token is an error, not anonymity.
				s.fail(w, r, err)
				return
			}
			ri.session, ri.account = sess, acct
		} else if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			sess, acct, err := s.ids.Authenticate(r.Context(), c.Value)
			switch {
			case err == nil && sess.Kind == identity.SessionBrowser:
				ri.session, ri.account, ri.token, ri.cookie = sess, acct, c.Value, true
			case err == nil || errs.Is(err, errs.Unauthorized):
				s.clearCookie(w, sessionCookie)
			default:
				s.fail(w, r, err)
				return
			}
		}
		ri.actor = authz.FromAccount(ri.account)
		r = r.WithContext(context.WithValue(r.Context(), reqKey, ri))
		// The sandbox providers' cashier pages stand for the providers'
		// own sites: our session (and its CSRF token) is not theirs.
		if ri.cookie && unsafeMethod(r.Method) && !strings.HasPrefix(r.URL.Path, "/sandbox/pay/") && !s.csrfOK(r, ri) {
			s.fail(w, r, errCSRF())
			return
		}
		if err := refuseNUL(r); err != nil {
			s.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// csrfOK checks the synchronizer token of a cookie session: the form field
// "csrf" or the X-CSRF-Token header must equal the session's token.
func (s *Server) csrfOK(r *http.Request, ri *reqInfo) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && !isAPI(r) {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
			// An upload form names its token in its action: the body is a
			// file, read as a stream by the handler, not parsed here.
			got = r.URL.Query().Get("csrf")
		} else {
			got = r.PostFormValue("csrf")
		}
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ri.session.CSRF)) == 1
}

// csrfToken returns the token forms must carry: the session's when logged
// in by cookie, otherwise a double-submit cookie set here.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ri := info(r); ri.cookie {
		return ri.session.CSRF
	}
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 24)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	return v
}

// anonCSRFOK checks the double-submit token of an anonymous form (login,
// register).
func anonCSRFOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got := r.PostFormValue("csrf")
	return subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) == 1
}

// setSessionCookie sets the session cookie with Max-Age, the session's
// remaining seconds on the server's clock, and no absolute Expires: a phone
// whose clock is wrong keeps its session, and the server alone decides expiry.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, sess *identity.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: cookieMaxAge(sess.ExpiresAt.Sub(s.cfg.Now())),
	})
}

// cookieMaxAge is a cookie's Max-Age for a remaining lifetime: at least one
// second (0 would mean "no Max-Age" to net/http).
func cookieMaxAge(d time.Duration) int {
	if n := int(d / time.Second); n > 0 {
		return n
	}
	return 1
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// requireLogin wraps a handler that needs an account.
func (s *Server) requireLogin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if actor(r).Anonymous() {
			if !isAPI(r) {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, errs.E(errs.Unauthorized))
			return
		}
		h(w, r)
	}
}

// limiters are keyed token buckets (per IP, per username) for login,
// registration and, later, booking.
type limiters struct {
	specs   map[string][2]float64
	mu      sync.Mutex
	buckets map[string]*bucket
	last    time.Time
	logins  *loginThrottle // failed logins, per address and username (throttle.go)
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiters(override map[string][2]float64) *limiters {
	specs := map[string][2]float64{}
	for k, v := range DefaultLimits {
		specs[k] = v
	}
	for k, v := range override {
		specs[k] = v
	}
	return &limiters{specs: specs, buckets: map[string]*bucket{}, logins: newLoginThrottle(specs)}
}

// DefaultLimits: name → (events per minute, burst).
var DefaultLimits = map[string][2]float64{
	// Failed logins (throttle.go): by address, by address and username,
	// by username from every address. A success takes no token.
	"login-ip":    {10, 10},
	"login-pair":  {5, 5},
	"login-user":  {30, 20},
	"register-ip": {10, 5},
	// SMS codes (N-5): per client address, on any number (each number has
	// its own limit, identity.CodePolicy); identity checks per account
	// adding children.
	"sms-ip":        {5, 10},
	"child-account": {6, 10},
	// Codes of the second factor typed outside a login (enrolment, a
	// doctor's identity confirmation), per account; wrong ones also make
	// the account's codes wait (identity.Service).
	"totp-account": {10, 5},
	// A person books a few times a minute at most; a burst absorbs retries.
	"booking-account": {30, 20},
	// Chat: faster than anyone types, slower than a script flooding a visit.
	"chat-account":   {120, 30},
	"upload-account": {30, 10},
}

// allow takes a token from the bucket of kind and key.
func (l *limiters) allow(kind, key string) bool {
	spec := l.specs[kind]
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.last) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.last = now
	}
	k := kind + "\x00" + key
	b := l.buckets[k]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(rate.Limit(spec[0]/60), int(spec[1]))}
		l.buckets[k] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}
