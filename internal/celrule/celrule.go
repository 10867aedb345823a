// Package celrule compiles the rules that are data (booking eligibility,
// prescription safety, …): boolean CEL expressions over a fixed set of
// facts, each compiled once and cached by its text.
package celrule

import (
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// Compiler compiles boolean expressions in one environment.
type Compiler struct {
	env   *cel.Env
	opts  []cel.ProgramOption
	mu    sync.RWMutex
	progs map[string]cel.Program
}

// New makes a compiler over env; opts apply to every program (cost limits).
func New(env *cel.Env, opts ...cel.ProgramOption) *Compiler {
	return &Compiler{env: env, opts: append([]cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}, opts...), progs: map[string]cel.Program{}}
}

// Compile checks that expr is a boolean expression over the facts and
// returns its program (cached by text).
func (c *Compiler) Compile(expr string) (cel.Program, error) {
	c.mu.RLock()
	p, ok := c.progs[expr]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	ast, iss := c.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.TrimSpace(iss.Err().Error()))
	}
	if ast.OutputType() != cel.BoolType {
		return nil, fmt.Errorf("the expression must be true or false, not %s", ast.OutputType())
	}
	p, err := c.env.Program(ast, c.opts...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.progs[expr] = p
	c.mu.Unlock()
	return p, nil
}

// CheckRule checks what every rule row has: a code (trimmed in place), a
// message in Chinese and in English, and an expression that compiles. Each
// problem is added to f.
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
	if strings.TrimSpace(expr) == "" {
		f.Add("expr", "required")
	} else if _, err := c.Compile(expr); err != nil {
		f.Add("expr", "expr_invalid", err.Error())
	}
}
