package rx

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

func TestDefaultRulesCompile(t *testing.T) {
	e := NewEngine()
	for _, r := range DefaultRules() {
		if err := e.Validate(&r); err != nil {
			t.Errorf("%s: %v", r.Code, err)
		}
		if r.Source == "" {
			t.Errorf("%s names no rule id", r.Code)
		}
	}
}

// Each shipped rule on facts that pass and facts that fail, named by id.
func TestRulesOnFacts(t *testing.T) {
	e := NewEngine()
	rules := Applicable(DefaultRules(), "bch")
	ok := func() *Facts {
		return &Facts{AgeYears: 30, WeightKg: 60, ControlClasses: []string{"none"}, MaxDays: 7, Supply: "normal", ValidDays: 1, Diagnoses: []string{"L20.9"}}
	}
	cases := []struct {
		name    string
		change  func(f *Facts)
		failed  string
		confirm bool
	}{
		{"R-2 N-10 narcotic", func(f *Facts) { f.ControlClasses = []string{"none", "narcotic"} }, "banned-control-class", false},
		{"R-2 N-10 psychotropic II", func(f *Facts) { f.ControlClasses = []string{"psychotropic_2"} }, "banned-control-class", false},
		{"R-2 precursor", func(f *Facts) { f.ControlClasses = []string{"precursor"} }, "banned-control-class", false},
		{"W-2 not stocked", func(f *Facts) { f.NotInFormulary = []string{"x"} }, "formulary", false},
		{"not online there", func(f *Facts) { f.NotOnline = []string{"x"} }, "online-allowed", false},
		{"allergy", func(f *Facts) { f.AllergyHits = []string{"x"} }, "allergy", false},
		{"duplicate", func(f *Facts) { f.DuplicateIngredients = []string{"x"} }, "duplicate-ingredient", false},
		{"interaction", func(f *Facts) { f.Interactions = []string{"x"} }, "interaction", true},
		{"N-14 8 days", func(f *Facts) { f.MaxDays = 8 }, "days-supply", false},
		{"N-14 acute 4 days", func(f *Facts) { f.MaxDays, f.Supply = 4, "acute" }, "days-supply", false},
		{"N-14 long term without reason", func(f *Facts) { f.MaxDays, f.Supply = 30, "long_term" }, "days-supply", false},
		{"N-14 long term over 12 weeks", func(f *Facts) { f.MaxDays, f.Supply, f.LongTermReason = 85, "long_term", "高血压稳定" }, "days-supply", false},
		{"weight missing", func(f *Facts) { f.WeightMissing = []string{"x"} }, "child-weight", false},
		{"paediatric dose", func(f *Facts) { f.DoseOutOfRange = []string{"x"} }, "paediatric-dose", true},
		{"N-4 under 6", func(f *Facts) { f.AgeYears = 5 }, "under-6-accompanied", true},
		{"N-13 4 days", func(f *Facts) { f.ValidDays = 4 }, "validity", false},
		{"V-2 a diagnosis the visit did not record", func(f *Facts) { f.VisitDiagnoses = []string{"J45.9"} }, "visit-diagnosis", false},
	}
	if pass, vs := e.Evaluate(context.Background(), rules, ok(), nil); !pass {
		t.Fatalf("clean facts refused: %+v", vs)
	}
	long := ok()
	long.MaxDays, long.Supply, long.LongTermReason = 84, "long_term", "高血压稳定"
	if pass, _ := e.Evaluate(context.Background(), rules, long, nil); !pass {
		t.Fatal("N-14 12 weeks with the reason refused")
	}
	for _, c := range cases {
		f := ok()
		c.change(f)
		pass, vs := e.Evaluate(context.Background(), rules, f, nil)
		var failed []string
		for _, v := range vs {
			if !v.Passed {
				failed = append(failed, v.Code)
			}
		}
		if pass || len(failed) != 1 || failed[0] != c.failed {
			t.Errorf("%s: pass=%v failed=%v", c.name, pass, failed)
		}
		pass, vs = e.Evaluate(context.Background(), rules, f, []string{c.failed})
		if pass != c.confirm {
			t.Errorf("%s confirmed: pass=%v", c.name, pass)
		}
		if c.confirm {
			for _, v := range vs {
				if v.Code == c.failed && !v.Confirmed {
					t.Errorf("%s: the confirmation is not recorded", c.name)
				}
			}
		}
	}
}

// An institution's rule (here H-XW's, as its data says) replaces the
// platform's of the same code there only.
func TestXuanwuBansHighRisk(t *testing.T) {
	e := NewEngine()
	all := append(DefaultRules(), Rule{Institution: "xuanwu", Code: "banned-control-class", Severity: Refuse, Active: true, MessageZH: "x", MessageEN: "x",
		Expr: `!control_classes.exists(c, c in ["narcotic", "psychotropic_1", "psychotropic_2", "toxic", "radioactive", "precursor", "high_risk", "special"])`})
	f := &Facts{AgeYears: 60, ControlClasses: []string{"high_risk"}, MaxDays: 7, Supply: "normal", ValidDays: 1}
	if pass, _ := e.Evaluate(context.Background(), Applicable(all, "shijitan"), f, nil); !pass {
		t.Fatal("the platform refuses a high-risk drug")
	}
	if pass, _ := e.Evaluate(context.Background(), Applicable(all, "xuanwu"), f, nil); pass {
		t.Fatal("宣武医院 prescribes a high-risk drug online")
	}
	if n := len(Applicable(all, "xuanwu")); n != len(DefaultRules()) {
		t.Fatalf("%d rules at xuanwu", n)
	}
}

// nestedAll is the hostile rule of issue 15: nine nested .all() over
// ten-element lists (10^9 steps).
func nestedAll() string {
	e := "drugs.size() >= 0"
	for i := 0; i < 9; i++ {
		e = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(x" + string(rune('a'+i)) + ", " + e + ")"
	}
	return e
}

// Issue 15: a rule that does not compile or could cost too much is refused
// at save; one that goes over the cost limit anyway (a rule saved before
// the estimate, facts larger than any prescription's) fails closed as a
// refusal naming itself, whatever its severity; a cancelled request stops.
func TestHostileRules(t *testing.T) {
	e := NewEngine()
	bad := Rule{Code: "x", Severity: Refuse, MessageZH: "x", MessageEN: "x", Expr: "drugs.size() +"}
	if err := e.Validate(&bad); err == nil {
		t.Fatal("a broken expression saved")
	}
	heavy := Rule{Code: "heavy", Severity: Confirm, MessageZH: "x", MessageEN: "x", Active: true, Expr: nestedAll()}
	var fe *errs.Error
	if err := e.Validate(&heavy); !errors.As(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0].Field != "expr" || fe.Fields[0].Code != "rule_too_costly" {
		t.Fatalf("nine nested .all() saved: %v", err)
	}
	pass, vs := e.Evaluate(context.Background(), []Rule{heavy}, &Facts{}, []string{"heavy"})
	if pass || vs[0].Passed || vs[0].Severity != Refuse || !strings.Contains(vs[0].MessageZH, "heavy") {
		t.Fatalf("a stored rule past the estimate: %v %+v", pass, vs)
	}
	// Within the estimate for lists of MaxFactSize, over the limit on
	// thousands of interactions.
	dup := Rule{Code: "dup-pairs", Severity: Confirm, MessageZH: "x", MessageEN: "x", Active: true,
		Expr: "interactions.all(x, x in interactions)"}
	if err := e.Validate(&dup); err != nil {
		t.Fatal(err)
	}
	many := make([]string, 20_000)
	for i := range many {
		many[i] = strings.Repeat("药", i%17)
	}
	pass, vs = e.Evaluate(context.Background(), []Rule{dup}, &Facts{Interactions: many}, []string{"dup-pairs"})
	if pass || vs[0].Passed || vs[0].Severity != Refuse || !strings.Contains(vs[0].MessageZH, "dup-pairs") || !strings.Contains(vs[0].MessageEN, "cost limit") {
		t.Fatalf("past the cost limit: %v %+v", pass, vs)
	}
	if pass, _ := e.Evaluate(context.Background(), []Rule{dup}, &Facts{Interactions: many[:5]}, nil); !pass {
		t.Fatal("the rule on a prescription's facts")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pass, vs = e.Evaluate(ctx, []Rule{dup}, &Facts{Interactions: many}, nil)
	if pass || vs[0].Passed || !strings.Contains(vs[0].MessageEN, "cancelled") {
		t.Fatalf("cancelled: %v %+v", pass, vs)
	}
}

func TestValidityAndAge(t *testing.T) {
	issued := time.Date(2027, 12, 31, 15, 30, 0, 0, time.UTC) // 23:30 Beijing, New Year's Eve
	if got := ValidUntil(issued, 1).In(dates.Beijing); got.Format("2006-01-02 15:04") != "2027-12-31 23:59" {
		t.Fatalf("valid on the day of issue until %s", got)
	}
	if got := ValidUntil(issued, 3).In(dates.Beijing); got.Format("2006-01-02") != "2028-01-02" {
		t.Fatalf("3 days until %s", got)
	}
	leap := time.Date(2028, 2, 28, 2, 0, 0, 0, time.UTC)
	if got := ValidUntil(leap, 2).In(dates.Beijing); got.Format("2006-01-02") != "2028-02-29" {
		t.Fatalf("across the leap day until %s", got)
	}
	now := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		birth time.Time
		want  string
	}{
		{now.AddDate(-4, -6, 0), "4岁6个月"},
		{now.AddDate(-8, 0, 0), "8岁"},
		{now.AddDate(0, -5, 0), "5个月"},
		{now.AddDate(0, 0, -12), "12天"},
		{now.AddDate(-30, -3, 0), "30岁"},
	} {
		if got := AgeText(c.birth, now); got != c.want {
			t.Errorf("born %s: %s, want %s", c.birth.Format("2006-01-02"), got, c.want)
		}
	}
}

func TestAllergensAndStatuses(t *testing.T) {
	a := Allergens(map[string]any{"drug_allergies": "青霉素过敏、磺胺"})
	if a["amoxicillin"] == "" || a["sulfamethoxazole"] == "" || a["cetirizine"] != "" {
		t.Fatalf("allergens %v", a)
	}
	if len(Allergens(map[string]any{"drug_allergies": "无"})) != 0 {
		t.Fatal("“无” is an allergy")
	}
	for s, want := range map[Status]string{PendingReview: "draft", Approved: "active", Rejected: "cancelled", Expired: "cancelled", Dispensed: "completed"} {
		if s.FHIRStatus() != want {
			t.Errorf("%s → %s", s, s.FHIRStatus())
		}
	}
}
