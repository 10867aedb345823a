// Package referral is care between institutions (issue 16): referrals of a
// patient from one institution's doctor to another institution's
// department, up for a specialist or down to primary care (tiered care,
// 分级诊疗, N-24, W-5), accepted or declined by the receiving institution;
// and the patient's (or guardian's) consents that an institution's doctors
// read the patient's records of another institution (W-4), revocable,
// every read audited and shown to the family.
//
// An accepted referral is a fact of booking at the receiving institution
// and department (policy facts referred_in and days_since_referral): where
// an institution's follow-up rule says so (has_history || referred_in), a
// referred patient books a follow-up (S-3) without an offline visit there.
package referral

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// State of a referral: created → accepted | declined | cancelled.
type State string

const (
	Created   State = "created"
	Accepted  State = "accepted"
	Declined  State = "declined"
	Cancelled State = "cancelled"
)

// Direction of a referral in tiered care.
type Direction string

const (
	Up   Direction = "up"   // to a higher level, for a specialist
	Down Direction = "down" // to primary care (a community health centre)
	Peer Direction = "peer" // to an institution of the same level
)

// Urgency of a referral.
type Urgency string

const (
	Routine   Urgency = "routine"
	Urgent    Urgency = "urgent"
	Emergency Urgency = "emergency"
)

// Error codes (stable).
const (
	CodeIllegal     = "referral_state"            // the step is not allowed in the referral's state
	CodeSameInst    = "referral_same_institution" // to the referring institution itself
	CodeNoConsent   = "consent_required"          // no valid consent covers the read
	CodeConsentDone = "consent_revoked"           // the consent was revoked already
)

// Referral is one patient sent from a visit to another institution.
type Referral struct {
	ID              int64     `json:"id"`
	VisitID         int64     `json:"visit_id"`
	PatientID       int64     `json:"patient_id"`
	PatientName     string    `json:"patient_name,omitempty"`
	FromInstitution string    `json:"from_institution"`
	FromDepartment  string    `json:"from_department"`
	FromAccount     int64     `json:"from_account"`
	FromDoctor      string    `json:"from_doctor,omitempty"`
	ToInstitution   string    `json:"to_institution"`
	ToDepartment    string    `json:"to_department"`
	Direction       Direction `json:"direction"`
	Urgency         Urgency   `json:"urgency"`
	Reason          string    `json:"reason"`
	Summary         string    `json:"summary"`
	State           State     `json:"state"`
	DecidedBy       int64     `json:"decided_by,omitempty"`
	DecidedAt       time.Time `json:"decided_at,omitzero"`
	Note            string    `json:"note,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// Validate checks a new referral's fields (the institutions' existence is
// the caller's to check); it trims the texts.
func (r *Referral) Validate() error {
	var f errs.Fields
	r.ToInstitution, r.ToDepartment = strings.TrimSpace(r.ToInstitution), strings.TrimSpace(r.ToDepartment)
	r.Reason, r.Summary = strings.TrimSpace(r.Reason), strings.TrimSpace(r.Summary)
	if r.ToInstitution == "" {
		f.Add("to_institution", "required")
	} else if r.ToInstitution == r.FromInstitution {
		f.Add("to_institution", CodeSameInst)
	}
	if r.ToDepartment == "" {
		f.Add("to_department", "required")
	}
	switch r.Direction {
	case Up, Down, Peer:
	case "":
		f.Add("direction", "required")
	default:
		f.Add("direction", "invalid")
	}
	switch r.Urgency {
	case Routine, Urgent, Emergency:
	case "":
		f.Add("urgency", "required")
	default:
		f.Add("urgency", "invalid")
	}
	if r.Reason == "" {
		f.Add("reason", "required")
	} else if utf8.RuneCountInString(r.Reason) > 500 {
		f.Add("reason", "too_long")
	}
	if utf8.RuneCountInString(r.Summary) > 4000 {
		f.Add("summary", "too_long")
	}
	return f.Err()
}

// Decision is the receiving institution's answer, or the sender's
// cancellation.
type Decision struct {
	ReferralID int64
	To         State // accepted | declined | cancelled
	By         int64
	At         time.Time
	Note       string
}

// Filter selects referrals: those sent from or to an institution, or of
// the patients (a family's).
type Filter struct {
	Institution string  // sent from or received by
	Patients    []int64 // of these patients
	State       State
	Limit       int
}

// Consent lets a grantee institution's doctors read the patient's records
// of the source institution ("" : of every institution) from ValidFrom to
// ValidTo (dates in Beijing, ValidTo "" : no end), until revoked.
type Consent struct {
	ID          int64     `json:"id"`
	PatientID   int64     `json:"patient_id"`
	PatientName string    `json:"patient_name,omitempty"`
	Grantee     string    `json:"grantee"`
	Source      string    `json:"source"`
	ValidFrom   string    `json:"valid_from"`
	ValidTo     string    `json:"valid_to"`
	GrantedBy   int64     `json:"granted_by"`
	CreatedAt   time.Time `json:"created_at"`
	RevokedBy   int64     `json:"revoked_by,omitempty"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
}

// Active says whether the consent allows reads at instant at.
func (c Consent) Active(at time.Time) bool {
	if !c.RevokedAt.IsZero() {
		return false
	}
	day := at.In(dates.Beijing).Format(dates.Layout)
	return c.ValidFrom <= day && (c.ValidTo == "" || day <= c.ValidTo)
}

// Covers says whether the consent, active at at, lets grantee read
// records of source.
func (c Consent) Covers(grantee, source string, at time.Time) bool {
	return c.Active(at) && c.Grantee == grantee && (c.Source == "" || c.Source == source) && source != grantee
}

// Validate checks a new consent (dates as YYYY-MM-DD; ValidFrom defaults to
// today, no later than ValidTo).
func (c *Consent) Validate(now time.Time) error {
	var f errs.Fields
	c.Grantee, c.Source = strings.TrimSpace(c.Grantee), strings.TrimSpace(c.Source)
	if c.Grantee == "" {
		f.Add("grantee", "required")
	}
	if c.Source != "" && c.Source == c.Grantee {
		f.Add("source", "invalid")
	}
	if c.ValidFrom == "" {
		c.ValidFrom = now.In(dates.Beijing).Format(dates.Layout)
	}
	if _, err := time.Parse(dates.Layout, c.ValidFrom); err != nil {
		f.Add("valid_from", "date_format")
	}
	if c.ValidTo != "" {
		if _, err := time.Parse(dates.Layout, c.ValidTo); err != nil {
			f.Add("valid_to", "date_format")
		} else if c.ValidTo < c.ValidFrom {
			f.Add("valid_to", "invalid")
		}
	}
	return f.Err()
}

// SharedRecord is a signed visit record of another institution, as a
// consenting patient's record is shown to a grantee's doctor.
type SharedRecord struct {
	VisitID        int64       `json:"visit_id"`
	Institution    string      `json:"institution"`
	Department     string      `json:"department"`
	Doctor         string      `json:"doctor"`
	Version        int         `json:"version"`
	SignedAt       time.Time   `json:"signed_at"`
	ChiefComplaint string      `json:"chief_complaint"`
	PresentIllness string      `json:"present_illness"`
	Observations   string      `json:"observations"`
	Diagnoses      []Diagnosis `json:"diagnoses"`
	Advice         string      `json:"advice"`
}

// Diagnosis is an ICD-10 coded diagnosis of a shared record.
type Diagnosis struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Read is one audited read of a patient's records, as the family sees it
// ("谁看过我的病历").
type Read struct {
	At          time.Time `json:"at"`
	PatientID   int64     `json:"patient_id"`
	PatientName string    `json:"patient_name"`
	Reader      string    `json:"reader"` // the practitioner's name, else the account's username
	Role        string    `json:"role"`
	Institution string    `json:"institution"`
	// InstitutionName is the reader's institution's name.
	InstitutionName string `json:"institution_name"`
	Action          string `json:"action"`
	Detail          string `json:"detail"`
}

// ReadActions are the audit actions of reads of a patient's records by
// another institution's staff, listed to the family.
var ReadActions = []string{"records.shared.read"}

// Store keeps referrals and consents.
type Store interface {
	CreateReferral(ctx context.Context, r *Referral) error
	Referral(ctx context.Context, id int64) (*Referral, error)
	Referrals(ctx context.Context, f Filter) ([]Referral, error)
	// DecideReferral moves a created referral to d.To (compare-and-set);
	// another state answers CodeIllegal.
	DecideReferral(ctx context.Context, d Decision) (*Referral, error)
	// ReferredIn is the newest acceptance of a referral of the patient to
	// the institution's department at or before at (zero: none).
	ReferredIn(ctx context.Context, patientID int64, institution, department string, at time.Time) (time.Time, error)

	CreateConsent(ctx context.Context, c *Consent) error
	Consent(ctx context.Context, id int64) (*Consent, error)
	Consents(ctx context.Context, patients []int64) ([]Consent, error)
	RevokeConsent(ctx context.Context, id, by int64, at time.Time) (*Consent, error)
	// SharedRecords are the latest signed versions of the patient's visit
	// records at institutions other than grantee (of source only when not
	// ""), newest first.
	SharedRecords(ctx context.Context, patientID int64, grantee, source string) ([]SharedRecord, error)
	// RecordReads lists the audited reads (ReadActions) of the patients'
	// records, newest first.
	RecordReads(ctx context.Context, patients []int64, limit int) ([]Read, error)
	// DoctorSeesPatient says whether the doctor's account has a visit of
	// the patient (booked or later, not cancelled).
	DoctorSeesPatient(ctx context.Context, doctorAccount, patientID int64) (bool, error)
}
