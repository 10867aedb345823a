package web

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/insurance"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// Error codes of binding a card.
const (
	codeInsMismatch    = "insurance_mismatch"    // the name, ID and card do not match the bureau's
	codeInsNotInsured  = "insurance_not_insured" // the bureau knows no such insured person
	codeInsUnavailable = "insurance_unavailable" // the bureau did not answer
	codeInsNotOffered  = "insurance_not_offered" // the institution does not settle insurance at delivery
	codeInsNotBound    = "insurance_not_bound"   // the patient has no card bound
)

// insuranceSetup makes the bureau's adapter: Config.Insurance, or the
// sandbox bureau with the demo's insured patients (told again at every
// start, lazily: on a first start they are loaded after the server).
type insuranceSetup struct {
	bureau  insurance.Bureau
	sandbox *insurance.SandboxBureau
	once    sync.Once
}

func (s *Server) bureau(ctx context.Context) insurance.Bureau {
	s.ins.once.Do(func() {
		if s.ins.sandbox == nil || !s.cfg.Demo {
			return
		}
		for _, ip := range demo.InsuredPatients {
			a, err := s.ids.Store.AccountByUsername(ctx, ip.Username)
			if err != nil {
				continue
			}
			ps, err := s.ids.Store.PatientsOf(ctx, a.ID)
			if err != nil {
				continue
			}
			for _, p := range ps {
				if p.Name == ip.Name {
					s.ins.sandbox.AddInsured(insurance.Person{Name: p.Name, ResidentID: p.ResidentID, CardNo: ip.CardNo, Region: ip.Region,
						Kind: insurance.Kind(ip.Kind)}, ip.BalanceFen)
				}
			}
		}
	})
	return s.ins.bureau
}

// InsuranceSandbox is the sandbox bureau (nil with a real one).
func (s *Server) InsuranceSandbox() *insurance.SandboxBureau { return s.ins.sandbox }

type insuranceIn struct {
	CardNo string `json:"card_no"`
	Region string `json:"region"` // the insured region, e.g. 110000
	Kind   string `json:"kind"`   // employee (职工) or resident (居民)
}

// bindInsurance binds a social-security card to a patient of the caller's
// account (M-3), after the bureau confirmed name, resident ID and card.
func (s *Server) bindInsurance(ctx context.Context, c call, in insuranceIn) (*sqlstore.Binding, error) {
	if c.Actor.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	p, err := s.loadPatient(c.r, c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	in.CardNo, in.Region = strings.ToUpper(strings.TrimSpace(in.CardNo)), strings.TrimSpace(in.Region)
	kind, kerr := insurance.ParseKind(in.Kind)
	var f errs.Fields
	if len(in.CardNo) < 6 || len(in.CardNo) > 20 {
		f.Add("card_no", "invalid")
	}
	if len(in.Region) != 6 || strings.Trim(in.Region, "0123456789") != "" {
		f.Add("region", "invalid")
	}
	if kerr != nil {
		f.Add("kind", "invalid")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	ins, err := s.bureau(ctx).VerifyPerson(ctx, insurance.Person{Name: p.Name, ResidentID: p.ResidentID, CardNo: in.CardNo, Region: in.Region, Kind: kind})
	switch {
	case errors.Is(err, insurance.ErrMismatch):
		return nil, errs.E(codeInsMismatch)
	case errors.Is(err, insurance.ErrNotInsured):
		return nil, errs.E(codeInsNotInsured)
	case err != nil:
		s.log.Warn("insurance bureau", "err", err)
		return nil, errs.E(codeInsUnavailable)
	}
	b := &sqlstore.Binding{PatientID: p.ID, CardNo: in.CardNo, Region: in.Region, Kind: kind, PsnNo: ins.PsnNo, VerifiedAt: s.cfg.Now().UTC()}
	if err := s.db.BindInsurance(ctx, b); err != nil {
		return nil, err
	}
	return b, s.record(c.r, "insurance.bind", "patient", c.r.PathValue("id"), "", in.Region+" "+string(kind))
}

// getInsurance is a patient's bound card.
func (s *Server) getInsurance(ctx context.Context, c call, _ none) (*sqlstore.Binding, error) {
	p, err := s.loadPatient(c.r, c.r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return s.db.InsuranceOf(ctx, p.ID)
}
