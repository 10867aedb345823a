package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/delivery"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// The operators' page (/ops), one per duty of 三员分立: the system
// administrator's platform data, the security administrator's accounts,
// the audit administrator's log and its verification. Each reads and
// writes through the same functions as the API, so the same rules and
// audit apply.
func (s *Server) opsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ops", s.requireLogin(s.show("ops", s.opsPage)))
	mux.HandleFunc("POST /ops/accounts", s.requireLogin(s.postOpsAccount))
	mux.HandleFunc("POST /ops/accounts/{id}", s.requireLogin(s.postOpsAccountState))
	mux.HandleFunc("POST /ops/retention/{type}", s.requireLogin(s.postOpsRetention))
	mux.HandleFunc("POST /ops/security-settings", s.requireLogin(s.postOpsSecuritySettings))
}

type opsData struct {
	Duty       string // sysadmin | security_admin | audit_admin
	Pharmacies []delivery.Pharmacy
	SMS        []notify.SMSRecord
	Accounts   []staffAccountJSON
	Roles      []identity.Role
	Audit      []audit.Entry
	Verify     *auditVerifyOut
	Retention  *retentionOut        // every operator reads it; the security administrator changes it (N-17)
	Security   *securitySettingsOut // the security administrator's: idle timeouts, the doctors' confirmation (N-7, N-20)
}

func (s *Server) opsPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.ops")
	a := actor(r)
	ctx := r.Context()
	c := call{Actor: a, r: r}
	d := opsData{Duty: string(a.Role)}
	var err error
	switch a.Role {
	case identity.RoleSysadmin:
		if d.Pharmacies, err = s.db.Pharmacies(ctx); err != nil {
			return nil, err
		}
		if d.SMS, err = s.db.SMSSent(ctx, "", 30); err != nil {
			return nil, err
		}
		err = s.record(r, "ops.read", "platform", "", "", "")
	case identity.RoleSecurityAdmin:
		var out staffAccountsOut
		if out, err = s.listAccounts(ctx, c, none{}); err != nil {
			return nil, err
		}
		d.Accounts = out.Items
		for _, role := range identity.Roles {
			if role != identity.RolePatient && role != identity.RoleSecurityAdmin {
				d.Roles = append(d.Roles, role)
			}
		}
	case identity.RoleAuditAdmin:
		if d.Audit, err = s.db.QueryAudit(ctx, audit.Filter{Limit: 100}); err != nil {
			return nil, err
		}
		if d.Verify, err = s.verifyAudit(ctx, c, none{}); err != nil {
			return nil, err
		}
		err = s.record(r, "audit.read", "audit", "", "", "page")
	default:
		return nil, errs.E(errs.Forbidden)
	}
	if err != nil {
		return nil, err
	}
	if d.Retention, err = s.getRetention(ctx, c, none{}); err != nil {
		return nil, err
	}
	if a.Role == identity.RoleSecurityAdmin {
		if d.Security, err = s.getSecuritySettings(ctx, c, none{}); err != nil {
			return nil, err
		}
	}
	p.Data = d
	return p, nil
}

// postOpsRetention changes a record type's retention from the security
// administrator's form (the API's checks: never below the legal minimum,
// audited).
func (s *Server) postOpsRetention(w http.ResponseWriter, r *http.Request) {
	in := retentionIn{Purge: new(bool)}
	if v := strings.TrimSpace(r.PostFormValue("years")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			var f errs.Fields
			f.Add("years", "number_format")
			s.fail(w, r, f.Err())
			return
		}
		in.Years = &n
	}
	*in.Purge = r.PostFormValue("purge") == "1"
	if _, err := s.putRetention(r.Context(), call{Actor: actor(r), r: r}, in); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ops?ok=retention_saved", http.StatusSeeOther)
}

// postOpsSecuritySettings changes the platform's session settings from the
// security administrator's form (the API's checks and audit).
func (s *Server) postOpsSecuritySettings(w http.ResponseWriter, r *http.Request) {
	var in settingIn
	var f errs.Fields
	for _, x := range []struct {
		name string
		to   **int
	}{{"staff_idle_minutes", &in.StaffIdleMinutes}, {"patient_idle_minutes", &in.PatientIdleMinutes},
		{"identity_confirmation_minutes", &in.ConfirmationMinutes}} {
		v := strings.TrimSpace(r.PostFormValue(x.name))
		if v == "" {
			continue // the API names it as missing
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			f.Add(x.name, "number_format")
			continue
		}
		*x.to = &n
	}
	if err := f.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.putPlatformSettings(r.Context(), call{Actor: actor(r), r: r}, in); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ops?ok=settings_saved", http.StatusSeeOther)
}

// postOpsAccount creates a staff account from the security administrator's form.
func (s *Server) postOpsAccount(w http.ResponseWriter, r *http.Request) {
	in := newAccountIn{Username: r.PostFormValue("username"), Password: r.PostFormValue("password"), Role: r.PostFormValue("role"),
		Institution: r.PostFormValue("institution"), Pharmacy: r.PostFormValue("pharmacy"), Phone: r.PostFormValue("phone")}
	if _, err := s.createAccount(r.Context(), call{Actor: actor(r), r: r}, in); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ops?ok=account_created", http.StatusSeeOther)
}

// postOpsAccountState disables or enables an account from the form.
func (s *Server) postOpsAccountState(w http.ResponseWriter, r *http.Request) {
	disabled := r.PostFormValue("disabled") == "1"
	if _, err := s.patchAccount(r.Context(), call{Actor: actor(r), r: r}, accountPatchIn{Disabled: &disabled}); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ops?ok=account_"+strconv.FormatBool(disabled), http.StatusSeeOther)
}
