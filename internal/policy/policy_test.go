package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/errs"
)

func TestCompileRefusesBadExpressions(t *testing.T) {
	e := NewEngine()
	for _, bad := range []string{"age >", "age + 1", "unknown_fact", `kind == 3`, ""} {
		r := Rule{Code: "x", MessageZH: "x", MessageEN: "x", Expr: bad}
		if err := e.Validate(&r); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	r := Rule{Code: "sjt-age", MessageZH: "未满 18 周岁不接诊", MessageEN: "Not under 18", Expr: "age >= 18"}
	if err := e.Validate(&r); err != nil {
		t.Fatal(err)
	}
}

// S-4 (H-SJT): a refusal lists every rule that refused.
func TestEvaluateReportsEveryRule(t *testing.T) {
	e := NewEngine()
	rules := []Rule{
		{Code: "age", Expr: "age >= 18", Active: true},
		{Code: "pregnant", Expr: "!pregnant", Active: true},
		{Code: "history", Expr: "has_history && days_since_last_visit <= 365", Active: true},
	}
	ok, vs := e.Evaluate(context.Background(), rules, Facts{Age: 17, Pregnant: true, HasHistory: true, DaysSinceLastVisit: 30})
	if ok || len(vs) != 3 || vs[0].Passed || vs[1].Passed || !vs[2].Passed {
		t.Fatalf("%v %+v", ok, vs)
	}
	ok, _ = e.Evaluate(context.Background(), rules, Facts{Age: 40, HasHistory: true, DaysSinceLastVisit: 365})
	if !ok {
		t.Fatal("should pass")
	}
}

func TestApplicableNarrowestWins(t *testing.T) {
	rules := []Rule{
		{Code: "history", Institution: "bch", Expr: "days_since_last_visit <= 90", Active: true},
		{Code: "history", Institution: "bch", Department: "allergy", Expr: "days_since_last_visit <= 30", Active: true},
		{Code: "approved", Expr: "institution_approved", Active: true},
		{Code: "other", Institution: "ccmc", Expr: "true", Active: true},
		{Code: "off", Institution: "bch", Expr: "false", Active: false},
	}
	got := Applicable(rules, "bch", "allergy", "bch-allergy-fu")
	if len(got) != 2 || got[0].Code != "approved" || got[1].Expr != "days_since_last_visit <= 30" {
		t.Fatalf("%+v", got)
	}
	got = Applicable(rules, "bch", "cardiology", "bch-cardiology-fu")
	if len(got) != 2 || got[1].Expr != "days_since_last_visit <= 90" {
		t.Fatalf("%+v", got)
	}
}

// nestedAll is the hostile rule of issue 15: nine nested .all() over
// ten-element lists (10^9 steps).
func nestedAll() string {
	e := "age >= 0"
	for i := 0; i < 9; i++ {
		e = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(x" + string(rune('a'+i)) + ", " + e + ")"
	}
	return e
}

// Issue 15: a rule that could burn a core is refused when saved; one that
// goes over the cost limit anyway fails closed, naming itself; a cancelled
// request stops the evaluation.
func TestHostileRules(t *testing.T) {
	e := NewEngine()
	r := Rule{Code: "hostile", MessageZH: "x", MessageEN: "x", Expr: nestedAll()}
	var fe *errs.Error
	if err := e.Validate(&r); !errors.As(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0].Field != "expr" || fe.Fields[0].Code != "rule_too_costly" {
		t.Fatalf("nine nested .all() saved: %v", err)
	}
	// Within the estimate for codes of up to MaxFactSize characters, over
	// the limit on facts far longer than any code.
	costly := Rule{Code: "long-codes", Expr: `department.contains(specialty + specialty) || age >= 0`, Active: true}
	if err := e.Validate(&Rule{Code: costly.Code, MessageZH: "x", MessageEN: "x", Expr: costly.Expr}); err != nil {
		t.Fatal(err)
	}
	cheap := Rule{Code: "adult", Expr: "age >= 18", Active: true, MessageZH: "成人", MessageEN: "Adults"}
	huge := Facts{Age: 40, Department: strings.Repeat("d", 20_000_000), Specialty: "x"}
	ok, vs := e.Evaluate(context.Background(), []Rule{cheap, costly}, huge)
	if ok || len(vs) != 2 || !vs[0].Passed || vs[1].Passed || !strings.Contains(vs[1].MessageZH, "long-codes") ||
		!strings.Contains(vs[1].MessageEN, "long-codes") || !strings.Contains(vs[1].MessageEN, "cost limit") {
		t.Fatalf("%v %+v", ok, vs)
	}
	// The request went away: nothing is evaluated, every rule fails closed.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok, vs = e.Evaluate(ctx, []Rule{cheap}, Facts{Age: 40})
	if ok || vs[0].Passed || !strings.Contains(vs[0].MessageEN, "cancelled") {
		t.Fatalf("%v %+v", ok, vs)
	}
}

// S-1, S-4: every verdict carries both of its rule's texts, what refuses
// and what is met, whatever the answer; a rule without a passed text
// (written before rules had one) reads neutrally, never as its refusal.
func TestVerdictsCarryThePassedText(t *testing.T) {
	e := NewEngine()
	qualified := Rule{Code: "qualified", Source: "S-1", Expr: "institution_approved", Active: true,
		MessageZH: "该机构尚未获得互联网诊疗资质批准，暂不能预约", MessageEN: "This institution is not yet approved for internet diagnosis",
		PassedZH: "已获互联网诊疗资质", PassedEN: "Approved for internet diagnosis"}
	old := Rule{Code: "adult", Source: "S-4", Expr: "age >= 18", Active: true, MessageZH: "不接诊未满 18 周岁的患者", MessageEN: "Not under 18"}
	cases := []struct {
		name                   string
		rule                   Rule
		facts                  Facts
		passed                 bool
		wantPassZH, wantPassEN string
	}{
		{"S-1 approved: passes with its passed text", qualified, Facts{InstitutionApproved: true}, true, "已获互联网诊疗资质", "Approved for internet diagnosis"},
		{"S-1 not approved: refused, the passed text still there", qualified, Facts{}, false, "已获互联网诊疗资质", "Approved for internet diagnosis"},
		{"S-4 a rule without passed text: the neutral default", old, Facts{Age: 40}, true, DefaultPassedZH, DefaultPassedEN},
		{"S-4 a rule without passed text, refused", old, Facts{Age: 17}, false, DefaultPassedZH, DefaultPassedEN},
	}
	for _, c := range cases {
		_, vs := e.Evaluate(context.Background(), []Rule{c.rule}, c.facts)
		v := vs[0]
		if v.Passed != c.passed || v.PassedZH != c.wantPassZH || v.PassedEN != c.wantPassEN ||
			v.MessageZH != c.rule.MessageZH || v.MessageEN != c.rule.MessageEN {
			t.Errorf("%s: %+v", c.name, v)
		}
		if v.PassedZH == v.MessageZH || v.PassedEN == v.MessageEN {
			t.Errorf("%s: the passed text is the refusal: %+v", c.name, v)
		}
	}
}

// S-4: the passed texts are optional, but come in both languages (or
// neither), and are saved trimmed.
func TestValidatePassedTexts(t *testing.T) {
	e := NewEngine()
	cases := []struct {
		name         string
		zh, en       string
		wantField    string // "" = accepted
		wantZH, want string
	}{
		{"neither: accepted (the neutral default is shown)", "", "", "", "", ""},
		{"both: accepted, trimmed", " 已满 18 周岁 ", " 18 or over ", "", "已满 18 周岁", "18 or over"},
		{"Chinese only: English required", "已满 18 周岁", " ", "passed_en", "", ""},
		{"English only: Chinese required", "", "18 or over", "passed_zh", "", ""},
	}
	for _, c := range cases {
		r := Rule{Code: "adult", MessageZH: "不接诊未满 18 周岁的患者", MessageEN: "Not under 18", PassedZH: c.zh, PassedEN: c.en, Expr: "age >= 18"}
		err := e.Validate(&r)
		var fe *errs.Error
		switch {
		case c.wantField == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantField == "" && (r.PassedZH != c.wantZH || r.PassedEN != c.want):
			t.Errorf("%s: saved %q / %q", c.name, r.PassedZH, r.PassedEN)
		case c.wantField != "" && (!errors.As(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0].Field != c.wantField || fe.Fields[0].Code != "required"):
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
