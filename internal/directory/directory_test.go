package directory

import (
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/testclock"
)

// day is the tests' instant (testclock).
func day() time.Time { return testclock.Start() }

func ago(y int) string { return day().AddDate(-y, 0, -1).Format("2006-01-02") }

// D-1: licence, 3 years of independent practice, attending or above, 1 year
// of internet follow-up, training passed. D-2: suspensions.
func TestFirstVisitCheckD1D2(t *testing.T) {
	ok := Practitioner{Profession: Doctor, Title: TitleAttending, LicenceNo: "L1", PracticeSince: ago(3), InternetSince: ago(1), TrainingPassedOn: ago(0)}
	cases := []struct {
		name  string
		edit  func(p *Practitioner)
		codes []string
	}{
		{"meets D-1", func(p *Practitioner) {}, nil},
		{"chief meets D-1", func(p *Practitioner) { p.Title = TitleChief }, nil},
		{"resident", func(p *Practitioner) { p.Title = TitleResident }, []string{"d1_title"}},
		{"2 years of practice", func(p *Practitioner) { p.PracticeSince = day().AddDate(-3, 0, 1).Format("2006-01-02") }, []string{"d1_practice_years"}},
		{"no internet practice", func(p *Practitioner) { p.InternetSince = "" }, []string{"d1_internet_years"}},
		{"no training", func(p *Practitioner) { p.TrainingPassedOn = "" }, []string{"d1_training"}},
		{"no licence", func(p *Practitioner) { p.LicenceNo = "" }, []string{"d1_no_licence"}},
		{"pharmacist", func(p *Practitioner) { p.Profession = Pharmacist }, []string{"d1_not_doctor"}},
		{"everything missing lists every reason", func(p *Practitioner) {
			p.Title, p.PracticeSince, p.InternetSince, p.TrainingPassedOn = TitleResident, ago(1), "", ""
		}, []string{"d1_practice_years", "d1_title", "d1_internet_years", "d1_training"}},
		{"D-2 suspended from first visits", func(p *Practitioner) {
			p.Suspensions = []Suspension{{Scope: SuspendFirstVisit, Reason: "quality"}}
		}, []string{"d2_suspended_first_visit"}},
		{"D-2 lifted suspension no longer counts", func(p *Practitioner) {
			p.Suspensions = []Suspension{{Scope: SuspendAll, Reason: "x", LiftedAt: day()}}
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ok
			c.edit(&p)
			eligible, reasons := p.FirstVisitCheck(day())
			if eligible != (len(c.codes) == 0) {
				t.Fatalf("eligible=%v reasons=%v", eligible, reasons)
			}
			if len(reasons) != len(c.codes) {
				t.Fatalf("want %v, got %v", c.codes, reasons)
			}
			for i, r := range reasons {
				if r.Code != c.codes[i] {
					t.Fatalf("want %v, got %v", c.codes, reasons)
				}
			}
		})
	}
}

func TestSuspensionScopes(t *testing.T) {
	p := Practitioner{Suspensions: []Suspension{{Scope: SuspendFirstVisit}}}
	if !p.MayWorkOnline() {
		t.Fatal("a first-visit suspension leaves follow-ups")
	}
	p.Suspensions = append(p.Suspensions, Suspension{Scope: SuspendAll})
	if p.MayWorkOnline() {
		t.Fatal("suspended from all")
	}
	if s, _ := p.ActiveSuspension(); s.Scope != SuspendAll {
		t.Fatal("the strongest suspension wins")
	}
}

func TestWeekdays(t *testing.T) {
	w, ok := ParseWeekdays("5, 1,3,3")
	if !ok || w.String() != "1,3,5" {
		t.Fatalf("%v %v", w, ok)
	}
	if !w.Has(time.Monday) || w.Has(time.Sunday) {
		t.Fatal("Has")
	}
	if _, ok := ParseWeekdays("0,8"); ok {
		t.Fatal("0 and 8 are not weekdays")
	}
	w, _ = ParseWeekdays("7")
	if !w.Has(time.Sunday) {
		t.Fatal("7 is Sunday")
	}
}

func TestServiceValidate(t *testing.T) {
	s := Service{Code: "bch-skin-fv", Name: "皮肤疾病首诊", Kind: FirstVisit}
	if err := s.Validate(); err == nil {
		t.Fatal("first visit without specialty must fail")
	}
	s.Specialty = "skin"
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	s.Kind = "emergency"
	if err := s.Validate(); err == nil {
		t.Fatal("unknown kind")
	}
}
