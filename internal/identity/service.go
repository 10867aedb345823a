package identity

import (
	"context"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Policy holds the security settings of sessions. Wrong passwords lock
// nothing: a lock let anyone shut a doctor out before a clinic and told
// who has an account (issue 15); the web layer slows guessing down per
// address and account instead.
type Policy struct {
	SessionTTL  time.Duration // absolute lifetime of a session
	SessionIdle time.Duration // idle timeout of a session
	TouchEvery  time.Duration // how often a used session's idle expiry is moved
}

// DefaultPolicy follows 等保三级 practice: 30 minutes idle, 12 hours at
// most.
var DefaultPolicy = Policy{
	SessionTTL:  12 * time.Hour,
	SessionIdle: 30 * time.Minute,
	TouchEvery:  time.Minute,
}

// Service runs the identity use cases over a Store.
type Service struct {
	Store  Store
	Policy Policy
	Now    func() time.Time

	// Sessions looked up in the last CacheTTL are served from memory: a
	// rush of requests does not read the store twice per request. Logout
	// and revocation through this Service take effect at once; those made
	// by another server within CacheTTL.
	CacheTTL time.Duration
	mu       sync.Mutex
	cache    map[string]cachedSession

	// Factors keeps second factors, login challenges, identity
	// confirmations and the session settings (factor.go); nil when the
	// store has none (then every session idles Policy.SessionIdle and no
	// account has a second factor).
	Factors     FactorStore
	Box         *SecretBox // seals TOTP secrets; nil: stored plain
	settingsMem *settingsCache
}

type cachedSession struct {
	sess *Session
	acct *Account
	at   time.Time
}

// NewService returns a Service with the default policy and the real clock.
func NewService(s Store) *Service {
	svc := &Service{Store: s, Policy: DefaultPolicy, Now: time.Now, CacheTTL: 30 * time.Second, cache: map[string]cachedSession{}}
	if f, ok := s.(FactorStore); ok {
		svc.Factors = f
	}
	return svc
}

func (s *Service) cached(key string) (cachedSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[key]
	if ok && time.Since(c.at) > s.CacheTTL {
		delete(s.cache, key)
		ok = false
	}
	return c, ok
}

func (s *Service) remember(key string, c cachedSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) > 100_000 {
		s.cache = map[string]cachedSession{} // bounded: start over
	}
	s.cache[key] = c
}

func (s *Service) forget(key string) {
	s.mu.Lock()
	delete(s.cache, key)
	s.mu.Unlock()
}

// ForgetToken drops the cached session of a token's hash (after another
// server revoked it).
func (s *Service) ForgetToken(hash []byte) { s.forget(string(hash)) }

// ForgetAccount drops the cached sessions of an account (after it was
// disabled or its sessions revoked).
func (s *Service) ForgetAccount(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.cache {
		if c.acct.ID == id {
			delete(s.cache, k)
		}
	}
}

// NewStaff describes an account created by an administrator.
type NewStaff struct {
	Username    string
	Password    string
	Role        Role
	Institution string
	Pharmacy    string // a retail_pharmacist's pharmacy
	Phone       string
}

// CreateAccount creates a non-patient account (or a patient account without
// a profile, for tools). Staff roles need an institution; the regulator and
// sysadmin must not have one.
func (s *Service) CreateAccount(ctx context.Context, n NewStaff) (*Account, error) {
	var f errs.Fields
	validUsername(&f, n.Username)
	validatePassword(&f, n.Username, n.Password)
	if !n.Role.Valid() {
		f.Add("role", "role_invalid")
	} else if n.Role.Staff() && n.Institution == "" {
		f.Add("institution", "institution_required")
	} else if !n.Role.Staff() && n.Institution != "" {
		f.Add("institution", "institution_not_allowed")
	}
	if n.Role == RoleRetailPharmacist && n.Pharmacy == "" {
		f.Add("pharmacy", "required")
	} else if n.Role != RoleRetailPharmacist && n.Pharmacy != "" {
		f.Add("pharmacy", "institution_not_allowed")
	}
	if n.Phone != "" {
		validPhone(&f, n.Phone)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	hash, err := HashPassword(n.Password)
	if err != nil {
		return nil, err
	}
	a := &Account{Username: n.Username, PasswordHash: hash, Role: n.Role, Institution: n.Institution, Pharmacy: n.Pharmacy, Phone: n.Phone, CreatedAt: s.Now()}
	if err := s.Store.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// Authenticate returns the session and account of a token, refreshing the
// idle expiry now and then. Expired, revoked and unknown tokens give
// errs.Unauthorized.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, *Account, error) {
	if token == "" {
		return nil, nil, errs.E(errs.Unauthorized)
	}
	now := s.Now()
	hash := HashToken(token)
	key := string(hash)
	var sess *Session
	var a *Account
	if c, ok := s.cached(key); ok {
		sess, a = c.sess, c.acct
	} else {
		var err error
		sess, a, err = s.Store.SessionAccount(ctx, hash)
		if errs.Is(err, errs.NotFound) {
			return nil, nil, errs.E(errs.Unauthorized)
		}
		if err != nil {
			return nil, nil, err
		}
		s.remember(key, cachedSession{sess: sess, acct: a, at: time.Now()})
	}
	if !sess.Valid(now) || a.Disabled {
		s.forget(key)
		return nil, nil, errs.E(errs.Unauthorized)
	}
	// Move the idle expiry at most once a TouchEvery, to keep reads cheap:
	// by the account's idle time (staff shorter than patients, as data).
	idleFor, err := s.idleFor(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	if sess.IdleExpiry.Sub(now) < idleFor-s.Policy.TouchEvery {
		idle := now.Add(idleFor)
		if err := s.Store.TouchSession(ctx, hash, now, idle); err != nil {
			return nil, nil, err
		}
		touched := *sess // cached values are shared: never mutate them
		touched.IdleExpiry = idle
		sess = &touched
		s.remember(key, cachedSession{sess: sess, acct: a, at: time.Now()})
	}
	return sess, a, nil
}

// Logout revokes the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	h := HashToken(token)
	s.forget(string(h))
	return s.Store.RevokeSession(ctx, h)
}
