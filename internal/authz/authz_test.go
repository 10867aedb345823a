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
	cases := []struct {
		name string
		got  bool
		want bool
	}{
		{"patient sees own/child profile", SeePatient(patient, guardianOfChild), true},
		{"patient does not see another's", SeePatient(patient, []int64{9}), false},
		{"staff have no direct patient access", SeePatient(bchAdmin, []int64{2}), false},
		{"regulator has no direct patient access", SeePatient(regulator, []int64{4}), false},
		{"admin manages own institution", ManageInstitution(bchAdmin, "bch"), true},
		{"admin does not manage another", ManageInstitution(bchAdmin, "ccmc"), false},
		{"doctor does not manage", ManageInstitution(bchDoctor, "bch"), false},
		{"sysadmin manages", ManageInstitution(sysadmin, "ccmc"), true},
		{"regulator sees staff", SeeInstitutionStaff(regulator, "ccmc"), true},
		{"patient does not see staff credentials", SeeInstitutionStaff(patient, "bch"), false},
		{"regulator qualifies", Qualify(regulator), true},
		{"admin does not qualify", Qualify(bchAdmin), false},
		{"admin reads own audit", SeeAudit(bchAdmin, "bch"), true},
		{"admin does not read all audit", SeeAudit(bchAdmin, ""), false},
		{"admin does not read another's audit", SeeAudit(bchAdmin, "ccmc"), false},
		{"patient reads no audit", SeeAudit(patient, ""), false},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v", c.name, c.got)
		}
	}
}
