package oversight

import (
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// RectState is the state of a rectification order (整改, G-3, N-22):
// issued → responded (the institution's measures and files) → verified by
// the regulator, or reopened (the measures not accepted) → responded again.
type RectState string

const (
	RectIssued    RectState = "issued"
	RectResponded RectState = "responded"
	RectVerified  RectState = "verified"
	RectReopened  RectState = "reopened"
)

// Awaiting reports whether the institution owes a response.
func (s RectState) Awaiting() bool { return s == RectIssued || s == RectReopened }

// Kinds of an order's events.
const (
	EventIssued    = "issued"
	EventResponse  = "response"
	EventVerified  = "verified"
	EventReopened  = "reopened"
	EventSuspended = "suspended"
)

// Rectification is an inspection's findings and the order to rectify
// them by a deadline (the end of DeadlineDate, Beijing time).
type Rectification struct {
	ID           int64     `json:"id"`
	Institution  string    `json:"institution"`
	InspectedOn  string    `json:"inspected_on"` // YYYY-MM-DD
	Findings     string    `json:"findings"`
	DeadlineDate string    `json:"deadline"`    // YYYY-MM-DD
	Deadline     time.Time `json:"deadline_at"` // the end of that day
	State        RectState `json:"state"`
	Round        int       `json:"round"` // 1, and one more at each reopening
	IssuedBy     int64     `json:"-"`
	IssuedAt     time.Time `json:"issued_at"`
	// The institution's online services suspended while it rectifies.
	SuspendedAt      time.Time `json:"suspended_at,omitzero"`
	SuspensionReason string    `json:"suspension_reason,omitempty"`
	Events           []Event   `json:"events"`
	Files            []File    `json:"files"`
	AlertedRound     int       `json:"-"` // the round whose overdue alert has gone out
}

// Event is a step of an order: its issue, a response (measures and
// files), a verification or reopening (a comment), a suspension (its
// reason).
type Event struct {
	ID              int64     `json:"id"`
	RectificationID int64     `json:"-"`
	Kind            string    `json:"kind"`
	Text            string    `json:"text"`
	Deadline        string    `json:"deadline,omitempty"` // a reopening's new deadline
	Late            bool      `json:"late,omitempty"`     // a response after the deadline
	ActorID         int64     `json:"-"`
	At              time.Time `json:"at"`
	Files           []File    `json:"files,omitempty"`
}

// File is a file an institution attached to a response (kept in the blob
// store).
type File struct {
	ID              int64     `json:"id"`
	RectificationID int64     `json:"-"`
	EventID         int64     `json:"event_id,omitempty"` // the response it is part of (0: not yet)
	Name            string    `json:"name"`
	ContentType     string    `json:"content_type"`
	Size            int64     `json:"size"`
	SHA256          string    `json:"sha256"`
	BlobKey         string    `json:"-"`
	UploadedBy      int64     `json:"-"`
	CreatedAt       time.Time `json:"created_at"`
}

// Limits of a response's files.
const (
	MaxResponseFiles = 10
	MaxFileBytes     = 10 << 20
)

// Overdue reports whether the institution owes a response past the
// deadline at now.
func (r *Rectification) Overdue(now time.Time) bool {
	return r.State.Awaiting() && now.After(r.Deadline)
}

// Order is what the regulator issues an order with.
type Order struct {
	Institution string `json:"institution"`
	InspectedOn string `json:"inspected_on"` // default: today
	Findings    string `json:"findings"`
	Deadline    string `json:"deadline"` // YYYY-MM-DD, today or later
}

// deadlineEnd is the end of a Beijing date: the next day's start.
func deadlineEnd(day string) (time.Time, bool) {
	d, err := time.ParseInLocation(dates.Layout, day, dates.Beijing)
	if err != nil {
		return time.Time{}, false
	}
	return d.AddDate(0, 0, 1), true
}

// checkDeadline adds the error of a deadline date that is malformed or
// already over at now.
func checkDeadline(f *errs.Fields, field, day string, now time.Time) time.Time {
	end, ok := deadlineEnd(day)
	switch {
	case day == "":
		f.Add(field, "required")
	case !ok:
		f.Add(field, "date_format")
	case !end.After(now):
		f.Add(field, "deadline_past")
	}
	return end
}

// NewRectification makes the order at now by the regulator's account by.
func NewRectification(o Order, now time.Time, by int64) (*Rectification, error) {
	o.Institution, o.Findings, o.InspectedOn, o.Deadline = strings.TrimSpace(o.Institution), strings.TrimSpace(o.Findings),
		strings.TrimSpace(o.InspectedOn), strings.TrimSpace(o.Deadline)
	var f errs.Fields
	if o.Institution == "" {
		f.Add("institution", "required")
	}
	text(&f, "findings", o.Findings, MaxText, true)
	today := now.In(dates.Beijing).Format(dates.Layout)
	if o.InspectedOn == "" {
		o.InspectedOn = today
	} else if !dates.Valid(o.InspectedOn) {
		f.Add("inspected_on", "date_format")
	} else if o.InspectedOn > today {
		f.Add("inspected_on", "date_future")
	}
	end := checkDeadline(&f, "deadline", o.Deadline, now)
	if err := f.Err(); err != nil {
		return nil, err
	}
	r := &Rectification{Institution: o.Institution, InspectedOn: o.InspectedOn, Findings: o.Findings, DeadlineDate: o.Deadline, Deadline: end,
		State: RectIssued, Round: 1, IssuedBy: by, IssuedAt: now}
	r.Events = []Event{{Kind: EventIssued, Text: o.Findings, Deadline: o.Deadline, ActorID: by, At: now}}
	return r, nil
}

// Respond records the institution's measures: the order must await a
// response. A response after the deadline is accepted and marked late.
func (r *Rectification) Respond(measures string, now time.Time, by int64) (*Event, error) {
	if !r.State.Awaiting() {
		return nil, IllegalStep(string(r.State), string(RectResponded))
	}
	measures = strings.TrimSpace(measures)
	var f errs.Fields
	text(&f, "measures", measures, MaxText, true)
	if err := f.Err(); err != nil {
		return nil, err
	}
	r.State = RectResponded
	return &Event{Kind: EventResponse, Text: measures, Late: now.After(r.Deadline), ActorID: by, At: now}, nil
}

// Verify is the regulator's verdict on a response: accepted (verified,
// final) or not (reopened: the comment says why; a new deadline may be
// set, else the old one stands).
func (r *Rectification) Verify(accept bool, comment, newDeadline string, now time.Time, by int64) (*Event, error) {
	if r.State != RectResponded {
		to := RectVerified
		if !accept {
			to = RectReopened
		}
		return nil, IllegalStep(string(r.State), string(to))
	}
	comment, newDeadline = strings.TrimSpace(comment), strings.TrimSpace(newDeadline)
	var f errs.Fields
	text(&f, "comment", comment, MaxNote, !accept)
	var end time.Time
	if accept && newDeadline != "" {
		f.Add("deadline", "not_this_step")
	} else if newDeadline != "" {
		end = checkDeadline(&f, "deadline", newDeadline, now)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if accept {
		r.State = RectVerified
		return &Event{Kind: EventVerified, Text: comment, ActorID: by, At: now}, nil
	}
	r.State, r.Round = RectReopened, r.Round+1
	if newDeadline != "" {
		r.DeadlineDate, r.Deadline = newDeadline, end
	}
	return &Event{Kind: EventReopened, Text: comment, Deadline: newDeadline, ActorID: by, At: now}, nil
}

// Suspend records that the regulator suspended the institution's online
// services under this order, with the reason the public sees. A verified
// order is done: nothing to suspend for.
func (r *Rectification) Suspend(reason string, now time.Time, by int64) (*Event, error) {
	if r.State == RectVerified {
		return nil, errs.E(CodeNotSuspendable)
	}
	reason = strings.TrimSpace(reason)
	var f errs.Fields
	text(&f, "reason", reason, MaxNote, true)
	if err := f.Err(); err != nil {
		return nil, err
	}
	r.SuspendedAt, r.SuspensionReason = now, reason
	return &Event{Kind: EventSuspended, Text: reason, ActorID: by, At: now}, nil
}

// RectFilter selects orders.
type RectFilter struct {
	Institution string    // "": every institution
	OverdueAt   time.Time // non-zero: only those overdue at this time
	Limit       int
}

// Rating is a patient's or guardian's rating of a completed visit (满意度,
// N-22): once a visit.
type Rating struct {
	VisitID     int64     `json:"visit_id"`
	Institution string    `json:"institution"`
	DoctorID    int64     `json:"doctor_id"`
	PatientID   int64     `json:"-"`
	AccountID   int64     `json:"-"`
	Score       int       `json:"score"` // 1 to 5
	Comment     string    `json:"comment"`
	CreatedAt   time.Time `json:"created_at"`
}

// Validate checks a rating: a score of 1 to 5, a short comment.
func (r *Rating) Validate() error {
	r.Comment = strings.TrimSpace(r.Comment)
	var f errs.Fields
	if r.Score < 1 || r.Score > 5 {
		f.Add("score", "score_range")
	}
	text(&f, "comment", r.Comment, MaxComment, false)
	return f.Err()
}

// RatingSummary is an institution's satisfaction: how many ratings, their
// average, and how many of each score (ByScore[0] is 1 star).
type RatingSummary struct {
	Institution string  `json:"institution"`
	Count       int     `json:"count"`
	Average     float64 `json:"average"`
	ByScore     [5]int  `json:"by_score"`
}
