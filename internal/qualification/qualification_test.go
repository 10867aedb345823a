package qualification

import (
	"testing"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// N-23: an approval is valid a year, reminded 30 days before it lapses; a
// re-validation approved in time continues it without a gap.
func TestTerm(t *testing.T) {
	pending := &directory.Institution{Status: directory.QualPending}
	if from, until := TermOf(KindQualification, pending, "2026-03-10"); from != "2026-03-10" || until != "2027-03-09" {
		t.Fatalf("%s %s", from, until)
	}
	if DueOn("2027-03-09") != "2027-03-10" || RemindFrom("2027-03-09") != "2027-02-08" || RemindUntil("2027-02-08") != "2027-03-09" {
		t.Fatal("due and reminder days")
	}
	approved := &directory.Institution{Status: directory.QualApproved, ApprovedOn: "2026-03-10", ValidUntil: "2027-03-09"}
	if from, until := TermOf(KindRevalidation, approved, "2027-02-20"); from != "2027-03-10" || until != "2028-03-09" {
		t.Fatalf("in time: %s %s", from, until)
	}
	suspended := &directory.Institution{Status: directory.QualSuspended, ApprovedOn: "2026-03-10", ValidUntil: "2027-03-09"}
	if from, until := TermOf(KindRevalidation, suspended, "2027-04-01"); from != "2027-04-01" || until != "2028-03-31" {
		t.Fatalf("after the lapse: %s %s", from, until)
	}
	// 29 February: a year on is 28 February the next year.
	if _, until := TermOf(KindQualification, pending, "2028-02-29"); until != "2029-02-28" {
		t.Fatalf("leap day: %s", until)
	}
	if !Lapsed("2027-03-09", "2027-03-10") || Lapsed("2027-03-09", "2027-03-09") || Lapsed("", "2030-01-01") {
		t.Fatal("lapsed")
	}
}

func fieldCodes(err error) map[string]string {
	out := map[string]string{}
	if e, ok := err.(*errs.Error); ok {
		for _, f := range e.Fields {
			out[f.Field] = f.Code
		}
	}
	return out
}

// G-1: what an application lists is the institution's; a refusal has
// reasons; a shortened term lies in the year.
func TestApplicationAndDecisionValidate(t *testing.T) {
	inst := &directory.Institution{Code: "h", Status: directory.QualPending, Departments: []directory.Department{
		{Code: "a", Services: []directory.Service{{Code: "a-fu"}}}, {Code: "b", Services: []directory.Service{{Code: "b-fu"}}}}}
	docs := []directory.Practitioner{{ID: 1, Institution: "h", Profession: directory.Doctor}, {ID: 2, Institution: "h", Profession: directory.Pharmacist}}
	ok := Application{Kind: KindQualification, Departments: []string{"a", " a "}, Services: []string{"a-fu"}, Practitioners: []int64{1, 1}}
	if err := ok.Validate(inst, docs); err != nil || len(ok.Departments) != 1 || len(ok.Practitioners) != 1 {
		t.Fatalf("%v %+v", err, ok)
	}
	bad := Application{Kind: KindRevalidation, Departments: []string{"a", "z"}, Services: []string{"b-fu", "zz"}, Practitioners: []int64{2}}
	got := fieldCodes(bad.Validate(inst, docs))
	want := map[string]string{"kind": "revalidation_needs_approval", "departments[1]": "not_found", "services[0]": "department_not_listed",
		"services[1]": "not_found", "practitioners[0]": "not_found"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (%v)", k, got[k], v, got)
		}
	}
	approved := *inst
	approved.Status, approved.ApprovedOn = directory.QualApproved, "2026-01-01"
	again := Application{Kind: KindQualification, Departments: []string{"a"}, Services: []string{"a-fu"}, Practitioners: []int64{1}}
	if fieldCodes(again.Validate(&approved, docs))["kind"] != "already_approved" {
		t.Fatal("an approved institution applies anew")
	}
	if fieldCodes(ValidateDecision(false, " ", "", "2026-01-01", "2026-12-31"))["reasons"] != "required" {
		t.Fatal("a refusal without reasons")
	}
	if fieldCodes(ValidateDecision(true, "", "2027-01-01", "2026-01-01", "2026-12-31"))["valid_until"] != "outside_term" {
		t.Fatal("a term over a year")
	}
	if err := ValidateDecision(true, "", "2026-06-30", "2026-01-01", "2026-12-31"); err != nil {
		t.Fatal(err)
	}
}
