// Package policy holds each hospital's eligibility rules as data (S-2 to
// S-5, D-1, N-1, N-2): declarative rules, each a CEL expression over the
// booking facts that must be true, with a code and a message in Chinese and
// English. A rule that does not compile is refused when saved, never at
// booking time. Evaluation reports every rule's verdict, so a refusal
// names all its reasons at once.
package policy

import (
	"context"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/yunyi-health/yunyi/internal/celrule"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Rule is one eligibility condition. Institution, Department and Service
// give its scope ("" is wider: platform, whole institution, whole
// department). A narrower rule with the same Code replaces a wider one.
//
// A rule has two texts in each language: MessageZH/EN, shown when it
// refuses, say what is missing and what to do; PassedZH/EN, shown when it
// passes, say what was met ("已获互联网诊疗资质"). The passed texts are
// optional (rules written before them have none): an empty one reads as
// DefaultPassedZH/EN, never as the refusal.
type Rule struct {
	ID          int64  `json:"id"`
	Institution string `json:"institution"`
	Department  string `json:"department"`
	Service     string `json:"service"`
	Code        string `json:"code"`
	Source      string `json:"source,omitempty"` // the seed or national rule it enforces, e.g. S-4
	MessageZH   string `json:"message_zh"`
	MessageEN   string `json:"message_en"`
	PassedZH    string `json:"passed_zh"`
	PassedEN    string `json:"passed_en"`
	Expr        string `json:"expr"`
	Position    int    `json:"position"`
	Active      bool   `json:"active"`
}

// The words of a passed rule that has no passed text of its own.
const (
	DefaultPassedZH = "此项条件已符合"
	DefaultPassedEN = "This condition is met"
)

// Passed returns the rule's passed texts, the defaults where it has none.
func (r Rule) Passed() (zh, en string) {
	zh, en = r.PassedZH, r.PassedEN
	if zh == "" {
		zh = DefaultPassedZH
	}
	if en == "" {
		en = DefaultPassedEN
	}
	return zh, en
}

// Answer keys of the pre-booking questions (a public contract).
const (
	AnswerPregnant   = "pregnant"
	AnswerCritical   = "critical"
	AnswerDifficult  = "difficult"
	AnswerFirstVisit = "first_visit"
)

// AnswerKeys lists the questions every service asks before booking.
var AnswerKeys = []string{AnswerPregnant, AnswerCritical, AnswerDifficult, AnswerFirstVisit}

// Facts are what a rule can use. Names are the CEL variables.
type Facts struct {
	Age                 int64  // age in years on the visit day, from the resident ID
	Sex                 string // male | female
	Pregnant            bool   // answer: pregnant or maternal
	Critical            bool   // answer: emergency or critical symptoms
	Difficult           bool   // answer: a difficult or complex condition
	FirstVisit          bool   // answer: this is my first visit for this problem
	HasHistory          bool   // an offline visit with a definite diagnosis in this institution and department
	DaysSinceLastVisit  int64  // days from that visit to the visit day; -1 when none
	LastDiagnosis       string // its diagnosis code
	Kind                string // follow_up | first_visit
	Institution         string
	Department          string
	Specialty           string
	InstitutionApproved bool // S-1
	InstitutionPilot    bool // G-2, S-5
	SpecialtyPilot      bool // S-5
	DoctorFirstVisitOK  bool // D-1 and D-2 of the slot's doctor
	DoctorOnline        bool // D-2: not suspended from all internet work
	InsuranceBound      bool // M-3: a social-security card is bound to the patient (read only when a rule uses it)
	// N-24, W-5: a referral of the patient to this institution and
	// department was accepted (read only when a rule uses it), and the days
	// since its acceptance (-1: none).
	ReferredIn        bool
	DaysSinceReferral int64
}

func (f Facts) vars() map[string]any {
	return map[string]any{
		"age": f.Age, "sex": f.Sex, "pregnant": f.Pregnant, "critical": f.Critical, "difficult": f.Difficult,
		"first_visit": f.FirstVisit, "has_history": f.HasHistory, "days_since_last_visit": f.DaysSinceLastVisit,
		"last_diagnosis": f.LastDiagnosis, "kind": f.Kind, "institution": f.Institution, "department": f.Department,
		"specialty": f.Specialty, "institution_approved": f.InstitutionApproved, "institution_pilot": f.InstitutionPilot,
		"specialty_pilot": f.SpecialtyPilot, "doctor_first_visit_ok": f.DoctorFirstVisitOK, "doctor_online": f.DoctorOnline,
		"insurance_bound": f.InsuranceBound, "referred_in": f.ReferredIn, "days_since_referral": f.DaysSinceReferral,
	}
}

// Variables documents the facts for rule authors.
var Variables = []struct{ Name, Type, Doc string }{
	{"age", "int", "患者在就诊日的周岁年龄（由身份证号计算）"},
	{"sex", "string", "male / female"},
	{"pregnant", "bool", "预约时回答：妊娠或哺乳期"},
	{"critical", "bool", "预约时回答：有急危重症状"},
	{"difficult", "bool", "预约时回答：疑难复杂疾病"},
	{"first_visit", "bool", "预约时回答：该问题是第一次就诊"},
	{"has_history", "bool", "在本机构同一科室有明确诊断的线下就诊记录"},
	{"days_since_last_visit", "int", "距最近一次上述就诊的天数，无记录为 -1"},
	{"last_diagnosis", "string", "最近一次就诊的诊断编码"},
	{"kind", "string", "follow_up（复诊）/ first_visit（首诊）"},
	{"institution", "string", "机构编码"},
	{"department", "string", "科室编码"},
	{"specialty", "string", "专业编码"},
	{"institution_approved", "bool", "机构已获互联网诊疗资质批准（S-1）"},
	{"institution_pilot", "bool", "机构为首诊试点（S-5）"},
	{"specialty_pilot", "bool", "专业为首诊试点专业（S-5）"},
	{"doctor_first_visit_ok", "bool", "号源医师符合首诊医师条件且未被暂停（D-1、D-2）"},
	{"doctor_online", "bool", "号源医师未被暂停全部互联网诊疗（D-2）"},
	{"insurance_bound", "bool", "患者已绑定经医保核验的社保卡（M-3）"},
	{"referred_in", "bool", "有转诊到本机构本科室且已被接收的转诊单（N-24，分级诊疗）"},
	{"days_since_referral", "int", "距最近一次上述转诊被接收的天数，无转诊为 -1"},
}

// Engine compiles and evaluates rules; compiled programs are cached by
// expression text.
type Engine struct {
	c *celrule.Compiler
}

// NewEngine builds the CEL environment of the facts.
func NewEngine() *Engine {
	types := map[string]*cel.Type{"int": cel.IntType, "string": cel.StringType, "bool": cel.BoolType}
	var opts []cel.EnvOption
	for _, v := range Variables {
		opts = append(opts, cel.Variable(v.Name, types[v.Type]))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		panic(err) // the variable list is fixed: a failure is a programming error
	}
	return &Engine{c: celrule.New(env, celrule.Config{MaxSize: MaxFactSize})}
}

// MaxFactSize is the longest string fact (codes, an ICD-10 code) the cost
// estimate of a rule assumes: every fact is a number, a boolean or a code.
const MaxFactSize = 100

// Compile checks that expr is a boolean expression over the facts.
func (e *Engine) Compile(expr string) (cel.Program, error) { return e.c.Compile(expr) }

// Validate checks a rule for saving, compiling its expression; a rule
// that could cost more than celrule.CostLimit is refused (rule_too_costly).
func (e *Engine) Validate(r *Rule) error {
	var f errs.Fields
	e.c.CheckRule(&f, &r.Code, r.MessageZH, r.MessageEN, r.Expr)
	if r.Department == "" && r.Service != "" {
		f.Add("department", "required")
	}
	// The passed texts are optional, but come in both languages.
	r.PassedZH, r.PassedEN = strings.TrimSpace(r.PassedZH), strings.TrimSpace(r.PassedEN)
	if r.PassedZH == "" && r.PassedEN != "" {
		f.Add("passed_zh", "required")
	}
	if r.PassedEN == "" && r.PassedZH != "" {
		f.Add("passed_en", "required")
	}
	return f.Err()
}

// Verdict is one rule's answer for a patient and a service, with both of
// its texts whatever the answer: MessageZH/EN what refuses (or why the
// rule could not be evaluated), PassedZH/EN what is met.
type Verdict struct {
	Code      string `json:"code"`
	Source    string `json:"source,omitempty"`
	Passed    bool   `json:"passed"`
	MessageZH string `json:"-"`
	MessageEN string `json:"-"`
	PassedZH  string `json:"-"`
	PassedEN  string `json:"-"`
}

// Uses says whether any of the rules may read the fact (by name in its
// expression: a fact read and not used costs only the read), so that a
// fact that needs a store read is read only where a rule asks for it.
func Uses(rules []Rule, fact string) bool {
	for _, r := range rules {
		if strings.Contains(r.Expr, fact) {
			return true
		}
	}
	return false
}

// Applicable returns the active rules that govern a service, narrowest
// first replacing wider rules of the same code, in position order.
func Applicable(rules []Rule, institution, department, service string) []Rule {
	best := map[string]Rule{}
	rank := func(r Rule) int {
		switch {
		case r.Service != "":
			return 3
		case r.Department != "":
			return 2
		case r.Institution != "":
			return 1
		}
		return 0
	}
	for _, r := range rules {
		if !r.Active || (r.Institution != "" && r.Institution != institution) ||
			(r.Department != "" && r.Department != department) || (r.Service != "" && r.Service != service) {
			continue
		}
		if cur, ok := best[r.Code]; !ok || rank(r) > rank(cur) {
			best[r.Code] = r
		}
	}
	out := make([]Rule, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if rank(out[i]) != rank(out[j]) {
			return rank(out[i]) < rank(out[j])
		}
		if out[i].Position != out[j].Position {
			return out[i].Position < out[j].Position
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// Evaluate runs every rule on the facts and reports each verdict. A rule
// that cannot be evaluated (over the cost limit, ctx cancelled, an error on
// these facts) counts as refused (fail closed), its message naming the rule
// and the reason.
func (e *Engine) Evaluate(ctx context.Context, rules []Rule, f Facts) (eligible bool, verdicts []Verdict) {
	vars := f.vars()
	eligible = true
	for _, r := range rules {
		v := Verdict{Code: r.Code, Source: r.Source, MessageZH: r.MessageZH, MessageEN: r.MessageEN}
		v.PassedZH, v.PassedEN = r.Passed()
		ok, err := e.c.Eval(ctx, r.Expr, vars)
		if err != nil {
			v.MessageZH, v.MessageEN = celrule.Failure(r.Code, err)
		}
		v.Passed = ok
		eligible = eligible && v.Passed
		verdicts = append(verdicts, v)
	}
	return eligible, verdicts
}

// Store persists rules.
type Store interface {
	Rules(ctx context.Context, institution string) ([]Rule, error) // platform rules and those of institution ("" = all)
	SaveRule(ctx context.Context, r *Rule) error
	DeleteRule(ctx context.Context, id int64, institution string) error
}
