// Package oversight is the regulator's side of the platform (监管, V-4,
// N-21, N-22, G-3): patients' satisfaction ratings of their visits,
// complaints (投诉) against an institution, quality and safety adverse
// events (不良事件) reported by its staff, and the regulator's inspections
// with their rectification orders (整改) and deadlines.
//
// Complaints and adverse events share one lifecycle, reported → triaged →
// investigating → closed (with findings), each step with a deadline that
// is data: a row per kind, optionally per category and severity, saying
// how long after the report each state must be reached (in hours or in
// working days). The deadlines are fixed when the case is reported, so a
// later change of the data does not move the deadlines of open cases. A
// case past the deadline of its next step is overdue, judged by the
// server's clock. It imports neither the web nor the database.
package oversight

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// Kind of a case.
type Kind string

const (
	KindComplaint    Kind = "complaint"     // 投诉: a patient or guardian against an institution (N-21)
	KindAdverseEvent Kind = "adverse_event" // 不良事件: reported by the institution's staff (V-4)
)

// Valid reports whether k is known.
func (k Kind) Valid() bool { return k == KindComplaint || k == KindAdverseEvent }

// State of a complaint or an adverse event.
type State string

const (
	Reported      State = "reported"
	Triaged       State = "triaged"
	Investigating State = "investigating"
	Closed        State = "closed"
)

// States in their order.
var States = []State{Reported, Triaged, Investigating, Closed}

// next is the whole state machine: each state has one next state.
var next = map[State]State{Reported: Triaged, Triaged: Investigating, Investigating: Closed}

// Next is the state after s ("" when s is final).
func (s State) Next() State { return next[s] }

// Final reports whether no step leaves s.
func (s State) Final() bool { return s == Closed }

// Error codes.
const (
	CodeIllegalStep    = "oversight_illegal_step" // the case (or order) is not in a state this step leaves
	CodeAlreadyRated   = "already_rated"          // a visit is rated once
	CodeRatingNotOpen  = "rating_not_open"        // only a completed visit is rated
	CodeNotSuspendable = "not_suspendable"        // the order is verified: nothing to suspend for
)

// IllegalStep is the error of a step to `to` refused in state `from`.
func IllegalStep(from, to string) error {
	return errs.E(CodeIllegalStep, i18n.Ref("oversight.state."+from), i18n.Ref("oversight.state."+to))
}

// Text limits (characters).
const (
	MaxText    = 4000 // a complaint's text, an event's description, findings, measures
	MaxNote    = 2000 // a triage or investigation note, a comment, a reason
	MaxComment = 500  // a rating's comment
)

// Case is a complaint or an adverse event. The deadline of each step is
// fixed at the report (Due).
type Case struct {
	ID          int64  `json:"id"`
	Kind        Kind   `json:"kind"`
	Institution string `json:"institution"`
	VisitID     int64  `json:"visit_id,omitempty"`
	// PatientID is the patient of the visit the case is about (0: none);
	// a complaint's other guardians see it through them.
	PatientID    int64     `json:"-"`
	ReporterID   int64     `json:"-"` // the account that filed or reported it
	ReporterRole string    `json:"reporter_role"`
	Category     string    `json:"category"`
	Severity     string    `json:"severity,omitempty"` // adverse events: general, serious, critical (data)
	Text         string    `json:"text"`               // the complaint, or the event's description
	State        State     `json:"state"`
	ReportedAt   time.Time `json:"reported_at"`
	// The steps: when each state was reached, by whom, and what was written.
	TriagedAt         time.Time `json:"triaged_at,omitzero"`
	InvestigatingAt   time.Time `json:"investigating_at,omitzero"`
	ClosedAt          time.Time `json:"closed_at,omitzero"`
	TriageNote        string    `json:"triage_note,omitempty"`
	InvestigationNote string    `json:"investigation_note,omitempty"`
	Findings          string    `json:"findings,omitempty"` // the answer (a complaint's, the patient sees it)
	HandlerID         int64     `json:"-"`                  // the account of the last step
	// Due is the deadline of each state to reach (triaged, investigating, closed).
	Due map[State]time.Time `json:"due"`
	// AlertedState is the state whose overdue alert has gone out (once per step).
	AlertedState State `json:"-"`
}

// NextDue is the deadline of the case's next step (zero when closed).
func (c *Case) NextDue() time.Time {
	if n := c.State.Next(); n != "" {
		return c.Due[n]
	}
	return time.Time{}
}

// Overdue reports whether the next step's deadline has passed at now.
func (c *Case) Overdue(now time.Time) bool {
	d := c.NextDue()
	return !d.IsZero() && now.After(d)
}

// ReachedAt is when the case reached state s (zero: not yet).
func (c *Case) ReachedAt(s State) time.Time {
	switch s {
	case Reported:
		return c.ReportedAt
	case Triaged:
		return c.TriagedAt
	case Investigating:
		return c.InvestigatingAt
	case Closed:
		return c.ClosedAt
	}
	return time.Time{}
}

// Late lists the states reached after their deadline.
func (c *Case) Late() []State {
	var out []State
	for _, s := range []State{Triaged, Investigating, Closed} {
		if at, due := c.ReachedAt(s), c.Due[s]; !at.IsZero() && !due.IsZero() && at.After(due) {
			out = append(out, s)
		}
	}
	return out
}

// Step is one move of a case: the state to reach and what that step
// requires (triaged and investigating: a note; closed: the findings).
type Step struct {
	To       State  `json:"state"`
	Note     string `json:"note"`
	Findings string `json:"findings"`
}

// Apply moves the case one step at now by the account by: only to the
// state after its own, with the fields that step requires and no field of
// another step. The case is unchanged on an error.
func (c *Case) Apply(st Step, now time.Time, by int64) error {
	if c.State.Next() == "" || st.To != c.State.Next() {
		if !stateKnown(st.To) {
			var f errs.Fields
			f.Add("state", "not_an_option")
			return f.Err()
		}
		return IllegalStep(string(c.State), string(st.To))
	}
	st.Note, st.Findings = strings.TrimSpace(st.Note), strings.TrimSpace(st.Findings)
	var f errs.Fields
	switch st.To {
	case Triaged, Investigating:
		text(&f, "note", st.Note, MaxNote, true)
		if st.Findings != "" {
			f.Add("findings", "not_this_step")
		}
	case Closed:
		text(&f, "findings", st.Findings, MaxText, true)
		if st.Note != "" {
			f.Add("note", "not_this_step")
		}
	}
	if err := f.Err(); err != nil {
		return err
	}
	switch st.To {
	case Triaged:
		c.TriagedAt, c.TriageNote = now, st.Note
	case Investigating:
		c.InvestigatingAt, c.InvestigationNote = now, st.Note
	case Closed:
		c.ClosedAt, c.Findings = now, st.Findings
	}
	c.State, c.HandlerID = st.To, by
	return nil
}

func stateKnown(s State) bool {
	for _, x := range States {
		if x == s {
			return true
		}
	}
	return false
}

// text checks a free-text field: required when asked, at most limit
// characters.
func text(f *errs.Fields, field, v string, limit int, required bool) {
	switch {
	case required && strings.TrimSpace(v) == "":
		f.Add(field, "required")
	case utf8.RuneCountInString(v) > limit:
		f.Add(field, "too_long")
	}
}

// Category is an entry of a list kept as data: a complaint's or an
// adverse event's category, or an adverse event's severity.
type Category struct {
	List     string `json:"-"` // complaint, adverse_event or severity
	Code     string `json:"code"`
	Name     string `json:"name"`
	NameEN   string `json:"name_en"`
	Position int    `json:"-"`
}

// Lists of categories.
const (
	ListComplaint    = "complaint"
	ListAdverseEvent = "adverse_event"
	ListSeverity     = "severity"
)

// Categories are the lists of categories and severities (data).
type Categories []Category

// Has reports whether the list holds code.
func (cs Categories) Has(list, code string) bool { return cs.Find(list, code) != nil }

// Find is the entry of a list (nil: none).
func (cs Categories) Find(list, code string) *Category {
	for i := range cs {
		if cs[i].List == list && cs[i].Code == code {
			return &cs[i]
		}
	}
	return nil
}

// Of lists one list's entries in their order.
func (cs Categories) Of(list string) []Category {
	var out []Category
	for _, c := range cs {
		if c.List == list {
			out = append(out, c)
		}
	}
	return out
}

// Name is an entry's name in lang (its code when unknown).
func (cs Categories) Name(list, code string, lang i18n.Lang) string {
	c := cs.Find(list, code)
	switch {
	case c == nil:
		return code
	case lang == i18n.EN && c.NameEN != "":
		return c.NameEN
	}
	return c.Name
}

// Units of a deadline.
const (
	UnitHours       = "hours"
	UnitWorkingDays = "working_days"
)

// Deadline is a row of the deadline data: how long after the report a
// case of Kind (and, when set, of Category and Severity) must reach Step.
type Deadline struct {
	Kind     Kind   `json:"kind"`
	Category string `json:"category,omitempty"` // "": any
	Severity string `json:"severity,omitempty"` // "": any
	Step     State  `json:"step"`               // triaged, investigating or closed
	Within   int    `json:"within"`
	Unit     string `json:"unit"` // hours or working_days
}

// DefaultWithin is the deadline of a step no row covers: five working
// days, the time an institution has to answer a complaint.
var DefaultWithin = Deadline{Within: 5, Unit: UnitWorkingDays}

// From is the deadline counted from t.
func (d Deadline) From(t time.Time) time.Time {
	if d.Unit == UnitHours {
		return t.Add(time.Duration(d.Within) * time.Hour)
	}
	return AddWorkingDays(t, d.Within)
}

// Pick is the row for a case's step: the most specific row that matches
// (category and severity over category over severity over the kind's),
// DefaultWithin when none does.
func Pick(rows []Deadline, kind Kind, category, severity string, step State) Deadline {
	best, score := DefaultWithin, -1
	for _, r := range rows {
		if r.Kind != kind || r.Step != step || (r.Category != "" && r.Category != category) || (r.Severity != "" && r.Severity != severity) {
			continue
		}
		sc := 0
		if r.Category != "" {
			sc += 2
		}
		if r.Severity != "" {
			sc++
		}
		if sc > score {
			best, score = r, sc
		}
	}
	return best
}

// Schedule fixes a case's deadlines from the rows, counted from its report.
func (c *Case) Schedule(rows []Deadline) {
	c.Due = map[State]time.Time{}
	for _, s := range []State{Triaged, Investigating, Closed} {
		c.Due[s] = Pick(rows, c.Kind, c.Category, c.Severity, s).From(c.ReportedAt)
	}
}

// AddWorkingDays is t moved n working days (Monday to Friday, Beijing
// time) later, at the same time of day; a start on a weekend counts from
// the next Monday's start. Public holidays are not known (not yet data).
func AddWorkingDays(t time.Time, n int) time.Time {
	b := t.In(dates.Beijing)
	if weekend(b) {
		for weekend(b) {
			b = b.AddDate(0, 0, 1)
		}
		b = time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, dates.Beijing)
	}
	for i := 0; i < n; i++ {
		b = b.AddDate(0, 0, 1)
		for weekend(b) {
			b = b.AddDate(0, 0, 1)
		}
	}
	return b.In(t.Location())
}

func weekend(t time.Time) bool { return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday }

// Report is what a complaint or an adverse event is filed with.
type Report struct {
	Institution string `json:"institution"`
	VisitID     int64  `json:"visit_id"`
	Category    string `json:"category"`
	Severity    string `json:"severity"`
	Text        string `json:"text"`
}

// Validate checks a report of kind against the categories: the category
// (and an adverse event's severity) from the data, the text required and
// bounded. textField names the text in errors (text or description).
func (r *Report) Validate(kind Kind, cats Categories, textField string) error {
	r.Institution, r.Category, r.Severity, r.Text = strings.TrimSpace(r.Institution), strings.TrimSpace(r.Category), strings.TrimSpace(r.Severity), strings.TrimSpace(r.Text)
	var f errs.Fields
	if r.Institution == "" {
		f.Add("institution", "required")
	}
	switch {
	case r.Category == "":
		f.Add("category", "required")
	case !cats.Has(string(kind), r.Category):
		f.Add("category", "not_an_option")
	}
	if kind == KindAdverseEvent {
		switch {
		case r.Severity == "":
			f.Add("severity", "required")
		case !cats.Has(ListSeverity, r.Severity):
			f.Add("severity", "not_an_option")
		}
	} else if r.Severity != "" {
		f.Add("severity", "not_this_step")
	}
	if r.VisitID < 0 {
		f.Add("visit_id", "not_found")
	}
	text(&f, textField, r.Text, MaxText, true)
	return f.Err()
}

// Filter selects cases.
type Filter struct {
	Kind        Kind
	Institution string // "": every institution
	// Account: a patient's own (filed by it, or about a patient linked to
	// it); a reporter's own adverse events.
	Account   int64
	ByPatient bool // with Account: also those about its linked patients
	State     State
	OverdueAt time.Time // non-zero: only those overdue at this time
	Limit     int
}

// Store keeps cases, ratings and rectification orders. Every write that
// changes a case or an order commits its notices and its audit entry in
// the same transaction.
type Store interface {
	OversightCategories(ctx context.Context) (Categories, error)
	OversightDeadlines(ctx context.Context) ([]Deadline, error)

	CreateCase(ctx context.Context, c *Case, notes []notify.Notification, e *audit.Entry) error
	Case(ctx context.Context, id int64) (*Case, error)
	Cases(ctx context.Context, f Filter) ([]Case, error)
	// StepCase stores c (already moved by Apply) only if it is still in
	// state from; otherwise oversight_illegal_step.
	StepCase(ctx context.Context, c *Case, from State, notes []notify.Notification, e *audit.Entry) error
	// OverdueCases marks the cases overdue at now whose step has not been
	// alerted yet and returns them (each step once, whichever server asks).
	OverdueCases(ctx context.Context, now time.Time) ([]Case, error)

	AddRating(ctx context.Context, r *Rating, e *audit.Entry) error
	Rating(ctx context.Context, visitID int64) (*Rating, error)
	RatingSummaries(ctx context.Context, institution string) ([]RatingSummary, error)

	CreateRectification(ctx context.Context, r *Rectification, notes []notify.Notification, e *audit.Entry) error
	Rectification(ctx context.Context, id int64) (*Rectification, error)
	Rectifications(ctx context.Context, f RectFilter) ([]Rectification, error)
	AddRectificationFile(ctx context.Context, f *File) error
	RectificationFile(ctx context.Context, rectID, fileID int64) (*File, error)
	// StepRectification stores r (already moved) only if it is still in
	// state from, with its new event; fileIDs (a response's) must be files
	// of r not yet part of a response.
	StepRectification(ctx context.Context, r *Rectification, from RectState, ev *Event, fileIDs []int64, notes []notify.Notification, e *audit.Entry) error
	OverdueRectifications(ctx context.Context, now time.Time) ([]Rectification, error)

	// StaffAccounts are the accounts of roles (at an institution, or
	// anywhere when institution is "") that notices go to.
	StaffAccounts(ctx context.Context, institution string, roles ...string) ([]int64, error)
}
