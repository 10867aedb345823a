package authz

import (
	"testing"

	"github.com/yunyi-health/yunyi/internal/identity"
)

func TestAuthz(t *testing.T) {
	patient := Actor{ID: 1, Role: identity.RolePatient}
	guardianOfChild := []int64{1}
	bchAdmin := Actor{ID: 2, Role: identity.RoleInstitutionAdmin, Institution: "bch"}
	bchDoctor := Actor{ID: 3, Role: identity.RoleDoctor, Institution: "bch"}
	regulator := Actor{ID: 4, Role: identity.RoleRegulator}
	sysadmin := Actor{ID: 5, Role: identity.RoleSysadmin}
	security := Actor{ID: 6, Role: identity.RoleSecurityAdmin}
	auditor := Actor{ID: 7, Role: identity.RoleAuditAdmin}
	cases := []struct {
		name string
		got  bool
		want bool
	}{
		{"patient sees own/child profile", SeePatient(patient, guardianOfChild), true},
		// N-16: the supervision feed's state.
		{"regulator sees every feed", SeeFeedStatus(regulator, "ccmc"), true},
		{"admin sees own feed", SeeFeedStatus(bchAdmin, "bch"), true},
		{"admin does not see another's feed", SeeFeedStatus(bchAdmin, "ccmc"), false},
		{"doctor sees no feed", SeeFeedStatus(bchDoctor, "bch"), false},
		{"sysadmin sees no feed", SeeFeedStatus(sysadmin, ""), false},
		{"patient does not see another's", SeePatient(patient, []int64{9}), false},
		{"staff have no direct patient access", SeePatient(bchAdmin, []int64{2}), false},
		{"regulator has no direct patient access", SeePatient(regulator, []int64{4}), false},
		{"admin manages own institution", ManageInstitution(bchAdmin, "bch"), true},
		{"admin does not manage another", ManageInstitution(bchAdmin, "ccmc"), false},
		{"doctor does not manage", ManageInstitution(bchDoctor, "bch"), false},
		// 三员分立: the system administrator runs the platform only.
		{"sysadmin does not manage a hospital", ManageInstitution(sysadmin, "ccmc"), false},
		{"sysadmin does not qualify", Qualify(sysadmin), false},
		{"sysadmin reads no audit", SeeAudit(sysadmin, ""), false},
		{"sysadmin sees no appointments", sees(sysadmin), false},
		// N-19: a doctor sees the sessions they hold unless widened; a
		// pharmacist no bookings.
		{"doctor sees own sessions", sightOf(bchDoctor, 7, "skin", ReachOwn) == Sight{Institution: "bch", PractitionerID: 7}, true},
		{"doctor widened to the department", sightOf(bchDoctor, 7, "skin", ReachDepartment) ==
			Sight{Institution: "bch", Department: "skin", Widened: ReachDepartment, Own: 7}, true},
		{"doctor without a practitioner record sees nothing", sightOf(bchDoctor, 0, "", ReachInstitution).Covers("bch", "skin", 7), false},
		{"own sessions cover own", sightOf(bchDoctor, 7, "skin", ReachOwn).Covers("bch", "skin", 7), true},
		{"own sessions do not cover a peer's", sightOf(bchDoctor, 7, "skin", ReachOwn).Covers("bch", "skin", 8), false},
		{"department reach covers a peer of the department", sightOf(bchDoctor, 7, "skin", ReachDepartment).Covers("bch", "skin", 8), true},
		{"department reach does not cover another department", sightOf(bchDoctor, 7, "skin", ReachDepartment).Covers("bch", "ent", 8), false},
		{"a widened read of a peer's booking is audited as widened", sightOf(bchDoctor, 7, "skin", ReachInstitution).WidenedFor(8), true},
		{"a read of one's own booking is not", sightOf(bchDoctor, 7, "skin", ReachInstitution).WidenedFor(7), false},
		{"admin sees the institution", sightOf(bchAdmin, 0, "", ReachOwn).Covers("bch", "ent", 8), true},
		{"admin does not see another institution", sightOf(bchAdmin, 0, "", ReachOwn).Covers("ccmc", "ent", 8), false},
		{"sysadmin operates the platform", OperatePlatform(sysadmin), true},
		{"sysadmin keeps no accounts", ManageAccounts(sysadmin), false},
		{"security admin keeps accounts", ManageAccounts(security), true},
		// N-17: the operators read the retention periods, the security
		// administrator alone changes them.
		{"sysadmin reads retention", SeeRetention(sysadmin), true},
		{"auditor reads retention", SeeRetention(auditor), true},
		{"security admin reads retention", SeeRetention(security), true},
		{"regulator does not read retention here", SeeRetention(regulator), false},
		{"security admin sets retention", SetRetention(security), true},
		{"sysadmin does not set retention", SetRetention(sysadmin), false},
		{"auditor does not set retention", SetRetention(auditor), false},
		{"hospital admin does not set retention", SetRetention(bchAdmin), false},
		{"security admin reads no audit", SeeAudit(security, ""), false},
		{"security admin does not qualify", Qualify(security), false},
		{"security admin does not operate", OperatePlatform(security), false},
		{"auditor reads all audit", SeeAudit(auditor, ""), true},
		{"auditor verifies the chain", VerifyAudit(auditor), true},
		{"auditor keeps no accounts", ManageAccounts(auditor), false},
		{"auditor does not manage", ManageInstitution(auditor, "bch"), false},
		{"auditor sees no appointments", sees(auditor), false},
		{"admin does not verify the whole chain", VerifyAudit(bchAdmin), false},
		{"regulator sees staff", SeeInstitutionStaff(regulator, "ccmc"), true},
		{"patient does not see staff credentials", SeeInstitutionStaff(patient, "bch"), false},
		{"regulator qualifies", Qualify(regulator), true},
		{"admin does not qualify", Qualify(bchAdmin), false},
		{"admin reads own audit", SeeAudit(bchAdmin, "bch"), true},
		{"admin does not read all audit", SeeAudit(bchAdmin, ""), false},
		{"admin does not read another's audit", SeeAudit(bchAdmin, "ccmc"), false},
		{"patient reads no audit", SeeAudit(patient, ""), false},
		{"admin applies for its institution", ApplyForQualification(bchAdmin, "bch"), true},
		{"admin does not apply for another", ApplyForQualification(bchAdmin, "ccmc"), false},
		{"sysadmin does not apply", ApplyForQualification(sysadmin, "bch"), false},
		{"regulator sees applications", SeeApplications(regulator, "bch"), true},
		{"doctor does not see applications", SeeApplications(bchDoctor, "bch"), false},
		{"regulator decides applications", DecideApplications(regulator), true},
		{"sysadmin does not decide applications", DecideApplications(sysadmin), false},
		{"regulator designates pilots", DesignatePilots(regulator), true},
		{"admin does not designate pilots", DesignatePilots(bchAdmin), false},
		{"sysadmin does not designate pilots", DesignatePilots(sysadmin), false},
		// N-19 (issue 15): a pharmacist reviews prescriptions; the bookings are not theirs.
		{"pharmacist sees no appointments", sees(Actor{ID: 8, Role: identity.RolePharmacist, Institution: "bch"}), false},
		{"doctor sees appointments (their own sessions)", sees(bchDoctor), true},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v", c.name, c.got)
		}
	}
}

// sightOf is a staff member's sight (BookingSight), ok or not.
func sightOf(a Actor, practitionerID int64, department string, reach Reach) Sight {
	s, _ := BookingSight(a, practitionerID, department, reach)
	return s
}

// sees says whether BookingSight lets the actor see any booking.
func sees(a Actor) bool {
	_, ok := BookingSight(a, 0, "", ReachInstitution)
	return ok
}
