// Package authz decides who may do what, in one place. Every handler that
// touches an object asks here; the answers depend only on the actor and the
// object, never on the route.
package authz

import (
	"github.com/yunyi-health/yunyi/internal/identity"
)

// Actor is the account making a request; the zero Actor is anonymous.
type Actor struct {
	ID          int64
	Role        identity.Role
	Institution string
	Pharmacy    string // a retail pharmacist's pharmacy
	Username    string
}

// FromAccount makes the actor of an account.
func FromAccount(a *identity.Account) Actor {
	if a == nil {
		return Actor{}
	}
	return Actor{ID: a.ID, Role: a.Role, Institution: a.Institution, Pharmacy: a.Pharmacy, Username: a.Username}
}

// Anonymous reports whether nobody is logged in.
func (a Actor) Anonymous() bool { return a.ID == 0 }

// Is reports whether the actor has one of the roles.
func (a Actor) Is(roles ...identity.Role) bool {
	for _, r := range roles {
		if a.Role == r {
			return true
		}
	}
	return false
}

// SeePatient: a patient account sees the profiles linked to it (its own and
// its children's). Staff access to patients comes through appointments at
// their institution (later issues); the regulator and sysadmin have no
// direct access to patient records (least data, N-19, N-22).
func SeePatient(a Actor, linkedAccounts []int64) bool {
	if a.Role != identity.RolePatient {
		return false
	}
	for _, id := range linkedAccounts {
		if id == a.ID {
			return true
		}
	}
	return false
}

// ManageInstitution: edit an institution's departments, services and
// practitioners: its own institution admin, or a sysadmin.
func ManageInstitution(a Actor, code string) bool {
	return (a.Role == identity.RoleInstitutionAdmin && a.Institution == code) || a.Role == identity.RoleSysadmin
}

// SeeInstitutionStaff: see practitioners' full credentials and the
// institution's audit trail: its own staff admin, the regulator, sysadmin.
func SeeInstitutionStaff(a Actor, code string) bool {
	return ManageInstitution(a, code) || a.Role == identity.RoleRegulator
}

// Qualify: approve, suspend or create institutions (G-1, G-2): the regulator
// (and sysadmin for bootstrap).
func Qualify(a Actor) bool {
	return a.Role == identity.RoleRegulator || a.Role == identity.RoleSysadmin
}

// SeeAudit: read the audit log of an institution ("" for all).
func SeeAudit(a Actor, institution string) bool {
	switch a.Role {
	case identity.RoleRegulator, identity.RoleSysadmin:
		return true
	case identity.RoleInstitutionAdmin:
		return institution != "" && institution == a.Institution
	}
	return false
}

// SeeInstitutionAppointments: the institution's doctors, pharmacists and
// admins see its appointments (and the patients in them).
func SeeInstitutionAppointments(a Actor, institution string) bool {
	switch a.Role {
	case identity.RoleDoctor, identity.RolePharmacist, identity.RoleInstitutionAdmin:
		return a.Institution == institution
	case identity.RoleSysadmin:
		return true
	}
	return false
}

// ReviewPrescriptions: the review queue and the review (审方, N-11) belong
// to the pharmacists of the prescription's institution.
func ReviewPrescriptions(a Actor, institution string) bool {
	return a.Role == identity.RolePharmacist && a.Institution == institution
}

// DispatchDrugs: the hospital pharmacy's packing queue and hand-over to the
// courier: the institution's pharmacists and admin.
func DispatchDrugs(a Actor, institution string) bool {
	return ReviewPrescriptions(a, institution) || ManageInstitution(a, institution)
}

// RetailDispatch: a retail pharmacy's orders (R-3, H-BCH), their
// prescriptions and their dispatch belong to that pharmacy's staff alone.
func RetailDispatch(a Actor, pharmacy string) bool {
	return pharmacy != "" && a.Role == identity.RoleRetailPharmacist && a.Pharmacy == pharmacy
}

// PrescribingStats: per-doctor prescribing statistics (统方) only for the
// institution's quality staff and the regulator (N-15).
func PrescribingStats(a Actor, institution string) bool {
	return (a.Role == identity.RoleQuality && a.Institution == institution) || a.Role == identity.RoleRegulator
}

// ManageFormulary: an institution's formulary and its own prescription
// rules: its admin, or a sysadmin.
func ManageFormulary(a Actor, institution string) bool { return ManageInstitution(a, institution) }
