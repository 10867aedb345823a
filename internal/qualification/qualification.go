// Package qualification is the regulator's side of an institution's
// internet-diagnosis qualification (S-1, G-1, N-23): the institution's
// application (the departments, services and doctors it will open, with
// its documents), the regulator's decision with reasons, the approval's
// one-year term and its re-validation, and suspension, which closes the
// services and tells the families booked on them.
package qualification

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/schedule"
)

// Kind of an application.
type Kind string

const (
	// KindQualification asks for the qualification: a first time, or
	// again after a refusal or a lapse.
	KindQualification Kind = "qualification"
	// KindRevalidation is the yearly re-validation of an approval (N-23).
	KindRevalidation Kind = "revalidation"
)

// Status of an application.
type Status string

const (
	Pending  Status = "pending"
	Approved Status = "approved"
	Refused  Status = "refused"
)

// Term is how long an approval is valid (N-23: re-validated every year),
// and how many days before its end the institution's admin is reminded.
const (
	TermYears  = 1
	NoticeDays = 30
)

// Limits of an application's documents.
const (
	MaxDocuments     = 20
	MaxDocumentBytes = 10 << 20
	MaxTotalBytes    = 60 << 20
)

// Application is an institution's application, as submitted and decided.
type Application struct {
	ID            int64      `json:"id"`
	Institution   string     `json:"institution"`
	Kind          Kind       `json:"kind"`
	Status        Status     `json:"status"`
	Departments   []string   `json:"departments"`   // department codes it will open
	Services      []string   `json:"services"`      // service codes it will open
	Practitioners []int64    `json:"practitioners"` // the doctors who will work online
	Note          string     `json:"note"`          // the institution's statement
	Documents     []Document `json:"documents"`
	SubmittedBy   int64      `json:"submitted_by"`
	SubmittedAt   time.Time  `json:"submitted_at"`
	DecidedBy     int64      `json:"decided_by,omitempty"`
	DecidedAt     time.Time  `json:"decided_at,omitzero"`
	Reasons       string     `json:"reasons,omitempty"`     // the regulator's reasons
	ValidFrom     string     `json:"valid_from,omitempty"`  // the term an approval granted
	ValidUntil    string     `json:"valid_until,omitempty"` // its last day
}

// Document is a file of an application (a licence, an inspection report).
type Document struct {
	ID            int64     `json:"id"`
	ApplicationID int64     `json:"application_id"`
	Name          string    `json:"name"`
	ContentType   string    `json:"content_type"`
	Size          int64     `json:"size"`
	SHA256        string    `json:"sha256"`
	BlobKey       string    `json:"-"`
	UploadedBy    int64     `json:"uploaded_by"`
	CreatedAt     time.Time `json:"created_at"`
}

// Filter of a list of applications.
type Filter struct {
	Institution string // "" all
	Status      Status // "" any
	Limit       int
}

// Decision is the regulator's decision on an application.
type Decision struct {
	ApplicationID int64
	Approve       bool
	Reasons       string
	By            int64
	At            time.Time
	// The term an approval grants (From, Until: Term); the institution's
	// status, approved_on and valid_until follow it.
	From, Until string
}

// Teller writes the notice one booked family gets when the services they
// booked close or reopen; it is written in the transaction that changes
// the qualification.
type Teller func(a schedule.Appointment) notify.Notification

// Reminder writes the reminders of an institution's admin accounts about
// its coming re-validation, and the reminder's audit entry; both are
// written in the transaction that marks the reminder sent.
type Reminder func(inst directory.Institution, admins []int64) ([]notify.Notification, *audit.Entry)

// Suspension closes an approved institution's services: the status
// becomes suspended with the reason, its open future slots stop taking
// bookings, and every family booked on them is told.
type Suspension struct {
	Institution string
	Reason      string
	At          time.Time
	// OverdueOn, when set (YYYY-MM-DD), makes the suspension the
	// re-validation's: it happens only if the approval ended before that
	// day (valid_until < OverdueOn), the compare-and-set two servers
	// running the loop rely on.
	OverdueOn string
	Tell      Teller
	Audit     *audit.Entry // written with the suspension
}

// Reinstatement lifts a suspension while the approval is still valid.
type Reinstatement struct {
	Institution string
	Today       string // the approval must be valid on it
	Note        string
	At          time.Time
	Tell        Teller
	Audit       *audit.Entry
}

// Store is what the qualification needs from a database.
type Store interface {
	// CreateApplication stores a pending application with its documents
	// (already in the blob store) and its audit entry; a second pending
	// application of the institution is refused (application_pending).
	CreateApplication(ctx context.Context, a *Application, entry *audit.Entry) error
	Application(ctx context.Context, id int64) (*Application, error)
	Applications(ctx context.Context, f Filter) ([]Application, error)
	// AddDocument adds a file to a pending application within the limits
	// (checked in the transaction that records it).
	AddDocument(ctx context.Context, d *Document, entry *audit.Entry) error
	Document(ctx context.Context, applicationID, id int64) (*Document, error)
	// Decide records the decision on a pending application, once
	// (application_decided otherwise). An approval opens the institution:
	// approved, approved_on, valid_until, the note cleared, the reminder
	// reset, slots closed by a suspension open again and their families
	// told (tell). It returns the decided application and the families
	// told.
	Decide(ctx context.Context, d Decision, tell Teller, entry *audit.Entry) (*Application, []schedule.Appointment, error)
	// Suspend applies a suspension; done is false when the institution was
	// not approved (or, with OverdueOn, not overdue) and nothing changed.
	Suspend(ctx context.Context, s Suspension) (affected []schedule.Appointment, done bool, err error)
	// Reinstate lifts a suspension; done is false when the institution
	// was not suspended or its approval is no longer valid.
	Reinstate(ctx context.Context, r Reinstatement) (affected []schedule.Appointment, done bool, err error)
	// Overdue lists the approved institutions whose approval ended before
	// day.
	Overdue(ctx context.Context, day string) ([]string, error)
	// RemindRevalidations marks, compare-and-set, every approved
	// institution whose approval ends on or before until, that was not
	// reminded of that end and has no application waiting, and writes the
	// reminders to its admin accounts in the same transaction: each end
	// is reminded once, whichever server asks.
	RemindRevalidations(ctx context.Context, until string, at time.Time, remind Reminder) ([]directory.Institution, error)
}

// Validate checks a new application against its institution (its
// departments, services and doctors must be the institution's) and the
// institution's state (an approved institution re-validates; only one
// that was approved may re-validate). It normalises the lists.
func (a *Application) Validate(inst *directory.Institution, doctors []directory.Practitioner) error {
	var f errs.Fields
	switch a.Kind {
	case KindQualification:
		if inst.Status == directory.QualApproved {
			f.Add("kind", "already_approved")
		}
	case KindRevalidation:
		if inst.ApprovedOn == "" {
			f.Add("kind", "revalidation_needs_approval")
		}
	default:
		f.Add("kind", "kind_invalid")
	}
	if len(a.Note) > 4000 {
		f.Add("note", "too_long")
	}
	a.Departments = dedupe(a.Departments)
	a.Services = dedupe(a.Services)
	if len(a.Departments) == 0 {
		f.Add("departments", "required")
	}
	depts := map[string]bool{}
	services := map[string]string{} // service → department
	for _, d := range inst.Departments {
		depts[d.Code] = true
		for _, s := range d.Services {
			services[s.Code] = d.Code
		}
	}
	listed := map[string]bool{}
	for i, d := range a.Departments {
		if !depts[d] {
			f.Add(field("departments", i), "not_found")
		}
		listed[d] = true
	}
	if len(a.Services) == 0 {
		f.Add("services", "required")
	}
	for i, s := range a.Services {
		dept, ok := services[s]
		switch {
		case !ok:
			f.Add(field("services", i), "not_found")
		case !listed[dept]:
			f.Add(field("services", i), "department_not_listed")
		}
	}
	seen := map[int64]bool{}
	var ids []int64
	for _, id := range a.Practitioners {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	a.Practitioners = ids
	if len(a.Practitioners) == 0 {
		f.Add("practitioners", "required")
	}
	isDoctor := map[int64]bool{}
	for _, p := range doctors {
		if p.Institution == inst.Code && p.Profession == directory.Doctor {
			isDoctor[p.ID] = true
		}
	}
	for i, id := range a.Practitioners {
		if !isDoctor[id] {
			f.Add(field("practitioners", i), "not_found")
		}
	}
	return f.Err()
}

func field(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Day is the civil date of t in Beijing.
func Day(t time.Time) string { return t.In(dates.Beijing).Format(dates.Layout) }

func addDays(day string, n int) string {
	t, err := time.ParseInLocation(dates.Layout, day, dates.Beijing)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, n).Format(dates.Layout)
}

func addYears(day string, n int) string {
	t, err := time.ParseInLocation(dates.Layout, day, dates.Beijing)
	if err != nil {
		return ""
	}
	return t.AddDate(n, 0, 0).Format(dates.Layout)
}

// DueOn is the day an approval valid until validUntil lapses: its
// services are suspended that day unless a re-validation was approved.
func DueOn(validUntil string) string {
	if validUntil == "" {
		return ""
	}
	return addDays(validUntil, 1)
}

// RemindFrom is the first day the admin is reminded of the re-validation
// of an approval valid until validUntil: NoticeDays before it lapses.
func RemindFrom(validUntil string) string {
	if validUntil == "" {
		return ""
	}
	return addDays(DueOn(validUntil), -NoticeDays)
}

// RemindUntil is the latest valid_until whose reminder is due on today.
func RemindUntil(today string) string { return addDays(today, NoticeDays-1) }

// TermOf is the term an approval decided on today grants: a year from
// today; a re-validation of an approval still valid continues it without
// a gap (from the day it would lapse).
func TermOf(kind Kind, inst *directory.Institution, today string) (from, until string) {
	from = today
	if kind == KindRevalidation && inst.Status == directory.QualApproved && inst.ValidUntil != "" && inst.ValidUntil >= today {
		from = DueOn(inst.ValidUntil)
	}
	return from, addDays(addYears(from, TermYears), -1)
}

// ValidateDecision checks a decision: reasons are required to refuse; an
// approval's last day, when the regulator shortens the term, must lie in
// it.
func ValidateDecision(approve bool, reasons, validUntil, from, until string) error {
	var f errs.Fields
	if !approve && strings.TrimSpace(reasons) == "" {
		f.Add("reasons", "required")
	}
	if len(reasons) > 4000 {
		f.Add("reasons", "too_long")
	}
	if validUntil != "" {
		switch {
		case !approve:
			f.Add("valid_until", "only_on_approval")
		case !dates.Valid(validUntil):
			f.Add("valid_until", "date_format")
		case validUntil < from || validUntil > until:
			f.Add("valid_until", "outside_term", from, until)
		}
	}
	return f.Err()
}

// Lapsed reports whether an approval valid until validUntil has lapsed on
// today ("" never: an approval recorded without a term).
func Lapsed(validUntil, today string) bool { return validUntil != "" && validUntil < today }
