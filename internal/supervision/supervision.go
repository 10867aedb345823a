// Package supervision is the supervision feed (N-16, N-22): what each
// institution reports to the city's supervision platform, and the platform's
// receiving side.
//
// Every change the regulator supervises (a visit started or ended, a
// termination, a prescription issued, reviewed or dispensed, a rating, a
// complaint, an adverse event, a qualification change, a doctor onboarded
// or suspended) writes an Event to the institution's outbox in the same
// transaction as the change itself: a change is never committed without its
// event, nor an event without its change. Events carry least data (N-22):
// kind, time, codes (department, service kind, ICD-10 diagnoses, rule and
// reason codes, category, severity, outcome), internal ids of the visit and
// the practitioner, and the patient only as a pseudonymous key (PatientKey:
// an HMAC of the patient's id under a secret the sending server keeps). No
// free text goes out: every code is checked by Code, and one that does not
// look like a code is sent as an opaque hash of itself.
//
// Events are numbered per institution (Seq 1, 2, 3, … without gaps, in
// commit order of the institution's changes) and have a random id. The
// Reporter sends each institution's outbox in order, in batches signed with
// the institution's SM2 key (Keys), retried with exponential backoff, and
// idempotent by event id and number: the Receiver stores each event once,
// ignores what it already has, and refuses a batch that would leave a gap
// (answering the last number it has, from which the reporter resumes), so
// the received feed of every institution is always a gap-free prefix of its
// outbox, in order.
//
// It imports neither the web nor the database.
package supervision

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Kind of event: a stable code "subject.what".
type Kind string

// The kinds Yunyi reports. A receiver accepts other well-formed kinds too
// (a hospital on another system may report more).
const (
	VisitStarted          Kind = "visit.started"          // the doctor called the patient in
	VisitEnded            Kind = "visit.ended"            // completed, with the signed record's diagnoses
	VisitNoShow           Kind = "visit.no_show"          // marked no-show
	VisitTerminated       Kind = "visit.terminated"       // ended and referred offline (V-3), with the reasons' codes
	PrescriptionIssued    Kind = "prescription.issued"    // signed by the doctor, waiting for review
	PrescriptionReviewed  Kind = "prescription.reviewed"  // approved or rejected by a pharmacist (N-11)
	PrescriptionDispensed Kind = "prescription.dispensed" // handed to the courier (N-12)
	RatingGiven           Kind = "rating.given"           // the patient's satisfaction score (V-4)
	ComplaintFiled        Kind = "complaint.filed"        // N-21
	ComplaintStepped      Kind = "complaint.stepped"      // triaged, investigating, closed
	AdverseEventReported  Kind = "adverse_event.reported" // V-4
	AdverseEventStepped   Kind = "adverse_event.stepped"
	QualificationChanged  Kind = "qualification.changed"  // approved, refused, suspended, reinstated (S-1, G-1, N-23)
	PractitionerOnboarded Kind = "practitioner.onboarded" // a doctor or pharmacist added to the institution
	PractitionerSuspended Kind = "practitioner.suspended" // D-1: first visits or all visits
	PractitionerLifted    Kind = "practitioner.reinstated"
)

// Kinds lists the kinds Yunyi reports, in the order the regulator's pages
// show them.
var Kinds = []Kind{VisitStarted, VisitEnded, VisitNoShow, VisitTerminated, PrescriptionIssued, PrescriptionReviewed, PrescriptionDispensed,
	RatingGiven, ComplaintFiled, ComplaintStepped, AdverseEventReported, AdverseEventStepped, QualificationChanged,
	PractitionerOnboarded, PractitionerSuspended, PractitionerLifted}

// Event is one supervised change, as reported. Only codes, times and
// internal ids: see the package comment.
type Event struct {
	ID           string    `json:"id"`          // unique (a version 7 UUID), made when written
	Institution  string    `json:"institution"` // the institution's code
	Seq          int64     `json:"seq"`         // 1, 2, … per institution, no gaps
	Kind         Kind      `json:"kind"`
	OccurredAt   time.Time `json:"occurred_at"`
	Patient      string    `json:"patient,omitempty"`      // PatientKey
	Visit        int64     `json:"visit,omitempty"`        // the visit's id at the institution
	Practitioner int64     `json:"practitioner,omitempty"` // the practitioner's id at the institution
	Department   string    `json:"department,omitempty"`
	ServiceKind  string    `json:"service_kind,omitempty"` // first_visit, follow_up
	Diagnoses    []string  `json:"diagnoses,omitempty"`    // ICD-10 codes
	Codes        []string  `json:"codes,omitempty"`        // rule ids, termination reasons, confirmed rules
	Category     string    `json:"category,omitempty"`     // a complaint's or adverse event's category
	Severity     string    `json:"severity,omitempty"`     // an adverse event's severity
	Outcome      string    `json:"outcome,omitempty"`      // approved, rejected, completed, a state, a qualification status
	Score        int       `json:"score,omitempty"`        // a rating, 1 to 5
	Ref          string    `json:"ref,omitempty"`          // the object: prescription/12, complaint/3
}

// Day is the Beijing date the event happened on.
func (e Event) Day() string { return e.OccurredAt.In(dates.Beijing).Format(dates.Layout) }

// codeRe is what a code looks like: letters, digits and a few separators,
// at most 64 characters. No spaces, no Chinese: never free text.
var codeRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,63}$`)

// kindRe is what a kind looks like.
var kindRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}\.[a-z][a-z0-9_]{0,31}$`)

// idRe is an event id: a UUID's form (what NewID makes), or another
// sender's id of 8 to 64 code characters.
var idRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$`)

// refRe is a reference to an object: kind/id.
var refRe = regexp.MustCompile(`^[a-z][a-z_]{0,31}/[0-9]{1,19}$`)

// patientRe is a patient key: 32 lowercase hex characters.
var patientRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Code keeps s when it looks like a code and sends anything else as an
// opaque code of its own ("h:" and 16 hex characters of its SHA-256): the
// same text gives the same code, and no text leaves the institution.
func Code(s string) string {
	if s == "" || codeRe.MatchString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h:" + hex.EncodeToString(sum[:8])
}

// Codes applies Code to every element, dropping empty ones.
func Codes(list []string) []string {
	var out []string
	for _, s := range list {
		if c := Code(s); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// PatientKeySize is the size of the server's patient-key secret in bytes.
const PatientKeySize = 32

// PatientKey is the pseudonymous key of a patient: HMAC-SHA256 of the
// patient's id under the sending server's secret, its first 16 bytes in hex.
// The same patient always has the same key at one institution's server (so
// the regulator can count returning patients and follow one patient's
// visits), and without the secret nobody can go back from the key to the
// patient. 0 (no patient) gives "".
func PatientKey(secret []byte, patientID int64) string {
	if patientID == 0 {
		return ""
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("yunyi/supervision/patient/v1:"))
	m.Write(strconv.AppendInt(nil, patientID, 10))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// NewID makes an event id: a version 7 UUID (RFC 9562: the millisecond
// of the real clock, then 74 random bits), so that ids made one after the
// other sort together and the platform's index of them grows at its end
// instead of everywhere.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Normalise makes the event ready to be written: codes checked (Code),
// the time in UTC to the microsecond (what the stores keep).
func (e *Event) Normalise() {
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	e.Department, e.ServiceKind, e.Category = Code(e.Department), Code(e.ServiceKind), Code(e.Category)
	e.Severity, e.Outcome = Code(e.Severity), Code(e.Outcome)
	e.Diagnoses, e.Codes = Codes(e.Diagnoses), Codes(e.Codes)
}

// MaxCodes bounds the lists of an event.
const MaxCodes = 32

// Validate checks an event as the receiver takes it: field names are
// prefixed with prefix (events[3].kind).
func (e *Event) Validate(f *errs.Fields, prefix string) {
	if !idRe.MatchString(e.ID) {
		f.Add(prefix+"id", "invalid")
	}
	if !codeRe.MatchString(e.Institution) {
		f.Add(prefix+"institution", "invalid")
	}
	if e.Seq < 1 {
		f.Add(prefix+"seq", "invalid")
	}
	if !kindRe.MatchString(string(e.Kind)) {
		f.Add(prefix+"kind", "invalid")
	}
	if e.OccurredAt.IsZero() {
		f.Add(prefix+"occurred_at", "required")
	}
	if e.Patient != "" && !patientRe.MatchString(e.Patient) {
		f.Add(prefix+"patient", "invalid")
	}
	if e.Visit < 0 {
		f.Add(prefix+"visit", "invalid")
	}
	if e.Practitioner < 0 {
		f.Add(prefix+"practitioner", "invalid")
	}
	for name, v := range map[string]string{"department": e.Department, "service_kind": e.ServiceKind, "category": e.Category,
		"severity": e.Severity, "outcome": e.Outcome} {
		if v != "" && !codeRe.MatchString(v) {
			f.Add(prefix+name, "invalid")
		}
	}
	for name, list := range map[string][]string{"diagnoses": e.Diagnoses, "codes": e.Codes} {
		if len(list) > MaxCodes {
			f.Add(prefix+name, "too_many_rows")
			continue
		}
		for _, v := range list {
			if !codeRe.MatchString(v) {
				f.Add(prefix+name, "invalid")
				break
			}
		}
	}
	if e.Score < 0 || e.Score > 5 {
		f.Add(prefix+"score", "invalid")
	}
	if e.Ref != "" && !refRe.MatchString(e.Ref) {
		f.Add(prefix+"ref", "invalid")
	}
}

// Batch is what the reporter posts: one institution's events in order,
// and the number of the last event its outbox holds (Head), from which the
// platform knows how far behind it is.
type Batch struct {
	Institution string    `json:"institution"`
	Head        int64     `json:"head"`
	SentAt      time.Time `json:"sent_at"`
	Events      []Event   `json:"events"`
	// Bodies are the events as received (compact JSON, what the
	// institution signed), which the platform stores; nil: each event's
	// Canonical form is stored.
	Bodies [][]byte `json:"-"`
}

// MaxBatch is the most events a batch may carry, and MaxBatchBytes its
// largest body.
const (
	MaxBatch      = 1000
	MaxBatchBytes = 4 << 20
)

// Error codes of the feed (mapped to HTTP in one place, web/errors.go).
const (
	CodeBadSignature  = "supervision_bad_signature"  // 401: the batch's signature does not verify with the institution's key
	CodeUnknownSource = "supervision_unknown_source" // 401: no key registered for the institution
	CodeGap           = "supervision_gap"            // 409: the batch starts after the next number expected (details: last_seq)
	CodeMismatch      = "supervision_mismatch"       // 409: a number already received with another event id
)

// GapError is the refusal of a batch that would leave a gap: Last is the
// last number the platform has of the institution; the reporter resumes
// after it.
type GapError struct {
	Institution string
	Last, First int64 // the last received, the batch's first new number
}

func (g *GapError) Error() string {
	return fmt.Sprintf("supervision: %s: batch starts at %d, the platform has up to %d", g.Institution, g.First, g.Last)
}

// Err is the coded error the API answers (with details).
func (g *GapError) Err() error {
	return &errs.Error{Code: CodeGap, Args: []any{g.First, g.Last}, Err: g}
}

// Received is the platform's answer to a batch.
type Received struct {
	Institution string `json:"institution"`
	Accepted    int    `json:"accepted"`   // new events stored
	Duplicates  int    `json:"duplicates"` // events it had already (ignored)
	LastSeq     int64  `json:"last_seq"`   // the last number it has now
}

// Source is an institution whose batches the platform takes: its code and
// the SM2 public key its batches are signed with.
type Source struct {
	Institution string    `json:"institution"`
	PublicKey   string    `json:"public_key"` // base64 PKIX DER (sign.MarshalPublic)
	By          int64     `json:"by,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Feed is what the platform knows of one institution's feed.
type Feed struct {
	Institution    string    `json:"institution"`
	LastSeq        int64     `json:"last_seq"`   // received, in order, without gaps
	HeadSeq        int64     `json:"head_seq"`   // the institution's outbox, as its last batch said
	Lag            int64     `json:"lag"`        // HeadSeq - LastSeq
	Events         int64     `json:"events"`     // stored
	Duplicates     int64     `json:"duplicates"` // ignored
	Batches        int64     `json:"batches"`
	LastReceivedAt time.Time `json:"last_received_at,omitzero"`
	LastError      string    `json:"last_error,omitempty"` // the code of the last refused batch
	LastErrorAt    time.Time `json:"last_error_at,omitzero"`
}

// Cursor is the sending side of one institution's feed.
type Cursor struct {
	Institution   string    `json:"institution"`
	HeadSeq       int64     `json:"head_seq"`  // the last event written
	AckedSeq      int64     `json:"acked_seq"` // the last the platform acknowledged
	Lag           int64     `json:"lag"`       // HeadSeq - AckedSeq
	Attempts      int       `json:"attempts"`  // failures since the last success
	LastError     string    `json:"last_error,omitempty"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	LastAckAt     time.Time `json:"last_ack_at,omitzero"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
}

// Count is a number of received events of one kind, institution and day.
type Count struct {
	Institution string `json:"institution"`
	Kind        Kind   `json:"kind"`
	Day         string `json:"day"`
	Events      int64  `json:"events"`
}

// Filter selects received events.
type Filter struct {
	Institution string
	Kind        Kind
	From, To    string // Beijing days, inclusive; "" open
	AfterSeq    int64  // with Institution: events after this number
	Limit       int
}

// Outbox is the sending side's store: what the reporter reads and records.
type Outbox interface {
	// DueOutboxes are the institutions with events not acknowledged whose
	// next attempt is due at now and which no reporter holds.
	DueOutboxes(ctx context.Context, now time.Time) ([]Cursor, error)
	// ClaimOutbox takes an institution's outbox for owner until until, a
	// compare-and-set (several servers may run reporters): false when
	// another holds it.
	ClaimOutbox(ctx context.Context, institution, owner string, now, until time.Time) (*Cursor, bool, error)
	// PendingEvents are the stored bodies (canonical JSON) of the events
	// after seq, in order, at most limit.
	PendingEvents(ctx context.Context, institution string, after int64, limit int) ([]Pending, error)
	// AckOutbox records that the platform has the events up to acked; the
	// holder keeps its claim, until until.
	AckOutbox(ctx context.Context, institution, owner string, acked int64, at, until time.Time) error
	// FailOutbox records a failed attempt and when to try again, and
	// releases the claim.
	FailOutbox(ctx context.Context, institution, owner string, msg string, at, next time.Time) error
	// ReleaseOutbox gives the claim up.
	ReleaseOutbox(ctx context.Context, institution, owner string) error
	// FeedSettings are the reporter's timings (data).
	FeedSettings(ctx context.Context) (Settings, error)
	// FeedCursors are the sending side's state of every institution.
	FeedCursors(ctx context.Context) ([]Cursor, error)
}

// Pending is an event as stored in the outbox.
type Pending struct {
	Seq  int64
	ID   string
	Body []byte // the event's canonical JSON
}

// Platform is the receiving side's store.
type Platform interface {
	FeedSource(ctx context.Context, institution string) (*Source, error)
	// ReceiveFeed stores a verified batch in one transaction: the events the
	// platform has already are counted as duplicates (the same id at the
	// same number) or refused (another id: CodeMismatch); a first new
	// number after the next expected is refused with a *GapError.
	ReceiveFeed(ctx context.Context, b *Batch, at time.Time) (*Received, error)
	// RefuseBatch records the code of a refused batch on the institution's
	// feed (registered institutions only).
	RefuseBatch(ctx context.Context, institution, code string, at time.Time) error
}

// Settings are the reporter's timings, kept as data (supervision_settings).
type Settings struct {
	Interval   time.Duration // between rounds when nothing fails
	BackoffMin time.Duration // the first retry's wait; doubled at each failure
	BackoffMax time.Duration // the longest wait
	Batch      int           // events a batch
	Parallel   int           // institutions sent at once
	Lease      time.Duration // how long a claim on an institution's outbox lasts
}

// DefaultSettings are the migration's values.
var DefaultSettings = Settings{Interval: 5 * time.Second, BackoffMin: time.Second, BackoffMax: 5 * time.Minute, Batch: 500, Parallel: 4,
	Lease: time.Minute}

// Backoff is the wait after the attempts-th failure in a row (1: the
// first): BackoffMin doubled each time, at most BackoffMax.
func (s Settings) Backoff(attempts int) time.Duration {
	d := s.BackoffMin
	for i := 1; i < attempts && d < s.BackoffMax; i++ {
		d *= 2
	}
	return min(d, s.BackoffMax)
}

// normalised fills what is unset from DefaultSettings.
func (s Settings) normalised() Settings {
	d := DefaultSettings
	if s.Interval <= 0 {
		s.Interval = d.Interval
	}
	if s.BackoffMin <= 0 {
		s.BackoffMin = d.BackoffMin
	}
	if s.BackoffMax < s.BackoffMin {
		s.BackoffMax = max(s.BackoffMin, d.BackoffMax)
	}
	if s.Batch <= 0 || s.Batch > MaxBatch {
		s.Batch = d.Batch
	}
	if s.Parallel <= 0 {
		s.Parallel = d.Parallel
	}
	if s.Lease <= 0 {
		s.Lease = d.Lease
	}
	return s
}
