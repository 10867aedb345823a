package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/blob"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/oversight"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// The regulator's side (issue 13; V-4, N-21, N-22, G-3): satisfaction
// ratings of completed visits, complaints filed by patients and guardians,
// adverse events reported by an institution's staff, both handled by the
// institution (its admin and quality staff) through reported → triaged →
// investigating → closed with deadlines that are data, and the
// regulator's rectification orders. The regulator sees everything, an
// institution its own, a patient their own complaints; every read of a
// case (which holds what patients wrote) is audited, every step commits
// with its notices and its audit entry.

// codeRectFileCount: a response waits with at most 10 files.
const codeRectFileCount = "rect_file_count"

// --- notices ---

// bilingual is a notice whose texts come from the catalog: key.title and
// key.body, the body's arguments given per language.
func bilingual(accountID int64, kind, key string, now time.Time, args func(i18n.Lang) []any) notify.Notification {
	return notify.Notification{AccountID: accountID, Kind: kind, CreatedAt: now,
		Title: i18n.T(i18n.ZH, key+".title"), Body: i18n.T(i18n.ZH, key+".body", args(i18n.ZH)...),
		TitleEN: i18n.T(i18n.EN, key+".title"), BodyEN: i18n.T(i18n.EN, key+".body", args(i18n.EN)...)}
}

// notices is one notice to each account (but the actor's own).
func (s *Server) notices(ids []int64, except int64, kind, key string, args func(i18n.Lang) []any) []notify.Notification {
	var out []notify.Notification
	seen := map[int64]bool{except: true}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, bilingual(id, kind, key, s.cfg.Now(), args))
		}
	}
	return out
}

// handlers are the accounts that handle an institution's cases: its admin
// and quality staff.
func (s *Server) handlers(ctx context.Context, institution string) ([]int64, error) {
	return s.db.StaffAccounts(ctx, institution, string(identity.RoleInstitutionAdmin), string(identity.RoleQuality))
}

func (s *Server) regulators(ctx context.Context) ([]int64, error) {
	return s.db.StaffAccounts(ctx, "", string(identity.RoleRegulator))
}

// instName is an institution's name in each language.
type instName [2]string

func (n instName) in(l i18n.Lang) string {
	if l == i18n.EN && n[1] != "" {
		return n[1]
	}
	return n[0]
}

func (s *Server) instNameOf(ctx context.Context, code string) instName {
	if inst, err := s.dir.Institution(ctx, code); err == nil {
		return instName{inst.Name, inst.NameEN}
	}
	return instName{code, code}
}

func localTime(t time.Time) string { return beijingTime(t) }

// --- complaints and adverse events ---

// caseOut is a complaint or an adverse event as the API shows it: the
// texts of its category, severity and state, its deadlines, whether its
// next step is overdue and which steps were late.
type caseOut struct {
	ID                int64                           `json:"id"`
	Kind              oversight.Kind                  `json:"kind"`
	Institution       string                          `json:"institution"`
	InstitutionName   string                          `json:"institution_name"`
	VisitID           int64                           `json:"visit_id,omitempty"`
	Category          string                          `json:"category"`
	CategoryText      string                          `json:"category_text"`
	Severity          string                          `json:"severity,omitempty"`
	SeverityText      string                          `json:"severity_text,omitempty"`
	Text              string                          `json:"text,omitempty"`        // a complaint's
	Description       string                          `json:"description,omitempty"` // an adverse event's
	ReporterRole      string                          `json:"reporter_role"`
	State             oversight.State                 `json:"state"`
	StateText         string                          `json:"state_text"`
	ReportedAt        time.Time                       `json:"reported_at"`
	TriagedAt         time.Time                       `json:"triaged_at,omitzero"`
	InvestigatingAt   time.Time                       `json:"investigating_at,omitzero"`
	ClosedAt          time.Time                       `json:"closed_at,omitzero"`
	TriageNote        string                          `json:"triage_note,omitempty"`
	InvestigationNote string                          `json:"investigation_note,omitempty"`
	Findings          string                          `json:"findings,omitempty"`
	Due               map[oversight.State]time.Time   `json:"due"`
	NextDue           time.Time                       `json:"next_due,omitzero"`
	Overdue           bool                            `json:"overdue"`
	Late              []oversight.State               `json:"late_steps"`
	Mine              bool                            `json:"mine"`       // filed or reported by the caller
	MayHandle         bool                            `json:"may_handle"` // the caller may take its next step
	steps             map[oversight.State]stepSummary // for the pages
	ReportedLocal     string                          `json:"-"` // Beijing time, for the pages
	NextDueLocal      string                          `json:"-"`
}

type stepSummary struct{ At, Due, Text string }

func (s *Server) caseJSON(ctx context.Context, c *oversight.Case, a authz.Actor, cats oversight.Categories, lang i18n.Lang) *caseOut {
	now := s.cfg.Now()
	out := &caseOut{ID: c.ID, Kind: c.Kind, Institution: c.Institution, InstitutionName: s.instNameOf(ctx, c.Institution).in(lang), VisitID: c.VisitID,
		Category: c.Category, CategoryText: cats.Name(string(c.Kind), c.Category, lang), Severity: c.Severity, ReporterRole: c.ReporterRole,
		State: c.State, StateText: i18n.T(lang, "oversight.state."+string(c.State)), ReportedAt: c.ReportedAt, TriagedAt: c.TriagedAt,
		InvestigatingAt: c.InvestigatingAt, ClosedAt: c.ClosedAt, TriageNote: c.TriageNote, InvestigationNote: c.InvestigationNote,
		Findings: c.Findings, Due: c.Due, NextDue: c.NextDue(), Overdue: c.Overdue(now), Late: c.Late(), Mine: c.ReporterID == a.ID && a.ID != 0,
		MayHandle: authz.HandleOversightCase(a, c.Institution) && !c.State.Final()}
	if out.Late == nil {
		out.Late = []oversight.State{}
	}
	if c.Severity != "" {
		out.SeverityText = cats.Name(oversight.ListSeverity, c.Severity, lang)
	}
	if c.Kind == oversight.KindComplaint {
		out.Text = c.Text
	} else {
		out.Description = c.Text
	}
	out.ReportedLocal, out.NextDueLocal = localTime(c.ReportedAt), localTime(out.NextDue)
	out.steps = map[oversight.State]stepSummary{
		oversight.Triaged:       {localTime(c.TriagedAt), localTime(c.Due[oversight.Triaged]), c.TriageNote},
		oversight.Investigating: {localTime(c.InvestigatingAt), localTime(c.Due[oversight.Investigating]), c.InvestigationNote},
		oversight.Closed:        {localTime(c.ClosedAt), localTime(c.Due[oversight.Closed]), c.Findings},
	}
	return out
}

type complaintIn struct {
	Institution string `json:"institution"`
	VisitID     int64  `json:"visit_id"`
	Category    string `json:"category"`
	Text        string `json:"text"`
}

type adverseIn struct {
	Institution string `json:"institution"`
	VisitID     int64  `json:"visit_id"`
	Category    string `json:"category"`
	Severity    string `json:"severity"`
	Description string `json:"description"`
}

func (s *Server) fileComplaint(ctx context.Context, c call, in complaintIn) (*caseOut, error) {
	return s.fileCase(ctx, c, oversight.KindComplaint, oversight.Report{Institution: in.Institution, VisitID: in.VisitID, Category: in.Category, Text: in.Text})
}

func (s *Server) reportAdverseEvent(ctx context.Context, c call, in adverseIn) (*caseOut, error) {
	if strings.TrimSpace(in.Institution) == "" {
		in.Institution = c.Actor.Institution // staff report for their own institution
	}
	return s.fileCase(ctx, c, oversight.KindAdverseEvent, oversight.Report{Institution: in.Institution, VisitID: in.VisitID, Category: in.Category,
		Severity: in.Severity, Text: in.Description})
}

// fileCase files a complaint (N-21) or reports an adverse event (V-4): its
// deadlines are fixed from the data, the institution's handlers are told
// and the regulator gets a copy.
func (s *Server) fileCase(ctx context.Context, c call, kind oversight.Kind, rep oversight.Report) (*caseOut, error) {
	textField := "text"
	if kind == oversight.KindComplaint {
		if !authz.FileComplaint(c.Actor) {
			return nil, errs.E(errs.Forbidden)
		}
	} else {
		textField = "description"
		if !authz.ReportAdverseEvent(c.Actor, strings.TrimSpace(rep.Institution)) {
			return nil, errs.E(errs.Forbidden)
		}
	}
	cats, err := s.db.OversightCategories(ctx)
	if err != nil {
		return nil, err
	}
	if err := rep.Validate(kind, cats, textField); err != nil {
		return nil, err
	}
	if _, err := s.dir.Institution(ctx, rep.Institution); errs.Is(err, errs.NotFound) {
		var f errs.Fields
		f.Add("institution", "not_found")
		return nil, f.Err()
	} else if err != nil {
		return nil, err
	}
	cs := &oversight.Case{Kind: kind, Institution: rep.Institution, VisitID: rep.VisitID, ReporterID: c.Actor.ID, ReporterRole: string(c.Actor.Role),
		Category: rep.Category, Severity: rep.Severity, Text: rep.Text, State: oversight.Reported, ReportedAt: s.cfg.Now().UTC().Truncate(time.Microsecond)}
	if rep.VisitID > 0 {
		v, err := s.db.Visit(ctx, rep.VisitID)
		var f errs.Fields
		switch {
		case errs.Is(err, errs.NotFound):
			f.Add("visit_id", "not_found")
		case err != nil:
			return nil, err
		case kind == oversight.KindComplaint:
			// A complaint is about a visit of the complainant's own or
			// their child's; any other is as if it did not exist.
			linked, err := s.patientAccounts(ctx, v.PatientID)
			if err != nil {
				return nil, err
			}
			if !authz.SeePatient(c.Actor, linked) {
				f.Add("visit_id", "not_found")
			}
		}
		if err == nil && !f.Has("visit_id") && v.Institution != rep.Institution {
			f.Add("visit_id", "visit_institution")
		}
		if err := f.Err(); err != nil {
			return nil, err
		}
		cs.PatientID = v.PatientID
	}
	rows, err := s.db.OversightDeadlines(ctx)
	if err != nil {
		return nil, err
	}
	cs.Schedule(rows)
	handlers, err := s.handlers(ctx, cs.Institution)
	if err != nil {
		return nil, err
	}
	regs, err := s.regulators(ctx)
	if err != nil {
		return nil, err
	}
	name := s.instNameOf(ctx, cs.Institution)
	args := func(l i18n.Lang) []any {
		cat := cats.Name(string(kind), cs.Category, l)
		if kind == oversight.KindAdverseEvent {
			cat = cats.Name(oversight.ListSeverity, cs.Severity, l) + " · " + cat
		}
		return []any{name.in(l), cat, localTime(cs.Due[oversight.Triaged])}
	}
	notes := s.notices(handlers, c.Actor.ID, string(kind), "notice."+string(kind)+"_reported", args)
	notes = append(notes, s.notices(regs, c.Actor.ID, string(kind), "notice."+string(kind)+"_copy", args)...)
	detail := cs.Category
	if cs.Severity != "" {
		detail += " " + cs.Severity
	}
	if err := s.db.CreateCase(ctx, cs, notes, s.entry(c.r, string(kind)+".report", string(kind), "", cs.Institution, detail)); err != nil {
		return nil, err
	}
	return s.caseJSON(ctx, cs, c.Actor, cats, apiLang(c.r)), nil
}

// visibleCase reads a case the caller may see: the regulator any, the
// institution's handlers its own, its reporter, and a complaint's patient's
// accounts. Anyone else gets not_found, and the attempt is audited.
func (s *Server) visibleCase(ctx context.Context, c call, kind oversight.Kind, id int64) (*oversight.Case, error) {
	cs, err := s.db.Case(ctx, id)
	if err == nil && cs.Kind != kind {
		err = errs.E(errs.NotFound)
	}
	if err != nil {
		return nil, err
	}
	ok := authz.SeeOversightCases(c.Actor, cs.Institution) || (cs.ReporterID == c.Actor.ID && c.Actor.ID != 0)
	if !ok && kind == oversight.KindComplaint && cs.PatientID != 0 && c.Actor.Role == identity.RolePatient {
		linked, err := s.patientAccounts(ctx, cs.PatientID)
		if err != nil {
			return nil, err
		}
		ok = authz.SeePatient(c.Actor, linked)
	}
	idStr := strconv.FormatInt(id, 10)
	if !ok {
		s.record(c.r, string(kind)+".read.denied", string(kind), idStr, cs.Institution, "")
		return nil, errs.E(errs.NotFound)
	}
	return cs, s.record(c.r, string(kind)+".read", string(kind), idStr, cs.Institution, "")
}

func (s *Server) getComplaint(ctx context.Context, c call, _ none) (*caseOut, error) {
	return s.getCase(ctx, c, oversight.KindComplaint)
}

func (s *Server) getAdverseEvent(ctx context.Context, c call, _ none) (*caseOut, error) {
	return s.getCase(ctx, c, oversight.KindAdverseEvent)
}

func (s *Server) getCase(ctx context.Context, c call, kind oversight.Kind) (*caseOut, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	cs, err := s.visibleCase(ctx, c, kind, id)
	if err != nil {
		return nil, err
	}
	cats, err := s.db.OversightCategories(ctx)
	if err != nil {
		return nil, err
	}
	return s.caseJSON(ctx, cs, c.Actor, cats, apiLang(c.r)), nil
}

func (s *Server) stepComplaint(ctx context.Context, c call, in oversight.Step) (*caseOut, error) {
	return s.stepCase(ctx, c, oversight.KindComplaint, in)
}

func (s *Server) stepAdverseEvent(ctx context.Context, c call, in oversight.Step) (*caseOut, error) {
	return s.stepCase(ctx, c, oversight.KindAdverseEvent, in)
}

// stepCase moves a case one step (PUT): only the institution's admin or
// quality staff, with the fields that step requires. The complainant (or
// the reporter) is told; the regulator gets a copy of the closing.
func (s *Server) stepCase(ctx context.Context, c call, kind oversight.Kind, in oversight.Step) (*caseOut, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	cs, err := s.visibleCase(ctx, c, kind, id)
	if err != nil {
		return nil, err
	}
	if !authz.HandleOversightCase(c.Actor, cs.Institution) {
		return nil, errs.E(errs.Forbidden)
	}
	from := cs.State
	if err := cs.Apply(in, s.cfg.Now().UTC().Truncate(time.Microsecond), c.Actor.ID); err != nil {
		return nil, err
	}
	cats, err := s.db.OversightCategories(ctx)
	if err != nil {
		return nil, err
	}
	name := s.instNameOf(ctx, cs.Institution)
	said := map[oversight.State]string{oversight.Triaged: cs.TriageNote, oversight.Investigating: cs.InvestigationNote, oversight.Closed: cs.Findings}[cs.State]
	args := func(l i18n.Lang) []any {
		return []any{name.in(l), cs.ID, i18n.T(l, "oversight.state."+string(cs.State)), said}
	}
	notes := s.notices([]int64{cs.ReporterID}, c.Actor.ID, string(kind), "notice."+string(kind)+"_step", args)
	if cs.State == oversight.Closed {
		regs, err := s.regulators(ctx)
		if err != nil {
			return nil, err
		}
		notes = append(notes, s.notices(regs, c.Actor.ID, string(kind), "notice."+string(kind)+"_closed", args)...)
	}
	idStr := strconv.FormatInt(cs.ID, 10)
	for i := range notes {
		notes[i].Ref = string(kind) + "/" + idStr
	}
	if err := s.db.StepCase(ctx, cs, from, notes, s.entry(c.r, string(kind)+".step", string(kind), idStr, cs.Institution, string(cs.State))); err != nil {
		return nil, err
	}
	return s.caseJSON(ctx, cs, c.Actor, cats, apiLang(c.r)), nil
}

type casesOut struct {
	Items   []*caseOut `json:"items"`
	Overdue int        `json:"overdue"` // how many of them are overdue
}

func (s *Server) listComplaints(ctx context.Context, c call, _ none) (casesOut, error) {
	return s.listCases(ctx, c, oversight.KindComplaint)
}

func (s *Server) listAdverseEvents(ctx context.Context, c call, _ none) (casesOut, error) {
	return s.listCases(ctx, c, oversight.KindAdverseEvent)
}

// caseFilter is what the caller may list: the regulator every
// institution's (or one), an institution's handlers their own, a patient
// their complaints, a reporter the adverse events they reported.
// ?state= and ?overdue=true narrow it.
func (s *Server) caseFilter(c call, kind oversight.Kind) (oversight.Filter, error) {
	a := c.Actor
	f := oversight.Filter{Kind: kind, Institution: c.Query("institution"), State: oversight.State(c.Query("state"))}
	switch {
	case a.Role == identity.RoleRegulator:
	case a.Is(identity.RoleInstitutionAdmin, identity.RoleQuality):
		if f.Institution != "" && f.Institution != a.Institution {
			return f, errs.E(errs.Forbidden)
		}
		f.Institution = a.Institution
	case kind == oversight.KindComplaint && a.Role == identity.RolePatient:
		f.Account, f.ByPatient, f.Institution = a.ID, true, ""
	case kind == oversight.KindAdverseEvent && a.Is(identity.RoleDoctor, identity.RolePharmacist):
		f.Account, f.Institution = a.ID, ""
	default:
		return f, errs.E(errs.Forbidden)
	}
	var fe errs.Fields
	if f.State != "" && !validCaseState(f.State) {
		fe.Add("state", "not_an_option")
	}
	switch c.Query("overdue") {
	case "", "false":
	case "true", "1":
		f.OverdueAt = s.cfg.Now()
	default:
		fe.Add("overdue", "type_bool")
	}
	return f, fe.Err()
}

func validCaseState(st oversight.State) bool {
	for _, x := range oversight.States {
		if x == st {
			return true
		}
	}
	return false
}

func (s *Server) listCases(ctx context.Context, c call, kind oversight.Kind) (casesOut, error) {
	f, err := s.caseFilter(c, kind)
	if err != nil {
		return casesOut{}, err
	}
	list, err := s.db.Cases(ctx, f)
	if err != nil {
		return casesOut{}, err
	}
	cats, err := s.db.OversightCategories(ctx)
	if err != nil {
		return casesOut{}, err
	}
	out := casesOut{Items: []*caseOut{}}
	for i := range list {
		cj := s.caseJSON(ctx, &list[i], c.Actor, cats, apiLang(c.r))
		if cj.Overdue {
			out.Overdue++
		}
		out.Items = append(out.Items, cj)
	}
	return out, s.record(c.r, string(kind)+".list", string(kind), "", f.Institution, c.r.URL.RawQuery)
}

// categoriesOut lists the categories, severities and deadlines (data).
type categoriesOut struct {
	Complaint    []oversight.Category `json:"complaint"`
	AdverseEvent []oversight.Category `json:"adverse_event"`
	Severity     []oversight.Category `json:"severity"`
	Deadlines    []oversight.Deadline `json:"deadlines"`
}

func (s *Server) oversightCategories(ctx context.Context, c call, _ none) (*categoriesOut, error) {
	cats, err := s.db.OversightCategories(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.OversightDeadlines(ctx)
	if err != nil {
		return nil, err
	}
	return &categoriesOut{Complaint: orEmpty(cats.Of(oversight.ListComplaint)), AdverseEvent: orEmpty(cats.Of(oversight.ListAdverseEvent)),
		Severity: orEmpty(cats.Of(oversight.ListSeverity)), Deadlines: rows}, nil
}

func orEmpty[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}

// --- satisfaction ---

type ratingIn struct {
	Score   int    `json:"score"`
	Comment string `json:"comment"`
}

// rateVisit records the patient's or guardian's rating of a completed
// visit, once (N-22).
func (s *Server) rateVisit(ctx context.Context, c call, in ratingIn) (*oversight.Rating, error) {
	vc, err := s.loadVisit(c.r, false)
	if err != nil {
		return nil, err
	}
	if err := vc.must(visit.PartyPatient); err != nil {
		return nil, err
	}
	v := vc.v
	if v.State != visit.Completed {
		return nil, errs.E(oversight.CodeRatingNotOpen)
	}
	rt := &oversight.Rating{VisitID: v.ID, Institution: v.Institution, DoctorID: v.DoctorID, PatientID: v.PatientID, AccountID: c.Actor.ID,
		Score: in.Score, Comment: in.Comment, CreatedAt: s.cfg.Now().UTC().Truncate(time.Microsecond)}
	if err := rt.Validate(); err != nil {
		return nil, err
	}
	idStr := strconv.FormatInt(v.ID, 10)
	if err := s.db.AddRating(ctx, rt, s.entry(c.r, "visit.rating", "visit", idStr, v.Institution, strconv.Itoa(rt.Score))); err != nil {
		return nil, err
	}
	return rt, nil
}

// visitRating is a visit's rating, for its patient's accounts and its
// doctor.
func (s *Server) visitRating(ctx context.Context, c call, _ none) (*oversight.Rating, error) {
	vc, err := s.loadVisit(c.r, true)
	if err != nil {
		return nil, err
	}
	return s.db.Rating(ctx, vc.v.ID)
}

type ratingSummaryOut struct {
	oversight.RatingSummary
	InstitutionName string `json:"institution_name"`
}

// ratingSummaries is satisfaction by institution, without patients: the
// regulator's of every institution, an institution's handlers their own.
func (s *Server) ratingSummaries(ctx context.Context, c call, _ none) (map[string]any, error) {
	inst := c.Query("institution")
	switch {
	case c.Actor.Role == identity.RoleRegulator:
	case c.Actor.Is(identity.RoleInstitutionAdmin, identity.RoleQuality) && (inst == "" || inst == c.Actor.Institution):
		inst = c.Actor.Institution
	default:
		return nil, errs.E(errs.Forbidden)
	}
	list, err := s.db.RatingSummaries(ctx, inst)
	if err != nil {
		return nil, err
	}
	out := []ratingSummaryOut{}
	for _, r := range list {
		out = append(out, ratingSummaryOut{RatingSummary: r, InstitutionName: s.instNameOf(ctx, r.Institution).in(apiLang(c.r))})
	}
	return map[string]any{"items": out}, s.record(c.r, "oversight.ratings", "rating", "", inst, "")
}

// --- rectification orders ---

type rectOut struct {
	*oversight.Rectification
	InstitutionName string `json:"institution_name"`
	StateText       string `json:"state_text"`
	Overdue         bool   `json:"overdue"`
	IssuedLocal     string `json:"-"` // Beijing time, for the pages
}

func (s *Server) rectJSON(ctx context.Context, r *oversight.Rectification, lang i18n.Lang) *rectOut {
	if r.Events == nil {
		r.Events = []oversight.Event{}
	}
	if r.Files == nil {
		r.Files = []oversight.File{}
	}
	return &rectOut{Rectification: r, InstitutionName: s.instNameOf(ctx, r.Institution).in(lang),
		StateText: i18n.T(lang, "oversight.state."+string(r.State)), Overdue: r.Overdue(s.cfg.Now()), IssuedLocal: localTime(r.IssuedAt)}
}

// issueRectification records an inspection's findings and orders the
// institution to rectify them by a deadline (G-3, N-22).
func (s *Server) issueRectification(ctx context.Context, c call, in oversight.Order) (*rectOut, error) {
	if !authz.Supervise(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	r, err := oversight.NewRectification(in, s.cfg.Now().UTC().Truncate(time.Microsecond), c.Actor.ID)
	if err != nil {
		return nil, err
	}
	if _, err := s.dir.Institution(ctx, r.Institution); errs.Is(err, errs.NotFound) {
		var f errs.Fields
		f.Add("institution", "not_found")
		return nil, f.Err()
	} else if err != nil {
		return nil, err
	}
	ids, err := s.handlers(ctx, r.Institution)
	if err != nil {
		return nil, err
	}
	name := s.instNameOf(ctx, r.Institution)
	notes := s.notices(ids, c.Actor.ID, "rectification", "notice.rect_issued", func(l i18n.Lang) []any {
		return []any{name.in(l), r.Findings, r.DeadlineDate}
	})
	if err := s.db.CreateRectification(ctx, r, notes, s.entry(c.r, "rectification.issue", "rectification", "", r.Institution, r.DeadlineDate)); err != nil {
		return nil, err
	}
	return s.rectJSON(ctx, r, apiLang(c.r)), nil
}

// visibleRect reads an order the caller may see (the regulator, the
// institution's admin and quality staff); any other is not_found.
func (s *Server) visibleRect(ctx context.Context, c call) (*oversight.Rectification, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	r, err := s.db.Rectification(ctx, id)
	if err != nil {
		return nil, err
	}
	if !authz.SeeRectification(c.Actor, r.Institution) {
		return nil, errs.E(errs.NotFound)
	}
	return r, s.record(c.r, "rectification.read", "rectification", strconv.FormatInt(r.ID, 10), r.Institution, "")
}

func (s *Server) getRectification(ctx context.Context, c call, _ none) (*rectOut, error) {
	r, err := s.visibleRect(ctx, c)
	if err != nil {
		return nil, err
	}
	return s.rectJSON(ctx, r, apiLang(c.r)), nil
}

type rectsOut struct {
	Items   []*rectOut `json:"items"`
	Overdue int        `json:"overdue"`
}

func (s *Server) listRectifications(ctx context.Context, c call, _ none) (rectsOut, error) {
	f := oversight.RectFilter{Institution: c.Query("institution")}
	switch {
	case c.Actor.Role == identity.RoleRegulator:
	case c.Actor.Is(identity.RoleInstitutionAdmin, identity.RoleQuality) && (f.Institution == "" || f.Institution == c.Actor.Institution):
		f.Institution = c.Actor.Institution
	default:
		return rectsOut{}, errs.E(errs.Forbidden)
	}
	switch c.Query("overdue") {
	case "", "false":
	case "true", "1":
		f.OverdueAt = s.cfg.Now()
	default:
		var fe errs.Fields
		fe.Add("overdue", "type_bool")
		return rectsOut{}, fe.Err()
	}
	list, err := s.db.Rectifications(ctx, f)
	if err != nil {
		return rectsOut{}, err
	}
	out := rectsOut{Items: []*rectOut{}}
	for i := range list {
		rj := s.rectJSON(ctx, &list[i], apiLang(c.r))
		if rj.Overdue {
			out.Overdue++
		}
		out.Items = append(out.Items, rj)
	}
	return out, s.record(c.r, "rectification.list", "rectification", "", f.Institution, c.r.URL.RawQuery)
}

// responder loads the order the caller answers: its institution's admin,
// while a response is owed.
func (s *Server) responder(ctx context.Context, c call) (*oversight.Rectification, error) {
	r, err := s.visibleRect(ctx, c)
	if err != nil {
		return nil, err
	}
	if !authz.RespondRectification(c.Actor, r.Institution) {
		return nil, errs.E(errs.Forbidden)
	}
	if !r.State.Awaiting() {
		return nil, oversight.IllegalStep(string(r.State), string(oversight.RectResponded))
	}
	return r, nil
}

// addRectFile stores one file of a response: JPEG, PNG or PDF judged from
// its content, at most 10 MB, at most 10 waiting to be sent. A refused
// file leaves nothing behind.
func (s *Server) addRectFile(r *http.Request, rect *oversight.Rectification, name string, body io.Reader) (*oversight.File, error) {
	pending := 0
	for _, f := range rect.Files {
		if f.EventID == 0 {
			pending++
		}
	}
	if pending >= oversight.MaxResponseFiles {
		return nil, errs.E(codeRectFileCount, oversight.MaxResponseFiles)
	}
	ctype, ext, br, err := blob.Sniff(body, allowedTypes)
	if err != nil {
		return nil, errs.E("attachment_type")
	}
	info, err := s.blobs.Put(r.Context(), fmt.Sprintf("rectifications/%d", rect.ID), br, oversight.MaxFileBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, blob.ErrTooLarge) || errors.As(err, &mbe) {
			return nil, errs.E("attachment_too_large", oversight.MaxFileBytes>>20)
		}
		return nil, err
	}
	f := &oversight.File{RectificationID: rect.ID, Name: cleanName(name, ext), ContentType: ctype, Size: info.Size, SHA256: info.SHA256,
		BlobKey: info.Key, UploadedBy: actor(r).ID, CreatedAt: s.cfg.Now().UTC().Truncate(time.Microsecond)}
	if err := s.db.AddRectificationFile(r.Context(), f); err != nil {
		s.blobs.Delete(context.WithoutCancel(r.Context()), info.Key)
		return nil, err
	}
	rect.Files = append(rect.Files, *f)
	return f, s.record(r, "rectification.file.add", "rectification", strconv.FormatInt(rect.ID, 10), rect.Institution, f.Name)
}

// apiAddRectFile uploads a file for the next response (multipart field
// "file", or the raw body with ?name=).
func (s *Server) apiAddRectFile(w http.ResponseWriter, r *http.Request) {
	c := call{Actor: actor(r), r: r}
	rect, err := s.responder(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.limits.allow("upload-account", strconv.FormatInt(c.Actor.ID, 10)) {
		s.fail(w, r, errs.E(errs.RateLimited))
		return
	}
	r.Body = http.MaxBytesReader(nil, r.Body, oversight.MaxFileBytes+1<<20)
	name, body, closeFn, err := readUpload(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer closeFn()
	f, err := s.addRectFile(r, rect, name, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, f)
}

// apiRectFile answers a file of an order to whoever may see the order.
func (s *Server) apiRectFile(w http.ResponseWriter, r *http.Request) {
	c := call{Actor: actor(r), r: r}
	rect, err := s.visibleRect(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fid, err := c.PathID("fid")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.db.RectificationFile(r.Context(), rect.ID, fid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveStored(w, r, storedFile{Key: f.BlobKey, ContentType: f.ContentType, Name: f.Name, Size: f.Size})
}

type responseIn struct {
	Measures string  `json:"measures"`
	Files    []int64 `json:"files"`
}

// respondRectification is the institution's answer: its measures and the
// files uploaded for it; the regulator is told. An answer after the
// deadline is accepted and marked late.
func (s *Server) respondRectification(ctx context.Context, c call, in responseIn) (*rectOut, error) {
	r, err := s.responder(ctx, c)
	if err != nil {
		return nil, err
	}
	return s.respond(ctx, c, r, in)
}

func (s *Server) respond(ctx context.Context, c call, r *oversight.Rectification, in responseIn) (*rectOut, error) {
	if len(in.Files) > oversight.MaxResponseFiles {
		var f errs.Fields
		f.Add("files", "too_long")
		return nil, f.Err()
	}
	from := r.State
	ev, err := r.Respond(in.Measures, s.cfg.Now().UTC().Truncate(time.Microsecond), c.Actor.ID)
	if err != nil {
		return nil, err
	}
	regs, err := s.regulators(ctx)
	if err != nil {
		return nil, err
	}
	name := s.instNameOf(ctx, r.Institution)
	notes := s.notices(regs, c.Actor.ID, "rectification", "notice.rect_response", func(l i18n.Lang) []any {
		return []any{name.in(l), r.ID, ev.Text}
	})
	if err := s.stepRect(ctx, c, r, from, ev, in.Files, notes); err != nil {
		return nil, err
	}
	return s.reloadRect(ctx, r.ID, apiLang(c.r))
}

func (s *Server) stepRect(ctx context.Context, c call, r *oversight.Rectification, from oversight.RectState, ev *oversight.Event, files []int64, notes []notify.Notification) error {
	idStr := strconv.FormatInt(r.ID, 10)
	for i := range notes {
		notes[i].Ref = "rectification/" + idStr
	}
	return s.db.StepRectification(ctx, r, from, ev, files, notes, s.entry(c.r, "rectification."+ev.Kind, "rectification", idStr, r.Institution, string(r.State)))
}

func (s *Server) reloadRect(ctx context.Context, id int64, lang i18n.Lang) (*rectOut, error) {
	r, err := s.db.Rectification(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.rectJSON(ctx, r, lang), nil
}

type verifyIn struct {
	Accept   bool   `json:"accept"`
	Comment  string `json:"comment"`
	Deadline string `json:"deadline"` // reopening: a new deadline (else the old one stands)
}

// verifyRectification is the regulator's verdict on a response: verified,
// or reopened with a comment (and perhaps a new deadline); the institution
// is told.
func (s *Server) verifyRectification(ctx context.Context, c call, in verifyIn) (*rectOut, error) {
	if !authz.Supervise(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	r, err := s.visibleRect(ctx, c)
	if err != nil {
		return nil, err
	}
	from := r.State
	ev, err := r.Verify(in.Accept, in.Comment, in.Deadline, s.cfg.Now().UTC().Truncate(time.Microsecond), c.Actor.ID)
	if err != nil {
		return nil, err
	}
	ids, err := s.handlers(ctx, r.Institution)
	if err != nil {
		return nil, err
	}
	key := "notice.rect_verified"
	if !in.Accept {
		key = "notice.rect_reopened"
	}
	notes := s.notices(ids, c.Actor.ID, "rectification", key, func(l i18n.Lang) []any { return []any{r.ID, ev.Text, r.DeadlineDate} })
	if err := s.stepRect(ctx, c, r, from, ev, nil, notes); err != nil {
		return nil, err
	}
	return s.reloadRect(ctx, r.ID, apiLang(c.r))
}

type rectSuspendIn struct {
	Reason string `json:"reason"`
}

// suspendForRectification suspends the institution's online services
// under an order, with the reason the public sees (the qualification's
// status and note, S-1: booking closes at once). Lifting it is the
// regulator's qualification decision, once the order is verified.
func (s *Server) suspendForRectification(ctx context.Context, c call, in rectSuspendIn) (*rectOut, error) {
	if !authz.Supervise(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	r, err := s.visibleRect(ctx, c)
	if err != nil {
		return nil, err
	}
	ev, err := r.Suspend(in.Reason, s.cfg.Now().UTC().Truncate(time.Microsecond), c.Actor.ID)
	if err != nil {
		return nil, err
	}
	if err := s.setQualification(c.r, r.Institution, qualificationIn{Status: directory.QualSuspended, Note: r.SuspensionReason}); err != nil {
		return nil, err
	}
	ids, err := s.handlers(ctx, r.Institution)
	if err != nil {
		return nil, err
	}
	name := s.instNameOf(ctx, r.Institution)
	notes := s.notices(ids, c.Actor.ID, "rectification", "notice.rect_suspended", func(l i18n.Lang) []any {
		return []any{r.ID, name.in(l), r.SuspensionReason}
	})
	if err := s.stepRect(ctx, c, r, r.State, ev, nil, notes); err != nil {
		return nil, err
	}
	return s.reloadRect(ctx, r.ID, apiLang(c.r))
}

// AlertOverdue tells the institution's handlers and the regulator of each
// complaint, adverse event and rectification order whose deadline has
// passed, once a step (once a round for an order), by the server's clock.
// `yunyi serve` runs it every minute; several servers never alert twice.
func (s *Server) AlertOverdue(ctx context.Context) error {
	now := s.cfg.Now()
	cases, err := s.db.OverdueCases(ctx, now)
	if err != nil {
		return err
	}
	regs, err := s.regulators(ctx)
	if err != nil {
		return err
	}
	var notes []notify.Notification
	for i := range cases {
		cs := &cases[i]
		ids, err := s.handlers(ctx, cs.Institution)
		if err != nil {
			return err
		}
		name := s.instNameOf(ctx, cs.Institution)
		next := cs.State.Next()
		args := func(l i18n.Lang) []any {
			return []any{name.in(l), i18n.T(l, "oversight.kind."+string(cs.Kind)), cs.ID, i18n.T(l, "oversight.state."+string(next)), localTime(cs.Due[next])}
		}
		for _, n := range s.notices(append(ids, regs...), 0, string(cs.Kind)+"_overdue", "notice.case_overdue", args) {
			n.Ref = string(cs.Kind) + "/" + strconv.FormatInt(cs.ID, 10)
			notes = append(notes, n)
		}
	}
	rects, err := s.db.OverdueRectifications(ctx, now)
	if err != nil {
		return err
	}
	for i := range rects {
		r := &rects[i]
		ids, err := s.handlers(ctx, r.Institution)
		if err != nil {
			return err
		}
		name := s.instNameOf(ctx, r.Institution)
		for _, n := range s.notices(append(ids, regs...), 0, "rectification_overdue", "notice.rect_overdue", func(l i18n.Lang) []any {
			return []any{name.in(l), r.DeadlineDate, r.ID}
		}) {
			n.Ref = "rectification/" + strconv.FormatInt(r.ID, 10)
			notes = append(notes, n)
		}
	}
	for i := range notes {
		if err := s.db.Notify(ctx, &notes[i]); err != nil {
			return err
		}
	}
	return nil
}
