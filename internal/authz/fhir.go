package authz

import "github.com/yunyi-health/yunyi/internal/identity"

// BookedPatientsOf: the institution whose booked patients the actor sees,
// through their appointments there (the FHIR API's Patient): its doctors,
// pharmacists and administrators, and only the profile itself (name,
// sex, birth date), never the contact details. Others: "", false.
func BookedPatientsOf(a Actor) (string, bool) {
	if a.Institution != "" && a.Is(identity.RoleDoctor, identity.RolePharmacist, identity.RoleInstitutionAdmin) {
		return a.Institution, true
	}
	return "", false
}

// SeeGuardians: a child's guardians (the FHIR API's RelatedPerson) are
// seen by the accounts linked to the child, as its other data is.
func SeeGuardians(a Actor, linkedAccounts []int64) bool { return SeePatient(a, linkedAccounts) }

// SuperviseVisits: the regulator supervises the visits ended early and
// referred offline (V-3) as its terminations list shows them: the visit,
// its doctor and institution, never the patient (least data, N-19, N-22).
func SuperviseVisits(a Actor) bool { return a.Role == identity.RoleRegulator }
