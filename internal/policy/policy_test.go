package policy

import (
	"context"
	"testing"
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
