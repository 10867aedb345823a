package directory

import (
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Title of a doctor or pharmacist.
type Title string

const (
	TitleResident       Title = "resident"        // 住院医师
	TitleAttending      Title = "attending"       // 主治医师
	TitleAssociateChief Title = "associate_chief" // 副主任医师
	TitleChief          Title = "chief"           // 主任医师

	TitlePharmacist          Title = "pharmacist"             // 药师
	TitleSupervisingPharm    Title = "supervising_pharmacist" // 主管药师
	TitleAssociateChiefPharm Title = "associate_chief_pharmacist"
	TitleChiefPharm          Title = "chief_pharmacist"
)

// doctorRank orders doctor titles; 0 means not a doctor title.
var doctorRank = map[Title]int{TitleResident: 1, TitleAttending: 2, TitleAssociateChief: 3, TitleChief: 4}

var pharmacistTitles = map[Title]bool{TitlePharmacist: true, TitleSupervisingPharm: true, TitleAssociateChiefPharm: true, TitleChiefPharm: true}

// DoctorTitles and PharmacistTitles list the titles in rank order.
var (
	DoctorTitles     = []Title{TitleResident, TitleAttending, TitleAssociateChief, TitleChief}
	PharmacistTitles = []Title{TitlePharmacist, TitleSupervisingPharm, TitleAssociateChiefPharm, TitleChiefPharm}
)

// Profession of a practitioner.
type Profession string

const (
	Doctor     Profession = "doctor"
	Pharmacist Profession = "pharmacist"
)

// Practitioner is a doctor or pharmacist of an institution, with the
// credentials the first-visit rule D-1 is decided on.
type Practitioner struct {
	ID               int64        `json:"id"`
	Institution      string       `json:"institution"`
	Department       string       `json:"department,omitempty"`
	AccountID        int64        `json:"account_id,omitempty"`
	Name             string       `json:"name"`
	Profession       Profession   `json:"profession"`
	Title            Title        `json:"title"`
	LicenceNo        string       `json:"licence_no"`
	PracticeSince    string       `json:"practice_since,omitempty"`     // start of independent clinical practice
	InternetSince    string       `json:"internet_since,omitempty"`     // start of internet follow-up practice
	TrainingPassedOn string       `json:"training_passed_on,omitempty"` // internet-diagnosis training and assessment
	Bio              string       `json:"bio,omitempty"`
	Suspensions      []Suspension `json:"suspensions,omitempty"`
	// The photo the institution publishes (N-8): its blob and type; ""
	// for none. Set through its own resource, never by SavePractitioner.
	PhotoKey  string `json:"-"`
	PhotoType string `json:"-"`
}

// HasPhoto reports whether the practitioner has a published photo.
func (p Practitioner) HasPhoto() bool { return p.PhotoKey != "" }

// SuspensionScope says what a suspension stops (D-2).
type SuspensionScope string

const (
	SuspendFirstVisit SuspensionScope = "first_visit" // first visits only
	SuspendAll        SuspensionScope = "all"         // all internet work
)

// Suspension of a practitioner; active until lifted.
type Suspension struct {
	ID             int64           `json:"id"`
	PractitionerID int64           `json:"practitioner_id"`
	Scope          SuspensionScope `json:"scope"`
	Reason         string          `json:"reason"`
	Since          time.Time       `json:"since"`
	LiftedAt       time.Time       `json:"lifted_at,omitzero"`
	By             int64           `json:"by,omitempty"`
}

// Active reports whether the suspension is in force.
func (s Suspension) Active() bool { return s.LiftedAt.IsZero() }

// Validate checks a practitioner's fields.
func (p *Practitioner) Validate() error {
	var f errs.Fields
	required(&f, "name", p.Name)
	required(&f, "institution", p.Institution)
	required(&f, "licence_no", p.LicenceNo)
	switch p.Profession {
	case Doctor:
		if doctorRank[p.Title] == 0 {
			f.Add("title", "title_invalid")
		}
	case Pharmacist:
		if !pharmacistTitles[p.Title] {
			f.Add("title", "title_invalid")
		}
	default:
		f.Add("profession", "profession_invalid")
	}
	validDate(&f, "practice_since", p.PracticeSince)
	validDate(&f, "internet_since", p.InternetSince)
	validDate(&f, "training_passed_on", p.TrainingPassedOn)
	return f.Err()
}

// ActiveSuspension returns the strongest active suspension, if any.
func (p Practitioner) ActiveSuspension() (Suspension, bool) {
	var found Suspension
	ok := false
	for _, s := range p.Suspensions {
		if !s.Active() {
			continue
		}
		if !ok || s.Scope == SuspendAll {
			found, ok = s, true
		}
	}
	return found, ok
}

// MayWorkOnline reports whether the practitioner may do any internet work.
func (p Practitioner) MayWorkOnline() bool {
	s, ok := p.ActiveSuspension()
	return !ok || s.Scope != SuspendAll
}

// Reason is one failed condition, as a catalog key with arguments.
type Reason struct {
	Code string `json:"code"`
	Args []any  `json:"-"`
}

// D-1 thresholds: defaults from the 2026 pilot (seed 002, question 4).
const (
	FirstVisitMinPracticeYears = 3
	FirstVisitMinInternetYears = 1
)

// FirstVisitCheck answers whether the practitioner may do online first
// visits on day (D-1), with every reason when not; suspensions count (D-2).
func (p Practitioner) FirstVisitCheck(day time.Time) (ok bool, reasons []Reason) {
	if p.Profession != Doctor {
		return false, []Reason{{Code: "d1_not_doctor"}}
	}
	if p.LicenceNo == "" {
		reasons = append(reasons, Reason{Code: "d1_no_licence"})
	}
	if dates.YearsSince(p.PracticeSince, day) < FirstVisitMinPracticeYears {
		reasons = append(reasons, Reason{Code: "d1_practice_years", Args: []any{FirstVisitMinPracticeYears}})
	}
	if doctorRank[p.Title] < doctorRank[TitleAttending] {
		reasons = append(reasons, Reason{Code: "d1_title"})
	}
	if dates.YearsSince(p.InternetSince, day) < FirstVisitMinInternetYears {
		reasons = append(reasons, Reason{Code: "d1_internet_years", Args: []any{FirstVisitMinInternetYears}})
	}
	if p.TrainingPassedOn == "" {
		reasons = append(reasons, Reason{Code: "d1_training"})
	}
	if s, ok := p.ActiveSuspension(); ok {
		reasons = append(reasons, Reason{Code: "d2_suspended_" + string(s.Scope), Args: []any{s.Reason}})
	}
	return len(reasons) == 0, reasons
}
