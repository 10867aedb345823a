package authz

import "github.com/yunyi-health/yunyi/internal/identity"

// SeeGuardians: a child's guardians (the FHIR API's RelatedPerson) are
// seen by the accounts linked to the child, as its other data is.
func SeeGuardians(a Actor, linkedAccounts []int64) bool { return SeePatient(a, linkedAccounts) }

// SuperviseVisits: the regulator supervises the visits ended early and
// referred offline (V-3) as its terminations list shows them: the visit,
// its doctor and institution, never the patient (least data, N-19, N-22).
func SuperviseVisits(a Actor) bool { return a.Role == identity.RoleRegulator }
