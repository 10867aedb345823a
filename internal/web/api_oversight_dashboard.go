package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/authz"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/monitor"
	"github.com/yunyi-health/yunyi/internal/oversight"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// The regulator's dashboard, its drill-down to one visit and the
// evaluation bulletins (issue 13; G-4, N-15, N-22). The dashboard is the
// regulator's for every institution and an institution's quality staff's
// for their own; per-doctor prescribing figures (N-15) are shown there to
// them alone, each query audited. A drill-down to a visit is the
// regulator's, with a reason that goes into the audit log. Bulletins are
// drafted, edited and published by the regulator; published ones are
// public and never change.

// maxNotable is how many visits the dashboard offers to drill into.
const maxNotable = 50

// dashboardQuery reads ?from&to&institution&by.
func dashboardQuery(c call) oversight.DashboardQuery {
	return oversight.DashboardQuery{From: c.Query("from"), To: c.Query("to"), Institution: c.Query("institution"), By: oversight.By(c.Query("by"))}
}

// buildDashboard computes the dashboard the caller may see: the quality
// staff's is their institution's whatever they ask. Each read is audited;
// so is each per-doctor query (N-15).
func (s *Server) buildDashboard(ctx context.Context, c call, q oversight.DashboardQuery) (*oversight.Dashboard, error) {
	a := c.Actor
	if a.Role == identity.RoleQuality && q.Institution == "" {
		q.Institution = a.Institution
	}
	if !authz.SeeDashboard(a, q.Institution) {
		s.record(c.r, "oversight.dashboard.denied", "dashboard", "", q.Institution, "")
		return nil, errs.E(errs.Forbidden)
	}
	now := s.cfg.Now()
	if err := q.Validate(now); err != nil {
		return nil, err
	}
	if q.Institution != "" {
		if _, err := s.dir.Institution(ctx, q.Institution); errs.Is(err, errs.NotFound) {
			var f errs.Fields
			f.Add("institution", "not_found")
			return nil, f.Err()
		} else if err != nil {
			return nil, err
		}
	}
	d, err := s.dashboardFigures(ctx, q)
	if err != nil {
		return nil, err
	}
	detail := q.From + ".." + q.To + " " + string(q.By)
	if err := s.record(c.r, "oversight.dashboard", "dashboard", "", q.Institution, detail); err != nil {
		return nil, err
	}
	if authz.PrescribingStats(a, q.Institution) {
		if d.Doctors, err = s.db.PrescribingByDoctor(ctx, q); err != nil {
			return nil, err
		}
		if err := s.record(c.r, "prescribing_stats.read", "institution", q.Institution, q.Institution, "dashboard "+detail); err != nil {
			return nil, err
		}
	}
	if authz.InspectVisit(a) {
		if d.Visits, err = s.db.NotableVisits(ctx, q, maxNotable); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// dashboardFigures computes a valid query's figures, with every name in
// both languages (a bulletin freezes them).
func (s *Server) dashboardFigures(ctx context.Context, q oversight.DashboardQuery) (*oversight.Dashboard, error) {
	periods := q.Periods()
	rows, err := s.db.DashboardRows(ctx, q, periods, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	d := oversight.Assemble(q, periods, rows)
	reasons, err := s.db.TerminationReasons(ctx)
	if err != nil {
		return nil, err
	}
	reasonNames := map[string][2]string{}
	for _, r := range reasons {
		reasonNames[r.Code] = [2]string{r.Name, r.NameEN}
	}
	name := func(f *oversight.Figures) {
		if f.Institution != "" {
			n := s.instNameOf(ctx, f.Institution)
			f.Name, f.NameEN = n[0], n[1]
		} else {
			f.Name, f.NameEN = i18n.T(i18n.ZH, "dash.overall"), i18n.T(i18n.EN, "dash.overall")
		}
		for i := range f.ByKind {
			k := &f.ByKind[i]
			k.Name, k.NameEN = i18n.T(i18n.ZH, "kind."+k.Code), i18n.T(i18n.EN, "kind."+k.Code)
		}
		for i := range f.TerminationReasons {
			r := &f.TerminationReasons[i]
			if n, ok := reasonNames[r.Code]; ok {
				r.Name, r.NameEN = n[0], n[1]
			} else {
				r.Name = r.Code
			}
		}
		for i := range f.RejectionReasons {
			r := &f.RejectionReasons[i]
			r.Name, r.NameEN = r.Code, r.Code // a pharmacist's own words
			if key := "rx.reason." + r.Code; i18n.Has(key) {
				r.Name, r.NameEN = i18n.T(i18n.ZH, key), i18n.T(i18n.EN, key)
			}
		}
	}
	name(&d.Overall)
	for i := range d.Institutions {
		name(&d.Institutions[i])
	}
	return d, nil
}

// dashboard is GET /api/v1/oversight/dashboard.
func (s *Server) dashboard(ctx context.Context, c call, _ none) (*oversight.Dashboard, error) {
	return s.buildDashboard(ctx, c, dashboardQuery(c))
}

// --- drill-down to one visit ---

type inspectIn struct {
	Reason string `json:"reason"`
}

// visitFacts is a visit as the regulator sees it: codes, times and the
// doctor, never the patient's name or identity (least data, N-22).
type visitFacts struct {
	ID              int64     `json:"id"`
	Institution     string    `json:"institution"`
	InstitutionName string    `json:"institution_name"`
	Department      string    `json:"department"`
	DepartmentName  string    `json:"department_name"`
	Service         string    `json:"service"`
	ServiceName     string    `json:"service_name"`
	Kind            string    `json:"kind"`
	State           string    `json:"state"`
	StateText       string    `json:"state_text"`
	Doctor          string    `json:"doctor"`
	Start           time.Time `json:"start"`
	CheckedInAt     time.Time `json:"checked_in_at,omitzero"`
	WaitingSince    time.Time `json:"waiting_since,omitzero"`
	StartedAt       time.Time `json:"started_at,omitzero"`
	EndedAt         time.Time `json:"ended_at,omitzero"`
	WaitSeconds     int64     `json:"wait_seconds"`
	TalkSeconds     int64     `json:"talk_seconds"`
	CallSeconds     int64     `json:"call_seconds"`
	MissedCalls     int       `json:"missed_calls"`
}

type inspectOut struct {
	Visit         visitFacts          `json:"visit"`
	Records       []visit.Record      `json:"records"` // the signed record and its amendments
	Termination   *visit.Termination  `json:"termination,omitempty"`
	Prescriptions []rx.Prescription   `json:"prescriptions"`
	Chat          *oversight.ChatMeta `json:"chat"`
	Rating        *oversight.Rating   `json:"rating,omitempty"`
	Reason        string              `json:"reason"`
}

// inspectVisit is the regulator's drill-down from the dashboard to one
// visit: its record, prescriptions and chat metadata (not the chat's
// text), given only with a reason, which is audited with the access.
func (s *Server) inspectVisit(ctx context.Context, c call, in inspectIn) (*inspectOut, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	idStr := strconv.FormatInt(id, 10)
	if !authz.InspectVisit(c.Actor) {
		s.record(c.r, "oversight.visit.inspect.denied", "visit", idStr, "", "")
		return nil, errs.E(errs.Forbidden)
	}
	reason, err := oversight.CheckReason(in.Reason)
	if err != nil {
		return nil, err
	}
	v, err := s.db.Visit(ctx, id)
	if err != nil {
		return nil, err
	}
	// The access and its reason are written before anything is shown.
	if err := s.record(c.r, "oversight.visit.inspect", "visit", idStr, v.Institution, reason); err != nil {
		return nil, err
	}
	lang := apiLang(c.r)
	out := &inspectOut{Reason: reason, Visit: visitFacts{ID: v.ID, Institution: v.Institution, InstitutionName: s.instNameOf(ctx, v.Institution).in(lang),
		Department: v.Department, Service: v.Service, ServiceName: v.ServiceName, Kind: string(v.Kind), State: string(v.State),
		StateText: i18n.T(lang, "state."+string(v.State)), Doctor: v.DoctorName, Start: v.Start, CheckedInAt: v.CheckedInAt, WaitingSince: v.WaitingSince,
		StartedAt: v.StartedAt, EndedAt: v.EndedAt, WaitSeconds: v.WaitSeconds(), TalkSeconds: v.TalkSeconds(), CallSeconds: v.CallSeconds, MissedCalls: v.Calls}}
	out.Visit.DepartmentName = s.deptNameOf(ctx, v.Institution, v.Department, lang)
	if out.Records, err = s.db.Records(ctx, id); err != nil {
		return nil, err
	}
	if out.Records == nil {
		out.Records = []visit.Record{}
	}
	if v.State == visit.Terminated {
		if out.Termination, err = s.db.Termination(ctx, id); err != nil && !errs.Is(err, errs.NotFound) {
			return nil, err
		}
	}
	if out.Prescriptions, err = s.db.Prescriptions(ctx, rx.Filter{VisitID: id, Limit: 50}); err != nil {
		return nil, err
	}
	if out.Prescriptions == nil {
		out.Prescriptions = []rx.Prescription{}
	}
	for i := range out.Prescriptions {
		out.Prescriptions[i].PatientName = "" // the regulator reads the prescribing, not who
		out.Prescriptions[i].PatientID = 0
	}
	if out.Chat, err = s.db.VisitChat(ctx, id); err != nil {
		return nil, err
	}
	if rt, err := s.db.Rating(ctx, id); err == nil {
		rt.PatientID, rt.AccountID, rt.Comment = 0, 0, ""
		out.Rating = rt
	} else if !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	return out, nil
}

// --- bulletins (G-4) ---

// bulletinOut is a bulletin with its figures: frozen once published, a
// draft's computed now.
type bulletinOut struct {
	*oversight.Bulletin
	URL string `json:"url"` // its public page
}

func (s *Server) bulletinJSON(ctx context.Context, b *oversight.Bulletin) (*bulletinOut, error) {
	if !b.Published() {
		d, err := s.dashboardFigures(ctx, b.Query())
		if err != nil {
			return nil, err
		}
		b.Figures = d
	}
	return &bulletinOut{Bulletin: b, URL: "/bulletins/" + strconv.FormatInt(b.ID, 10)}, nil
}

// draftBulletin drafts a month's or a quarter's bulletin.
func (s *Server) draftBulletin(ctx context.Context, c call, in oversight.BulletinIn) (*bulletinOut, error) {
	if !authz.EditBulletins(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	b, err := oversight.NewBulletin(in, s.cfg.Now().UTC().Truncate(time.Microsecond), c.Actor.ID)
	if err != nil {
		return nil, err
	}
	if err := s.db.CreateBulletin(ctx, b, s.entry(c.r, "bulletin.draft", "bulletin", "", "", b.Label)); err != nil {
		return nil, err
	}
	return s.bulletinJSON(ctx, b)
}

// visibleBulletin reads a bulletin the caller may see: a published one
// anyone, a draft the regulator; any other is not_found.
func (s *Server) visibleBulletin(ctx context.Context, c call) (*oversight.Bulletin, error) {
	id, err := c.PathID("id")
	if err != nil {
		return nil, err
	}
	b, err := s.db.Bulletin(ctx, id)
	if err != nil {
		return nil, err
	}
	if !b.Published() && !authz.EditBulletins(c.Actor) {
		return nil, errs.E(errs.NotFound)
	}
	return b, nil
}

// editBulletin replaces a draft's title and commentary (PUT: both, none
// left out); a published bulletin is refused.
func (s *Server) editBulletin(ctx context.Context, c call, in oversight.BulletinEdit) (*bulletinOut, error) {
	if !authz.EditBulletins(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	b, err := s.visibleBulletin(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := b.Edit(in, s.cfg.Now().UTC().Truncate(time.Microsecond)); err != nil {
		return nil, err
	}
	if err := s.db.SaveBulletin(ctx, b, s.entry(c.r, "bulletin.edit", "bulletin", strconv.FormatInt(b.ID, 10), "", b.Label)); err != nil {
		return nil, err
	}
	return s.bulletinJSON(ctx, b)
}

// publishBulletin freezes a draft's figures and makes it public; from
// then on it never changes.
func (s *Server) publishBulletin(ctx context.Context, c call, _ none) (*bulletinOut, error) {
	if !authz.EditBulletins(c.Actor) {
		return nil, errs.E(errs.Forbidden)
	}
	b, err := s.visibleBulletin(ctx, c)
	if err != nil {
		return nil, err
	}
	if b.Published() {
		return nil, errs.E(oversight.CodeBulletinPublished)
	}
	d, err := s.dashboardFigures(ctx, b.Query())
	if err != nil {
		return nil, err
	}
	if err := b.Publish(d, s.cfg.Now().UTC().Truncate(time.Microsecond), c.Actor.ID); err != nil {
		return nil, err
	}
	if err := s.db.PublishBulletin(ctx, b, s.entry(c.r, "bulletin.publish", "bulletin", strconv.FormatInt(b.ID, 10), "", b.Label)); err != nil {
		return nil, err
	}
	return s.bulletinJSON(ctx, b)
}

type bulletinsOut struct {
	Items []bulletinSummary `json:"items"`
}

type bulletinSummary struct {
	ID          int64                    `json:"id"`
	Period      oversight.BulletinPeriod `json:"period"`
	Label       string                   `json:"label"`
	Title       string                   `json:"title"`
	State       oversight.BulletinState  `json:"state"`
	From        string                   `json:"from"`
	To          string                   `json:"to"`
	PublishedAt time.Time                `json:"published_at,omitzero"`
	URL         string                   `json:"url"`
}

// listBulletins lists the published bulletins (and, for the regulator,
// the drafts), newest period first.
func (s *Server) listBulletins(ctx context.Context, c call, _ none) (bulletinsOut, error) {
	list, err := s.db.Bulletins(ctx, !authz.EditBulletins(c.Actor))
	if err != nil {
		return bulletinsOut{}, err
	}
	out := bulletinsOut{Items: []bulletinSummary{}}
	for _, b := range list {
		out.Items = append(out.Items, bulletinSummary{ID: b.ID, Period: b.Period, Label: b.Label, Title: b.Title, State: b.State, From: b.From, To: b.To,
			PublishedAt: b.PublishedAt, URL: "/bulletins/" + strconv.FormatInt(b.ID, 10)})
	}
	return out, nil
}

// apiBulletin answers a bulletin as JSON (default), as a standalone HTML
// page or as a PDF, in the style of the monitoring report.
func (s *Server) apiBulletin(w http.ResponseWriter, r *http.Request) {
	c := call{Actor: actor(r), r: r}
	b, err := s.visibleBulletin(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.bulletinJSON(r.Context(), b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lang := apiLang(r)
	switch r.URL.Query().Get("format") {
	case "", "json":
		writeJSON(w, http.StatusOK, out)
	case "html":
		var buf bytes.Buffer
		if err := writeBulletinHTML(&buf, b, lang); err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(buf.Bytes())
	case "pdf":
		var buf bytes.Buffer
		if err := writeBulletinPDF(&buf, b, lang); err != nil {
			if errors.Is(err, monitor.ErrNoFont) {
				s.fail(w, r, errs.Wrap("pdf_font_missing", err))
				return
			}
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="yunyi-bulletin-%s.pdf"`, b.Label))
		w.Write(buf.Bytes())
	default:
		var f errs.Fields
		f.Add("format", "format_unknown")
		s.fail(w, r, f.Err())
	}
}

// deptNameOf is a department's name in lang (its code when unknown).
func (s *Server) deptNameOf(ctx context.Context, institution, code string, lang i18n.Lang) string {
	if inst, err := s.dir.Institution(ctx, institution); err == nil {
		for _, d := range inst.Departments {
			if d.Code == code {
				return nameIn(lang, d.Name, d.NameEN)
			}
		}
	}
	return code
}
