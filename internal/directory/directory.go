// Package directory holds institutions (with their internet-diagnosis
// qualification, S-1/G-1), their departments, specialties and service
// catalogue (S-2, W-2), and practitioners with their credentials (D-1, D-2,
// N-6, N-8).
package directory

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Qualification is an institution's status for internet diagnosis (S-1).
type Qualification string

const (
	QualPending   Qualification = "pending"
	QualApproved  Qualification = "approved"
	QualSuspended Qualification = "suspended"
)

// Valid reports whether q is known.
func (q Qualification) Valid() bool {
	return q == QualPending || q == QualApproved || q == QualSuspended
}

// Institution is a hospital (or clinic) and its internet-hospital settings.
type Institution struct {
	Code       string        `json:"code"`
	Name       string        `json:"name"`
	NameEN     string        `json:"name_en"`
	Alias      string        `json:"alias,omitempty"` // other names in the sources
	Status     Qualification `json:"status"`
	ApprovedOn string        `json:"approved_on,omitempty"` // YYYY-MM-DD: the latest approval (or re-validation)
	// ValidUntil is the last day the approval is valid (N-23: one year,
	// set by the regulator's decision); "" for an approval recorded before
	// terms were kept. The services are suspended the day after unless a
	// re-validation was approved.
	ValidUntil  string `json:"valid_until"`
	StatusNote  string `json:"status_note,omitempty"` // the regulator's note; the reason when suspended
	OnlineSince string `json:"online_since,omitempty"`
	Channel     string `json:"channel,omitempty"` // how patients reach it (app, WeChat account)
	// Pilot says whether a first-visit pilot designation of the
	// institution is valid today (G-2, S-5). It is derived from Pilots when
	// the institution is read, never stored; the booking asks PilotOn for
	// the visit's day.
	Pilot        bool          `json:"first_visit_pilot"`
	Pilots       []Designation `json:"pilots"`    // the regulator's designations, with their dates
	Insurance    bool          `json:"insurance"` // real-time insurance settlement (M-2)
	Delivery     string        `json:"delivery,omitempty"`
	DeliveryArea string        `json:"delivery_area,omitempty"`
	Departments  []Department  `json:"departments"`
}

// Open reports whether the institution may offer internet diagnosis (S-1).
func (i Institution) Open() bool { return i.Status == QualApproved }

// Department of an institution.
type Department struct {
	Institution string      `json:"-"`
	Code        string      `json:"code"`
	Name        string      `json:"name"`
	NameEN      string      `json:"name_en"`
	Online      bool        `json:"online"`
	Specialties []Specialty `json:"specialties,omitempty"`
	Services    []Service   `json:"services"`
}

// Specialty within a department (e.g. 生长发育 within paediatrics).
type Specialty struct {
	Institution string `json:"-"`
	Department  string `json:"-"`
	Code        string `json:"code"`
	Name        string `json:"name"`
	NameEN      string `json:"name_en"`
	// Pilot says whether the specialty is designated for first visits
	// today (S-5, G-2); derived from the institution's designations when
	// read, never written through the specialty.
	Pilot bool `json:"first_visit_pilot"`
}

// ServiceKind is what a service offers.
type ServiceKind string

const (
	FollowUp   ServiceKind = "follow_up"
	FirstVisit ServiceKind = "first_visit"
)

// Service is an entry of a department's catalogue: a kind of online visit
// with its price and the weekdays it opens.
type Service struct {
	Institution string      `json:"institution"`
	Department  string      `json:"department"`
	Code        string      `json:"code"`
	Name        string      `json:"name"`
	NameEN      string      `json:"name_en"`
	Kind        ServiceKind `json:"kind"`
	Specialty   string      `json:"specialty,omitempty"` // specialty code
	PriceFen    int64       `json:"price_fen"`
	Price       float64     `json:"price"` // yuan, derived from PriceFen
	// PayAt is when the fee is paid: "at_booking" (the default where a
	// price is set: a booking holds its place until paid) or "none" (M-1).
	PayAt string `json:"pay_at"`
	// PayWindowMinutes is how long a hold waits for its payment (default 15).
	PayWindowMinutes int `json:"pay_window_minutes"`
	// VisitMinutes is one visit's length: a booking's estimated time is
	// its session's start + (number - 1) × this (default 10).
	VisitMinutes int `json:"visit_minutes"`
	// LateNoticeMinutes: families whose estimated time moves later by more
	// than this are told once (default 15).
	LateNoticeMinutes int      `json:"late_notice_minutes"`
	Days              Weekdays `json:"days"`
	Active            bool     `json:"active"`
	// Questionnaire is the code of the pre-consultation template (V-1).
	Questionnaire string `json:"questionnaire,omitempty"`
	Release
}

// When a service's fee is paid (M-1).
const (
	PayAtBooking = "at_booking"
	PayNone      = "none"
)

// PaidAtBooking says whether booking the service holds the place until its
// fee is paid: a price is set and the fee is not "none".
func (s *Service) PaidAtBooking() bool {
	return s.PriceFen > 0 && s.PayAt != PayNone
}

// DefaultPaymentWindow is how long a hold waits for its payment unless the
// service sets another.
const DefaultPaymentWindow = 15

// PaymentWindow is the service's payment window in minutes (0: the default).
func (s *Service) PaymentWindow() int {
	if s.PayWindowMinutes <= 0 {
		return DefaultPaymentWindow
	}
	return s.PayWindowMinutes
}

// Defaults of a service's visit length and late notice.
const (
	DefaultVisitMinutes      = 10
	DefaultLateNoticeMinutes = 15
)

// VisitLength is one visit's length.
func (s *Service) VisitLength() time.Duration {
	if s.VisitMinutes <= 0 {
		return DefaultVisitMinutes * time.Minute
	}
	return time.Duration(s.VisitMinutes) * time.Minute
}

// LateNotice is how much later an estimated time may move before the
// family is told.
func (s *Service) LateNotice() time.Duration {
	if s.LateNoticeMinutes <= 0 {
		return DefaultLateNoticeMinutes * time.Minute
	}
	return time.Duration(s.LateNoticeMinutes) * time.Minute
}

// EstimatedAt is when a booking's visit should start: the session's start
// + (number - 1) visit lengths, moved by how late the doctor runs (never
// earlier than planned). Number 0 (none) answers the session's start.
func EstimatedAt(start time.Time, number int, length, delay time.Duration) time.Time {
	if number <= 0 {
		return start
	}
	return start.Add(time.Duration(number-1)*length + max(delay, 0))
}

// Weekdays is a set of days a service opens, as ISO numbers 1 (Monday) to 7.
type Weekdays []int

// String renders "1,3,5".
func (w Weekdays) String() string {
	var b strings.Builder
	for i, d := range w {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(byte('0' + d))
	}
	return b.String()
}

// Has reports whether the weekday (time.Weekday numbering) is in the set.
func (w Weekdays) Has(d time.Weekday) bool {
	iso := int(d)
	if iso == 0 {
		iso = 7
	}
	for _, x := range w {
		if x == iso {
			return true
		}
	}
	return false
}

// ParseWeekdays parses "1,3,5" (ISO weekdays); it returns nil and false on
// bad input. Duplicates are removed and the result sorted.
func ParseWeekdays(s string) (Weekdays, bool) {
	var seen [8]bool
	s = strings.TrimSpace(s)
	if s == "" {
		return Weekdays{}, true
	}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if len(p) != 1 || p[0] < '1' || p[0] > '7' {
			return nil, false
		}
		seen[p[0]-'0'] = true
	}
	var w Weekdays
	for d := 1; d <= 7; d++ {
		if seen[d] {
			w = append(w, d)
		}
	}
	return w, true
}

var codeRe = regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`)

func validCode(f *errs.Fields, field, c string) {
	if c == "" {
		f.Add(field, "required")
	} else if !codeRe.MatchString(c) {
		f.Add(field, "code_format")
	}
}

func required(f *errs.Fields, field, v string) {
	if strings.TrimSpace(v) == "" {
		f.Add(field, "required")
	}
}

func validDate(f *errs.Fields, field, v string) {
	if v == "" {
		return
	}
	if !dates.Valid(v) {
		f.Add(field, "date_format")
	}
}

// Validate checks an institution's editable fields.
func (i *Institution) Validate() error {
	var f errs.Fields
	validCode(&f, "code", i.Code)
	required(&f, "name", i.Name)
	if !i.Status.Valid() {
		f.Add("status", "status_invalid")
	}
	if i.Status == QualApproved && i.ApprovedOn == "" {
		f.Add("approved_on", "required")
	}
	validDate(&f, "approved_on", i.ApprovedOn)
	validDate(&f, "online_since", i.OnlineSince)
	return f.Err()
}

// Validate checks a department.
func (d *Department) Validate() error {
	var f errs.Fields
	validCode(&f, "code", d.Code)
	required(&f, "name", d.Name)
	return f.Err()
}

// Validate checks a specialty.
func (s *Specialty) Validate() error {
	var f errs.Fields
	validCode(&f, "code", s.Code)
	required(&f, "name", s.Name)
	return f.Err()
}

// Validate checks a service.
func (s *Service) Validate() error {
	var f errs.Fields
	validCode(&f, "code", s.Code)
	required(&f, "name", s.Name)
	if s.Kind != FollowUp && s.Kind != FirstVisit {
		f.Add("kind", "kind_invalid")
	}
	if s.Kind == FirstVisit && s.Specialty == "" {
		f.Add("specialty", "first_visit_needs_specialty")
	}
	if s.PriceFen < 0 || s.PriceFen > 10_000_000 {
		f.Add("price", "price_range")
	}
	switch s.PayAt {
	case "", PayAtBooking, PayNone:
	default:
		f.Add("pay_at", "invalid")
	}
	if s.PayWindowMinutes < 0 || s.PayWindowMinutes > 1440 {
		f.Add("pay_window_minutes", "number_range")
	}
	if s.ReleaseTime == "" {
		s.Release = DefaultRelease
	}
	if err := s.Release.Validate(); err != nil {
		return mergeInto(&f, err)
	}
	return f.Err()
}

// Store is what the directory needs from a database.
type Store interface {
	Institutions(ctx context.Context) ([]Institution, error)
	// Institution returns one institution with departments, specialties and
	// services.
	Institution(ctx context.Context, code string) (*Institution, error)
	// SaveInstitution inserts an institution, or updates its description;
	// an update leaves the qualification (status, approved_on, valid_until,
	// status_note) alone: only the regulator's decisions change it
	// (SetQualification, SetStatusNote, package qualification), so an
	// edit read before a suspension cannot undo it.
	SaveInstitution(ctx context.Context, i *Institution) error
	SetQualification(ctx context.Context, code string, q Qualification, on, note string) error
	SetStatusNote(ctx context.Context, code, note string) error

	// Designations lists the first-visit pilot designations (G-2) of an
	// institution ("" for all), by institution and specialty.
	Designations(ctx context.Context, institution string) ([]Designation, error)
	// SavePilot writes a designation (insert or replace); the specialty
	// must exist (field specialty: not_found).
	SavePilot(ctx context.Context, d *Designation) error
	// DeletePilot removes a designation (not_found when there is none).
	DeletePilot(ctx context.Context, institution, specialty string) error

	SaveDepartment(ctx context.Context, d *Department) error
	SaveSpecialty(ctx context.Context, s *Specialty) error
	SaveService(ctx context.Context, s *Service) error
	Service(ctx context.Context, code string) (*Service, error)

	Practitioners(ctx context.Context, institution string) ([]Practitioner, error)
	Practitioner(ctx context.Context, id int64) (*Practitioner, error)
	SavePractitioner(ctx context.Context, p *Practitioner) error // insert when ID is 0
	// SetPhoto sets (key "" removes) a practitioner's photo and returns
	// the key of the photo it replaced.
	SetPhoto(ctx context.Context, practitionerID int64, key, contentType string) (old string, err error)
	AddSuspension(ctx context.Context, s *Suspension) error
	LiftSuspension(ctx context.Context, practitionerID, suspensionID int64, at time.Time) error
}

// DefaultRelease: bookable from today to 7 days ahead, each day released at
// midnight 7 days before, cancellable until 2 hours before.
var DefaultRelease = Release{MinDays: 0, MaxDays: 7, ReleaseTime: "00:00", CancelCutoffM: 120}

func mergeInto(f *errs.Fields, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		for _, fe := range e.Fields {
			f.Add(fe.Field, fe.Code, fe.Args...)
		}
	}
	return f.Err()
}
