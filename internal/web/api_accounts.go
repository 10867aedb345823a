package web

import (
	"context"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// Separation of duties (三员分立, 等保三级): the security administrator
// keeps the staff accounts and their roles; the audit administrator reads
// and verifies the audit log; the system administrator runs the platform.
// None of them sees medical data, and none can act as another: security
// administrators are made at installation only (yunyi user create), and
// every action here is audited.

// staffAccountJSON is an account as the security administrator sees it:
// who, which role, where, whether it may log in; no patient is ever listed.
type staffAccountJSON struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	Role        string    `json:"role"`
	Institution string    `json:"institution,omitempty"`
	Pharmacy    string    `json:"pharmacy,omitempty"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
}

func staffAccountOut(a *identity.Account) staffAccountJSON {
	return staffAccountJSON{ID: a.ID, Username: a.Username, Role: string(a.Role), Institution: a.Institution, Pharmacy: a.Pharmacy,
		Disabled: a.Disabled, CreatedAt: a.CreatedAt}
}

type staffAccountsOut struct {
	Items []staffAccountJSON `json:"items"`
}

// listAccounts lists staff accounts (?role=, ?institution=).
func (s *Server) listAccounts(ctx context.Context, c call, _ none) (staffAccountsOut, error) {
	if !authz.ManageAccounts(c.Actor) {
		return staffAccountsOut{}, errs.E(errs.Forbidden)
	}
	q := c.r.URL.Query()
	list, err := s.db.AccountsOfStaff(ctx, q.Get("role"), q.Get("institution"))
	if err != nil {
		return staffAccountsOut{}, err
	}
	out := staffAccountsOut{Items: []staffAccountJSON{}}
	for i := range list {
		out.Items = append(out.Items, staffAccountOut(&list[i]))
	}
	return out, s.record(c.r, "account.list", "account", "", q.Get("institution"), q.Get("role"))
}

type newAccountIn struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	Role        string `json:"role"`
	Institution string `json:"institution"`
	Pharmacy    string `json:"pharmacy"`
	Phone       string `json:"phone"`
}

// createAccount makes a staff account with a role. Patients register
// themselves; security administrators are made at installation.
func (s *Server) createAccount(ctx context.Context, c call, in newAccountIn) (*staffAccountJSON, error) {
	if !authz.ManageAccounts(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	role := identity.Role(in.Role)
	if role == identity.RolePatient || role == identity.RoleSecurityAdmin {
		var f errs.Fields
		f.Add("role", "role_not_grantable")
		return nil, f.Err()
	}
	a, err := s.ids.CreateAccount(ctx, identity.NewStaff{Username: in.Username, Password: in.Password, Role: role, Institution: in.Institution,
		Pharmacy: in.Pharmacy, Phone: in.Phone})
	if err != nil {
		return nil, err
	}
	out := staffAccountOut(a)
	return &out, s.record(c.r, "account.create", "account", strconv.FormatInt(a.ID, 10), a.Institution, string(a.Role)+" "+a.Username)
}

type accountPatchIn struct {
	Disabled *bool `json:"disabled"`
}

// patchAccount disables or enables a staff account; disabling ends its
// sessions on every server at once. Nobody disables their own account.
func (s *Server) patchAccount(ctx context.Context, c call, in accountPatchIn) (*staffAccountJSON, error) {
	if !authz.ManageAccounts(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	var f errs.Fields
	if in.Disabled == nil {
		f.Add("disabled", "required")
	} else if id == c.Actor.ID {
		f.Add("disabled", "own_account")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	target, err := s.db.AccountByID(ctx, id)
	if err != nil || target.Role == identity.RolePatient {
		return nil, errs.E(errs.NotFound)
	}
	if target.Role == identity.RoleSecurityAdmin {
		return nil, errs.E(errs.Forbidden) // one security administrator does not lock out another
	}
	if err := s.db.SetAccountDisabled(ctx, id, *in.Disabled); err != nil {
		return nil, err
	}
	s.ids.ForgetAccount(id)
	s.changed("account", "", id)
	action := "account.enable"
	if *in.Disabled {
		action = "account.disable"
	}
	if err := s.record(c.r, action, "account", strconv.FormatInt(id, 10), target.Institution, target.Username); err != nil {
		return nil, err
	}
	target.Disabled = *in.Disabled
	out := staffAccountOut(target)
	return &out, nil
}

type auditVerifyOut struct {
	Valid   bool   `json:"valid"`
	Checked int64  `json:"checked"`
	Seq     int64  `json:"broken_at,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// verifyAudit walks the audit log's hash chain (the audit administrator,
// the regulator): whole, or where it breaks.
func (s *Server) verifyAudit(ctx context.Context, c call, _ none) (*auditVerifyOut, error) {
	if !authz.VerifyAudit(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	n, problem, err := audit.Verify(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := &auditVerifyOut{Valid: problem == nil, Checked: n}
	if problem != nil {
		out.Seq, out.Reason = problem.Seq, problem.Reason
	}
	return out, s.record(c.r, "audit.verify", "audit", "", "", strconv.FormatBool(out.Valid))
}
