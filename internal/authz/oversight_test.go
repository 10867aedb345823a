package authz

import (
	"testing"

	"github.com/yunyi-health/yunyi/internal/identity"
)

// The regulator's side (V-4, N-21, G-3): who files, reports, handles, sees
// and supervises.
func TestOversightAuthz(t *testing.T) {
	patient := Actor{ID: 1, Role: identity.RolePatient}
	bchAdmin := Actor{ID: 2, Role: identity.RoleInstitutionAdmin, Institution: "bch"}
	bchQuality := Actor{ID: 3, Role: identity.RoleQuality, Institution: "bch"}
	bchDoctor := Actor{ID: 4, Role: identity.RoleDoctor, Institution: "bch"}
	bchPharmacist := Actor{ID: 5, Role: identity.RolePharmacist, Institution: "bch"}
	ccmcAdmin := Actor{ID: 6, Role: identity.RoleInstitutionAdmin, Institution: "ccmc"}
	regulator := Actor{ID: 7, Role: identity.RoleRegulator}
	sysadmin := Actor{ID: 8, Role: identity.RoleSysadmin}
	for _, c := range []struct {
		name      string
		got, want bool
	}{
		{"a patient complains", FileComplaint(patient), true},
		{"a doctor does not file complaints", FileComplaint(bchDoctor), false},
		{"the admin handles its cases", HandleOversightCase(bchAdmin, "bch"), true},
		{"the quality staff handle its cases", HandleOversightCase(bchQuality, "bch"), true},
		{"a doctor does not handle cases", HandleOversightCase(bchDoctor, "bch"), false},
		{"another institution's admin does not handle", HandleOversightCase(ccmcAdmin, "bch"), false},
		{"the regulator does not handle", HandleOversightCase(regulator, "bch"), false},
		{"the regulator sees every case", SeeOversightCases(regulator, "ccmc"), true},
		{"the sysadmin sees no case (least data)", SeeOversightCases(sysadmin, "bch"), false},
		{"another institution's admin sees none", SeeOversightCases(ccmcAdmin, "bch"), false},
		{"a doctor reports at its institution", ReportAdverseEvent(bchDoctor, "bch"), true},
		{"a pharmacist reports", ReportAdverseEvent(bchPharmacist, "bch"), true},
		{"a doctor does not report for another", ReportAdverseEvent(bchDoctor, "ccmc"), false},
		{"a patient does not report events", ReportAdverseEvent(patient, "bch"), false},
		{"the regulator supervises", Supervise(regulator), true},
		{"the sysadmin does not supervise", Supervise(sysadmin), false},
		{"the admin responds to its orders", RespondRectification(bchAdmin, "bch"), true},
		{"the quality staff do not respond", RespondRectification(bchQuality, "bch"), false},
		{"another admin does not respond", RespondRectification(ccmcAdmin, "bch"), false},
		{"the quality staff see its orders", SeeRectification(bchQuality, "bch"), true},
		{"a doctor sees no order", SeeRectification(bchDoctor, "bch"), false},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v", c.name, c.got)
		}
	}
}
