// Package celrule compiles the rules that are data (booking eligibility,
// prescription safety, …): boolean CEL expressions over a fixed set of
// facts, each compiled once and cached by its text.
package celrule

import (
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
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
