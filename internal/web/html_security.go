package web

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// The pages of staff accounts (issue 17): the login's second step, the
// account security page (password, TOTP enrolment with its QR code and
// recovery codes) and the doctor's identity confirmation (N-7).

// challengeCookie carries the login's second step between its two pages:
// the password was right, the code is asked for next.
const challengeCookie = "yunyi_login2"

func (s *Server) securityRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login/totp", s.pageLoginTOTP)
	mux.HandleFunc("POST /login/totp", s.postLoginTOTP)
	mux.HandleFunc("GET /me/security", s.requireLogin(s.show("security", s.securityPage)))
	mux.HandleFunc("POST /me/security/password", s.requireLogin(s.submit("security", s.securityPage,
		func(r *http.Request) error {
			if r.PostFormValue("new_password") != r.PostFormValue("new_password2") {
				var f errs.Fields
				f.Add("new_password2", "password_mismatch")
				return f.Err()
			}
			_, err := s.changePassword(r.Context(), call{Actor: actor(r), r: r},
				passwordIn{CurrentPassword: r.PostFormValue("current_password"), NewPassword: r.PostFormValue("new_password")})
			return err
		},
		func(*http.Request) string { return "/me/security?ok=password_changed" })))
	mux.HandleFunc("POST /me/security/totp/new", s.requireLogin(s.submit("security", s.securityPage,
		func(r *http.Request) error {
			a := info(r).account
			if _, err := s.ids.BeginTOTP(r.Context(), a, true); err != nil {
				return err
			}
			return s.record(r, "account.totp.begin", "account", a.Username, a.Institution, "")
		},
		func(*http.Request) string { return "/me/security#totp" })))
	mux.HandleFunc("POST /me/security/totp", s.requireLogin(s.postEnrolTOTP))
	mux.HandleFunc("POST /me/confirm-identity", s.requireLogin(s.postConfirmIdentity))
}

// loggedIn ends a login form's password step: a session (its cookie, then
// next), or the second step's page for an account with a second factor.
func (s *Server) loggedIn(w http.ResponseWriter, r *http.Request, res *identity.LoginResult, next string) {
	next = safeNext(next)
	if res.Challenge != "" {
		http.SetCookie(w, &http.Cookie{Name: challengeCookie, Value: res.Challenge, Path: "/login", HttpOnly: true, Secure: s.cfg.SecureCookies,
			SameSite: http.SameSiteStrictMode, MaxAge: 300})
		http.Redirect(w, r, "/login/totp?next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	s.setSessionCookie(w, res.Token, res.Session)
	switch {
	case res.UsedRecovery:
		next = "/me/security?ok=recovery_used"
	case next == "":
		next = "/me"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) loginTOTPPage(w http.ResponseWriter, r *http.Request) *page {
	p := s.newPage(w, r, "title.login_totp")
	p.Form = url.Values{"next": {safeNext(r.FormValue("next"))}}
	return p
}

func (s *Server) pageLoginTOTP(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(challengeCookie); err != nil || c.Value == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login_totp", s.loginTOTPPage(w, r))
}

// postLoginTOTP is the second step: the code of the challenge's account.
// A wrong code shows the page again (the challenge takes a few); an
// expired or spent challenge goes back to the password.
func (s *Server) postLoginTOTP(w http.ResponseWriter, r *http.Request) {
	if !s.formCSRF(w, r) {
		return
	}
	var challenge string
	if c, err := r.Cookie(challengeCookie); err == nil {
		challenge = c.Value
	}
	res, err := s.finishLogin(r, challenge, r.PostFormValue("totp"))
	if errs.Is(err, identity.ErrChallengeExpired) {
		http.SetCookie(w, &http.Cookie{Name: challengeCookie, Path: "/login", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
		p := s.newPage(w, r, "title.login")
		p.DemoAccounts = s.demoInfo
		p.Form = url.Values{"next": {safeNext(r.PostFormValue("next"))}}
		p.setErr(err)
		s.render(w, r, http.StatusUnauthorized, "login", p)
		return
	}
	if err != nil {
		switch errs.Code(err) {
		case identity.ErrTOTPInvalid, identity.ErrTOTPReused, errs.RateLimited, errs.Invalid:
		default:
			s.fail(w, r, err)
			return
		}
		if errs.Is(err, errs.RateLimited) {
			setRetryAfter(w, err)
		}
		p := s.loginTOTPPage(w, r)
		p.setErr(err)
		s.render(w, r, statusOf(errs.Code(err)), "login_totp", p)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: challengeCookie, Path: "/login", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	s.loggedIn(w, r, res, r.PostFormValue("next"))
}

// securityData is the account security page.
type securityData struct {
	Account   *identity.Account
	Staff     bool
	TOTP      identity.TOTPStatus
	Enrol     *identity.TOTPEnrolment // an enrolment begun: its QR code and key
	QR        template.URL
	Key       string   // the key in groups of four, for typing
	Recovery  []string // recovery codes just made: shown this once
	Doctor    bool
	Confirmed time.Time // N-7: the session's identity confirmed until
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.security")
	ri := info(r)
	a := ri.account
	d := &securityData{Account: a, Staff: a.Role != identity.RolePatient, Doctor: a.Role == identity.RoleDoctor}
	if d.Staff {
		var err error
		if d.TOTP, err = s.ids.TOTPStatusOf(r.Context(), a); err != nil {
			return nil, err
		}
		if d.TOTP.Pending {
			// The enrolment begun (a reload shows the same key).
			if d.Enrol, err = s.ids.BeginTOTP(r.Context(), a, false); err != nil {
				return nil, err
			}
			png, err := qrcode.Encode(d.Enrol.URL, qrcode.Medium, 240)
			if err != nil {
				return nil, errs.Errorf("QR code: %w", err)
			}
			d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
			d.Key = groupsOf4(d.Enrol.Secret)
		}
		if d.Confirmed, err = s.ids.IdentityConfirmedUntil(r.Context(), ri.session); err != nil {
			return nil, err
		}
	}
	p.Data = d
	return p, nil
}

func groupsOf4(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// postEnrolTOTP confirms the enrolment begun and shows the recovery codes
// once (the answer itself; nothing shows them again).
func (s *Server) postEnrolTOTP(w http.ResponseWriter, r *http.Request) {
	codes, err := s.confirmTOTP(r.Context(), call{Actor: actor(r), r: r}, confirmTOTPIn{TOTP: r.PostFormValue("totp"), Current: r.PostFormValue("current")})
	p, perr := s.securityPage(w, r)
	if perr != nil {
		s.fail(w, r, perr)
		return
	}
	if err != nil {
		switch errs.Code(err) {
		case errs.Invalid, identity.ErrTOTPInvalid, identity.ErrTOTPReused, identity.ErrTOTPNoPending, errs.RateLimited:
		default:
			s.fail(w, r, err)
			return
		}
		if errs.Is(err, errs.RateLimited) {
			setRetryAfter(w, err)
		}
		p.setErr(err)
		s.render(w, r, statusOf(errs.Code(err)), "security", p)
		return
	}
	p.Data.(*securityData).Recovery = codes.RecoveryCodes
	s.render(w, r, http.StatusOK, "security", p)
}

// postConfirmIdentity is the doctor's identity check (N-7) from the
// workstation's prompt: back to where it was asked on success.
func (s *Server) postConfirmIdentity(w http.ResponseWriter, r *http.Request) {
	_, err := s.confirmIdentity(r.Context(), call{Actor: actor(r), r: r}, confirmIn{TOTP: r.PostFormValue("totp")})
	if err != nil {
		switch errs.Code(err) {
		case errs.Invalid, identity.ErrTOTPInvalid, identity.ErrTOTPReused, identity.ErrTOTPNotEnrolled, errs.RateLimited:
		default:
			s.fail(w, r, err)
			return
		}
		if errs.Is(err, errs.RateLimited) {
			setRetryAfter(w, err)
		}
		p, perr := s.securityPage(w, r)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		p.setErr(err)
		s.render(w, r, statusOf(errs.Code(err)), "security", p)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = "/doctor"
	}
	sep := "?"
	if strings.Contains(next, "?") {
		sep = "&"
	}
	http.Redirect(w, r, next+sep+"ok=identity_confirmed", http.StatusSeeOther)
}

// confirmPrompt is the N-7 prompt of a doctor's workstation and visit
// pages: whether the session's identity is confirmed, and until when.
type confirmPrompt struct {
	Enrolled bool
	Until    time.Time
	Next     string
}

// doctorPrompt returns the prompt for a doctor on the workstation or a
// visit page; nil elsewhere.
func (s *Server) doctorPrompt(r *http.Request) *confirmPrompt {
	ri := info(r)
	if ri.account == nil || ri.account.Role != identity.RoleDoctor || !ri.cookie ||
		(r.URL.Path != "/doctor" && !strings.HasPrefix(r.URL.Path, "/visits/")) {
		return nil
	}
	c, err := s.confirmation(r.Context(), r)
	if err != nil {
		s.log.Warn("identity confirmation", "err", err)
		return nil
	}
	next := r.URL.Path
	if r.Method != http.MethodGet {
		next = r.URL.Path[:strings.LastIndex(r.URL.Path, "/")] // a visit form: back to its visit
	}
	return &confirmPrompt{Enrolled: c.Enrolled, Until: c.ConfirmedUntil, Next: next}
}
