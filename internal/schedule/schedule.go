// Package schedule holds doctors' weekly sessions, the slots (号源) they
// generate, the booking window and release of a service (S-2), and
// appointments (预约挂号) with their rules: one active booking per patient
// per department per day, cancellation until a cutoff.
package schedule

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// Schedule is a doctor's weekly session of a service.
type Schedule struct {
	ID             int64  `json:"id"`
	Service        string `json:"service"`
	PractitionerID int64  `json:"practitioner_id"`
	Weekday        int    `json:"weekday"`    // ISO 1 (Monday) to 7
	StartTime      string `json:"start_time"` // HH:MM, Beijing time
	Capacity       int    `json:"capacity"`
	Active         bool   `json:"active"`
}

// Validate checks a schedule.
func (s *Schedule) Validate() error {
	var f errs.Fields
	if s.Service == "" {
		f.Add("service", "required")
	}
	if s.PractitionerID == 0 {
		f.Add("practitioner_id", "required")
	}
	if s.Weekday < 1 || s.Weekday > 7 {
		f.Add("weekday", "days_format")
	}
	if _, err := time.Parse("15:04", s.StartTime); err != nil {
		f.Add("start_time", "time_format")
	}
	if s.Capacity < 1 || s.Capacity > 500 {
		f.Add("capacity", "capacity_range")
	}
	return f.Err()
}

// Error codes of booking.
const (
	CodeNotOpen     = directory.CodeNotOpen
	CodeClosed      = directory.CodeClosed
	CodeSlotFull    = "slot_full"
	CodeIneligible  = "ineligible"
	CodeOnePerDay   = "already_booked"
	CodeCutoff      = "cancel_cutoff"
	CodeSlotClosed  = "slot_closed"
	CodeNotBookable = "not_bookable"
)

// Slot is one bookable session of a doctor for a service.
type Slot struct {
	ID             int64                 `json:"id"`
	Service        string                `json:"service"`
	Institution    string                `json:"institution"`
	Department     string                `json:"department"`
	PractitionerID int64                 `json:"doctor_id"`
	DoctorName     string                `json:"doctor"`
	DoctorTitle    string                `json:"doctor_title,omitempty"`
	Kind           directory.ServiceKind `json:"kind"`
	Day            string                `json:"day"`
	Start          time.Time             `json:"start"`
	Capacity       int                   `json:"capacity"`
	Booked         int                   `json:"-"`
	Remaining      int                   `json:"remaining"`
	Status         string                `json:"status"`
}

// SlotOpen and SlotCancelled are slot statuses.
const (
	SlotOpen      = "open"
	SlotCancelled = "cancelled"
)

// Generate makes the slots of a service's schedules from day from to day
// to (inclusive), on the weekdays the service opens. First-visit slots go
// only to doctors who meet D-1 on the slot's day (and are not suspended).
func Generate(svc directory.Service, schedules []Schedule, doctors map[int64]directory.Practitioner, from, to time.Time) []Slot {
	var out []Slot
	for d := directory.DayStart(from); !d.After(directory.DayStart(to)); d = d.AddDate(0, 0, 1) {
		if !svc.Active || !svc.Days.Has(d.Weekday()) {
			continue
		}
		iso := int(d.Weekday())
		if iso == 0 {
			iso = 7
		}
		for _, s := range schedules {
			if !s.Active || s.Weekday != iso {
				continue
			}
			doc, ok := doctors[s.PractitionerID]
			if !ok || !doc.MayWorkOnline() {
				continue
			}
			if svc.Kind == directory.FirstVisit {
				if ok, _ := doc.FirstVisitCheck(d); !ok {
					continue
				}
			}
			hm, _ := time.Parse("15:04", s.StartTime)
			start := d.Add(time.Duration(hm.Hour())*time.Hour + time.Duration(hm.Minute())*time.Minute)
			out = append(out, Slot{Service: svc.Code, Institution: svc.Institution, Department: svc.Department, PractitionerID: s.PractitionerID,
				Kind: svc.Kind, Day: d.Format(dates.Layout), Start: start.UTC(), Capacity: s.Capacity, Status: SlotOpen})
		}
	}
	return out
}

// Appointment statuses.
const (
	Booked    = "booked"
	Cancelled = "cancelled"
	Held      = "held"    // a paid service's place, kept until PayBy for its payment
	Expired   = "expired" // a hold whose payment did not come in time: its place went back
)

// Appointment is a patient's booking of a slot.
type Appointment struct {
	ID           int64                 `json:"id"`
	SlotID       int64                 `json:"slot_id"`
	PatientID    int64                 `json:"patient_id"`
	PatientName  string                `json:"patient_name,omitempty"`
	AccountID    int64                 `json:"-"`
	Service      string                `json:"service"`
	ServiceName  string                `json:"service_name,omitempty"`
	Institution  string                `json:"institution"`
	Department   string                `json:"department"`
	Day          string                `json:"day"`
	Start        time.Time             `json:"start"`
	DoctorName   string                `json:"doctor,omitempty"`
	Kind         directory.ServiceKind `json:"kind"`
	Status       string                `json:"status"`
	Answers      map[string]bool       `json:"answers"`
	IdemKey      string                `json:"-"`
	CreatedAt    time.Time             `json:"created_at"`
	CancelledAt  time.Time             `json:"cancelled_at,omitzero"`
	CancelReason string                `json:"cancel_reason,omitempty"`
	VisitState   string                `json:"visit_state,omitempty"` // the online visit's state once it has moved
	PayBy        time.Time             `json:"pay_by,omitzero"`       // a held appointment's payment deadline
	// Number is the booking's number in its session (第 N 号, 1 first);
	// EstimatedAt when its visit should start: the session's start +
	// (Number - 1) visit lengths, moved by Delay, how late the doctor runs.
	Number      int           `json:"number"`
	EstimatedAt time.Time     `json:"estimated_at"`
	Delay       time.Duration `json:"-"`
	// PractitionerID holds the session (the visit's doctor).
	PractitionerID int64 `json:"-"`
}

// Placeholders of a booking's notice, filled once its number is known
// (in the transaction that takes it): the number and the estimated time.
const (
	NoticeNumber = "{no}"
	NoticeAt     = "{at}"
)

// FillNotice writes the appointment's number and estimated time (Beijing,
// HH:MM) into a notice text.
func FillNotice(text string, a *Appointment) string {
	if !strings.Contains(text, "{") {
		return text
	}
	text = strings.ReplaceAll(text, NoticeNumber, strconv.Itoa(a.Number))
	return strings.ReplaceAll(text, NoticeAt, a.EstimatedAt.In(dates.Beijing).Format("15:04"))
}

// SetEstimate sets EstimatedAt from the service's visit length.
func (a *Appointment) SetEstimate(length time.Duration) {
	a.EstimatedAt = directory.EstimatedAt(a.Start, a.Number, length, a.Delay)
}

// CanCancel says whether the patient may still cancel at now.
func (a Appointment) CanCancel(now time.Time, cutoffMinutes int) error {
	if a.Status != Booked && a.Status != Held {
		return errs.E(errs.Conflict)
	}
	if now.After(a.Start.Add(-time.Duration(cutoffMinutes) * time.Minute)) {
		return errs.E(CodeCutoff, cutoffMinutes)
	}
	return nil
}

// BookRequest is one booking to write.
type BookRequest struct {
	SlotID    int64
	PatientID int64
	AccountID int64
	IdemKey   string
	Answers   string // JSON
	At        time.Time
	// PayBy, when set, makes the booking a hold (status held) kept until
	// then for its payment.
	PayBy time.Time
	// Notice, when set, is put in the account's inbox in the same
	// transaction as the booking (its Ref is filled in).
	Notice *notify.Notification
	// VisitLength is the service's visit length: the appointment's
	// estimated time, and the notice's {no} and {at}, come from it.
	VisitLength time.Duration
	// Audit, when set, is appended to the audit chain in the same
	// transaction, once the booking succeeded (its ObjectID is filled in).
	Audit *audit.Entry
}

// BookResult is the outcome of one BookRequest: the appointment, or one of
// the codes slot_full, already_booked, slot_closed, not_found.
type BookResult struct {
	Appointment *Appointment
	Code        string
	Replayed    bool // the idempotency key had booked already
	Filled      bool // this booking took the slot's last place
}

// Store persists schedules, slots and appointments.
type Store interface {
	SaveSchedule(ctx context.Context, s *Schedule) error
	DeleteSchedule(ctx context.Context, id int64, service string) error
	Schedules(ctx context.Context, service string) ([]Schedule, error)
	// InsertSlots adds slots, skipping those that exist; returns how many were new.
	InsertSlots(ctx context.Context, slots []Slot) (int, error)
	Slot(ctx context.Context, id int64) (*Slot, error)
	ListSlots(ctx context.Context, f SlotFilter) ([]Slot, error)
	// Book writes the requests in one transaction; each slot is taken with
	// a single conditional update, so no slot is ever oversold.
	Book(ctx context.Context, reqs []BookRequest) ([]BookResult, error)
	AppointmentByKey(ctx context.Context, accountID int64, key string) (*Appointment, error)
	Appointment(ctx context.Context, id int64) (*Appointment, error)
	Appointments(ctx context.Context, f AppointmentFilter) ([]Appointment, error)
	// Cancel cancels a booked appointment and returns the capacity.
	Cancel(ctx context.Context, id int64, reason string, at time.Time) error
	// CancelFirstVisitsOf cancels a doctor's future first-visit bookings
	// and closes the slots (D-2); returns the cancelled appointments.
	CancelFirstVisitsOf(ctx context.Context, practitionerID int64, all bool, from time.Time, reason string) ([]Appointment, error)
	SlotUsage(ctx context.Context, institution string, from, to string) ([]DayUsage, error)
}

// SlotFilter selects slots.
type SlotFilter struct {
	Institution, Department, Service string
	From, To                         string    // days, inclusive
	After                            time.Time // only slots starting after
	OnlyOpen                         bool
	Limit                            int
}

// AppointmentFilter selects appointments.
type AppointmentFilter struct {
	AccountID   int64
	PatientIDs  []int64
	Institution string
	// PractitionerID and Department narrow an institution's bookings to
	// what a staff member sees (authz.Sight): the sessions one doctor
	// holds, one department's.
	PractitionerID int64
	Department     string
	Day            string
	Status         string
	Limit          int
}

// DayUsage is the slot usage of a service on a day.
type DayUsage struct {
	Day      string `json:"day"`
	Service  string `json:"service"`
	Capacity int    `json:"capacity"`
	Booked   int    `json:"booked"`
}

// ParseDay parses a YYYY-MM-DD day in Beijing time.
func ParseDay(s string) (time.Time, error) {
	t, err := time.ParseInLocation(dates.Layout, strings.TrimSpace(s), dates.Beijing)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad day %q", s)
	}
	return t, nil
}
