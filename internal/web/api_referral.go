package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/referral"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// Referral and record sharing between institutions (issue 16; N-24, W-4,
// W-5; package referral).
//
//   - POST /api/v1/visits/{id}/referrals: the visit's doctor refers the
//     patient to another institution's department (up or down in tiered
//     care), with the reason, urgency and a summary; the family and the
//     receiving institution's admins are told (inbox and SMS).
//   - GET /api/v1/referrals: the sending and receiving institutions'
//     admins see their institution's, a doctor those they wrote and those
//     their institution received; a family its patients'.
//   - POST /api/v1/referrals/{id}/decision: the receiving institution's
//     admin or doctor accepts or declines; POST …/cancel: the referring
//     doctor withdraws a referral not yet decided.
//   - Consents (W-4): POST/GET /api/v1/patients/{id}/consents, POST
//     /api/v1/patients/{id}/consents/{cid}/revoke, by the patient's family;
//     published as FHIR Consent.
//   - GET /api/v1/patients/{id}/shared-records: a doctor of the consent's
//     grantee with a visit of the patient reads the signed records of the
//     other institutions the consent covers; without one, not_found. Every
//     read is audited (records.shared.read) and listed to the family at
//     GET /api/v1/me/record-reads ("谁看过我的病历").

// referralJSON is a referral with the names of its institutions and
// departments and its texts in the caller's language.
type referralJSON struct {
	referral.Referral
	FromInstitutionName string `json:"from_institution_name"`
	FromDepartmentName  string `json:"from_department_name"`
	ToInstitutionName   string `json:"to_institution_name"`
	ToDepartmentName    string `json:"to_department_name"`
	StateText           string `json:"state_text"`
	DirectionText       string `json:"direction_text"`
	UrgencyText         string `json:"urgency_text"`
}

// instNames are the names of an institution and of one of its departments
// ("" when unknown).
func (s *Server) instNames(ctx context.Context, code, dept string, lang i18n.Lang) (string, string) {
	inst, err := s.dir.Institution(ctx, code)
	if err != nil {
		return code, dept
	}
	name := inst.Name
	if lang == i18n.EN && inst.NameEN != "" {
		name = inst.NameEN
	}
	dname := dept
	for _, d := range inst.Departments {
		if d.Code == dept {
			dname = d.Name
			if lang == i18n.EN && d.NameEN != "" {
				dname = d.NameEN
			}
		}
	}
	return name, dname
}

func (s *Server) referralOut(ctx context.Context, r *referral.Referral, lang i18n.Lang) referralJSON {
	out := referralJSON{Referral: *r}
	out.FromInstitutionName, out.FromDepartmentName = s.instNames(ctx, r.FromInstitution, r.FromDepartment, lang)
	out.ToInstitutionName, out.ToDepartmentName = s.instNames(ctx, r.ToInstitution, r.ToDepartment, lang)
	out.StateText = i18n.T(lang, "referral.state."+string(r.State))
	out.DirectionText = i18n.T(lang, "referral.direction."+string(r.Direction))
	out.UrgencyText = i18n.T(lang, "referral.urgency."+string(r.Urgency))
	return out
}

type referralIn struct {
	ToInstitution string `json:"to_institution"`
	ToDepartment  string `json:"to_department"`
	Direction     string `json:"direction"`
	Urgency       string `json:"urgency"`
	Reason        string `json:"reason"`
	Summary       string `json:"summary"`
}

// createReferral refers the visit's patient (its doctor, while the visit
// is in progress or once completed).
func (s *Server) createReferral(ctx context.Context, c call, in referralIn) (*referralJSON, error) {
	vc, err := s.loadVisit(c.r, false)
	if err != nil {
		return nil, err
	}
	if err := vc.must(visit.PartyDoctor); err != nil {
		return nil, err
	}
	if st := vc.v.State; st != visit.InProgress && st != visit.Completed {
		return nil, errs.E(visit.CodeIllegal, i18n.Ref("act.referral"), i18n.Ref("state."+string(st)))
	}
	r := &referral.Referral{VisitID: vc.v.ID, PatientID: vc.v.PatientID, FromInstitution: vc.v.Institution, FromDepartment: vc.v.Department,
		FromAccount: c.Actor.ID, ToInstitution: in.ToInstitution, ToDepartment: in.ToDepartment, Direction: referral.Direction(in.Direction),
		Urgency: referral.Urgency(in.Urgency), Reason: in.Reason, Summary: in.Summary, CreatedAt: s.cfg.Now()}
	verr := r.Validate()
	var f errs.Fields
	if e, ok := verr.(*errs.Error); ok {
		for _, fe := range e.Fields {
			f.Add(fe.Field, fe.Code)
		}
	} else if verr != nil {
		return nil, verr
	}
	var to *directory.Institution
	if r.ToInstitution != "" && !f.Has("to_institution") {
		to, err = s.dir.Institution(ctx, r.ToInstitution)
		switch {
		case errs.Is(err, errs.NotFound):
			f.Add("to_institution", "not_found")
		case err != nil:
			return nil, err
		case r.ToDepartment != "" && !hasDepartment(to, r.ToDepartment):
			f.Add("to_department", "not_found")
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if err := s.db.CreateReferral(ctx, r); err != nil {
		return nil, err
	}
	id := strconv.FormatInt(r.ID, 10)
	if err := s.record(c.r, "referral.create", "referral", id, r.FromInstitution,
		fmt.Sprintf("visit %d, patient %d, to %s/%s, %s, %s", r.VisitID, r.PatientID, r.ToInstitution, r.ToDepartment, r.Direction, r.Urgency)); err != nil {
		return nil, err
	}
	full, err := s.db.Referral(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	s.tellReferral(ctx, full, "referral_created", true)
	s.tellAdmins(ctx, to, "referral_received", func(l i18n.Lang) (string, string) {
		out := s.referralOut(ctx, full, l)
		// The patient and the reason are on the referrals page only: a
		// notice (and its SMS) names neither (N-19, the minimum necessary).
		return i18n.T(l, "referral.received.title"), i18n.T(l, "referral.received.body", out.FromInstitutionName, full.FromDoctor,
			out.ToDepartmentName, out.UrgencyText)
	})
	out := s.referralOut(ctx, full, apiLang(c.r))
	return &out, nil
}

// tellReferral tells the patient's family of a referral's step (inbox and
// SMS); toDoctor also writes the referring doctor's inbox.
func (s *Server) tellReferral(ctx context.Context, r *referral.Referral, kind string, family bool) {
	text := func(l i18n.Lang) (string, string) {
		out := s.referralOut(ctx, r, l)
		return i18n.T(l, "referral."+kind+".title"), i18n.T(l, "referral."+kind+".body", r.PatientName, out.FromInstitutionName,
			out.ToInstitutionName, out.ToDepartmentName, r.Note)
	}
	title, body := text(i18n.ZH)
	titleEN, bodyEN := text(i18n.EN)
	var to []int64
	if family {
		accounts, err := s.patientAccounts(ctx, r.PatientID)
		if err != nil {
			s.log.Warn("referral: family not told", "referral", r.ID, "err", err)
		}
		to = accounts
	}
	for _, id := range to {
		n := &notify.Notification{AccountID: id, Kind: kind, Title: title, Body: body, TitleEN: titleEN, BodyEN: bodyEN,
			Ref: "visit/" + strconv.FormatInt(r.VisitID, 10), CreatedAt: s.cfg.Now()}
		if err := s.db.Notify(ctx, n); err != nil {
			s.log.Warn("referral: family not told", "referral", r.ID, "err", err)
			continue
		}
		s.sendSMS(id, kind, "【云医】"+body)
	}
	if kind != "referral_created" && r.FromAccount != 0 {
		n := &notify.Notification{AccountID: r.FromAccount, Kind: kind, Title: title, Body: body, TitleEN: titleEN, BodyEN: bodyEN,
			Ref: "referral/" + strconv.FormatInt(r.ID, 10), CreatedAt: s.cfg.Now()}
		if err := s.db.Notify(ctx, n); err != nil {
			s.log.Warn("referral: doctor not told", "referral", r.ID, "err", err)
		}
	}
}

type referralsOut struct {
	Referrals []referralJSON `json:"referrals"`
}

// familyPatients are the ids of the profiles an account holds.
func (s *Server) familyPatients(ctx context.Context, accountID int64) ([]identity.Patient, []int64, error) {
	ps, err := s.ids.Store.PatientsOf(ctx, accountID)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int64, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ps, ids, nil
}

// listReferrals lists the caller's referrals: a family its patients',
// an institution's doctors and admins those it sent or received.
func (s *Server) listReferrals(ctx context.Context, c call, _ none) (*referralsOut, error) {
	f := referral.Filter{State: referral.State(c.Query("state"))}
	switch c.Actor.Role {
	case identity.RolePatient:
		_, ids, err := s.familyPatients(ctx, c.Actor.ID)
		if err != nil {
			return nil, err
		}
		f.Patients = ids
	case identity.RoleDoctor, identity.RoleInstitutionAdmin:
		f.Institution = c.Actor.Institution
	default:
		return nil, errs.E(errs.Forbidden)
	}
	if st := f.State; st != "" && st != referral.Created && st != referral.Accepted && st != referral.Declined && st != referral.Cancelled {
		var fe errs.Fields
		fe.Add("state", "invalid")
		return nil, fe.Err()
	}
	list, err := s.db.Referrals(ctx, f)
	if err != nil {
		return nil, err
	}
	if c.Actor.Role == identity.RoleDoctor {
		// A doctor sees the referrals they wrote and those their
		// institution received, not their colleagues' patients.
		list = slices.DeleteFunc(list, func(r referral.Referral) bool { return !doctorSees(c.Actor, &r) })
	}
	out := &referralsOut{Referrals: []referralJSON{}}
	ids := make([]string, 0, len(list))
	for i := range list {
		out.Referrals = append(out.Referrals, s.referralOut(ctx, &list[i], apiLang(c.r)))
		ids = append(ids, strconv.FormatInt(list[i].ID, 10))
	}
	if err := s.record(c.r, "referral.list", "referral", strings.Join(ids, ","), c.Actor.Institution, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// loadReferral loads the path's referral for a caller who may see it (its
// family, the sending and receiving institutions' doctors and admins);
// anyone else gets not_found.
func (s *Server) loadReferral(c call) (*referral.Referral, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	r, err := s.db.Referral(c.r.Context(), id)
	if err != nil {
		return nil, err
	}
	ok := false
	switch c.Actor.Role {
	case identity.RolePatient:
		accounts, err := s.patientAccounts(c.r.Context(), r.PatientID)
		if err != nil {
			return nil, err
		}
		for _, a := range accounts {
			ok = ok || a == c.Actor.ID
		}
	case identity.RoleDoctor:
		ok = doctorSees(c.Actor, r)
	case identity.RoleInstitutionAdmin:
		ok = c.Actor.Institution == r.FromInstitution || c.Actor.Institution == r.ToInstitution
	}
	if !ok {
		s.record(c.r, "referral.read.denied", "referral", strconv.FormatInt(id, 10), "", "")
		return nil, errs.E(errs.NotFound)
	}
	return r, nil
}

// doctorSees says whether a doctor may see a referral: one they wrote,
// or one to their institution.
func doctorSees(a authz.Actor, r *referral.Referral) bool {
	return a.ID == r.FromAccount || (a.Institution != "" && a.Institution == r.ToInstitution)
}

type referralDecisionIn struct {
	Decision string `json:"decision"` // accept | decline
	Note     string `json:"note"`
}

// decideReferral is the receiving institution's answer (its admin or a
// doctor); declining needs the reason.
func (s *Server) decideReferral(ctx context.Context, c call, in referralDecisionIn) (*referralJSON, error) {
	r, err := s.loadReferral(c)
	if err != nil {
		return nil, err
	}
	if c.Actor.Role == identity.RolePatient || c.Actor.Institution != r.ToInstitution {
		return nil, errs.E(errs.Forbidden)
	}
	in.Note = strings.TrimSpace(in.Note)
	var f errs.Fields
	to := referral.State("")
	switch in.Decision {
	case "accept":
		to = referral.Accepted
	case "decline":
		to = referral.Declined
		if in.Note == "" {
			f.Add("note", "required")
		}
	case "":
		f.Add("decision", "required")
	default:
		f.Add("decision", "invalid")
	}
	if len([]rune(in.Note)) > 500 {
		f.Add("note", "too_long")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return s.stepReferral(ctx, c, r, to, in.Note)
}

// cancelReferral withdraws a referral not yet decided (the doctor who
// wrote it).
func (s *Server) cancelReferral(ctx context.Context, c call, _ none) (*referralJSON, error) {
	r, err := s.loadReferral(c)
	if err != nil {
		return nil, err
	}
	if c.Actor.ID != r.FromAccount {
		return nil, errs.E(errs.Forbidden)
	}
	return s.stepReferral(ctx, c, r, referral.Cancelled, "")
}

func (s *Server) stepReferral(ctx context.Context, c call, r *referral.Referral, to referral.State, note string) (*referralJSON, error) {
	done, err := s.db.DecideReferral(ctx, referral.Decision{ReferralID: r.ID, To: to, By: c.Actor.ID, At: s.cfg.Now(), Note: note})
	if errs.Is(err, referral.CodeIllegal) {
		return nil, errs.E(referral.CodeIllegal, i18n.Ref("referral.state."+string(done.State)))
	}
	if err != nil {
		return nil, err
	}
	action := map[referral.State]string{referral.Accepted: "referral.accept", referral.Declined: "referral.decline", referral.Cancelled: "referral.cancel"}[to]
	if err := s.record(c.r, action, "referral", strconv.FormatInt(r.ID, 10), c.Actor.Institution, note); err != nil {
		return nil, err
	}
	s.tellReferral(ctx, done, "referral_"+string(to), true)
	out := s.referralOut(ctx, done, apiLang(c.r))
	return &out, nil
}

// --- consents (W-4) ---

type consentIn struct {
	Grantee   string `json:"grantee"`
	Source    string `json:"source"`
	ValidFrom string `json:"valid_from"`
	ValidTo   string `json:"valid_to"`
}

type consentJSON struct {
	referral.Consent
	GranteeName string `json:"grantee_name"`
	SourceName  string `json:"source_name"`
	Active      bool   `json:"active"`
}

func (s *Server) consentOut(ctx context.Context, c *referral.Consent, lang i18n.Lang) consentJSON {
	out := consentJSON{Consent: *c, Active: c.Active(s.cfg.Now())}
	out.GranteeName, _ = s.instNames(ctx, c.Grantee, "", lang)
	if c.Source == "" {
		out.SourceName = i18n.T(lang, "consent.all_sources")
	} else {
		out.SourceName, _ = s.instNames(ctx, c.Source, "", lang)
	}
	return out
}

// grantConsent records a family's consent for one of its patients.
func (s *Server) grantConsent(ctx context.Context, c call, in consentIn) (*consentJSON, error) {
	p, err := s.patientOf(c.r, c.Path("id"))
	if err != nil {
		return nil, err
	}
	cs := &referral.Consent{PatientID: p.ID, Grantee: in.Grantee, Source: in.Source, ValidFrom: in.ValidFrom, ValidTo: in.ValidTo,
		GrantedBy: c.Actor.ID, CreatedAt: s.cfg.Now()}
	verr := cs.Validate(s.cfg.Now())
	var f errs.Fields
	if e, ok := verr.(*errs.Error); ok {
		for _, fe := range e.Fields {
			f.Add(fe.Field, fe.Code)
		}
	} else if verr != nil {
		return nil, verr
	}
	for field, code := range map[string]string{"grantee": cs.Grantee, "source": cs.Source} {
		if code == "" || f.Has(field) {
			continue
		}
		if _, err := s.dir.Institution(ctx, code); errs.Is(err, errs.NotFound) {
			f.Add(field, "not_found")
		} else if err != nil {
			return nil, err
		}
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if err := s.db.CreateConsent(ctx, cs); err != nil {
		return nil, err
	}
	if err := s.record(c.r, "consent.grant", "consent", strconv.FormatInt(cs.ID, 10), cs.Grantee,
		fmt.Sprintf("patient %d, source %q, %s to %q", cs.PatientID, cs.Source, cs.ValidFrom, cs.ValidTo)); err != nil {
		return nil, err
	}
	cs.PatientName = p.Name
	out := s.consentOut(ctx, cs, apiLang(c.r))
	return &out, nil
}

type consentsOut struct {
	Consents []consentJSON `json:"consents"`
}

// listConsents lists a patient's consents (the family).
func (s *Server) listConsents(ctx context.Context, c call, _ none) (*consentsOut, error) {
	p, err := s.loadPatient(c.r, c.Path("id"))
	if err != nil {
		return nil, err
	}
	list, err := s.db.Consents(ctx, []int64{p.ID})
	if err != nil {
		return nil, err
	}
	out := &consentsOut{Consents: []consentJSON{}}
	for i := range list {
		out.Consents = append(out.Consents, s.consentOut(ctx, &list[i], apiLang(c.r)))
	}
	return out, nil
}

// revokeConsent revokes one of a patient's consents (the family); the
// reads it allowed stop at once.
func (s *Server) revokeConsent(ctx context.Context, c call, _ none) (*consentJSON, error) {
	p, err := s.patientOf(c.r, c.Path("id"))
	if err != nil {
		return nil, err
	}
	cid, err := c.PathID("cid")
	if err != nil {
		return nil, err
	}
	cs, err := s.db.Consent(ctx, cid)
	if err != nil {
		return nil, err
	}
	if cs.PatientID != p.ID {
		return nil, errs.E(errs.NotFound)
	}
	cs, err = s.db.RevokeConsent(ctx, cid, c.Actor.ID, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	if err := s.record(c.r, "consent.revoke", "consent", strconv.FormatInt(cid, 10), cs.Grantee, fmt.Sprintf("patient %d", p.ID)); err != nil {
		return nil, err
	}
	out := s.consentOut(ctx, cs, apiLang(c.r))
	return &out, nil
}

// --- shared records ---

type sharedOut struct {
	PatientID int64                   `json:"patient_id"`
	Consents  []int64                 `json:"consents"` // the consents the read rests on
	Records   []referral.SharedRecord `json:"records"`
}

// sharedRecords reads a consenting patient's records of other
// institutions for a doctor of the grantee who has a visit of the patient;
// without a valid consent (or such a visit) nothing: not_found.
func (s *Server) sharedRecords(ctx context.Context, c call, _ none) (*sharedOut, error) {
	pid, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	out, err := s.readShared(ctx, c.r, pid)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readShared is the shared read of a patient's records by the caller,
// audited; anything short of a doctor of a consent's grantee with a visit
// of the patient is not_found (and its attempt audited).
func (s *Server) readShared(ctx context.Context, r *http.Request, pid int64) (*sharedOut, error) {
	a := actor(r)
	idStr := strconv.FormatInt(pid, 10)
	deny := func() error {
		s.record(r, "records.shared.denied", "patient", idStr, a.Institution, "")
		return errs.E(errs.NotFound)
	}
	if a.Role != identity.RoleDoctor || a.Institution == "" {
		return nil, deny()
	}
	seen, err := s.db.DoctorSeesPatient(ctx, a.ID, pid)
	if err != nil {
		return nil, err
	}
	if !seen {
		return nil, deny()
	}
	consents, err := s.db.Consents(ctx, []int64{pid})
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	all, sources, used := false, map[string]bool{}, []int64{}
	for _, cs := range consents {
		if cs.Active(now) && cs.Grantee == a.Institution {
			used = append(used, cs.ID)
			if cs.Source == "" {
				all = true
			}
			sources[cs.Source] = true
		}
	}
	if len(used) == 0 {
		return nil, deny()
	}
	list, err := s.db.SharedRecords(ctx, pid, a.Institution, "")
	if err != nil {
		return nil, err
	}
	out := &sharedOut{PatientID: pid, Consents: used, Records: []referral.SharedRecord{}}
	var visits []string
	for _, rec := range list {
		if all || sources[rec.Institution] {
			out.Records = append(out.Records, rec)
			visits = append(visits, fmt.Sprintf("%d@%s", rec.VisitID, rec.Institution))
		}
	}
	cids := make([]string, len(used))
	for i, id := range used {
		cids[i] = strconv.FormatInt(id, 10)
	}
	if err := s.record(r, "records.shared.read", "patient", idStr, a.Institution,
		fmt.Sprintf("consent %s; visits %s", strings.Join(cids, ","), strings.Join(visits, ","))); err != nil {
		return nil, err
	}
	return out, nil
}

type recordReadsOut struct {
	Reads []referral.Read `json:"reads"`
}

// recordReads lists who read the records of the caller's family
// ("谁看过我的病历"), from the audit log.
func (s *Server) recordReads(ctx context.Context, c call, _ none) (*recordReadsOut, error) {
	if c.Actor.Role != identity.RolePatient {
		return nil, errs.E(errs.Forbidden)
	}
	_, ids, err := s.familyPatients(ctx, c.Actor.ID)
	if err != nil {
		return nil, err
	}
	list, err := s.db.RecordReads(ctx, ids, 200)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].InstitutionName, _ = s.instNames(ctx, list[i].Institution, "", apiLang(c.r))
	}
	return &recordReadsOut{Reads: list}, nil
}
