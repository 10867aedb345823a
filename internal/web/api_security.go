package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// Staff accounts (N-20, N-7; issue 17): the login with a second factor,
// the TOTP enrolment, a doctor's identity confirmation before a session of
// visits, the change of password and the session settings as data.
//
// The API logs in in one request: POST /api/v1/auth/login with username
// and password answers 401 totp_required for an account with a second
// factor; the client sends the same request again with "totp" (the app's
// six digits, or a recovery code). The login form asks for the code on a
// second page instead (html_security.go).

type loginReq struct {
	Username     string `json:"username"`
	Password     string `json:"password"`
	TOTP         string `json:"totp,omitempty"`
	RecoveryCode string `json:"recovery_code,omitempty"`
}

// code is the second factor's code the request carries.
func (l loginReq) code() string {
	if l.TOTP != "" {
		return l.TOTP
	}
	return l.RecoveryCode
}

// loginFailure tells whether a login's error counts as a failed guess in
// the throttle: a wrong password or a wrong code.
func loginFailure(err error) bool {
	return errs.Is(err, errs.BadCredentials) || errs.Is(err, identity.ErrTOTPInvalid)
}

// login runs the throttle of failed logins (throttle.go), the password and
// second-factor checks and the audit of a login attempt, for the API and
// the login form alike. An unknown username and a wrong password answer
// alike; a second factor is asked for only after the right password.
func (s *Server) login(r *http.Request, req identity.LoginRequest) (*identity.LoginResult, error) {
	ip := clientIP(r)
	req.IP = ip
	attempt, wait := s.limits.logins.begin(ip, req.Username)
	if attempt == nil {
		return nil, rateLimited(wait)
	}
	res, err := s.ids.Login(r.Context(), req)
	attempt.end(err)
	entry := audit.Entry{Action: "auth.login", ObjectType: "account", ObjectID: req.Username, IP: ip}
	switch {
	case err != nil:
		entry.Detail = errs.Code(err)
	case res.Challenge != "":
		entry.Detail = identity.ErrTOTPRequired
	case res.UsedRecovery:
		entry.Detail = "recovery_code"
	}
	if res != nil {
		entry.ActorID, entry.ActorRole, entry.Institution = res.Account.ID, string(res.Account.Role), res.Account.Institution
	}
	if aerr := s.audit.Record(r.Context(), entry); aerr != nil && err == nil {
		return nil, aerr
	}
	return res, err
}

// finishLogin is the login form's second step: the code for a challenge.
func (s *Server) finishLogin(r *http.Request, challenge, code string) (*identity.LoginResult, error) {
	ip := clientIP(r)
	attempt, wait := s.limits.logins.begin(ip, "")
	if attempt == nil {
		return nil, rateLimited(wait)
	}
	res, err := s.ids.FinishLogin(r.Context(), challenge, code, ip)
	attempt.end(err)
	entry := audit.Entry{Action: "auth.login.second_factor", ObjectType: "account", IP: ip}
	if err != nil {
		entry.Detail = errs.Code(err)
	} else {
		entry.ObjectID = res.Account.Username
		entry.ActorID, entry.ActorRole, entry.Institution = res.Account.ID, string(res.Account.Role), res.Account.Institution
		if res.UsedRecovery {
			entry.Detail = "recovery_code"
		}
	}
	if aerr := s.audit.Record(r.Context(), entry); aerr != nil && err == nil {
		return nil, aerr
	}
	return res, err
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	var req loginReq
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.login(r, identity.LoginRequest{Username: req.Username, Password: req.Password, Code: req.code(), Kind: identity.SessionAPI})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	idle, err := s.ids.IdleTimeout(r.Context(), res.Account)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"token": res.Token, "token_type": "Bearer", "expires_at": res.Session.ExpiresAt,
		"idle_timeout_seconds": int(idle.Seconds()), "account": accountOut(res.Account)}
	if res.Account.Role != identity.RolePatient {
		st, err := s.ids.TOTPStatusOf(r.Context(), res.Account)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out["totp_enrolled"] = st.Enrolled
	}
	if res.UsedRecovery {
		out["recovery_codes_left"] = res.RecoveryLeft
	}
	writeJSON(w, http.StatusOK, out)
}

// --- the second factor: status and enrolment ---

// codeLimit slows down codes typed outside a login (enrolment, identity
// confirmation) per account; the account's own wait after wrong codes
// (identity.Service) applies too.
func (s *Server) codeLimit(c call) error {
	if !s.limits.allow("totp-account", strconv.FormatInt(c.Actor.ID, 10)) {
		return rateLimited(time.Minute)
	}
	return nil
}

func (s *Server) getTOTP(ctx context.Context, c call, _ none) (identity.TOTPStatus, error) {
	return s.ids.TOTPStatusOf(ctx, info(c.r).account)
}

// beginTOTP starts an enrolment (or a renewal) with a new secret.
func (s *Server) beginTOTP(ctx context.Context, c call, _ none) (*identity.TOTPEnrolment, error) {
	a := info(c.r).account
	e, err := s.ids.BeginTOTP(ctx, a, true)
	if err != nil {
		return nil, err
	}
	return e, s.record(c.r, "account.totp.begin", "account", a.Username, a.Institution, "")
}

type confirmTOTPIn struct {
	TOTP    string `json:"totp"`
	Current string `json:"current,omitempty"`
}

type recoveryOut struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// confirmTOTP puts the enrolment in force and answers the recovery codes,
// once.
func (s *Server) confirmTOTP(ctx context.Context, c call, in confirmTOTPIn) (*recoveryOut, error) {
	if err := s.codeLimit(c); err != nil {
		return nil, err
	}
	a := info(c.r).account
	codes, err := s.ids.ConfirmTOTP(ctx, a, in.TOTP, in.Current)
	if err != nil {
		s.record(c.r, "account.totp.enrol", "account", a.Username, a.Institution, errs.Code(err))
		return nil, err
	}
	return &recoveryOut{RecoveryCodes: codes}, s.record(c.r, "account.totp.enrol", "account", a.Username, a.Institution, "")
}

// resetTOTP removes a staff account's second factor (a lost phone without
// recovery codes): the security administrator's decision, audited; the
// account's sessions end and it enrols again at its next login.
func (s *Server) resetTOTP(ctx context.Context, c call, _ none) (map[string]bool, error) {
	if !authz.ManageAccounts(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	a, err := s.ids.Store.AccountByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Role == identity.RolePatient {
		return nil, errs.E(errs.NotFound)
	}
	if err := s.ids.RemoveTOTP(ctx, id); err != nil {
		return nil, err
	}
	if err := s.ids.Store.RevokeAccountSessions(ctx, id); err != nil {
		return nil, err
	}
	s.ids.ForgetAccount(id)
	s.loggedOutAccount(id)
	return map[string]bool{"enrolled": false}, s.record(c.r, "account.totp.reset", "account", a.Username, a.Institution, "")
}

// --- N-7: the doctor's identity confirmation ---

type confirmationOut struct {
	Confirmed      bool      `json:"confirmed"`
	ConfirmedUntil time.Time `json:"confirmed_until,omitzero"`
	Enrolled       bool      `json:"totp_enrolled"`
}

func (s *Server) confirmation(ctx context.Context, r *http.Request) (confirmationOut, error) {
	ri := info(r)
	until, err := s.ids.IdentityConfirmedUntil(ctx, ri.session)
	if err != nil {
		return confirmationOut{}, err
	}
	st, err := s.ids.TOTPStatusOf(ctx, ri.account)
	if err != nil {
		return confirmationOut{}, err
	}
	return confirmationOut{Confirmed: !until.IsZero(), ConfirmedUntil: until, Enrolled: st.Enrolled}, nil
}

func (s *Server) getConfirmation(ctx context.Context, c call, _ none) (confirmationOut, error) {
	return s.confirmation(ctx, c.r)
}

type confirmIn struct {
	TOTP string `json:"totp"`
}

// confirmIdentity is the doctor's fresh identity check (N-7): a code of
// the second factor, good for a working session (data, default 4 hours).
func (s *Server) confirmIdentity(ctx context.Context, c call, in confirmIn) (confirmationOut, error) {
	if err := s.codeLimit(c); err != nil {
		return confirmationOut{}, err
	}
	ri := info(c.r)
	until, err := s.ids.ConfirmIdentity(ctx, ri.session, ri.account, in.TOTP)
	detail := until.UTC().Format(time.RFC3339)
	if err != nil {
		detail = errs.Code(err)
	}
	if aerr := s.record(c.r, "account.identity.confirm", "account", ri.account.Username, ri.account.Institution, detail); aerr != nil && err == nil {
		return confirmationOut{}, aerr
	}
	if err != nil {
		return confirmationOut{}, err
	}
	return confirmationOut{Confirmed: true, ConfirmedUntil: until, Enrolled: true}, nil
}

// requireConfirmation refuses a doctor's call-in without a valid identity
// confirmation of the session (N-7): nobody else acts in the doctor's
// place.
func (s *Server) requireConfirmation(r *http.Request) error {
	ri := info(r)
	if ri.account == nil || ri.account.Role != identity.RoleDoctor {
		return nil
	}
	return s.ids.RequireConfirmedIdentity(r.Context(), ri.session)
}

// --- password ---

type passwordIn struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword sets a new password (the password policy applies); the
// account's other sessions end. Wrong current passwords are throttled as
// failed logins are.
func (s *Server) changePassword(ctx context.Context, c call, in passwordIn) (map[string]bool, error) {
	ri := info(c.r)
	attempt, wait := s.limits.logins.begin(clientIP(c.r), ri.account.Username)
	if attempt == nil {
		return nil, rateLimited(wait)
	}
	err := s.ids.ChangePassword(ctx, ri.account, ri.session.TokenHash, in.CurrentPassword, in.NewPassword)
	if e, ok := err.(*errs.Error); ok && len(e.Fields) == 1 && e.Fields[0].Code == identity.ErrWrongPassword {
		attempt.end(errs.E(errs.BadCredentials)) // counted as a wrong password
	} else {
		attempt.end(err)
	}
	detail := ""
	if err != nil {
		detail = errs.Code(err)
	}
	if aerr := s.record(c.r, "account.password.change", "account", ri.account.Username, ri.account.Institution, detail); aerr != nil && err == nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	s.loggedOutAccount(ri.account.ID)
	return map[string]bool{"changed": true}, nil
}

// loggedOutAccount tells the other servers that the account's sessions
// changed (they drop what they cached of them).
func (s *Server) loggedOutAccount(id int64) { s.changed("account", "", id) }

// --- session settings (data) ---

type securitySettingsOut struct {
	Platform     identity.SecuritySetting   `json:"platform"`
	Institutions []identity.SecuritySetting `json:"institutions"`
}

// getSecuritySettings lists the session settings: the security
// administrator's (三员分立: accounts, roles and their sessions).
func (s *Server) getSecuritySettings(ctx context.Context, c call, _ none) (*securitySettingsOut, error) {
	if !authz.ManageAccounts(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	p, list, err := s.ids.AllSecuritySettings(ctx)
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []identity.SecuritySetting{}
	}
	return &securitySettingsOut{Platform: p, Institutions: list}, nil
}

type settingIn struct {
	StaffIdleMinutes    *int `json:"staff_idle_minutes"`
	PatientIdleMinutes  *int `json:"patient_idle_minutes"`
	ConfirmationMinutes *int `json:"identity_confirmation_minutes"`
}

// row checks that a PUT names every field it replaces.
func (in settingIn) row(institution string) (identity.SecuritySetting, error) {
	var f errs.Fields
	out := identity.SecuritySetting{Institution: institution}
	for _, x := range []struct {
		name string
		v    *int
		to   *int
		skip bool
	}{{"staff_idle_minutes", in.StaffIdleMinutes, &out.StaffIdleMinutes, false},
		{"patient_idle_minutes", in.PatientIdleMinutes, &out.PatientIdleMinutes, institution != ""},
		{"identity_confirmation_minutes", in.ConfirmationMinutes, &out.ConfirmationMinutes, false}} {
		switch {
		case x.skip && x.v != nil:
			f.Add(x.name, "setting_platform_only")
		case x.skip:
		case x.v == nil:
			f.Add(x.name, "required")
		default:
			*x.to = *x.v
		}
	}
	return out, f.Err()
}

func (s *Server) putSecuritySetting(ctx context.Context, c call, institution string, in settingIn) (*identity.SecuritySetting, error) {
	if !authz.ManageAccounts(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	row, err := in.row(institution)
	if err != nil {
		return nil, err
	}
	if err := s.ids.SaveSecuritySetting(ctx, c.Actor.ID, row); err != nil {
		return nil, err
	}
	s.changed("security_settings", "", 0) // the other servers read them again
	return &row, s.record(c.r, "security.settings.save", "security_settings", institution, institution,
		strconv.Itoa(row.StaffIdleMinutes)+"/"+strconv.Itoa(row.PatientIdleMinutes)+"/"+strconv.Itoa(row.ConfirmationMinutes))
}

func (s *Server) putPlatformSettings(ctx context.Context, c call, in settingIn) (*identity.SecuritySetting, error) {
	return s.putSecuritySetting(ctx, c, "", in)
}

func (s *Server) putInstitutionSettings(ctx context.Context, c call, in settingIn) (*identity.SecuritySetting, error) {
	return s.putSecuritySetting(ctx, c, c.r.PathValue("code"), in)
}
