package web

import (
	"net/http"
	"strconv"

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
}

type opsData struct {
	Duty       string // sysadmin | security_admin | audit_admin
	Pharmacies []delivery.Pharmacy
	SMS        []notify.SMSRecord
	Accounts   []staffAccountJSON
	Roles      []identity.Role
	Audit      []audit.Entry
	Verify     *auditVerifyOut
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
	p.Data = d
	return p, nil
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
