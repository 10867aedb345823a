// Package visit is the online visit (V-1..V-3): the pre-consultation
// (预问诊) against a questionnaire stored as data, the visit's state machine
// and its timings, the chat messages, the structured record (病历) with
// ICD-10 diagnoses and amendments, and termination to offline care (首诊终止,
// 转线下) with reasons stored as data.
//
// A visit is the online life of one appointment: it shares the
// appointment's id.
package visit

import (
	"context"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/notify"
)

// State of a visit.
type State string

const (
	Booked     State = "booked"
	CheckedIn  State = "checked_in" // pre-consultation done
	Waiting    State = "waiting"    // the patient is in the waiting room (候诊)
	InProgress State = "in_progress"
	Completed  State = "completed"
	Terminated State = "terminated" // stopped and moved offline (V-3)
	NoShow     State = "no_show"
	Cancelled  State = "cancelled"
)

// Action moves a visit from one state to another.
type Action string

const (
	ActCheckIn   Action = "check_in"
	ActWait      Action = "wait"
	ActStart     Action = "start"
	ActComplete  Action = "complete"
	ActTerminate Action = "terminate"
	ActNoShow    Action = "no_show"
	ActCancel    Action = "cancel"
	// ActSkip is a call the patient did not answer: the visit keeps its
	// state and is called again after the next one (see Missed).
	ActSkip Action = "skip"
)

// Party is who may take an action.
type Party string

const (
	PartyPatient Party = "patient"
	PartyDoctor  Party = "doctor"
)

type step struct {
	from []State
	to   State // "": the state stays
	by   Party
}

// steps is the whole state machine. Re-submitting the pre-consultation
// while checked in or waiting is not a step (the state stays). A patient
// in the waiting room is marked no-show only once called CallsBeforeNoShow
// times (NoShowAllowed); a missed call before that is a skip.
var steps = map[Action]step{
	ActCheckIn:   {[]State{Booked}, CheckedIn, PartyPatient},
	ActWait:      {[]State{CheckedIn}, Waiting, PartyPatient},
	ActStart:     {[]State{CheckedIn, Waiting}, InProgress, PartyDoctor},
	ActComplete:  {[]State{InProgress}, Completed, PartyDoctor},
	ActTerminate: {[]State{CheckedIn, Waiting, InProgress}, Terminated, PartyDoctor},
	ActNoShow:    {[]State{Booked, CheckedIn, Waiting}, NoShow, PartyDoctor},
	ActCancel:    {[]State{Booked, CheckedIn, Waiting}, Cancelled, PartyPatient},
	ActSkip:      {[]State{Booked, CheckedIn, Waiting}, "", PartyDoctor},
}

// CodeIllegal is the error code of a step the state does not allow.
const CodeIllegal = "visit_illegal_step"

// Next is the state after action a from state s, or a visit_illegal_step
// error naming both.
func Next(s State, a Action) (State, error) {
	st, ok := steps[a]
	if !ok {
		return s, Illegal(a, s)
	}
	for _, f := range st.from {
		if f == s {
			if st.to == "" {
				return s, nil
			}
			return st.to, nil
		}
	}
	return s, Illegal(a, s)
}

// Illegal is the error of action a refused in state s.
func Illegal(a Action, s State) error {
	return errs.E(CodeIllegal, i18n.Ref("act."+string(a)), i18n.Ref("state."+string(s)))
}

// From lists the states an action may start from (the store's guard).
func From(a Action) []State { return steps[a].from }

// By is the party that takes an action.
func By(a Action) Party { return steps[a].by }

// Final reports whether no step leaves s.
func (s State) Final() bool {
	return s == Completed || s == Terminated || s == NoShow || s == Cancelled
}

// AnswersLocked reports whether the pre-consultation can no longer change:
// once the visit starts (or ended).
func (s State) AnswersLocked() bool { return s != Booked && s != CheckedIn && s != Waiting }

// Live reports whether the chat and the call are open.
func (s State) Live() bool { return s == InProgress }

// ChatOpen reports whether messages may be posted: from the waiting room
// until the visit ends.
func (s State) ChatOpen() bool { return s == Waiting || s == InProgress }

// Visit is the online visit of an appointment.
type Visit struct {
	ID              int64                 `json:"id"` // the appointment's id
	State           State                 `json:"state"`
	PatientID       int64                 `json:"patient_id"`
	PatientName     string                `json:"patient_name"`
	AccountID       int64                 `json:"-"` // the account that booked
	Institution     string                `json:"institution"`
	Department      string                `json:"department"`
	Service         string                `json:"service"`
	ServiceName     string                `json:"service_name"`
	Kind            directory.ServiceKind `json:"kind"`
	Start           time.Time             `json:"start"` // the slot's time
	DoctorID        int64                 `json:"doctor_id"`
	DoctorName      string                `json:"doctor"`
	DoctorAccountID int64                 `json:"-"`
	Questionnaire   string                `json:"questionnaire"`
	Answers         map[string]any        `json:"answers"`
	CheckedInAt     time.Time             `json:"checked_in_at,omitzero"`
	WaitingSince    time.Time             `json:"waiting_since,omitzero"`
	StartedAt       time.Time             `json:"started_at,omitzero"`
	EndedAt         time.Time             `json:"ended_at,omitzero"`
	CallStartedAt   time.Time             `json:"call_started_at,omitzero"`
	CallEndedAt     time.Time             `json:"call_ended_at,omitzero"`
	CallSeconds     int64                 `json:"call_seconds"`
	RefundDue       bool                  `json:"refund_due"`
	ReadSeq         map[int64]int64       `json:"-"` // account → last read message

	// SlotID is the visit's session (one doctor's slot); Number its number
	// in it (第 N 号, 1 first); EstimatedAt when it should start: the
	// session's start + (place - 1) visit lengths, moved by how late the
	// doctor runs (SetEstimate).
	SlotID      int64     `json:"slot_id"`
	Number      int       `json:"number"`
	EstimatedAt time.Time `json:"estimated_at"`
	// Calls is how many calls the patient missed (CallsBeforeNoShow).
	Calls int `json:"calls"`
	// LineAfter, once a call was missed, is the line place the visit now
	// waits in, right behind the visit whose place that is (0: its own
	// number's); SkippedAt orders the visits waiting behind the same one.
	LineAfter int       `json:"-"`
	SkippedAt time.Time `json:"-"`
	// Delay is how late the session runs (set at each call-in);
	// VisitLength and LateNotice are the service's.
	Delay       time.Duration `json:"-"`
	VisitLength time.Duration `json:"-"`
	LateNotice  time.Duration `json:"-"`
}

// WaitSeconds is the time from entering the waiting room (or checking in)
// to being called in; 0 before.
func (v *Visit) WaitSeconds() int64 {
	from := v.WaitingSince
	if from.IsZero() {
		from = v.CheckedInAt
	}
	if from.IsZero() || v.StartedAt.IsZero() || v.StartedAt.Before(from) {
		return 0
	}
	return int64(v.StartedAt.Sub(from).Seconds())
}

// TalkSeconds is the time from call-in to the end; 0 before.
func (v *Visit) TalkSeconds() int64 {
	if v.StartedAt.IsZero() || v.EndedAt.IsZero() {
		return 0
	}
	return int64(v.EndedAt.Sub(v.StartedAt).Seconds())
}

// Participant reports which party an account is in this visit, if any:
// the patient's linked accounts (self, guardians) or the doctor's account.
func (v *Visit) Participant(accountID int64, patientAccounts []int64) (Party, bool) {
	if accountID != 0 && accountID == v.DoctorAccountID {
		return PartyDoctor, true
	}
	for _, id := range patientAccounts {
		if id == accountID {
			return PartyPatient, true
		}
	}
	return "", false
}

// Transition is a step to store: the store applies it only if the visit
// is still in one of the From states (atomic compare-and-set).
type Transition struct {
	VisitID int64
	Action  Action
	To      State
	At      time.Time
	By      int64
}

// Message is one chat message of a visit, numbered per visit.
type Message struct {
	VisitID      int64     `json:"visit_id"`
	Seq          int64     `json:"seq"`
	SenderID     int64     `json:"sender_id"`
	SenderRole   Party     `json:"sender_role"`
	SenderName   string    `json:"sender_name,omitempty"`
	Kind         string    `json:"kind"` // text, image, system
	Text         string    `json:"text,omitempty"`
	AttachmentID int64     `json:"attachment_id,omitempty"`
	ClientID     string    `json:"client_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	Replayed     bool      `json:"-"` // a resend, answered with the stored message's number
}

// Message kinds.
const (
	MsgText   = "text"
	MsgImage  = "image"
	MsgSystem = "system"
)

// MaxMessageRunes bounds a chat message.
const MaxMessageRunes = 2000

// Attachment is a file of a visit: a past record or a lab report of the
// pre-consultation, or an image sent in the chat.
type Attachment struct {
	ID          int64     `json:"id"`
	VisitID     int64     `json:"visit_id"`
	Purpose     string    `json:"purpose"` // pre_consult, chat
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	BlobKey     string    `json:"-"`
	UploadedBy  int64     `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
}

// Store persists visits.
type Store interface {
	// Visit loads a visit (from its appointment when it has no row yet).
	Visit(ctx context.Context, id int64) (*Visit, error)
	// Step applies a transition if the visit is in one of its From states;
	// otherwise visit_illegal_step. fn runs in the same transaction.
	Step(ctx context.Context, t Transition, also func(tx Tx) error) error
	SaveAnswers(ctx context.Context, id int64, questionnaire string, answers map[string]any, checkIn *Transition) error
	Queue(ctx context.Context, doctorAccountID int64, day string) ([]Visit, error)
	// Line is a session's visits (its booked appointments) in line order
	// (SortLine), ended ones included.
	Line(ctx context.Context, slotID int64) ([]Visit, error)
	// Skip records a call the patient missed (t.Action ActSkip): the visit,
	// still to be seen, moves behind the next one still to be seen and its
	// Calls goes up by one, if it had missed calls calls (a compare-and-set);
	// otherwise visit_illegal_step. also runs in the same transaction.
	Skip(ctx context.Context, t Transition, calls int, also func(tx Tx) error) error

	AddAttachment(ctx context.Context, a *Attachment, maxFiles int, maxTotal int64) error
	Attachments(ctx context.Context, visitID int64) ([]Attachment, error)
	Attachment(ctx context.Context, visitID, id int64) (*Attachment, error)
	// DeleteAttachment removes a draft pre-consultation file, or a file
	// whose record's retention period ended at now (N-17).
	DeleteAttachment(ctx context.Context, visitID, id int64, now time.Time) (*Attachment, error)

	// AppendMessages numbers (per visit) and stores messages; see Message.Replayed.
	AppendMessages(ctx context.Context, ms []Message) error
	Messages(ctx context.Context, visitID, after int64, limit int) ([]Message, error)
	MarkChatRead(ctx context.Context, visitID, accountID, seq int64) error
	ChatRead(ctx context.Context, visitID int64) (map[int64]int64, error)

	CallEvent(ctx context.Context, visitID int64, started bool, at time.Time) error

	SaveDraft(ctx context.Context, r *Record) error
	Draft(ctx context.Context, visitID int64) (*Record, error)
	Records(ctx context.Context, visitID int64) ([]Record, error)
	AddAmendment(ctx context.Context, r *Record) error

	Questionnaire(ctx context.Context, code string) (*Questionnaire, error)
	Questionnaires(ctx context.Context) ([]Questionnaire, error)
	SaveQuestionnaire(ctx context.Context, q *Questionnaire) error
	TerminationReasons(ctx context.Context) ([]Reason, error)
	SaveTerminationReason(ctx context.Context, r *Reason) error
	Termination(ctx context.Context, visitID int64) (*Termination, error)
	Terminations(ctx context.Context, f TerminationFilter) ([]Termination, error)
}

// Tx is what a transition may also write in its transaction.
type Tx interface {
	SignRecord(r *Record) error
	SaveTermination(t *Termination) error
	Notify(n *notify.Notification) error
	// RunLate sets how late a session runs. With tell, it also marks, once
	// each (a compare-and-set on the appointment), the visits of the session
	// still to be seen, but except, whose families have not been told yet
	// that their time moved, and returns them with their new times.
	RunLate(slotID, except int64, delay time.Duration, tell bool) ([]Visit, error)
}
