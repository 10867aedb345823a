package identity

import (
	"context"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// LoginRequest is a login attempt.
type LoginRequest struct {
	Username string
	Password string
	// Code is the second factor's code (TOTP, or a recovery code); "" when
	// the client has not sent one.
	Code string
	Kind SessionKind
	IP   string
	// Challenge: when the account has a second factor and no code came,
	// answer with a challenge for the second step (the login form's flow)
	// instead of totp_required (the API's).
	Challenge bool
}

// LoginResult is a login's outcome: a session, or the challenge of its
// second step.
type LoginResult struct {
	Token     string
	Session   *Session
	Account   *Account
	Challenge string // the second step's token when the code is asked for next
	// UsedRecovery: a recovery code opened the session; RecoveryLeft
	// counts the codes left.
	UsedRecovery bool
	RecoveryLeft int
}

// Login checks the password and, for an account with a second factor, its
// code, then opens a session. An unknown username, a disabled account and
// a wrong password answer alike (bad_credentials) and cost alike: one
// lookup and one argon2id hash, and no write. Nothing is locked; the
// caller throttles attempts, and wrong codes make the account's codes wait
// (verify). A second factor is asked for only once the password is right.
func (s *Service) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	a, err := s.Store.AccountByUsername(ctx, req.Username)
	if errs.Is(err, errs.NotFound) {
		CheckPassword(dummyHash(), req.Password) // same work as for a real account
		return nil, errs.E(errs.BadCredentials)
	}
	if err != nil {
		return nil, err
	}
	if ok := CheckPassword(a.PasswordHash, req.Password); !ok || a.Disabled {
		return nil, errs.E(errs.BadCredentials)
	}
	res := &LoginResult{Account: a}
	f, err := s.factor(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if f.Enrolled() {
		if normalizeCode(req.Code) == "" {
			if !req.Challenge {
				return nil, errs.E(ErrTOTPRequired)
			}
			token, hash := NewToken()
			now := s.Now()
			if err := s.Factors.CreateLoginChallenge(ctx, &LoginChallenge{TokenHash: hash, AccountID: a.ID, Kind: req.Kind, IP: req.IP,
				CreatedAt: now, ExpiresAt: now.Add(challengeTTL)}); err != nil {
				return nil, err
			}
			res.Challenge = token
			return res, nil
		}
		if err := s.secondFactor(ctx, a, f, req.Code, res); err != nil {
			return nil, err
		}
	}
	return res, s.openSession(ctx, a, req.Kind, req.IP, res)
}

// FinishLogin is the second step of a login begun with a challenge: the
// code of the challenge's account opens the session. A challenge takes a
// few attempts within a few minutes (login_challenge_expired after them).
func (s *Service) FinishLogin(ctx context.Context, challenge, code, ip string) (*LoginResult, error) {
	if s.Factors == nil || challenge == "" {
		return nil, errs.E(ErrChallengeExpired)
	}
	hash := HashToken(challenge)
	c, err := s.Factors.TakeLoginChallenge(ctx, hash, s.Now(), challengeAttempts)
	if errs.Is(err, errs.NotFound) {
		return nil, errs.E(ErrChallengeExpired)
	}
	if err != nil {
		return nil, err
	}
	a, err := s.Store.AccountByID(ctx, c.AccountID)
	if err != nil {
		return nil, err
	}
	if a.Disabled {
		s.Factors.DeleteLoginChallenge(ctx, hash)
		return nil, errs.E(ErrChallengeExpired)
	}
	res := &LoginResult{Account: a}
	f, err := s.factor(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	// A factor removed meanwhile asks for nothing: the password was checked.
	if f.Enrolled() {
		if err := s.secondFactor(ctx, a, f, code, res); err != nil {
			return nil, err
		}
	}
	if err := s.Factors.DeleteLoginChallenge(ctx, hash); err != nil {
		return nil, err
	}
	return res, s.openSession(ctx, a, c.Kind, ip, res)
}

// secondFactor checks a login's code and notes a recovery code's use.
func (s *Service) secondFactor(ctx context.Context, a *Account, f *Factor, code string, res *LoginResult) error {
	used, err := s.verify(ctx, a, f, code, true)
	if err != nil {
		return err
	}
	if used {
		res.UsedRecovery = true
		if res.RecoveryLeft, err = s.Factors.RecoveryCodesLeft(ctx, a.ID); err != nil {
			return err
		}
	}
	return nil
}

// openSession opens a session of the account: idle time by its role
// (staff shorter than patients), the absolute lifetime for all.
func (s *Service) openSession(ctx context.Context, a *Account, kind SessionKind, ip string, res *LoginResult) error {
	now := s.Now()
	idle, err := s.idleFor(ctx, a)
	if err != nil {
		return err
	}
	token, hash := NewToken()
	csrf, _ := NewToken()
	sess := &Session{
		TokenHash: hash, AccountID: a.ID, Kind: kind, CSRF: csrf, CreatedAt: now,
		ExpiresAt: now.Add(s.Policy.SessionTTL), IdleExpiry: now.Add(idle), IP: ip,
	}
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return err
	}
	s.remember(string(hash), cachedSession{sess: sess, acct: a, at: time.Now()})
	res.Token, res.Session, res.Account = token, sess, a
	return nil
}

// IdleTimeout is how long the account's sessions live without a request.
func (s *Service) IdleTimeout(ctx context.Context, a *Account) (time.Duration, error) {
	return s.idleFor(ctx, a)
}

// ChangePassword sets a new password after checking the current one; the
// new one meets the password policy. The account's other sessions end.
func (s *Service) ChangePassword(ctx context.Context, a *Account, keep []byte, current, next string) error {
	fresh, err := s.Store.AccountByID(ctx, a.ID)
	if err != nil {
		return err
	}
	if !CheckPassword(fresh.PasswordHash, current) {
		var f errs.Fields
		f.Add("current_password", ErrWrongPassword)
		return f.Err()
	}
	var f errs.Fields
	validatePassword(&f, a.Username, next)
	if err := f.Err(); err != nil {
		return renameField(err, "password", "new_password")
	}
	if current == next {
		f.Add("new_password", "password_unchanged")
		return f.Err()
	}
	hash, err := HashPassword(next)
	if err != nil {
		return err
	}
	if err := s.Store.SetPassword(ctx, a.ID, hash); err != nil {
		return err
	}
	if s.Factors != nil {
		if err := s.Factors.RevokeOtherSessions(ctx, a.ID, keep); err != nil {
			return err
		}
	}
	s.mu.Lock()
	for k, c := range s.cache {
		if c.acct.ID == a.ID && k != string(keep) {
			delete(s.cache, k)
		}
	}
	s.mu.Unlock()
	return nil
}

// renameField renames a field of an invalid_input error.
func renameField(err error, from, to string) error {
	e, ok := err.(*errs.Error)
	if !ok {
		return err
	}
	for i := range e.Fields {
		if e.Fields[i].Field == from {
			e.Fields[i].Field = to
		}
	}
	return e
}
