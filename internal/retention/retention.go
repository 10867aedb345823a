// Package retention keeps each kind of record as long as the rules require
// and no longer than the platform decides (N-17, issue 17): a period per
// record type, as data, never shorter than the legal minimum; deleting a
// record before its period is refused; a purge after the period removes
// the types that are purged, in batches, and is itself audited.
//
// What counts as which record:
//
//   - visit_record (门诊电子病历, at least 15 years): the visit, its steps, the
//     record and its amendments, the termination and referral, the
//     prescriptions, the pre-consultation's answers and files once the
//     visit has started (the answers are locked then and the doctor has
//     relied on them, N-2), and a guest clinician recorded as present with
//     a child (N-4: the condition of the child's prescription). The call's
//     start, end and length are the visit's timeline and stay with it.
//   - chat (at least 3 years): the visit's chat messages and the images
//     sent in the chat.
//   - call (at least 3 years): who took part in the video call as a guest
//     (name, phone, when they joined and left). The call itself is never
//     recorded: WebRTC carries it between the browsers.
//   - audit (at least 15 years): the audit log. The rules give no number
//     for it, but N-16 asks that the whole process can be followed back,
//     so the trace is kept as long as the longest record it traces (the
//     Cybersecurity Law's six months of logs is a floor far below that).
//     It is never purged: its hash chain starts at the first entry
//     (audit.Verify), so removing old entries would break it.
//
// A pre-consultation file the patient removes before the visit starts is
// a draft, not a record: the patient may still change the answers it
// belongs to, and nothing has been decided on it. Removing it is allowed
// (and audited).
package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Type is a kind of record with its own retention period.
type Type string

const (
	VisitRecord Type = "visit_record"
	Chat        Type = "chat"
	Call        Type = "call"
	Audit       Type = "audit"
)

// Types lists every record type, in the order they are shown.
var Types = []Type{VisitRecord, Chat, Call, Audit}

// law is what the rules say of a type: the legal minimum in years and
// whether the purge may remove it.
type law struct {
	minYears  int
	purgeable bool
	rule      string
}

var laws = map[Type]law{
	VisitRecord: {15, false, "N-17"},
	Chat:        {3, true, "N-17"},
	Call:        {3, true, "N-17"},
	Audit:       {15, false, "N-16"},
}

// MaxYears bounds a period (a typing error of 3000 years is refused).
const MaxYears = 100

// Error codes.
const (
	// CodeTooEarly: a record is deleted before its period ends.
	CodeTooEarly = "retention_period"
	// Field codes of a policy.
	CodeBelowMinimum = "retention_below_minimum"
	CodeNotPurgeable = "retention_not_purgeable"
	CodeTooLong      = "retention_too_long"
)

// Policy is the retention of one record type.
type Policy struct {
	Type  Type `json:"type"`
	Years int  `json:"years"`
	// Purge: the purge removes this type's records after the period.
	Purge bool `json:"purge"`
	// MinYears and Purgeable are the rules' (not data): the period may
	// not be shorter, and only purgeable types are ever purged.
	MinYears  int       `json:"min_years"`
	Purgeable bool      `json:"purgeable"`
	Rule      string    `json:"rule"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	UpdatedBy int64     `json:"updated_by,omitempty"`
}

// Known reports whether t is a record type.
func Known(t Type) bool { _, ok := laws[t]; return ok }

// WithRules fills the policy's MinYears, Purgeable and Rule from the rules.
func (p Policy) WithRules() Policy {
	l := laws[p.Type]
	p.MinYears, p.Purgeable, p.Rule = l.minYears, l.purgeable, l.rule
	return p
}

// Validate checks a policy against the rules: a known type, a period
// neither shorter than the legal minimum nor absurdly long, and a purge
// only for a purgeable type.
func (p Policy) Validate() error {
	l, ok := laws[p.Type]
	if !ok {
		return errs.E(errs.NotFound)
	}
	var f errs.Fields
	switch {
	case p.Years < l.minYears:
		f.Add("years", CodeBelowMinimum, l.minYears)
	case p.Years > MaxYears:
		f.Add("years", CodeTooLong, MaxYears)
	}
	if p.Purge && !l.purgeable {
		f.Add("purge", CodeNotPurgeable)
	}
	return f.Err()
}

// Cutoff is the instant before which the records of this policy have been
// kept their full period at now: midnight (Beijing) of the first day
// whose Years-th anniversary is today or later. A record goes the day
// after its anniversary, never earlier (a record of 29 February, whose
// anniversary in a common year is 1 March, goes on 2 March).
func (p Policy) Cutoff(now time.Time) time.Time {
	today := day(now)
	c := today.AddDate(-p.Years, 0, 0)
	// AddDate folds 29 February into 1 March both ways: step to the
	// first day whose anniversary is not before today.
	for c.AddDate(p.Years, 0, 0).Before(today) {
		c = c.AddDate(0, 0, 1)
	}
	for prev := c.AddDate(0, 0, -1); !prev.AddDate(p.Years, 0, 0).Before(today); prev = c.AddDate(0, 0, -1) {
		c = prev
	}
	return c
}

// day is midnight (Beijing) of t's day.
func day(t time.Time) time.Time {
	b := t.In(dates.Beijing)
	return time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, dates.Beijing)
}

// Expired reports whether a record made at made has been kept its period
// at now.
func (p Policy) Expired(made, now time.Time) bool { return made.Before(p.Cutoff(now)) }

// KeptUntil is the last day (Beijing) a record made at made must be kept:
// its Years-th anniversary. It may go the day after.
func (p Policy) KeptUntil(made time.Time) string {
	return day(made).AddDate(p.Years, 0, 0).Format(dates.Layout)
}

// MayDelete refuses the deletion of a record made at made before its
// period ends (N-17).
func (p Policy) MayDelete(made, now time.Time) error {
	if !p.Expired(made, now) {
		return errs.E(CodeTooEarly, p.KeptUntil(made))
	}
	return nil
}

// OfAttachment tells which record a visit's file belongs to: a chat image
// is chat; a pre-consultation file is a draft while the answers may still
// change (answersLocked false: before the visit starts), then part of the
// visit record.
func OfAttachment(purpose string, answersLocked bool) (t Type, draft bool) {
	if purpose == "chat" {
		return Chat, false
	}
	return VisitRecord, !answersLocked
}

// Part is what the purge removes of a type, each in its own batches.
type Part string

const (
	ChatMessages Part = "chat_messages" // messages
	ChatFiles    Part = "chat_files"    // the images sent in the chat, and their files
	CallGuests   Part = "call_guests"   // guests of the call, except a clinician recorded present (N-4)
)

// Parts lists what the purge removes of each purgeable type.
var Parts = map[Type][]Part{Chat: {ChatMessages, ChatFiles}, Call: {CallGuests}}

// Run is one run of the purge: what it removed, part by part.
type Run struct {
	ID         int64           `json:"id"`
	Owner      string          `json:"owner"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	Counts     map[Part]int64  `json:"counts"`
	Cutoffs    map[Type]string `json:"cutoffs,omitempty"` // each purged type's cutoff (RFC 3339)
}

// Detail is the run's audit detail: the counts and the cutoffs.
func (r *Run) Detail() string {
	s := ""
	for _, t := range Types {
		for _, p := range Parts[t] {
			s += fmt.Sprintf("%s=%d ", p, r.Counts[p])
		}
	}
	for _, t := range Types {
		if c, ok := r.Cutoffs[t]; ok {
			s += fmt.Sprintf("%s<%s ", t, c)
		}
	}
	if len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s
}

// Store is what retention needs of the database.
type Store interface {
	// RetentionPolicies lists the policies of every type.
	RetentionPolicies(ctx context.Context) ([]Policy, error)
	// RetentionPolicy is one type's policy (errs.NotFound for another).
	RetentionPolicy(ctx context.Context, t Type) (*Policy, error)
	// SaveRetentionPolicy writes a type's period and purge switch and
	// appends e to the audit log, in one transaction.
	SaveRetentionPolicy(ctx context.Context, p Policy, e *audit.Entry) error
	// BeginPurge claims the purge for owner: a new run, or the unfinished
	// run of an owner that made no progress since stale (a server that
	// stopped mid-run: its counts carry on). Nil when another owner's run
	// is under way.
	BeginPurge(ctx context.Context, owner string, now, stale time.Time) (*Run, error)
	// PurgeBatch removes up to limit records of part made before cutoff
	// and adds them to the run's count, in one transaction, while the run
	// is still owner's (errs.Conflict otherwise). It answers how many it
	// removed and the keys of their files.
	PurgeBatch(ctx context.Context, run *Run, part Part, cutoff time.Time, limit int, now time.Time) (int, []string, error)
	// FinishPurge closes the run and appends its audit entry, in one
	// transaction.
	FinishPurge(ctx context.Context, run *Run, now time.Time, e *audit.Entry) error
	// PurgeRuns lists the newest runs.
	PurgeRuns(ctx context.Context, limit int) ([]Run, error)
}
