package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/referral"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// The pages of referrals and record sharing (issue 16; api_referral.go):
// the visit page's referral part (the doctor's form, the visit's
// referrals for both parties), the referrals list (/referrals: the
// receiving institution accepts or declines), the family's page of
// consents and "谁看过我的病历" (/records-access), and a doctor's page of
// the records a consent shares (/patients/{id}/shared-records, audited).

func (s *Server) referralRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /visits/{id}/referrals", s.requireLogin(s.visitForm(func(r *http.Request, vc *visitCtx) error {
		r.ParseForm()
		in := referralIn{ToInstitution: r.PostForm.Get("to_institution"), ToDepartment: r.PostForm.Get("to_department"),
			Direction: r.PostForm.Get("direction"), Urgency: r.PostForm.Get("urgency"), Reason: r.PostForm.Get("reason"), Summary: r.PostForm.Get("summary")}
		_, err := s.createReferral(r.Context(), call{Actor: actor(r), r: r}, in)
		return err
	})))
	mux.HandleFunc("GET /referrals", s.requireLogin(s.show("referrals", s.referralsPage)))
	mux.HandleFunc("POST /referrals/{id}/decision", s.requireLogin(s.submit("referrals", s.referralsPage, func(r *http.Request) error {
		r.ParseForm()
		_, err := s.decideReferral(r.Context(), call{Actor: actor(r), r: r}, referralDecisionIn{Decision: r.PostForm.Get("decision"), Note: r.PostForm.Get("note")})
		return err
	}, func(r *http.Request) string { return "/referrals#ref-" + r.PathValue("id") })))
	mux.HandleFunc("GET /records-access", s.requireLogin(s.show("records_access", s.recordsAccessPage)))
	mux.HandleFunc("POST /records-access/consents", s.requireLogin(s.submit("records_access", s.recordsAccessPage, func(r *http.Request) error {
		r.ParseForm()
		r.SetPathValue("id", r.PostForm.Get("patient_id"))
		_, err := s.grantConsent(r.Context(), call{Actor: actor(r), r: r}, consentIn{Grantee: r.PostForm.Get("grantee"), Source: r.PostForm.Get("source"),
			ValidTo: r.PostForm.Get("valid_to")})
		return err
	}, func(r *http.Request) string { return "/records-access#consents" })))
	mux.HandleFunc("POST /records-access/consents/{cid}/revoke", s.requireLogin(s.submit("records_access", s.recordsAccessPage, func(r *http.Request) error {
		cid, err := strconv.ParseInt(r.PathValue("cid"), 10, 64)
		if err != nil {
			return errs.E(errs.NotFound)
		}
		cs, err := s.db.Consent(r.Context(), cid)
		if err != nil {
			return err
		}
		r.SetPathValue("id", strconv.FormatInt(cs.PatientID, 10))
		_, err = s.revokeConsent(r.Context(), call{Actor: actor(r), r: r}, none{})
		return err
	}, func(r *http.Request) string { return "/records-access#consents" })))
	mux.HandleFunc("GET /patients/{id}/shared-records", s.requireLogin(s.show("shared_records", s.sharedRecordsPage)))
}

type referralsPageData struct {
	Referrals []referralJSON
	Receiver  string // the caller's institution, which decides on the referrals sent to it
}

func (s *Server) referralsPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.referrals")
	out, err := s.listReferrals(r.Context(), call{Actor: actor(r), r: r}, none{})
	if err != nil {
		return nil, err
	}
	d := &referralsPageData{Referrals: out.Referrals}
	if a := actor(r); a.Role == identity.RoleDoctor || a.Role == identity.RoleInstitutionAdmin {
		d.Receiver = a.Institution
	}
	for i := range d.Referrals {
		d.Referrals[i] = s.referralOut(r.Context(), &d.Referrals[i].Referral, p.Lang)
	}
	p.Data = d
	return p, nil
}

// visitReferrals is the visit page's referral part.
type visitReferrals struct {
	List         []referralJSON
	CanRefer     bool
	Institutions []instOption
	// Shared: a consent lets the doctor's institution read the patient's
	// records elsewhere (the page links to them; reading is audited there).
	Shared bool
}

type instOption struct{ Code, Name string }

func (s *Server) visitReferralsView(ctx context.Context, vc *visitCtx, lang i18n.Lang) (*visitReferrals, error) {
	list, err := s.db.Referrals(ctx, referral.Filter{Patients: []int64{vc.v.PatientID}})
	if err != nil {
		return nil, err
	}
	out := &visitReferrals{}
	for i := range list {
		if list[i].VisitID == vc.v.ID {
			out.List = append(out.List, s.referralOut(ctx, &list[i], lang))
		}
	}
	if vc.party != visit.PartyDoctor {
		return out, nil
	}
	st := vc.v.State
	out.CanRefer = st == visit.InProgress || st == visit.Completed
	if out.CanRefer {
		insts, err := s.dir.Institutions(ctx)
		if err != nil {
			return nil, err
		}
		for _, in := range insts {
			if in.Code != vc.v.Institution {
				out.Institutions = append(out.Institutions, instOption{in.Code, in.Name})
			}
		}
	}
	consents, err := s.db.Consents(ctx, []int64{vc.v.PatientID})
	if err != nil {
		return nil, err
	}
	for _, c := range consents {
		out.Shared = out.Shared || (c.Active(s.cfg.Now()) && c.Grantee == vc.v.Institution)
	}
	return out, nil
}

type recordsAccessData struct {
	Patients []identity.Patient
	Consents []consentJSON
	Reads    []referral.Read
	Insts    []instOption
}

func (s *Server) recordsAccessPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.records_access")
	a := actor(r)
	if a.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	ctx := r.Context()
	ps, ids, err := s.familyPatients(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	d := &recordsAccessData{Patients: ps}
	list, err := s.db.Consents(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range list {
		d.Consents = append(d.Consents, s.consentOut(ctx, &list[i], p.Lang))
	}
	reads, err := s.recordReads(ctx, call{Actor: a, r: r}, none{})
	if err != nil {
		return nil, err
	}
	d.Reads = reads.Reads
	insts, err := s.dir.Institutions(ctx)
	if err != nil {
		return nil, err
	}
	for _, in := range insts {
		d.Insts = append(d.Insts, instOption{in.Code, in.Name})
	}
	p.Data = d
	return p, nil
}

func (s *Server) sharedRecordsPage(w http.ResponseWriter, r *http.Request) (*page, error) {
	p := s.newPage(w, r, "title.shared_records")
	pid, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, errs.E(errs.NotFound)
	}
	out, err := s.readShared(r.Context(), r, pid)
	if err != nil {
		return nil, err
	}
	for i := range out.Records {
		out.Records[i].Institution, _ = s.instNames(r.Context(), out.Records[i].Institution, "", p.Lang)
	}
	p.Title = fmt.Sprintf("%s · %d", p.T("title.shared_records"), pid)
	p.Data = out
	return p, nil
}
