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
// practitioners: its own institution admin alone (the system
// administrator takes no hospital decisions: 三员分立).
func ManageInstitution(a Actor, code string) bool {
	return a.Role == identity.RoleInstitutionAdmin && a.Institution == code
}

// SeeInstitutionStaff: see practitioners' full credentials and the
// institution's audit trail: its own staff admin and the regulator.
func SeeInstitutionStaff(a Actor, code string) bool {
	return ManageInstitution(a, code) || a.Role == identity.RoleRegulator
}

// Qualify: approve, suspend or create institutions, and the platform's
// rules (G-1, G-2, S-1): the regulator alone, never the system
// administrator (三员分立).
func Qualify(a Actor) bool {
	return a.Role == identity.RoleRegulator
}

// ApplyForQualification: an institution applies for its qualification or
// its yearly re-validation, and adds documents to its application: its own
// admin (S-1, N-23).
func ApplyForQualification(a Actor, institution string) bool {
	return a.Role == identity.RoleInstitutionAdmin && a.Institution == institution
}

// SeeApplications: an institution's applications and their documents: its
// own admin and the regulator.
func SeeApplications(a Actor, institution string) bool {
	return ApplyForQualification(a, institution) || a.Role == identity.RoleRegulator
}

// DecideApplications: approve or refuse an application (G-1): the
// regulator alone.
func DecideApplications(a Actor) bool { return a.Role == identity.RoleRegulator }

// DesignatePilots: which institutions and specialties may take first
// visits, from when to when (G-2): the regulator alone.
func DesignatePilots(a Actor) bool { return a.Role == identity.RoleRegulator }

// SeeAudit: read the audit log of an institution ("" for all): the audit
// administrator and the regulator everything, an institution's admin its
// own.
func SeeAudit(a Actor, institution string) bool {
	switch a.Role {
	case identity.RoleRegulator, identity.RoleAuditAdmin:
		return true
	case identity.RoleInstitutionAdmin:
		return institution != "" && institution == a.Institution
	}
	return false
}

// VerifyAudit: check the audit log's hash chain: the audit administrator
// and the regulator.
func VerifyAudit(a Actor) bool {
	return a.Role == identity.RoleAuditAdmin || a.Role == identity.RoleRegulator
}

// ManageAccounts: create staff accounts, give roles, disable and enable
// accounts: the security administrator alone. Security administrators
// themselves are made at installation (yunyi user create), never through
// the API, so that none can make another.
func ManageAccounts(a Actor) bool { return a.Role == identity.RoleSecurityAdmin }

// SeeRetention: read the retention periods of the records and the
// purge's runs (N-17): the three platform operators (三员分立).
func SeeRetention(a Actor) bool {
	return a.Is(identity.RoleSysadmin, identity.RoleSecurityAdmin, identity.RoleAuditAdmin)
}

// SetRetention: change a retention period or whether a type is purged:
// the security administrator alone (the data's protection is theirs), never
// below the legal minimum (retention.Policy.Validate).
func SetRetention(a Actor) bool { return a.Role == identity.RoleSecurityAdmin }

// OperatePlatform: the platform's own data that is neither medical nor a
// hospital's or the regulator's decision (the retail pharmacy registry,
// shared questionnaire templates, the SMS sandbox's log): the system
// administrator.
func OperatePlatform(a Actor) bool { return a.Role == identity.RoleSysadmin }

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

// FileComplaint: patients and guardians file complaints (N-21), about an
// institution and optionally a visit of theirs.
func FileComplaint(a Actor) bool { return a.Role == identity.RolePatient }

// HandleOversightCase: an institution's complaints and adverse events are
// triaged, investigated and closed by its admin and its quality staff.
func HandleOversightCase(a Actor, institution string) bool {
	return institution != "" && a.Institution == institution && a.Is(identity.RoleInstitutionAdmin, identity.RoleQuality)
}

// SeeOversightCases: the regulator sees every complaint and adverse event
// (N-22); an institution's admin and quality staff see its own. Patients
// and reporters see theirs through their own lists.
func SeeOversightCases(a Actor, institution string) bool {
	return a.Role == identity.RoleRegulator || HandleOversightCase(a, institution)
}

// ReportAdverseEvent: an institution's doctors, pharmacists, admin and
// quality staff report its adverse events (V-4).
func ReportAdverseEvent(a Actor, institution string) bool {
	return institution != "" && a.Institution == institution &&
		a.Is(identity.RoleDoctor, identity.RolePharmacist, identity.RoleInstitutionAdmin, identity.RoleQuality)
}

// Supervise: inspections, rectification orders, their verification and
// the suspension of an institution's online services under them (G-3):
// the regulator alone.
func Supervise(a Actor) bool { return a.Role == identity.RoleRegulator }

// RespondRectification: the institution's admin answers its orders with
// measures and files.
func RespondRectification(a Actor, institution string) bool {
	return institution != "" && a.Role == identity.RoleInstitutionAdmin && a.Institution == institution
}

// SeeRectification: an order is seen by the regulator and by the
// institution's admin and quality staff.
func SeeRectification(a Actor, institution string) bool { return SeeOversightCases(a, institution) }

// SeeDashboard: the dashboard's figures of an institution ("" every
// institution): the regulator any, the institution's quality staff their
// own (issue 13).
func SeeDashboard(a Actor, institution string) bool {
	return a.Role == identity.RoleRegulator || (institution != "" && a.Role == identity.RoleQuality && a.Institution == institution)
}

// InspectVisit: the drill-down from the dashboard to one visit (its
// record, prescriptions and chat metadata): the regulator alone, with a
// reason that is audited (N-22).
func InspectVisit(a Actor) bool { return a.Role == identity.RoleRegulator }

// EditBulletins: draft, edit and publish evaluation bulletins (G-4): the
// regulator alone; published ones are public.
func EditBulletins(a Actor) bool { return a.Role == identity.RoleRegulator }

// SeeFeedStatus: the supervision feed's state of an institution (N-16):
// the regulator's of every institution, an institution's admin its own.
func SeeFeedStatus(a Actor, institution string) bool {
	return a.Role == identity.RoleRegulator || (a.Role == identity.RoleInstitutionAdmin && institution != "" && a.Institution == institution)
}
