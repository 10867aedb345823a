package web

import (
	"net/http"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// The register page and the child form with the checks of N-5: the
// "send me a code" button posts the same form with action=send_code, which
// texts the code and shows the form again, filled (no script needed).

// identityFormErr shows on the form the errors of registration and adding
// a child that formErr leaves to the error page: the check did not answer,
// a disputed or own ID, an SMS not sent.
func (s *Server) identityFormErr(w http.ResponseWriter, r *http.Request, name string, p *page, err error) {
	switch code := errs.Code(err); code {
	case "identity_check_unavailable", "identity_disputed", "identity_registered", "sms_failed":
		p.setErr(err)
		p.Form = r.PostForm
		s.render(w, r, statusOf(code), name, p)
	default:
		s.formErr(w, r, name, p, err)
	}
}

// codeSent shows the form again with the masked number the code went to.
func (s *Server) codeSent(w http.ResponseWriter, r *http.Request, name string, p *page, phone string) {
	p.Flash = p.T("register.code_sent", maskPhone(phone))
	p.Form = r.PostForm
	p.Form.Del("password")
	p.Form.Del("password2")
	s.render(w, r, http.StatusOK, name, p)
}

func (s *Server) postRegister(w http.ResponseWriter, r *http.Request) {
	p := s.newPage(w, r, "title.register")
	if !s.formCSRF(w, r) {
		return
	}
	if r.PostFormValue("action") == "send_code" {
		phone := r.PostFormValue("phone")
		if err := s.sendCode(r, phone, identity.PurposeRegister, 0); err != nil {
			s.identityFormErr(w, r, "register", p, err)
			return
		}
		s.codeSent(w, r, "register", p, phone)
		return
	}
	if !s.limits.allow("register-ip", clientIP(r)) {
		s.formErr(w, r, "register", p, errs.E(errs.RateLimited))
		return
	}
	reg := identity.Registration{
		Username: r.PostFormValue("username"), Password: r.PostFormValue("password"), Name: r.PostFormValue("name"),
		ResidentID: r.PostFormValue("resident_id"), Phone: r.PostFormValue("phone"), SMSCode: r.PostFormValue("sms_code"),
	}
	if r.PostFormValue("password") != r.PostFormValue("password2") {
		// Report the mismatch with every other problem of the form.
		var f errs.Fields
		reg.Normalize()
		if _, err := reg.Validate(s.cfg.Now()); err != nil {
			mergeFields(&f, err)
		}
		f.Add("password2", "password_mismatch")
		s.formErr(w, r, "register", p, f.Err())
		return
	}
	a, pt, claim, err := s.rn.Register(r.Context(), reg)
	if err != nil {
		s.identityFormErr(w, r, "register", p, err)
		return
	}
	info(r).actor = authz.FromAccount(a) // the new account is the actor of its registration
	if err := s.recordAll(r.Context(), s.entry(r, "account.register", "patient", strconv.FormatInt(pt.ID, 10), "", ""), s.claimed(r, a.ID, claim)); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.browserLogin(w, r, reg.Username, reg.Password); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/me?ok=registered", http.StatusSeeOther)
}

func (s *Server) postChild(w http.ResponseWriter, r *http.Request) {
	showErr := func(err error) {
		p, perr := s.mePage(w, r)
		if perr != nil {
			s.fail(w, r, perr)
			return
		}
		s.identityFormErr(w, r, "me", p, err)
	}
	a := info(r).account
	if r.PostFormValue("action") == "send_code" {
		if a.Role != identity.RolePatient {
			s.fail(w, r, errs.E(errs.Forbidden))
			return
		}
		if err := s.sendCode(r, a.Phone, identity.PurposeAddChild, a.ID); err != nil {
			showErr(err)
			return
		}
		p, err := s.mePage(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.codeSent(w, r, "me", p, a.Phone)
		return
	}
	n := identity.NewPatient{Name: r.PostFormValue("name"), ResidentID: r.PostFormValue("resident_id"), Relation: identity.RelChild,
		SMSCode: r.PostFormValue("sms_code")}
	if _, err := s.addChild(r, n); err != nil {
		showErr(err)
		return
	}
	http.Redirect(w, r, "/me?ok=child_added", http.StatusSeeOther)
}
