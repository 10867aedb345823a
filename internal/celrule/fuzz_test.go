package celrule_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"

	"github.com/yunyi-health/yunyi/internal/celrule"
	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/policy"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// saveCodes are the field codes of an expression refused at save.
var saveCodes = map[string]bool{"required": true, "expr_invalid": true, "rule_too_costly": true}

// exprRefusal checks a rule's refusal at save: field "expr" (or field)
// with a stable code whose text is in the catalogue; it returns the code,
// "" when the expression was accepted.
func exprRefusal(t *testing.T, err error, field string) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid {
		t.Fatalf("refused with %v", err)
	}
	code := ""
	for _, fe := range e.Fields {
		if fe.Field != field {
			t.Fatalf("refused on %s (%s): only the expression is in question", fe.Field, fe.Code)
		}
		if !saveCodes[fe.Code] || !i18n.Has("field."+fe.Code) || code != "" {
			t.Fatalf("expression refused with %v", err)
		}
		code = fe.Code
	}
	return code
}

// worst are facts of every kind of rule at the sizes their cost estimate
// assumes: every string and list at its MaxSize.
func policyFacts(size int) map[string]any {
	vars := map[string]any{}
	types := map[string]any{"int": int64(size), "string": strings.Repeat("x", size), "bool": true}
	for _, v := range policy.Variables {
		vars[v.Name] = types[v.Type]
	}
	return vars
}

func rxFacts(size int) map[string]any {
	list := make([]string, size)
	for i := range list {
		list[i] = strings.Repeat(string(rune('a'+i%26)), size)
	}
	vars := map[string]any{}
	types := map[string]any{"int": int64(size), "string": strings.Repeat("y", size), "bool": true, "double": float64(size), "list": list}
	for _, v := range rx.Variables {
		vars[v.Name] = types[v.Type]
	}
	return vars
}

// checkRun evaluates a program accepted at save on facts: it gives a
// boolean within the cost limit, or an error (the caller fails closed);
// on facts within the estimate's sizes it is never stopped by the limit.
func checkRun(t *testing.T, expr string, p cel.Program, vars map[string]any, withinEstimate bool) {
	t.Helper()
	out, det, err := p.ContextEval(context.Background(), vars)
	if det == nil || det.ActualCost() == nil {
		t.Fatalf("%q: evaluated without cost tracking", expr)
	}
	cost := *det.ActualCost()
	if err != nil {
		if withinEstimate && strings.Contains(err.Error(), "cost limit") {
			t.Fatalf("%q: accepted at save, stopped by the cost limit (%d) on facts of the sizes assumed", expr, cost)
		}
		return
	}
	if cost > celrule.CostLimit {
		t.Fatalf("%q: evaluated at cost %d, over the limit %d", expr, cost, celrule.CostLimit)
	}
	if _, ok := out.Value().(bool); !ok && !withinEstimate {
		return
	}
}

// FuzzRule: any expression, as a booking eligibility rule (S-2 to S-5),
// a prescription safety rule (R-2, N-10) and a pre-consultation red flag
// (V-1), is either refused at save naming the expression with a stable
// code (required, expr_invalid, rule_too_costly), or accepted: then it
// evaluates within the cost limit, is never stopped by it on facts of the
// sizes the estimate assumes, and a rule that does not give true fails
// closed (refused, or a red flag that fires naming why it could not be
// evaluated). Nothing panics.
func FuzzRule(f *testing.F) {
	nested := "true"
	for i := 0; i < 9; i++ {
		nested = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(x" + string(rune('a'+i)) + ", " + nested + ")"
	}
	seeds := []string{
		`kind != "follow_up" || (has_history && days_since_last_visit <= 365)`, `kind != "first_visit" || age < 18`,
		`age >= 18 && sex == "female"`, `last_diagnosis.startsWith("L20")`, `institution.matches("^b.*h$")`,
		"!control_classes.exists(c, c in ['narcotic', 'psychotropic_1'])", "not_in_formulary.size() == 0", `drugs.all(d, d.size() < 10)`,
		`has(a.fever) && a.fever == true`, `has(a.birth_weeks) && a.birth_weeks < 32.0`, `has(a.hist) && a.hist.exists(r, r.w > 1000.0)`,
		`a.fever`, `a.x.y.z`, `size(a) > 2`, "drugs.all(x, drugs.all(y, drugs.all(z, x != y || y != z)))",
		`drugs.map(d, d + d + d + d).exists(s, s.size() > 1000)`, `drugs.exists(d, d.matches("(a*)*b"))`,
		`[1,2,3].map(x, [1,2,3].map(y, [1,2,3].map(z, x*y*z))).size() > 0`, nested, "1 / 0 == 1", "9223372036854775807 + 1 > 0",
		"", " ", "age +", "age", `"x"`, "age > 1.0", "true ? 1 : 2", "((((((((((((((((((((true))))))))))))))))))))",
		strings.Repeat("!", 300) + "true", strings.Repeat("[", 200) + strings.Repeat("]", 200) + ".size() == 1", `dyn(a).foo == 1`,
		`a.all(k, a.all(l, a.all(m, k != l)))`, `string(a) == "x"`, `"\u0000" == sex`, "sex == '\xff'", "age in [1, 2]", "timestamp('2026-01-01T00:00:00Z') < now",
	}
	for _, r := range rx.DefaultRules() {
		seeds = append(seeds, r.Expr)
	}
	for _, q := range demo.Questionnaires() {
		for _, rf := range q.RedFlags {
			seeds = append(seeds, rf.When)
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	pe, re := policy.NewEngine(), rx.NewEngine()
	pWorst, pSmall := policyFacts(policy.MaxFactSize), policyFacts(3)
	rWorst, rSmall, rBig := rxFacts(rx.MaxFactSize), rxFacts(2), rxFacts(400)
	rows := make([]any, 50)
	for i := range rows {
		rows[i] = map[string]any{"w": float64(i), "d": "2026-01-01"}
	}
	answers := []map[string]any{{}, {"fever": true, "birth_weeks": 30.0, "hist": rows, "story": strings.Repeat("长", 4000), "sym": []any{"fever"}}}
	failed := i18n.T(i18n.EN, "rule.failed", "r", i18n.Ref("rule.failed.cost"))
	f.Fuzz(func(t *testing.T, expr string) {
		ctx := context.Background()
		// A booking rule.
		pr := policy.Rule{Code: "r", MessageZH: "不符合", MessageEN: "Not met", Expr: expr, Active: true}
		if exprRefusal(t, pe.Validate(&pr), "expr") == "" {
			p, err := pe.Compile(expr)
			if err != nil {
				t.Fatalf("%q saved, does not compile: %v", expr, err)
			}
			checkRun(t, expr, p, pWorst, true)
			checkRun(t, expr, p, pSmall, true)
			ok, vs := pe.Evaluate(ctx, []policy.Rule{pr}, policy.Facts{Age: 30, Sex: "female", Kind: "follow_up"})
			if len(vs) != 1 || ok != vs[0].Passed || (!ok && vs[0].MessageEN == "") {
				t.Fatalf("%q: %v %+v", expr, ok, vs)
			}
			if strings.Contains(vs[0].MessageEN, failed[:20]) && vs[0].Passed {
				t.Fatalf("%q: not evaluated, passed", expr)
			}
		}
		// A prescription safety rule.
		rr := rx.Rule{Code: "r", Severity: rx.Confirm, MessageZH: "不符合", MessageEN: "Not met", Expr: expr, Active: true}
		if exprRefusal(t, re.Validate(&rr), "expr") == "" {
			p, err := re.Compile(expr)
			if err != nil {
				t.Fatalf("%q saved, does not compile: %v", expr, err)
			}
			checkRun(t, expr, p, rWorst, true)
			checkRun(t, expr, p, rSmall, true)
			checkRun(t, expr, p, rBig, false)
			ok, vs := re.Evaluate(ctx, []rx.Rule{rr}, &rx.Facts{Drugs: []string{"d1", "d2"}, AgeYears: 5, WeightKg: 18}, []string{"r"})
			if len(vs) != 1 {
				t.Fatalf("%q: %+v", expr, vs)
			}
			// A confirmation covers a rule that was checked and failed;
			// one that could not be checked is refused whatever it is.
			if v := vs[0]; strings.HasPrefix(v.MessageEN, "Rule r could not be evaluated") && (ok || v.Passed || v.Severity != rx.Refuse) {
				t.Fatalf("%q: not evaluated, yet %v %+v", expr, ok, v)
			}
		}
		// A red flag.
		q := visit.Questionnaire{Code: "q", Title: "问卷", Fields: []visit.Field{{Key: "fever", Label: "发热", Type: visit.FieldYesNo}},
			RedFlags: []visit.RedFlag{{Code: "flag", When: expr, Message: "警告", MessageEN: "Warning"}}}
		if exprRefusal(t, q.Validate(), "red_flags[0].when") == "" {
			for _, a := range answers {
				for _, fl := range q.Flags(ctx, a) {
					if fl.Code != "flag" || fl.Message == "" || fl.MessageEN == "" {
						t.Fatalf("%q: flag %+v", expr, fl)
					}
				}
			}
		}
	})
}
