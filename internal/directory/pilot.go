package directory

import (
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Designation is the regulator's designation of one specialty of an
// institution for online first visits (G-2, S-5): data with dates, written
// by the regulator alone. An institution is a pilot on a day when one of
// its designations is valid that day; a specialty when its own is.
type Designation struct {
	Institution string `json:"institution"`
	Specialty   string `json:"specialty"`
	// From is the first day first visits may be taken; "" only for a
	// designation kept from before designations had dates (no limit).
	From string `json:"from"`
	// To is the last day; "" while the designation has no end.
	To        string    `json:"to"`
	By        int64     `json:"by,omitempty"` // the regulator's account
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// ValidOn reports whether the designation covers the civil date day
// (YYYY-MM-DD, Beijing).
func (d Designation) ValidOn(day string) bool {
	return (d.From == "" || d.From <= day) && (d.To == "" || day <= d.To)
}

// Validate checks the dates: from is required, to is empty or not before
// from.
func (d *Designation) Validate() error {
	var f errs.Fields
	if d.From == "" {
		f.Add("from", "required")
	} else {
		validDate(&f, "from", d.From)
	}
	validDate(&f, "to", d.To)
	if !f.Has("from") && !f.Has("to") && d.To != "" && d.To < d.From {
		f.Add("to", "before_from")
	}
	return f.Err()
}

// civilDay is the Beijing date of t.
func civilDay(t time.Time) string { return t.In(dates.Beijing).Format(dates.Layout) }

// PilotOn reports whether the institution is a first-visit pilot on the
// day of t (the booking's fact institution_pilot).
func (i *Institution) PilotOn(t time.Time) bool {
	day := civilDay(t)
	for _, d := range i.Pilots {
		if d.ValidOn(day) {
			return true
		}
	}
	return false
}

// SpecialtyPilotOn reports whether the specialty is designated for first
// visits on the day of t (the booking's fact specialty_pilot).
func (i *Institution) SpecialtyPilotOn(specialty string, t time.Time) bool {
	if specialty == "" {
		return false
	}
	day := civilDay(t)
	for _, d := range i.Pilots {
		if d.Specialty == specialty && d.ValidOn(day) {
			return true
		}
	}
	return false
}

// MarkPilots sets the derived pilot flags of the institution and its
// specialties for the day of t (what pages and GET show).
func (i *Institution) MarkPilots(t time.Time) {
	if i.Pilots == nil {
		i.Pilots = []Designation{}
	}
	i.Pilot = i.PilotOn(t)
	for k := range i.Departments {
		for j := range i.Departments[k].Specialties {
			sp := &i.Departments[k].Specialties[j]
			sp.Pilot = i.SpecialtyPilotOn(sp.Code, t)
		}
	}
}

// SpecialtyPilot is the derived flag of one specialty of the institution
// (false when there is no such specialty).
func (i *Institution) SpecialtyPilot(code string) bool {
	for _, d := range i.Departments {
		for _, sp := range d.Specialties {
			if sp.Code == code {
				return sp.Pilot
			}
		}
	}
	return false
}
