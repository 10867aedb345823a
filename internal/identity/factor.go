package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Error codes of the second factor (stable: clients switch on them).
const (
	// ErrTOTPRequired: the password was right and the account has a
	// second factor; send its code ("totp") or a recovery code.
	ErrTOTPRequired = "totp_required"
	// ErrTOTPInvalid: the code is not the account's (counted as a failure).
	ErrTOTPInvalid = "totp_invalid"
	// ErrTOTPReused: the code was right but already used; wait for the next.
	ErrTOTPReused = "totp_reused"
	// ErrTOTPNotEnrolled: the action needs a second factor the account has
	// not enrolled (a doctor's identity confirmation, N-7).
	ErrTOTPNotEnrolled = "totp_not_enrolled"
	// ErrTOTPNoPending: a confirmation without an enrolment begun.
	ErrTOTPNoPending = "totp_no_pending"
	// ErrChallengeExpired: the second step of a login came too late or
	// after too many wrong codes; log in again.
	ErrChallengeExpired = "login_challenge_expired"
	// ErrConfirmationRequired: a doctor starts a visit without a valid
	// identity confirmation (N-7).
	ErrConfirmationRequired = "identity_confirmation_required"
	// ErrWrongPassword: a change of password with a wrong current one.
	ErrWrongPassword = "wrong_password"
)

// Factor is an account's TOTP second factor as stored.
type Factor struct {
	AccountID   int64
	Secret      []byte // the confirmed secret, sealed (SecretBox); nil: none
	Pending     []byte // a secret being enrolled, sealed; nil: none
	PendingAt   time.Time
	ConfirmedAt time.Time
	LastStep    int64 // the last time step whose code was accepted
	Failures    int   // wrong codes since the last right one
	WaitUntil   time.Time
}

// Enrolled reports whether the account logs in with a second factor.
func (f *Factor) Enrolled() bool { return f != nil && len(f.Secret) > 0 && !f.ConfirmedAt.IsZero() }

// LoginChallenge is the second step of a browser login: the password was
// right, the code is asked for next. Only the token's hash is stored.
type LoginChallenge struct {
	TokenHash []byte
	AccountID int64
	Kind      SessionKind
	IP        string
	CreatedAt time.Time
	ExpiresAt time.Time
	Attempts  int
}

// SecuritySetting is a row of the session settings: the platform's
// (Institution "") or an institution's, where 0 takes the platform's.
type SecuritySetting struct {
	Institution         string    `json:"institution,omitempty"`
	StaffIdleMinutes    int       `json:"staff_idle_minutes"`
	PatientIdleMinutes  int       `json:"patient_idle_minutes,omitempty"`
	ConfirmationMinutes int       `json:"identity_confirmation_minutes"`
	UpdatedAt           time.Time `json:"updated_at,omitzero"`
	UpdatedBy           int64     `json:"-"`
}

// Bounds of the settings, in minutes.
const (
	minIdleMinutes         = 5
	maxStaffIdleMinutes    = 120 // 等保三级 practice: staff sessions end soon
	maxPatientIdleMinutes  = 720 // the absolute lifetime (12 hours) bounds it anyway
	minConfirmationMinutes = 30  // N-7: a confirmation lasts a working session
	maxConfirmationMinutes = 720 // and no longer than the longest session
	platformSetting        = ""  // the platform row's institution
	challengeTTL           = 5 * time.Minute
	challengeAttempts      = 5 // wrong codes one challenge takes
	freeFailures           = 4 // wrong codes before the account's codes wait
	maxFactorWait          = time.Hour
)

// Validate checks a row: every value in its bounds; an institution's row
// may leave a value at 0 (the platform's) and has no patient value.
func (s SecuritySetting) Validate() error {
	var f errs.Fields
	inst := s.Institution != platformSetting
	check := func(field string, v, lo, hi int) {
		if inst && v == 0 {
			return
		}
		if v < lo || v > hi {
			f.Add(field, "setting_range", lo, hi)
		}
	}
	check("staff_idle_minutes", s.StaffIdleMinutes, minIdleMinutes, maxStaffIdleMinutes)
	check("identity_confirmation_minutes", s.ConfirmationMinutes, minConfirmationMinutes, maxConfirmationMinutes)
	if inst {
		if s.PatientIdleMinutes != 0 {
			f.Add("patient_idle_minutes", "setting_platform_only")
		}
	} else {
		check("patient_idle_minutes", s.PatientIdleMinutes, minIdleMinutes, maxPatientIdleMinutes)
	}
	return f.Err()
}

// SessionSettings are the durations that apply to an account.
type SessionSettings struct {
	StaffIdle    time.Duration // a staff session ends after this long without a request
	PatientIdle  time.Duration // a patient's session, after this long
	Confirmation time.Duration // a doctor's identity confirmation lasts this long (N-7)
}

// DefaultSessionSettings are the platform's until its row says otherwise
// (the migration writes the same): staff 30 minutes idle (等保三级), patients
// two hours, a doctor's confirmation four hours (a working session).
var DefaultSessionSettings = SessionSettings{StaffIdle: 30 * time.Minute, PatientIdle: 2 * time.Hour, Confirmation: 4 * time.Hour}

// FactorStore is what second factors, login challenges, identity
// confirmations and session settings need from a database.
type FactorStore interface {
	// Factor returns the account's factor, or errs.NotFound.
	Factor(ctx context.Context, accountID int64) (*Factor, error)
	// SavePendingTOTP begins (or begins again) an enrolment: the sealed
	// secret waits until a code confirms it; a confirmed secret stays in
	// force meanwhile.
	SavePendingTOTP(ctx context.Context, accountID int64, sealed []byte, at time.Time) error
	// ConfirmTOTP puts the pending secret in force with step as its last
	// used step, clears the failures, and replaces the account's recovery
	// codes by these hashes, in one transaction. errs.Conflict when there
	// is no pending secret (or it changed: pending must still be it).
	ConfirmTOTP(ctx context.Context, accountID int64, pending []byte, step int64, at time.Time, recovery [][]byte) error
	// EnrolTOTP puts a secret in force directly (the demo's known secrets),
	// unless the account has one already; it reports whether it did.
	EnrolTOTP(ctx context.Context, accountID int64, sealed []byte, at time.Time) (bool, error)
	// UseTOTPStep records step as used when it is after the last used one
	// and clears the failures, in one statement; false when it is not
	// after it (the code was used).
	UseTOTPStep(ctx context.Context, accountID, step int64) (bool, error)
	// FailTOTP counts a wrong code and returns the failures so far.
	FailTOTP(ctx context.Context, accountID int64) (int, error)
	// DelayTOTP makes the account's codes wait until until (never earlier
	// than a wait already set).
	DelayTOTP(ctx context.Context, accountID int64, until time.Time) error
	// RemoveTOTP removes the account's second factor and recovery codes.
	RemoveTOTP(ctx context.Context, accountID int64) error
	// UseRecoveryCode spends an unused recovery code of the account;
	// false when there is none with that hash.
	UseRecoveryCode(ctx context.Context, accountID int64, hash []byte, at time.Time) (bool, error)
	// RecoveryCodesLeft counts the account's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, accountID int64) (int, error)

	CreateLoginChallenge(ctx context.Context, c *LoginChallenge) error
	// TakeLoginChallenge counts an attempt at a challenge that is not
	// expired and has attempts left, in one statement, and returns it;
	// errs.NotFound otherwise.
	TakeLoginChallenge(ctx context.Context, hash []byte, now time.Time, maxAttempts int) (*LoginChallenge, error)
	DeleteLoginChallenge(ctx context.Context, hash []byte) error

	// ConfirmSession records that the session's account confirmed its
	// identity until until (N-7).
	ConfirmSession(ctx context.Context, tokenHash []byte, accountID int64, at, until time.Time) error
	// SessionConfirmedUntil is until when the session's identity is
	// confirmed (zero: never).
	SessionConfirmedUntil(ctx context.Context, tokenHash []byte) (time.Time, error)
	// RevokeOtherSessions ends the account's sessions but keep.
	RevokeOtherSessions(ctx context.Context, accountID int64, keep []byte) error

	// SecuritySettings returns every row of the session settings.
	SecuritySettings(ctx context.Context) ([]SecuritySetting, error)
	// SaveSecuritySetting writes a row (replacing the institution's).
	SaveSecuritySetting(ctx context.Context, s SecuritySetting) error
}

// --- session settings ---

type settingsCache struct {
	at       time.Time
	platform SecuritySetting
	byInst   map[string]SecuritySetting
}

// settings returns the rows, from memory when read in the last CacheTTL.
func (s *Service) settings(ctx context.Context) (*settingsCache, error) {
	s.mu.Lock()
	c := s.settingsMem
	s.mu.Unlock()
	if c != nil && time.Since(c.at) < s.CacheTTL {
		return c, nil
	}
	c = &settingsCache{at: time.Now(), byInst: map[string]SecuritySetting{}, platform: SecuritySetting{
		StaffIdleMinutes: int(DefaultSessionSettings.StaffIdle / time.Minute), PatientIdleMinutes: int(DefaultSessionSettings.PatientIdle / time.Minute),
		ConfirmationMinutes: int(DefaultSessionSettings.Confirmation / time.Minute)}}
	if s.Factors != nil {
		rows, err := s.Factors.SecuritySettings(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if r.Institution == platformSetting {
				c.platform = r
			} else {
				c.byInst[r.Institution] = r
			}
		}
	}
	s.mu.Lock()
	s.settingsMem = c
	s.mu.Unlock()
	return c, nil
}

// SessionSettingsFor returns the durations that apply to an account: its
// institution's where set, else the platform's.
func (s *Service) SessionSettingsFor(ctx context.Context, a *Account) (SessionSettings, error) {
	c, err := s.settings(ctx)
	if err != nil {
		return SessionSettings{}, err
	}
	p := c.platform
	out := SessionSettings{StaffIdle: minutes(p.StaffIdleMinutes), PatientIdle: minutes(p.PatientIdleMinutes), Confirmation: minutes(p.ConfirmationMinutes)}
	if r, ok := c.byInst[a.Institution]; ok && a.Institution != "" {
		if r.StaffIdleMinutes > 0 {
			out.StaffIdle = minutes(r.StaffIdleMinutes)
		}
		if r.ConfirmationMinutes > 0 {
			out.Confirmation = minutes(r.ConfirmationMinutes)
		}
	}
	return out, nil
}

func minutes(n int) time.Duration { return time.Duration(n) * time.Minute }

// idleFor is how long the account's sessions live without a request:
// staff (every role but patient) shorter than patients.
func (s *Service) idleFor(ctx context.Context, a *Account) (time.Duration, error) {
	if s.Factors == nil {
		return s.Policy.SessionIdle, nil
	}
	st, err := s.SessionSettingsFor(ctx, a)
	if err != nil {
		return 0, err
	}
	if a.Role == RolePatient {
		return st.PatientIdle, nil
	}
	return st.StaffIdle, nil
}

// AllSecuritySettings returns the platform's row and the institutions'.
func (s *Service) AllSecuritySettings(ctx context.Context) (SecuritySetting, []SecuritySetting, error) {
	c, err := s.settings(ctx)
	if err != nil {
		return SecuritySetting{}, nil, err
	}
	var list []SecuritySetting
	for _, r := range c.byInst {
		list = append(list, r)
	}
	return c.platform, list, nil
}

// SaveSecuritySetting validates and writes a row; it applies to sessions
// from their next use (idle) and to confirmations made after it.
func (s *Service) SaveSecuritySetting(ctx context.Context, by int64, r SecuritySetting) error {
	if s.Factors == nil {
		return errs.E(errs.Unavailable)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	r.UpdatedAt, r.UpdatedBy = s.Now(), by
	if err := s.Factors.SaveSecuritySetting(ctx, r); err != nil {
		return err
	}
	s.mu.Lock()
	s.settingsMem = nil
	s.mu.Unlock()
	return nil
}

// ForgetSettings drops the settings read into memory (after another
// server changed them).
func (s *Service) ForgetSettings() {
	s.mu.Lock()
	s.settingsMem = nil
	s.mu.Unlock()
}

// --- enrolment ---

// TOTPEnrolment is what the enrolment page shows: the secret (typed into
// an app by hand) and its otpauth:// URL (the QR code).
type TOTPEnrolment struct {
	Secret  string `json:"secret"`
	URL     string `json:"otpauth_url"`
	Renewal bool   `json:"renewal"` // a factor is in force: confirming needs its code too
}

// TOTPStatus is an account's second factor as its owner sees it.
type TOTPStatus struct {
	Enrolled       bool      `json:"enrolled"`
	EnrolledAt     time.Time `json:"enrolled_at,omitzero"`
	Pending        bool      `json:"pending"`
	RecoveryLeft   int       `json:"recovery_codes_left"`
	WaitUntil      time.Time `json:"wait_until,omitzero"`
	PlainAtRest    bool      `json:"-"`
	SecondsPerStep int       `json:"period_seconds"`
}

// factor reads the account's factor; nil when there is none.
func (s *Service) factor(ctx context.Context, accountID int64) (*Factor, error) {
	if s.Factors == nil {
		return nil, nil
	}
	f, err := s.Factors.Factor(ctx, accountID)
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	return f, err
}

// TOTPStatusOf returns the account's second factor's status.
func (s *Service) TOTPStatusOf(ctx context.Context, a *Account) (TOTPStatus, error) {
	st := TOTPStatus{SecondsPerStep: int(TOTPPeriod / time.Second)}
	f, err := s.factor(ctx, a.ID)
	if err != nil || f == nil {
		return st, err
	}
	st.Enrolled, st.EnrolledAt, st.Pending, st.WaitUntil = f.Enrolled(), f.ConfirmedAt, len(f.Pending) > 0, f.WaitUntil
	if st.Enrolled {
		st.PlainAtRest = f.Secret[0] == boxPlain
		if st.RecoveryLeft, err = s.Factors.RecoveryCodesLeft(ctx, a.ID); err != nil {
			return st, err
		}
	}
	return st, nil
}

// BeginTOTP begins an enrolment for a staff account, or shows the one
// begun (an app that scanned it keeps working after a reload); fresh
// makes a new secret. Patients have no second factor.
func (s *Service) BeginTOTP(ctx context.Context, a *Account, fresh bool) (*TOTPEnrolment, error) {
	if a.Role == RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	if s.Factors == nil {
		return nil, errs.E(errs.Unavailable)
	}
	f, err := s.factor(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	out := &TOTPEnrolment{Renewal: f.Enrolled()}
	if f != nil && len(f.Pending) > 0 && !fresh {
		if out.Secret, err = s.Box.Open(a.ID, f.Pending); err != nil {
			return nil, err
		}
	} else {
		out.Secret = NewTOTPSecret()
		sealed, err := s.Box.Seal(a.ID, out.Secret)
		if err != nil {
			return nil, err
		}
		if err := s.Factors.SavePendingTOTP(ctx, a.ID, sealed, s.Now()); err != nil {
			return nil, err
		}
	}
	if out.URL, err = TOTPURL(a.Username, out.Secret); err != nil {
		return nil, err
	}
	return out, nil
}

// ConfirmTOTP puts the enrolment begun in force when code is a code of its
// secret, and returns new recovery codes (shown once; only their hashes are
// kept). Renewing a factor in force needs a code of it too (current): a
// session left open does not let another person move the factor to their
// phone.
func (s *Service) ConfirmTOTP(ctx context.Context, a *Account, code, current string) ([]string, error) {
	if a.Role == RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	if s.Factors == nil {
		return nil, errs.E(errs.Unavailable)
	}
	f, err := s.factor(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if f == nil || len(f.Pending) == 0 {
		return nil, errs.E(ErrTOTPNoPending)
	}
	if f.Enrolled() {
		if normalizeCode(current) == "" {
			var fe errs.Fields
			fe.Add("current", "required")
			return nil, fe.Err()
		}
		if _, err := s.verify(ctx, a, f, current, true); err != nil {
			return nil, err
		}
	}
	secret, err := s.Box.Open(a.ID, f.Pending)
	if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(secret, normalizeCode(code), s.Now())
	if !ok {
		var fe errs.Fields
		fe.Add("totp", ErrTOTPInvalid)
		return nil, fe.Err()
	}
	codes := NewRecoveryCodes()
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		hashes[i] = recoveryHash(a.ID, c)
	}
	if err := s.Factors.ConfirmTOTP(ctx, a.ID, f.Pending, step, s.Now(), hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// EnrolKnownTOTP puts a known secret in force for an account that has no
// second factor (the demo's staff, whose secrets are printed at start);
// it reports whether it did.
func (s *Service) EnrolKnownTOTP(ctx context.Context, a *Account, secret string) (bool, error) {
	if s.Factors == nil {
		return false, nil
	}
	if _, err := b32.DecodeString(secret); err != nil {
		return false, fmt.Errorf("identity: TOTP secret of %s: %w", a.Username, err)
	}
	sealed, err := s.Box.Seal(a.ID, secret)
	if err != nil {
		return false, err
	}
	return s.Factors.EnrolTOTP(ctx, a.ID, sealed, s.Now())
}

// RemoveTOTP removes an account's second factor (a security
// administrator's decision, for a lost phone without recovery codes).
func (s *Service) RemoveTOTP(ctx context.Context, accountID int64) error {
	if s.Factors == nil {
		return nil
	}
	return s.Factors.RemoveTOTP(ctx, accountID)
}

// --- verification ---

// FactorWait is the wait of an account whose codes were wrong too often,
// carried in its rate_limited error.
type FactorWait time.Duration

func (d FactorWait) Error() string { return "second factor: retry after " + time.Duration(d).String() }

// factorBackoff is how long an account's codes wait after failures wrong
// ones: nothing for the first few, then a minute doubling to an hour. An
// attacker who has the password gets about 24 guesses a day at a
// one-in-a-few-hundred-thousand chance each.
func factorBackoff(failures int) time.Duration {
	n := failures - freeFailures
	if n <= 0 {
		return 0
	}
	if n > 7 {
		return maxFactorWait
	}
	return min(maxFactorWait, time.Minute<<(n-1))
}

// verify checks a code of the account's factor: a TOTP code (once per
// step) or, when recovery allows it, an unused recovery code. A wrong code
// counts toward the account's wait; codes are refused while it lasts.
func (s *Service) verify(ctx context.Context, a *Account, f *Factor, code string, recovery bool) (usedRecovery bool, err error) {
	now := s.Now()
	if now.Before(f.WaitUntil) {
		return false, &errs.Error{Code: errs.RateLimited, Err: FactorWait(f.WaitUntil.Sub(now))}
	}
	code = normalizeCode(code)
	if isTOTPCode(code) {
		secret, err := s.Box.Open(a.ID, f.Secret)
		if err != nil {
			return false, err
		}
		if step, ok := matchTOTP(secret, code, now); ok {
			used, err := s.Factors.UseTOTPStep(ctx, a.ID, step)
			if err != nil {
				return false, err
			}
			if !used {
				return false, errs.E(ErrTOTPReused)
			}
			return false, nil
		}
	} else if recovery && code != "" {
		ok, err := s.Factors.UseRecoveryCode(ctx, a.ID, recoveryHash(a.ID, code), now)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	n, err := s.Factors.FailTOTP(ctx, a.ID)
	if err != nil {
		return false, err
	}
	if d := factorBackoff(n); d > 0 {
		if err := s.Factors.DelayTOTP(ctx, a.ID, now.Add(d)); err != nil {
			return false, err
		}
	}
	return false, errs.E(ErrTOTPInvalid)
}

// --- N-7: identity confirmation ---

// ConfirmIdentity checks a TOTP code of the session's account (not a
// recovery code: the confirmation is that the person holding the doctor's
// phone is at the workstation) and records the session as confirmed for
// the account's confirmation time (N-7).
func (s *Service) ConfirmIdentity(ctx context.Context, sess *Session, a *Account, code string) (time.Time, error) {
	f, err := s.factor(ctx, a.ID)
	if err != nil {
		return time.Time{}, err
	}
	if !f.Enrolled() {
		return time.Time{}, errs.E(ErrTOTPNotEnrolled)
	}
	if !isTOTPCode(normalizeCode(code)) {
		var fe errs.Fields
		fe.Add("totp", "totp_format")
		return time.Time{}, fe.Err()
	}
	if _, err := s.verify(ctx, a, f, code, false); err != nil {
		return time.Time{}, err
	}
	st, err := s.SessionSettingsFor(ctx, a)
	if err != nil {
		return time.Time{}, err
	}
	now := s.Now()
	until := now.Add(st.Confirmation)
	if err := s.Factors.ConfirmSession(ctx, sess.TokenHash, a.ID, now, until); err != nil {
		return time.Time{}, err
	}
	return until, nil
}

// IdentityConfirmedUntil is until when the session's identity is
// confirmed; zero when it is not (or no longer).
func (s *Service) IdentityConfirmedUntil(ctx context.Context, sess *Session) (time.Time, error) {
	if s.Factors == nil || sess == nil {
		return time.Time{}, nil
	}
	until, err := s.Factors.SessionConfirmedUntil(ctx, sess.TokenHash)
	if err != nil || !s.Now().Before(until) {
		return time.Time{}, err
	}
	return until, nil
}

// RequireConfirmedIdentity refuses (identity_confirmation_required) a
// session whose identity is not confirmed now (N-7).
func (s *Service) RequireConfirmedIdentity(ctx context.Context, sess *Session) error {
	until, err := s.IdentityConfirmedUntil(ctx, sess)
	if err != nil {
		return err
	}
	if until.IsZero() {
		return errs.E(ErrConfirmationRequired)
	}
	return nil
}
