package authz

import "github.com/yunyi-health/yunyi/internal/identity"

// Reach is how far an institution lets its doctors see its bookings beyond
// their own work (N-19, PIPL's minimum necessary). It is data, a row per
// institution and optionally per department (a department's row replaces
// the institution's); without a row a doctor sees their own.
type Reach string

const (
	// ReachOwn: the sessions the doctor holds (their queue and the
	// visits they take part in). The default.
	ReachOwn Reach = "own"
	// ReachDepartment: every booking of the doctor's department (a
	// department that triages its queue together).
	ReachDepartment Reach = "department"
	// ReachInstitution: every booking of the institution.
	ReachInstitution Reach = "institution"
)

// Valid reports whether r is one of the reaches.
func (r Reach) Valid() bool {
	return r == ReachOwn || r == ReachDepartment || r == ReachInstitution
}

// ReachRule is one row of an institution's reach: Department "" is the
// institution's default.
type ReachRule struct {
	Department string `json:"department"`
	Reach      Reach  `json:"reach"`
}

// ReachFor is the reach of a doctor of department under an institution's
// rules: the department's row, else the institution's, else ReachOwn.
func ReachFor(rules []ReachRule, department string) Reach {
	reach := ReachOwn
	for _, r := range rules {
		if r.Department == department && department != "" {
			return r.Reach
		}
		if r.Department == "" {
			reach = r.Reach
		}
	}
	return reach
}

// Sight is the part of an institution's bookings a staff member sees.
type Sight struct {
	Institution    string
	PractitionerID int64  // non-zero: only the sessions this practitioner holds
	Department     string // non-empty: only this department's bookings
	// Widened is the reach of an institution's rule when it lets a doctor
	// see beyond their own work: reads through it are audited as such.
	Widened Reach
	// Own is the doctor's practitioner id under a widened sight, to tell
	// their own bookings (not audited as widened) from the others.
	Own int64
}

// Covers says whether the sight includes a booking of institution and
// department in a session held by practitionerID.
func (s Sight) Covers(institution, department string, practitionerID int64) bool {
	return s.Institution != "" && s.Institution == institution &&
		(s.PractitionerID == 0 || s.PractitionerID == practitionerID) &&
		(s.Department == "" || s.Department == department)
}

// WidenedFor says whether seeing a booking held by practitionerID needs
// the institution's widening (the doctor's own work does not).
func (s Sight) WidenedFor(practitionerID int64) bool {
	return s.Widened != "" && s.Own != practitionerID
}

// BookingSight is which bookings of their institution a staff member sees
// (issue 15, N-19): an institution's admin every booking (schedules and
// usage; the health answers are trimmed where it is answered), a doctor
// the sessions they hold (practitionerID, 0 when the account has no
// practitioner record: nothing), widened by their institution's reach for
// their department; pharmacists (who review prescriptions, not bookings)
// and everyone else none.
func BookingSight(a Actor, practitionerID int64, department string, reach Reach) (Sight, bool) {
	if a.Institution == "" {
		return Sight{}, false
	}
	switch a.Role {
	case identity.RoleInstitutionAdmin:
		return Sight{Institution: a.Institution}, true
	case identity.RoleDoctor:
		if practitionerID == 0 {
			return Sight{Institution: a.Institution, PractitionerID: -1}, true
		}
		switch reach {
		case ReachInstitution:
			return Sight{Institution: a.Institution, Widened: ReachInstitution, Own: practitionerID}, true
		case ReachDepartment:
			return Sight{Institution: a.Institution, Department: department, Widened: ReachDepartment, Own: practitionerID}, true
		}
		return Sight{Institution: a.Institution, PractitionerID: practitionerID}, true
	}
	return Sight{}, false
}
