package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// --- the catalogue and formularies ---

type drugsOut struct {
	Items []rx.Drug `json:"items"`
}

func (s *Server) searchDrugs(ctx context.Context, c call, _ none) (drugsOut, error) {
	limit, _ := strconv.Atoi(c.Query("limit"))
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	out := s.rxc.Cat.Search(c.Query("q"), limit)
	if out == nil {
		out = []rx.Drug{}
	}
	return drugsOut{Items: out}, nil
}

type formularyEntry struct {
	rx.FormularyItem
	Name     string          `json:"name"`
	Generic  string          `json:"generic"`
	Strength string          `json:"strength"`
	Form     string          `json:"form"`
	Unit     string          `json:"unit"`
	Control  rx.ControlClass `json:"control"`
}

type formularyOut struct {
	Items []formularyEntry `json:"items"`
}

// formulary is an institution's formulary by drug code (cached briefly:
// every prescription and check reads it).
func (s *Server) formulary(ctx context.Context, inst string) (map[string]rx.FormularyItem, error) {
	v, err := s.links.Get(ctx, "formulary:"+inst, func(ctx context.Context) (any, error) {
		list, err := s.db.Formulary(ctx, inst)
		if err != nil {
			return nil, err
		}
		m := make(map[string]rx.FormularyItem, len(list))
		for _, it := range list {
			m[it.Drug] = it
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(map[string]rx.FormularyItem), nil
}

func (s *Server) getFormulary(ctx context.Context, c call, _ none) (formularyOut, error) {
	inst, err := s.dir.Institution(ctx, c.Path("code"))
	if err != nil {
		return formularyOut{}, err
	}
	list, err := s.db.Formulary(ctx, inst.Code)
	if err != nil {
		return formularyOut{}, err
	}
	q := strings.TrimSpace(c.Query("q"))
	var match map[string]bool
	if q != "" {
		match = map[string]bool{}
		for _, d := range s.rxc.Cat.Search(q, 1000) {
			match[d.Code] = true
		}
	}
	out := formularyOut{Items: []formularyEntry{}}
	for _, it := range list {
		d, ok := s.rxc.Cat.Drug(it.Drug)
		if !ok || (match != nil && !match[it.Drug]) {
			continue
		}
		out.Items = append(out.Items, formularyEntry{FormularyItem: it, Name: d.NameZH, Generic: d.Generic, Strength: d.Strength, Form: d.Form, Unit: d.Unit, Control: d.Control})
	}
	return out, nil
}

type formularyIn struct {
	Items []rx.FormularyItem `json:"items"`
}

func (s *Server) putFormulary(ctx context.Context, c call, in formularyIn) (formularyOut, error) {
	code := c.Path("code")
	if !authz.ManageFormulary(c.Actor, code) {
		return formularyOut{}, errs.E(errs.Forbidden)
	}
	if _, err := s.dir.Institution(ctx, code); err != nil {
		return formularyOut{}, err
	}
	var f errs.Fields
	for i := range in.Items {
		it := &in.Items[i]
		it.Institution = code
		if _, ok := s.rxc.Cat.Drug(it.Drug); !ok {
			f.Add(fmt.Sprintf("items[%d].drug", i), "not_found")
		}
		if it.PriceFen < 0 || it.PriceFen > 10_000_000 {
			f.Add(fmt.Sprintf("items[%d].price_fen", i), "price_range")
		}
	}
	if err := f.Err(); err != nil {
		return formularyOut{}, err
	}
	if err := s.db.SaveFormulary(ctx, in.Items); err != nil {
		return formularyOut{}, err
	}
	s.dropCached("formulary:" + code)
	if err := s.record(c.r, "formulary.save", "institution", code, code, fmt.Sprintf("%d items", len(in.Items))); err != nil {
		return formularyOut{}, err
	}
	return s.getFormulary(ctx, c, none{})
}

// --- settings ---

type rxSettings struct {
	PrescribeWindowHours int `json:"prescribe_window_hours"`
}

func (s *Server) getRxSettings(ctx context.Context, c call, _ none) (rxSettings, error) {
	w, err := s.db.PrescribeWindow(ctx, c.Path("code"))
	return rxSettings{PrescribeWindowHours: int(w.Hours())}, err
}

// putRxSettings sets how long after a visit its doctor may still prescribe
// (data per institution, default 24 hours).
func (s *Server) putRxSettings(ctx context.Context, c call, in rxSettings) (rxSettings, error) {
	code := c.Path("code")
	if !authz.ManageFormulary(c.Actor, code) {
		return rxSettings{}, errs.E(errs.Forbidden)
	}
	if in.PrescribeWindowHours < 0 || in.PrescribeWindowHours > 7*24 {
		var f errs.Fields
		f.Add("prescribe_window_hours", "number_range")
		return rxSettings{}, f.Err()
	}
	if err := s.db.SetPrescribeWindow(ctx, code, in.PrescribeWindowHours); err != nil {
		return rxSettings{}, err
	}
	if err := s.record(c.r, "rx_settings.save", "institution", code, code, fmt.Sprint(in.PrescribeWindowHours)); err != nil {
		return rxSettings{}, err
	}
	return in, nil
}

// --- safety rules ---

type rxRulesOut struct {
	Items     []rx.Rule `json:"items"`
	Variables any       `json:"variables"`
}

func (s *Server) rxRules(ctx context.Context, inst string) ([]rx.Rule, error) {
	v, err := s.links.Get(ctx, "rxrules:"+inst, func(ctx context.Context) (any, error) {
		all, err := s.db.RxRules(ctx, inst)
		if err != nil {
			return nil, err
		}
		return rx.Applicable(all, inst), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]rx.Rule), nil
}

func (s *Server) getRxRules(ctx context.Context, c call, _ none) (rxRulesOut, error) {
	code := c.Path("code")
	if c.Actor.Anonymous() || (c.Actor.Institution != code && !c.Actor.Is(identity.RoleRegulator, identity.RoleSysadmin)) {
		return rxRulesOut{}, errs.E(errs.Forbidden)
	}
	rules, err := s.rxRules(ctx, code)
	if err != nil {
		return rxRulesOut{}, err
	}
	return rxRulesOut{Items: rules, Variables: rx.Variables}, nil
}

func (s *Server) putRxRule(ctx context.Context, c call, in rx.Rule) (rx.Rule, error) {
	code := c.Path("code")
	if !authz.ManageFormulary(c.Actor, code) {
		return rx.Rule{}, errs.E(errs.Forbidden)
	}
	in.Institution, in.Code, in.ID = code, c.Path("rule"), 0
	if err := s.rxc.Engine.Validate(&in); err != nil {
		return rx.Rule{}, err
	}
	if err := s.db.SaveRxRule(ctx, &in); err != nil {
		return rx.Rule{}, err
	}
	s.dropCached("rxrules:" + code)
	if err := s.record(c.r, "rx_rule.save", "rx_rule", in.Code, code, in.Expr); err != nil {
		return rx.Rule{}, err
	}
	return in, nil
}

// --- prescribing ---

type verdictOut struct {
	Code      string `json:"code"`
	Source    string `json:"source,omitempty"`
	Severity  string `json:"severity"`
	Passed    bool   `json:"passed"`
	Confirmed bool   `json:"confirmed,omitempty"`
	Message   string `json:"message"`
	Detail    string `json:"detail,omitempty"`
}

func verdictsText(vs []rx.Verdict, lang i18n.Lang) []verdictOut {
	out := make([]verdictOut, len(vs))
	for i, v := range vs {
		m := v.MessageZH
		if lang == i18n.EN {
			m = v.MessageEN
		}
		out[i] = verdictOut{Code: v.Code, Source: v.Source, Severity: v.Severity, Passed: v.Passed, Confirmed: v.Confirmed, Message: m, Detail: v.Detail}
	}
	return out
}

// refusedError answers a refusal: 422 naming every rule (passed or not).
type refusedError struct {
	status int
	body   map[string]any
}

func (e *refusedError) Error() string { return "prescription refused" }

// prescribeSubject loads what prescribing needs and checks that the caller
// is the visit's own doctor, in the visit or within the window after it
// (N-9).
func (s *Server) prescribeSubject(r *http.Request, audited bool) (*rx.Subject, *visitCtx, error) {
	vc, err := s.loadVisit(r, audited)
	if err != nil {
		return nil, nil, err
	}
	if vc.party != visit.PartyDoctor || actor(r).Role != identity.RoleDoctor {
		return nil, nil, errs.E(rx.CodeNotPrescriber)
	}
	v := vc.v
	window, err := s.db.PrescribeWindow(r.Context(), v.Institution)
	if err != nil {
		return nil, nil, err
	}
	now := s.cfg.Now()
	switch {
	case v.State == visit.InProgress:
	case v.State == visit.Completed && !v.EndedAt.IsZero() && now.Sub(v.EndedAt) <= window:
	default:
		return nil, nil, errs.E(rx.CodeWindow, int(window.Hours()))
	}
	p, err := s.ids.Store.PatientByID(r.Context(), v.PatientID)
	if err != nil {
		return nil, nil, err
	}
	diags, err := s.visitDiagnoses(r.Context(), v.ID)
	if err != nil {
		return nil, nil, err
	}
	return &rx.Subject{Diagnoses: diags, VisitID: v.ID, VisitState: string(v.State), VisitEnded: v.EndedAt, Institution: v.Institution, Department: v.Department,
		PatientID: p.ID, PatientName: p.Name, PatientSex: string(p.Sex), Birth: p.Birth, DoctorID: v.DoctorID, DoctorName: v.DoctorName,
		Answers: v.Answers}, vc, nil
}

// visitDiagnoses are the ICD-10 codes of the visit's record: its draft
// and every signed version.
func (s *Server) visitDiagnoses(ctx context.Context, visitID int64) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(r *visit.Record) {
		for _, d := range r.Diagnoses {
			if !seen[d.Code] {
				seen[d.Code] = true
				out = append(out, d.Code)
			}
		}
	}
	if d, err := s.db.Draft(ctx, visitID); err == nil {
		add(d)
	} else if !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	recs, err := s.db.Records(ctx, visitID)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		add(&recs[i])
	}
	return out, nil
}

// prepare validates and checks a prescription without issuing it.
func (s *Server) prepare(ctx context.Context, sub *rx.Subject, in rx.Input) (*rx.Prescription, error) {
	form, err := s.formulary(ctx, sub.Institution)
	if err != nil {
		return nil, err
	}
	rules, err := s.rxRules(ctx, sub.Institution)
	if err != nil {
		return nil, err
	}
	// N-4: a guest clinician the doctor recorded in the call (api_guest.go).
	n4, err := s.n4Confirmations(ctx, sub.VisitID, rules)
	if err != nil {
		return nil, err
	}
	in.Confirm = append(in.Confirm, n4...)
	p, facts, err := s.rxc.Prepare(sub, &in, form, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	return p, s.rxc.Check(ctx, rules, p, facts)
}

// refusal turns a rule refusal into its answer.
func refusal(err error, lang i18n.Lang) error {
	var ref *rx.Refusal
	if !errors.As(err, &ref) {
		return err
	}
	var failed []string
	for _, v := range ref.Verdicts {
		if !v.Passed && !v.Confirmed {
			m := v.MessageZH
			if lang == i18n.EN {
				m = v.MessageEN
			}
			failed = append(failed, m)
		}
	}
	return &refusedError{status: http.StatusUnprocessableEntity, body: map[string]any{"error": map[string]any{
		"code": rx.CodeRefused, "message": i18n.T(lang, rx.CodeRefused, strings.Join(failed, i18n.T(lang, "reason.sep"))),
		"rules": verdictsText(ref.Verdicts, lang)}}}
}

type checkOut struct {
	OK       bool         `json:"ok"`
	Rules    []verdictOut `json:"rules"`
	TotalFen int64        `json:"total_fen"`
	WeightKg float64      `json:"weight_kg_offered,omitempty"`
}

// checkPrescription evaluates the rules on a draft (the doctor's page shows
// the verdicts as they type); nothing is stored.
func (s *Server) checkPrescription(ctx context.Context, c call, in rx.Input) (checkOut, error) {
	sub, _, err := s.prescribeSubject(c.r, true)
	if err != nil {
		return checkOut{}, err
	}
	p, err := s.prepare(ctx, sub, in)
	var ref *rx.Refusal
	switch {
	case errors.As(err, &ref):
		return checkOut{OK: false, Rules: verdictsText(ref.Verdicts, apiLang(c.r)), WeightKg: rx.WeightOf(sub.Answers)}, nil
	case err != nil:
		return checkOut{}, err
	}
	return checkOut{OK: true, Rules: verdictsText(p.Verdicts, apiLang(c.r)), TotalFen: p.TotalFen, WeightKg: rx.WeightOf(sub.Answers)}, nil
}

// prescribe issues a prescription, signed by the doctor (N-9, N-11).
func (s *Server) prescribe(r *http.Request, in rx.Input) (*rx.Prescription, error) {
	if s.rxKeys == nil {
		return nil, errs.E("signing_unavailable")
	}
	sub, _, err := s.prescribeSubject(r, false) // the issue's own audit entry records the access
	if err != nil {
		return nil, err
	}
	p, err := s.prepare(r.Context(), sub, in)
	if err != nil {
		return nil, refusal(err, apiLang(r))
	}
	ctx := r.Context()
	signer, err := s.rxKeys.Signer(ctx, rx.RoleDoctor, p.DoctorID, p.DoctorName)
	if err != nil {
		return nil, err
	}
	// The audit entry commits with the prescription itself (the writer
	// names the id, the version and the confirmed rules in it).
	entry := s.entry(r, "prescription.issue", "prescription", "", p.Institution, "")
	if err := s.rxw.Issue(ctx, p, signer, nil, entry); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) apiPrescribe(w http.ResponseWriter, r *http.Request) {
	var in rx.Input
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.prescribe(r, in)
	var re *refusedError
	if errors.As(err, &re) {
		writeJSON(w, re.status, re.body)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.rxOut(p, apiLang(r)))
}

// --- reading ---

type rxJSON struct {
	*rx.Prescription
	StatusText string       `json:"status_text"`
	FHIRStatus string       `json:"fhir_status"`
	Rules      []verdictOut `json:"rules"`
	VerifyCode string       `json:"verify_code,omitempty"`
	Diagnosis  []string     `json:"diagnosis_names"`
}

func (s *Server) rxOut(p *rx.Prescription, lang i18n.Lang) *rxJSON {
	out := &rxJSON{Prescription: p, StatusText: i18n.T(lang, "rx.status."+string(p.Status)), FHIRStatus: p.Status.FHIRStatus(),
		Rules: verdictsText(p.Verdicts, lang), VerifyCode: s.verifyCode(p)}
	for _, d := range p.Diagnoses {
		name := d
		if icd, ok := visit.LookupICD(d); ok {
			name = d + " " + icd.Name
		}
		out.Diagnosis = append(out.Diagnosis, name)
	}
	return out
}

// verifyCode is the code printed in the prescription's QR address: anyone
// holding the paper may check it, nobody can enumerate prescriptions.
func (s *Server) verifyCode(p *rx.Prescription) string {
	if len(p.Signatures) == 0 || s.rxKeys == nil {
		return ""
	}
	m := hmac.New(sha256.New, []byte(p.Signatures[0].Value))
	fmt.Fprintf(m, "%d", p.ID)
	return hex.EncodeToString(m.Sum(nil))[:16]
}

// rxAccess says how the actor may see a prescription; anyone else gets
// not_found and the attempt is audited. Patients and guardians see it only
// once approved.
func (s *Server) loadPrescription(r *http.Request, audited bool) (*rx.Prescription, string, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, "", errs.E(errs.NotFound)
	}
	return s.prescriptionFor(r, id, audited)
}

// prescriptionFor reads a prescription the caller may see and their part
// in it (see loadPrescription).
func (s *Server) prescriptionFor(r *http.Request, id int64, audited bool) (*rx.Prescription, string, error) {
	p, err := s.db.Prescription(r.Context(), id)
	if err != nil {
		return nil, "", err
	}
	a := actor(r)
	role := ""
	switch {
	case authz.ReviewPrescriptions(a, p.Institution):
		role = "pharmacist"
	case a.Role == identity.RoleDoctor:
		v, err := s.db.Visit(r.Context(), p.VisitID)
		if err != nil {
			return nil, "", err
		}
		if v.DoctorAccountID == a.ID {
			role = "doctor"
		}
	case a.Role == identity.RoleRetailPharmacist && (p.Status == rx.Approved || p.Status == rx.Dispensed):
		// A retail pharmacy sees the prescriptions sent to it.
		if o, err := s.db.OrderOfPrescription(r.Context(), p.ID); err == nil && authz.RetailDispatch(a, o.Pharmacy) {
			role = "retail"
		} else if err != nil && !errs.Is(err, errs.NotFound) {
			return nil, "", err
		}
	case a.Role == identity.RolePatient && (p.Status == rx.Approved || p.Status == rx.Dispensed):
		linked, err := s.patientAccounts(r.Context(), p.PatientID)
		if err != nil {
			return nil, "", err
		}
		if authz.SeePatient(a, linked) {
			role = "patient"
		}
	}
	if role == "" {
		s.record(r, "prescription.read.denied", "prescription", strconv.FormatInt(id, 10), p.Institution, "")
		return nil, "", errs.E(errs.NotFound)
	}
	if audited {
		if err := s.record(r, "prescription.read", "prescription", strconv.FormatInt(id, 10), p.Institution, role); err != nil {
			return nil, "", err
		}
	}
	return p, role, nil
}

func (s *Server) apiPrescription(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.loadPrescription(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("format") == "pdf" {
		s.prescriptionPDF(w, r, p)
		return
	}
	writeJSON(w, http.StatusOK, s.rxOut(p, apiLang(r)))
}

func (s *Server) prescriptionPDF(w http.ResponseWriter, r *http.Request, p *rx.Prescription) {
	inst, err := s.dir.Institution(r.Context(), p.Institution)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view := rx.PDFView{InstitutionName: inst.Name, DepartmentName: p.Department, DiagnosisNames: map[string]string{},
		VerifyURL: s.verifyURL(r, p)}
	for _, d := range inst.Departments {
		if d.Code == p.Department {
			view.DepartmentName = d.Name
		}
	}
	for _, d := range p.Diagnoses {
		if icd, ok := visit.LookupICD(d); ok {
			view.DiagnosisNames[d] = icd.Name
		}
	}
	var buf bytes.Buffer
	if err := rx.RenderPDF(&buf, p, view); err != nil {
		s.fail(w, r, errs.Wrap("pdf_font_missing", err))
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="prescription-%d-v%d.pdf"`, p.ID, p.Version))
	w.Write(buf.Bytes())
}

// verifyURL is the address the QR code carries: the host the request came
// to, over HTTPS unless it came over plain HTTP without a proxy saying
// otherwise.
func (s *Server) verifyURL(r *http.Request, p *rx.Prescription) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s/rx/verify/%d?code=%s", scheme, r.Host, p.ID, s.verifyCode(p))
}

type rxListOut struct {
	Items []*rxJSON `json:"items"`
}

// listPrescriptions: a pharmacist's institution queue (status=pending_review,
// oldest first), a doctor's own, a patient's and their children's approved
// ones.
func (s *Server) listPrescriptions(ctx context.Context, c call, _ none) (rxListOut, error) {
	a := c.Actor
	f := rx.Filter{Status: rx.Status(c.Query("status"))}
	switch a.Role {
	case identity.RolePharmacist:
		f.Institution = a.Institution
	case identity.RoleDoctor:
		ps, err := s.db.PractitionerByAccount(ctx, a.ID)
		if err != nil {
			return rxListOut{}, err
		}
		f.DoctorID = ps.ID
	case identity.RolePatient:
		pats, err := s.ids.Store.PatientsOf(ctx, a.ID)
		if err != nil {
			return rxListOut{}, err
		}
		f.PatientIDs = []int64{}
		for _, p := range pats {
			f.PatientIDs = append(f.PatientIDs, p.ID)
		}
		if f.Status != rx.Approved && f.Status != rx.Dispensed {
			f.Status = rx.Approved
		}
	default:
		return rxListOut{}, errs.E(errs.Forbidden)
	}
	list, err := s.db.Prescriptions(ctx, f)
	if err != nil {
		return rxListOut{}, err
	}
	out := rxListOut{Items: []*rxJSON{}}
	for i := range list {
		out.Items = append(out.Items, s.rxOut(&list[i], apiLang(c.r)))
	}
	if err := s.record(c.r, "prescription.list", "prescription", string(f.Status), f.Institution, fmt.Sprintf("%d", len(list))); err != nil {
		return rxListOut{}, err
	}
	return out, nil
}

// visitPrescriptions lists a visit's prescriptions: every version to its
// doctor, the approved ones to the patient.
func (s *Server) visitPrescriptions(ctx context.Context, c call, _ none) (rxListOut, error) {
	vc, err := s.loadVisit(c.r, true)
	if err != nil {
		return rxListOut{}, err
	}
	list, err := s.db.Prescriptions(ctx, rx.Filter{VisitID: vc.v.ID})
	if err != nil {
		return rxListOut{}, err
	}
	out := rxListOut{Items: []*rxJSON{}}
	for i := range list {
		if vc.party == visit.PartyPatient && list[i].Status != rx.Approved && list[i].Status != rx.Dispensed {
			continue
		}
		out.Items = append(out.Items, s.rxOut(&list[i], apiLang(c.r)))
	}
	return out, nil
}

// --- review ---

type reviewIn struct {
	Decision string   `json:"decision"`
	Reasons  []string `json:"reasons"`
	Note     string   `json:"note"`
}

// review approves (signing) or rejects a pending prescription (N-11).
func (s *Server) review(r *http.Request, in reviewIn) (*rx.Prescription, error) {
	p, role, err := s.loadPrescription(r, false) // the review's own audit entry records the access
	if err != nil {
		return nil, err
	}
	if role != "pharmacist" {
		return nil, errs.E(errs.Forbidden)
	}
	var f errs.Fields
	if in.Decision != "approve" && in.Decision != "reject" {
		f.Add("decision", "invalid")
	}
	in.Note = strings.TrimSpace(in.Note)
	var reasons []string
	for _, x := range in.Reasons {
		if x = strings.TrimSpace(x); x != "" {
			reasons = append(reasons, x)
		}
	}
	if in.Decision == "reject" && len(reasons) == 0 {
		f.Add("reasons", "required")
	}
	if len(reasons) > rx.MaxReasons {
		f.Add("reasons", "too_many_rows")
	}
	if len([]rune(in.Note)) > rx.MaxNote {
		f.Add("note", "too_long")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if s.rxKeys == nil {
		return nil, errs.E("signing_unavailable")
	}
	ctx := r.Context()
	ph, err := s.db.PractitionerByAccount(ctx, actor(r).ID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	if !now.Before(p.ValidUntil) && p.Status == rx.PendingReview {
		return nil, errs.E(rx.CodeExpired)
	}
	p.ReviewerID, p.ReviewerName, p.ReviewedAt = ph.ID, ph.Name, now.UTC().Truncate(time.Microsecond)
	p.ReviewReasons, p.ReviewNote = reasons, in.Note
	var notes []notify.Notification
	doctorAcct := int64(0)
	if v, err := s.db.Visit(ctx, p.VisitID); err == nil {
		doctorAcct = v.DoctorAccountID
	}
	if in.Decision == "approve" {
		p.Status = rx.Approved
		key, err := s.rxKeys.Signer(ctx, rx.RolePharmacist, ph.ID, ph.Name)
		if err != nil {
			return nil, err
		}
		// Everything the approval covers is known now: sign before the
		// transaction (its compare-and-set decides; a lost race discards it).
		if err := key.Approve(p); err != nil {
			return nil, err
		}
		accounts, err := s.patientAccounts(ctx, p.PatientID)
		if err != nil {
			return nil, err
		}
		for _, id := range accounts {
			notes = append(notes, notify.Notification{AccountID: id, Kind: "rx_approved", Title: "电子处方已审核通过",
				Body:    fmt.Sprintf("%s 的电子处方（%s 开具）已由药师审核通过，可在“我的处方”查看。", p.PatientName, p.DoctorName),
				TitleEN: "Prescription approved", BodyEN: fmt.Sprintf("The prescription for %s (by %s) was approved by the pharmacist.", p.PatientName, p.DoctorName),
				CreatedAt: now})
		}
		if doctorAcct != 0 {
			notes = append(notes, notify.Notification{AccountID: doctorAcct, Kind: "rx_approved", Title: "处方审核通过",
				Body: fmt.Sprintf("%s 的处方（第 %d 版）已审核通过。", p.PatientName, p.Version), TitleEN: "Prescription approved",
				BodyEN: fmt.Sprintf("The prescription for %s (version %d) was approved.", p.PatientName, p.Version), CreatedAt: now})
		}
	} else {
		p.Status = rx.Rejected
		if doctorAcct != 0 {
			notes = append(notes, notify.Notification{AccountID: doctorAcct, Kind: "rx_rejected", Title: "处方被药师驳回",
				Body:    fmt.Sprintf("%s 的处方（第 %d 版）被驳回：%s。请修改后重新开具。", p.PatientName, p.Version, strings.Join(reasons, "；")),
				TitleEN: "Prescription rejected", BodyEN: fmt.Sprintf("The prescription for %s (version %d) was rejected: %s. Please revise it.", p.PatientName, p.Version, strings.Join(reasons, "; ")),
				CreatedAt: now})
		}
	}
	// The audit entry commits with the review itself.
	if err := s.rxw.Review(ctx, p, notes, s.entry(r, "prescription.review", "prescription", "", p.Institution, in.Decision)); err != nil {
		return nil, err
	}
	for _, n := range notes {
		s.sendSMS(n.AccountID, n.Kind, "【云医】"+n.Body)
	}
	return p, nil
}

func (s *Server) apiReview(ctx context.Context, c call, in reviewIn) (*rxJSON, error) {
	p, err := s.review(c.r, in)
	if err != nil {
		return nil, err
	}
	return s.rxOut(p, apiLang(c.r)), nil
}

// --- verification ---

type verifyOut struct {
	Valid      bool                `json:"valid"`
	ID         int64               `json:"id"`
	Version    int                 `json:"version"`
	Status     string              `json:"status"`
	StatusText string              `json:"status_text"`
	IssuedAt   time.Time           `json:"issued_at"`
	ValidUntil time.Time           `json:"valid_until"`
	Signatures []rx.SignatureCheck `json:"signatures"`
}

// verify checks a prescription's signatures: for those who may see it, or
// for anyone holding its verification code (the QR code on the paper).
func (s *Server) verify(ctx context.Context, r *http.Request) (verifyOut, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return verifyOut{}, errs.E(errs.NotFound)
	}
	p, err := s.db.Prescription(ctx, id)
	if err != nil {
		return verifyOut{}, err
	}
	code := r.URL.Query().Get("code")
	if code == "" || !hmac.Equal([]byte(code), []byte(s.verifyCode(p))) {
		if p, _, err = s.loadPrescription(r, false); err != nil {
			return verifyOut{}, err
		}
	}
	if s.rxKeys == nil {
		return verifyOut{}, errs.E("signing_unavailable")
	}
	valid, checks, err := s.rxKeys.Verify(ctx, p)
	if err != nil {
		return verifyOut{}, err
	}
	if checks == nil {
		checks = []rx.SignatureCheck{}
	}
	if err := s.record(r, "prescription.verify", "prescription", strconv.FormatInt(p.ID, 10), p.Institution, strconv.FormatBool(valid)); err != nil {
		return verifyOut{}, err
	}
	return verifyOut{Valid: valid, ID: p.ID, Version: p.Version, Status: string(p.Status), StatusText: i18n.T(apiLang(r), "rx.status."+string(p.Status)),
		IssuedAt: p.IssuedAt, ValidUntil: p.ValidUntil, Signatures: checks}, nil
}

func (s *Server) apiVerify(ctx context.Context, c call, _ none) (verifyOut, error) {
	return s.verify(ctx, c.r)
}

// --- statistics (N-15) ---

type statsOut struct {
	Institution string           `json:"institution"`
	From        string           `json:"from"`
	To          string           `json:"to"`
	Doctors     []rx.DoctorStats `json:"doctors"`
}

func (s *Server) prescribingStats(ctx context.Context, c call, _ none) (statsOut, error) {
	code := c.Path("code")
	if !authz.PrescribingStats(c.Actor, code) {
		s.record(c.r, "prescribing_stats.denied", "institution", code, code, "")
		return statsOut{}, errs.E(errs.Forbidden)
	}
	var f errs.Fields
	today := s.cfg.Now().In(dates.Beijing)
	from, to := c.Query("from"), c.Query("to")
	if from == "" {
		from = today.AddDate(0, -1, 0).Format(dates.Layout)
	}
	if to == "" {
		to = today.Format(dates.Layout)
	}
	fd, err1 := time.ParseInLocation(dates.Layout, from, dates.Beijing)
	td, err2 := time.ParseInLocation(dates.Layout, to, dates.Beijing)
	if err1 != nil {
		f.Add("from", "date_format")
	}
	if err2 != nil {
		f.Add("to", "date_format")
	}
	if err := f.Err(); err != nil {
		return statsOut{}, err
	}
	list, err := s.db.Stats(ctx, code, fd, td.AddDate(0, 0, 1))
	if err != nil {
		return statsOut{}, err
	}
	if list == nil {
		list = []rx.DoctorStats{}
	}
	if err := s.record(c.r, "prescribing_stats.read", "institution", code, code, from+".."+to); err != nil {
		return statsOut{}, err
	}
	return statsOut{Institution: code, From: from, To: to, Doctors: list}, nil
}

// ExpirePrescriptions marks pending prescriptions past their validity
// expired and tells their doctors and patients (N-13); yunyi serve runs it
// every minute.
func (s *Server) ExpirePrescriptions(ctx context.Context) error {
	list, err := s.db.Expire(ctx, s.cfg.Now())
	if err != nil {
		return err
	}
	for _, p := range list {
		var to []int64
		if v, err := s.db.Visit(ctx, p.VisitID); err == nil && v.DoctorAccountID != 0 {
			to = append(to, v.DoctorAccountID)
		}
		if accounts, err := s.patientAccounts(ctx, p.PatientID); err == nil {
			to = append(to, accounts...)
		}
		for _, id := range to {
			n := &notify.Notification{AccountID: id, Kind: "rx_expired", Title: "处方已过期",
				Body:    fmt.Sprintf("%s 的处方（%s 开具，第 %d 版）未在有效期内完成审核，已过期。", p.PatientName, p.DoctorName, p.Version),
				TitleEN: "Prescription expired", BodyEN: fmt.Sprintf("The prescription for %s (by %s, version %d) was not reviewed in time and has expired.", p.PatientName, p.DoctorName, p.Version),
				Ref: fmt.Sprintf("prescription/%d", p.ID), CreatedAt: s.cfg.Now()}
			if err := s.db.Notify(ctx, n); err != nil {
				return err
			}
			s.sendSMS(id, n.Kind, "【云医】"+n.Body)
		}
	}
	return nil
}
