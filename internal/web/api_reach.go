package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
)

// Least privilege over bookings (issue 15, N-19, PIPL's minimum
// necessary): a doctor sees the sessions they hold (their queue and the
// visits they take part in), an institution's admin every booking without
// the health answers, a pharmacist none; an institution widens its
// doctors' sight by a rule that is data (doctor_reach), and every read
// through a widening is audited with it.

// bookingSight is the part of their institution's bookings the caller
// sees (authz.BookingSight), a doctor's with their institution's reach for
// their department.
func (s *Server) bookingSight(ctx context.Context, act authz.Actor) (authz.Sight, bool, error) {
	var prID int64
	var dep string
	reach := authz.ReachOwn
	if act.Role == identity.RoleDoctor && act.Institution != "" {
		p, err := s.db.PractitionerByAccount(ctx, act.ID)
		switch {
		case errs.Is(err, errs.NotFound):
		case err != nil:
			return authz.Sight{}, false, err
		default:
			prID, dep = p.ID, p.Department
			rules, err := s.db.DoctorReach(ctx, act.Institution)
			if err != nil {
				return authz.Sight{}, false, err
			}
			reach = authz.ReachFor(rules, dep)
		}
	}
	sight, ok := authz.BookingSight(act, prID, dep, reach)
	return sight, ok, nil
}

// widened is the audit detail of a read of bookings held by the
// practitioners through a sight: "widened:<reach>" when the widening was
// needed for one of them, else "".
func widened(sight authz.Sight, practitioners ...int64) string {
	for _, p := range practitioners {
		if sight.WidenedFor(p) {
			return "widened:" + string(sight.Widened)
		}
	}
	return ""
}

// widenedSight is the audit detail of a read through a sight that an
// institution's rule widened, whatever it found ("" for one it did not).
func widenedSight(sight authz.Sight) string {
	if sight.Widened == "" {
		return ""
	}
	return "widened:" + string(sight.Widened)
}

// joinDetail joins audit details, skipping empty ones.
func joinDetail(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

type reachOut struct {
	Institution string            `json:"institution"`
	Rules       []authz.ReachRule `json:"rules"` // department "" is the institution's default; no row: own
}

// getReach answers an institution's reach rules: its admin and the
// regulator.
func (s *Server) getReach(ctx context.Context, c call, _ none) (*reachOut, error) {
	code := c.Path("code")
	if !authz.SeeInstitutionStaff(c.Actor, code) {
		return nil, errs.E(errs.Forbidden)
	}
	rules, err := s.db.DoctorReach(ctx, code)
	if err != nil {
		return nil, err
	}
	return &reachOut{Institution: code, Rules: rules}, nil
}

type reachIn struct {
	Rules *[]authz.ReachRule `json:"rules"`
}

// putReach replaces an institution's reach rules: its admin, audited
// (doctor_reach.save) with the rules before and after.
func (s *Server) putReach(ctx context.Context, c call, in reachIn) (*reachOut, error) {
	code := c.Path("code")
	if !authz.ManageInstitution(c.Actor, code) {
		return nil, errs.E(errs.Forbidden)
	}
	if in.Rules == nil {
		var f errs.Fields
		f.Add("rules", "put_missing")
		return nil, f.Err()
	}
	if err := s.saveReach(ctx, c.r, code, *in.Rules); err != nil {
		return nil, err
	}
	return s.getReach(ctx, c, none{})
}

// saveReach checks and saves an institution's reach rules (the API's PUT
// and the rules page's form), audited with the rules before and after.
func (s *Server) saveReach(ctx context.Context, r *http.Request, code string, rules []authz.ReachRule) error {
	inst, err := s.dir.Institution(ctx, code)
	if err != nil {
		return err
	}
	deps := map[string]bool{"": true}
	for _, d := range inst.Departments {
		deps[d.Code] = true
	}
	var f errs.Fields
	seen := map[string]bool{}
	for i, r := range rules {
		field := "rules[" + strconv.Itoa(i) + "]"
		if !deps[r.Department] {
			f.Add(field+".department", "not_found")
		} else if seen[r.Department] {
			f.Add(field+".department", "duplicate")
		}
		seen[r.Department] = true
		if !r.Reach.Valid() {
			f.Add(field+".reach", "invalid")
		}
	}
	if err := f.Err(); err != nil {
		return err
	}
	old, err := s.db.DoctorReach(ctx, code)
	if err != nil {
		return err
	}
	e := s.entry(r, "doctor_reach.save", "institution", code, code, fmt.Sprintf("%s → %s", reachText(old), reachText(rules)))
	return s.db.SetDoctorReach(ctx, code, rules, e)
}

// postReach is the rules page's form: a select for the institution
// (reach) and one per department (reach.<code>, "" to follow the
// institution's).
func (s *Server) postReach(r *http.Request) error {
	code := r.PathValue("code")
	if !authz.ManageInstitution(actor(r), code) {
		return errs.E(errs.Forbidden)
	}
	inst, err := s.dir.Institution(r.Context(), code)
	if err != nil {
		return err
	}
	var rules []authz.ReachRule
	if v := r.PostFormValue("reach"); v != "" && v != string(authz.ReachOwn) {
		rules = append(rules, authz.ReachRule{Reach: authz.Reach(v)})
	}
	for _, d := range inst.Departments {
		if v := r.PostFormValue("reach." + d.Code); v != "" {
			rules = append(rules, authz.ReachRule{Department: d.Code, Reach: authz.Reach(v)})
		}
	}
	return s.saveReach(r.Context(), r, code, rules)
}

func reachText(rules []authz.ReachRule) string {
	if len(rules) == 0 {
		return "own"
	}
	parts := make([]string, len(rules))
	for i, r := range rules {
		dep := r.Department
		if dep == "" {
			dep = "*"
		}
		parts[i] = dep + "=" + string(r.Reach)
	}
	return strings.Join(parts, ",")
}
