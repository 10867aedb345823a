package visit

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Reason is a reason to terminate a visit and move it offline (V-3),
// stored as data.
type Reason struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	NameEN   string `json:"name_en"`
	Active   bool   `json:"active"`
	Position int    `json:"position"`
}

// Validate checks a reason.
func (r *Reason) Validate() error {
	var f errs.Fields
	if !keyRE.MatchString(r.Code) {
		f.Add("code", "code_format")
	}
	if strings.TrimSpace(r.Name) == "" {
		f.Add("name", "required")
	}
	return f.Err()
}

// Urgency of an offline referral.
const (
	UrgencyRoutine   = "routine"   // within two weeks
	UrgencySoon      = "soon"      // within three days
	UrgencyEmergency = "emergency" // go to the emergency department now
)

// Urgencies in order.
var Urgencies = []string{UrgencyRoutine, UrgencySoon, UrgencyEmergency}

// Referral sends the patient to offline care.
type Referral struct {
	Department string `json:"department"` // department code of the same institution
	Urgency    string `json:"urgency"`
	Advice     string `json:"advice"`
}

// Termination records why a visit stopped and where the patient goes.
type Termination struct {
	VisitID     int64     `json:"visit_id"`
	Institution string    `json:"institution"`
	Department  string    `json:"department"`
	Kind        string    `json:"kind"`
	DoctorID    int64     `json:"doctor_id"`
	Reasons     []string  `json:"reasons"`
	Note        string    `json:"note"`
	Referral    Referral  `json:"referral"`
	By          int64     `json:"by"`
	At          time.Time `json:"at"`
}

// TerminationFilter selects terminations for supervision.
type TerminationFilter struct {
	Institution string
	From, To    time.Time // To exclusive; zero: open
	Limit       int
}

// Validate checks a termination against the active reasons and the
// institution's departments.
func (t *Termination) Validate(reasons []Reason, departments map[string]bool) error {
	var f errs.Fields
	active := map[string]bool{}
	for _, r := range reasons {
		if r.Active {
			active[r.Code] = true
		}
	}
	if len(t.Reasons) == 0 {
		f.Add("reasons", "required")
	}
	seen := map[string]bool{}
	for _, c := range t.Reasons {
		if !active[c] || seen[c] {
			f.Add("reasons", "not_an_option")
			break
		}
		seen[c] = true
	}
	t.Note = strings.TrimSpace(t.Note)
	if utf8.RuneCountInString(t.Note) > 2000 {
		f.Add("note", "too_long")
	}
	if seen["other"] && t.Note == "" {
		f.Add("note", "required")
	}
	if !departments[t.Referral.Department] {
		f.Add("referral.department", "not_found")
	}
	ok := false
	for _, u := range Urgencies {
		ok = ok || u == t.Referral.Urgency
	}
	if !ok {
		f.Add("referral.urgency", "not_an_option")
	}
	t.Referral.Advice = strings.TrimSpace(t.Referral.Advice)
	if t.Referral.Advice == "" {
		f.Add("referral.advice", "required")
	} else if utf8.RuneCountInString(t.Referral.Advice) > 2000 {
		f.Add("referral.advice", "too_long")
	}
	return f.Err()
}
