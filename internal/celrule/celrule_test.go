package celrule

import (
	"context"
	"errors"
	"strings"
	"testing"

	"cel.dev/cel-go/cel"

	"github.com/yunyi-health/yunyi/internal/errs"
)

func compiler(t *testing.T, maxSize uint64) *Compiler {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("l", cel.ListType(cel.StringType)), cel.Variable("n", cel.IntType))
	if err != nil {
		t.Fatal(err)
	}
	return New(env, Config{MaxSize: maxSize})
}

// nestedAll is the rule of issue 15: nine nested .all() over ten-element
// lists, 10^9 steps.
func nestedAll() string {
	e := "true"
	for i := 0; i < 9; i++ {
		e = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(x" + string(rune('a'+i)) + ", " + e + ")"
	}
	return e
}

func TestCostlyRuleRefusedAtSave(t *testing.T) {
	c := compiler(t, 100)
	_, err := c.Compile(nestedAll())
	var ce *CostError
	if !errors.As(err, &ce) || ce.Estimate < 1_000_000_000 {
		t.Fatalf("nine nested .all(): %v", err)
	}
	var f errs.Fields
	code := "hostile"
	c.CheckRule(&f, &code, "x", "x", nestedAll())
	var e *errs.Error
	if !errors.As(f.Err(), &e) || len(e.Fields) != 1 || e.Fields[0].Field != "expr" || e.Fields[0].Code != "rule_too_costly" {
		t.Fatalf("%v", f.Err())
	}
	// Within the limit: ordinary rules, one loop over a fact.
	for _, ok := range []string{"n >= 18", `l.exists(c, c in ["a", "b", "c"])`, "l.exists(d, d in l)"} {
		if _, err := c.Compile(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// Two nested loops over facts of up to 1000 elements are 10^6 steps.
	if _, err := compiler(t, 1000).Compile("l.all(x, l.all(y, x != y || n > 0))"); !errors.As(err, &ce) {
		t.Fatalf("nested loops over large facts: %v", err)
	}
}

// A rule within the estimate on facts of the assumed size is stopped at
// the cost limit on larger facts: no answer, and the error says why.
func TestRuntimeCostLimit(t *testing.T) {
	c := compiler(t, 10)
	expr := "l.all(x, l.exists(y, x == y))"
	if _, err := c.Compile(expr); err != nil {
		t.Fatal(err)
	}
	big := make([]string, 20_000) // 4·10^8 steps unbounded
	for i := range big {
		big[i] = strings.Repeat("x", i%13)
	}
	ok, err := c.Eval(context.Background(), expr, map[string]any{"l": big, "n": 1})
	if ok || !errors.Is(err, ErrCostLimit) || !Stopped(err) {
		t.Fatalf("%v %v", ok, err)
	}
	zh, en := Failure("dup", err)
	if !strings.Contains(zh, "dup") || !strings.Contains(zh, "计算量") || !strings.Contains(en, "dup") || !strings.Contains(en, "cost limit") {
		t.Fatalf("%q %q", zh, en)
	}
	if ok, err := c.Eval(context.Background(), expr, map[string]any{"l": big[:5], "n": 1}); !ok || err != nil {
		t.Fatalf("small facts: %v %v", ok, err)
	}
}

// An evaluation whose request is gone stops: before it starts, and inside
// a comprehension (the program checks its context every InterruptEvery
// steps).
func TestCancelledContextStops(t *testing.T) {
	c := compiler(t, 10)
	expr := "l.all(x, l.exists(y, x == y))"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := make([]string, 20_000)
	ok, err := c.Eval(ctx, expr, map[string]any{"l": big, "n": 1})
	if ok || !errors.Is(err, ErrCancelled) || !Stopped(err) {
		t.Fatalf("%v %v", ok, err)
	}
	if _, en := Failure("r", err); !strings.Contains(en, "cancelled") {
		t.Fatal(en)
	}
	p, err := c.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.ContextEval(ctx, map[string]any{"l": big, "n": 1}); err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("the program ran on a cancelled context: %v", err)
	}
}

func TestEvalFailures(t *testing.T) {
	c := compiler(t, 10)
	if _, err := c.Eval(context.Background(), "n / 0 == 1", map[string]any{"l": []string{}, "n": 1}); err == nil || Stopped(err) {
		t.Fatalf("division by zero: %v", err)
	}
	if _, err := c.Eval(context.Background(), "n +", nil); err == nil || Stopped(err) {
		t.Fatalf("syntax: %v", err)
	}
}

// The type checker's work grows steeply with nesting (200 nested empty
// lists, 412 characters, took it 20 s): an expression nested deeper than
// MaxNesting, or longer than MaxExprLen, is refused by the parser
// (expr_invalid), at once; rules nested a few levels are not.
func TestDeepOrLongRuleRefused(t *testing.T) {
	c := compiler(t, 10)
	for _, expr := range []string{
		strings.Repeat("[", 200) + strings.Repeat("]", 200) + ".size() == 1",
		strings.Repeat("(", MaxNesting) + "n" + strings.Repeat(")", MaxNesting) + " > 1",
		"n > 1" + strings.Repeat(" && n > 1", MaxExprLen/9),
	} {
		var f errs.Fields
		c.CheckExpr(&f, "expr", expr)
		var e *errs.Error
		if !errors.As(f.Err(), &e) || len(e.Fields) != 1 || e.Fields[0].Code != "expr_invalid" {
			t.Fatalf("%.40s…: %v", expr, f.Err())
		}
	}
	nested := "n > 1"
	for i := 0; i < 8; i++ {
		nested = "l.exists(x" + string(rune('a'+i)) + ", (" + nested + "))"
	}
	if _, err := compiler(t, 2).Compile(nested); err != nil {
		t.Fatalf("eight nested comprehensions: %v", err)
	}
}
