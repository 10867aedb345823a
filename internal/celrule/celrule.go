// Package celrule compiles and runs the rules that are data (booking
// eligibility, prescription safety, questionnaire red flags): CEL
// expressions over a fixed set of facts, each compiled once and cached by
// its text.
//
// Rules are written by institution staff, so a rule is hostile input (issue
// 15): nine nested .all() over ten-element lists is 10^9 steps. Three
// bounds hold for every kind of rule, here in one place:
//
//   - at save, a rule whose worst case, estimated by cel-go's cost
//     estimator on facts of at most Config.MaxSize elements or characters,
//     is over CostLimit is refused (field code rule_too_costly);
//   - at evaluation, a rule that goes over CostLimit anyway (facts larger
//     than assumed, a rule saved before the estimate) is stopped: it fails
//     closed, and Failure names it;
//   - an evaluation whose context ends (the client went away) stops within
//     InterruptEvery steps of a comprehension.
package celrule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/interpreter"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
)

// CostLimit bounds one evaluation of one rule, in cel-go's cost units
// (about one per operation, one per comprehension step): rules answer a
// few questions about a booking or a prescription and need a few hundred.
// It is also the most a rule's estimated worst case may be when saved.
const CostLimit = 100_000

// InterruptEvery is how many comprehension steps run between checks of the
// evaluation's context.
const InterruptEvery = 100

// maxCached bounds the programs kept in memory (rules are few; a flood of
// distinct texts starts the cache over).
const maxCached = 10_000

// Config describes the facts of one kind of rule.
type Config struct {
	// MaxSize is the largest list or map (elements) or string (characters)
	// any fact may be: the size the cost estimate assumes for every value
	// reached from a variable.
	MaxSize uint64
	// DynResult accepts an expression whose type is only known when it
	// runs (a map's value): it must then be a boolean (red flags).
	DynResult bool
}

// Compiler compiles expressions in one environment.
type Compiler struct {
	env   *cel.Env
	cfg   Config
	mu    sync.RWMutex
	progs map[string]compiled
}

type compiled struct {
	p   cel.Program
	err error
}

// MaxExprLen bounds a rule's text (characters) and MaxNesting how deeply
// its lists, maps, calls and parentheses nest: the type checker's work
// grows steeply with nesting (200 nested empty lists, 412 characters, took
// it 20 s), so deeper rules are refused by the parser (expr_invalid). Rules
// are a line or two, nested a few levels.
const (
	MaxExprLen = 2000
	MaxNesting = 32
)

// New makes a compiler over env for facts described by cfg; its parser
// refuses expressions over MaxExprLen or MaxNesting.
func New(env *cel.Env, cfg Config) *Compiler {
	env, err := env.Extend(cel.ParserExpressionSizeLimit(MaxExprLen), cel.ParserRecursionLimit(MaxNesting))
	if err != nil {
		panic(err) // fixed options: a failure is a programming error
	}
	return &Compiler{env: env, cfg: cfg, progs: map[string]compiled{}}
}

// CostError is a rule whose estimated worst case is over CostLimit.
type CostError struct{ Estimate uint64 }

func (e *CostError) Error() string {
	return fmt.Sprintf("the rule could cost %d to evaluate, over the limit of %d", e.Estimate, CostLimit)
}

// sizes is the cost estimator's view of the facts: every list, map or
// string reached from a variable has at most max elements or characters;
// calls cost what cel-go's standard model says.
type sizes struct{ max uint64 }

func (s sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) == 0 {
		return nil // a literal or a computed value: cel-go knows its size
	}
	return &cost.SizeEstimate{Min: 0, Max: s.max}
}

func (sizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// Compile checks that expr is a boolean expression over the facts whose
// estimated cost is within CostLimit (else a *CostError), and returns its
// program (cached by text, as is a refusal).
func (c *Compiler) Compile(expr string) (cel.Program, error) {
	c.mu.RLock()
	got, ok := c.progs[expr]
	c.mu.RUnlock()
	if ok {
		return got.p, got.err
	}
	got.p, got.err = c.compile(expr)
	c.mu.Lock()
	if len(c.progs) >= maxCached {
		c.progs = map[string]compiled{}
	}
	c.progs[expr] = got
	c.mu.Unlock()
	return got.p, got.err
}

func (c *Compiler) compile(expr string) (cel.Program, error) {
	ast, iss := c.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.TrimSpace(iss.Err().Error()))
	}
	if t := ast.OutputType(); t != cel.BoolType && !(c.cfg.DynResult && t == cel.DynType) {
		return nil, fmt.Errorf("the expression must be true or false, not %s", t)
	}
	// The estimate comes before the program: planning may already fold
	// constant parts of the expression, which is work too.
	est, err := c.env.EstimateCost(ast, sizes{max: c.cfg.MaxSize})
	if err != nil {
		return nil, err
	}
	if est.Max > CostLimit {
		return nil, &CostError{Estimate: est.Max}
	}
	return c.env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(InterruptEvery))
}

// Reasons a rule could not be evaluated (Failure's texts).
var (
	ErrCostLimit = errors.New("the rule went over the cost limit")
	ErrCancelled = errors.New("the evaluation was cancelled")
	ErrNotBool   = errors.New("the rule did not give true or false")
)

// Eval runs expr on vars within CostLimit, stopping when ctx ends. An
// error means no answer: the rule does not compile (or costs too much),
// went over the limit (ErrCostLimit), was cancelled (ErrCancelled), did
// not give a boolean (ErrNotBool) or failed on these facts; the caller
// fails closed.
func (c *Compiler) Eval(ctx context.Context, expr string, vars any) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%w: %w", ErrCancelled, err)
	}
	p, err := c.Compile(expr)
	if err != nil {
		return false, err
	}
	out, _, err := p.ContextEval(ctx, vars)
	if err != nil {
		var ce interpreter.EvalCancelledError
		switch {
		case errors.As(err, &ce) && ce.Cause == interpreter.CostLimitExceeded:
			return false, fmt.Errorf("%w: %w", ErrCostLimit, err)
		case ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			return false, fmt.Errorf("%w: %w", ErrCancelled, err)
		}
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, ErrNotBool
	}
	return b, nil
}

// Stopped reports whether err is a rule stopped by a bound (the cost limit,
// a costly rule, a cancelled request) rather than a rule that failed on its
// facts.
func Stopped(err error) bool {
	var ce *CostError
	return errors.Is(err, ErrCostLimit) || errors.Is(err, ErrCancelled) || errors.As(err, &ce)
}

// Failure is the message, in Chinese and English, of a rule that could not
// be evaluated: it names the rule and the reason, and is shown where the
// rule's verdict would be (the rule counts as failed: closed).
func Failure(code string, err error) (zh, en string) {
	return i18n.T(i18n.ZH, "rule.failed", code, Reason(err)), i18n.T(i18n.EN, "rule.failed", code, Reason(err))
}

// Reason is the text of why a rule could not be evaluated.
func Reason(err error) i18n.Ref {
	var ce *CostError
	switch {
	case errors.Is(err, ErrCostLimit) || errors.As(err, &ce):
		return "rule.failed.cost"
	case errors.Is(err, ErrCancelled):
		return "rule.failed.cancelled"
	}
	return "rule.failed.error"
}

// CheckExpr adds to f, under field, what is wrong with a rule's expression:
// required, expr_invalid (with the compiler's message) or rule_too_costly
// (with the estimate and the limit).
func (c *Compiler) CheckExpr(f *errs.Fields, field, expr string) {
	if strings.TrimSpace(expr) == "" {
		f.Add(field, "required")
		return
	}
	_, err := c.Compile(expr)
	var ce *CostError
	switch {
	case errors.As(err, &ce):
		f.Add(field, "rule_too_costly", ce.Estimate, uint64(CostLimit))
	case err != nil:
		f.Add(field, "expr_invalid", err.Error())
	}
}

// CheckRule checks what every rule row has: a code (trimmed in place), a
// message in Chinese and in English, and an expression that compiles
// within the cost limit. Each problem is added to f.
func (c *Compiler) CheckRule(f *errs.Fields, code *string, messageZH, messageEN, expr string) {
	*code = strings.TrimSpace(*code)
	if *code == "" {
		f.Add("code", "required")
	} else if len(*code) > 60 || strings.ContainsAny(*code, " \t\n/") {
		f.Add("code", "code_format")
	}
	if strings.TrimSpace(messageZH) == "" {
		f.Add("message_zh", "required")
	}
	if strings.TrimSpace(messageEN) == "" {
		f.Add("message_en", "required")
	}
	c.CheckExpr(f, "expr", expr)
}
