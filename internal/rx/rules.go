package rx

import (
	"context"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"

	"github.com/yunyi-health/yunyi/internal/celrule"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Severities of a safety rule.
const (
	Refuse  = "refuse"  // the prescription cannot be issued
	Confirm = "confirm" // it can, once the doctor confirms (recorded)
)

// Rule is one safety rule: a CEL expression over the prescription's Facts
// that must be true. Institution "" is the platform's rule; an
// institution's rule with the same code replaces it there.
type Rule struct {
	ID          int64  `json:"id"`
	Institution string `json:"institution"`
	Code        string `json:"code"`
	Source      string `json:"source,omitempty"` // the seed or national rule, e.g. R-2, N-10
	Severity    string `json:"severity"`
	MessageZH   string `json:"message_zh"`
	MessageEN   string `json:"message_en"`
	Expr        string `json:"expr"`
	Detail      string `json:"detail,omitempty"` // a list fact named in the verdict (which drugs)
	Position    int    `json:"position"`
	Active      bool   `json:"active"`
}

// Facts are what a safety rule can use; names are the CEL variables.
type Facts struct {
	Institution          string
	Department           string
	AgeYears             int64
	AgeMonths            int64 // whole months of age
	WeightKg             float64
	ControlClasses       []string // of every item's drug
	Controlled           []string // "drug（class）" of the items under any control
	Drugs                []string // catalogue codes
	NotInFormulary       []string // drug names the institution does not stock
	NotOnline            []string // stocked, but not to be prescribed online there
	AllergyHits          []string // "drug (ingredient)" the patient declared an allergy to
	DuplicateIngredients []string
	Interactions         []string // "a + b: message"
	MaxDays              int64
	Supply               string
	LongTermReason       string
	DoseOutOfRange       []string // "drug: x mg/kg/day (range a–b)"
	WeightMissing        []string // drugs dosed by weight for a child whose weight is not given
	Diagnoses            []string
	VisitDiagnoses       []string // recorded in the visit's record (draft or signed)
	ValidDays            int64
}

func (f *Facts) vars() map[string]any {
	l := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return map[string]any{
		"institution": f.Institution, "department": f.Department, "age_years": f.AgeYears, "age_months": f.AgeMonths,
		"weight_kg": f.WeightKg, "control_classes": l(f.ControlClasses), "controlled": l(f.Controlled), "drugs": l(f.Drugs),
		"not_in_formulary": l(f.NotInFormulary), "not_online": l(f.NotOnline), "allergy_hits": l(f.AllergyHits),
		"duplicate_ingredients": l(f.DuplicateIngredients), "interactions": l(f.Interactions), "max_days": f.MaxDays,
		"supply": f.Supply, "long_term_reason": f.LongTermReason, "dose_out_of_range": l(f.DoseOutOfRange),
		"weight_missing": l(f.WeightMissing), "diagnoses": l(f.Diagnoses), "visit_diagnoses": l(f.VisitDiagnoses), "valid_days": f.ValidDays,
	}
}

// Variables documents the facts for rule authors.
var Variables = []struct{ Name, Type, Doc string }{
	{"institution", "string", "机构编码"},
	{"department", "string", "科室编码"},
	{"age_years", "int", "患者周岁年龄"},
	{"age_months", "int", "患者月龄"},
	{"weight_kg", "double", "医师填写的体重（kg），未填为 0"},
	{"control_classes", "list", "各药品的管制类别：narcotic, psychotropic_1, psychotropic_2, toxic, radioactive, precursor, high_risk, special, none"},
	{"controlled", "list", "受管制的药品及其类别（用于说明）"},
	{"drugs", "list", "各药品的目录编码"},
	{"not_in_formulary", "list", "本机构未配备的药品"},
	{"not_online", "list", "本机构不允许线上开具的药品"},
	{"allergy_hits", "list", "患者申报过敏的成分所在药品"},
	{"duplicate_ingredients", "list", "处方内重复的成分"},
	{"interactions", "list", "处方内已知的药物相互作用"},
	{"max_days", "int", "各药品最长用药天数"},
	{"supply", "string", "normal（常规）/ acute（急诊）/ long_term（慢病长处方）"},
	{"long_term_reason", "string", "长处方的理由"},
	{"dose_out_of_range", "list", "儿童按体重计算的日剂量超出范围的药品"},
	{"weight_missing", "list", "需按体重给药但未填写儿童体重的药品"},
	{"diagnoses", "list", "处方诊断（ICD-10）"},
	{"visit_diagnoses", "list", "本次问诊病历中已记录的诊断（ICD-10）"},
	{"valid_days", "int", "处方有效天数（1–3）"},
}

// CostLimit bounds one rule's evaluation: rules are data, and a hostile or
// careless one must not burn a core (it fails closed). The bound and its
// estimate at save are celrule's, the same for every kind of rule.
const CostLimit = celrule.CostLimit

// MaxFactSize is the longest list or string fact the cost estimate of a
// rule assumes: a prescription has at most MaxItems drugs, so its lists
// (drugs, classes, pairs of interacting drugs, diagnoses) stay well below.
const MaxFactSize = 100

// Engine compiles and evaluates safety rules; programs are cached by text.
type Engine struct {
	c *celrule.Compiler
}

// NewEngine builds the CEL environment of the facts.
func NewEngine() *Engine {
	types := map[string]*cel.Type{"int": cel.IntType, "string": cel.StringType, "bool": cel.BoolType,
		"double": cel.DoubleType, "list": cel.ListType(cel.StringType)}
	var opts []cel.EnvOption
	for _, v := range Variables {
		opts = append(opts, cel.Variable(v.Name, types[v.Type]))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		panic(err) // a fixed list: a failure is a programming error
	}
	return &Engine{c: celrule.New(env, celrule.Config{MaxSize: MaxFactSize})}
}

// Compile checks that expr is a boolean expression over the facts.
func (e *Engine) Compile(expr string) (cel.Program, error) { return e.c.Compile(expr) }

// Validate checks a rule for saving; a rule that could cost more than
// CostLimit is refused (rule_too_costly).
func (e *Engine) Validate(r *Rule) error {
	var f errs.Fields
	e.c.CheckRule(&f, &r.Code, r.MessageZH, r.MessageEN, r.Expr)
	if r.Severity != Refuse && r.Severity != Confirm {
		f.Add("severity", "invalid")
	}
	if r.Detail != "" {
		ok := false
		for _, v := range Variables {
			ok = ok || (v.Name == r.Detail && v.Type == "list")
		}
		if !ok {
			f.Add("detail", "invalid")
		}
	}
	return f.Err()
}

// Applicable returns the active rules of an institution: its own, and the
// platform's it does not replace, in position order.
func Applicable(rules []Rule, institution string) []Rule {
	best := map[string]Rule{}
	for _, r := range rules {
		if !r.Active || (r.Institution != "" && r.Institution != institution) {
			continue
		}
		if cur, ok := best[r.Code]; !ok || (cur.Institution == "" && r.Institution != "") {
			best[r.Code] = r
		}
	}
	out := make([]Rule, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Position != out[j].Position {
			return out[i].Position < out[j].Position
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// Evaluate runs every rule on the facts. ok is false when a refuse rule
// failed, or a confirm rule failed that confirmed does not name. A rule that
// cannot be evaluated (over the cost limit, ctx cancelled, an error on these
// facts) fails closed: a refusal whose message names the rule and why.
func (e *Engine) Evaluate(ctx context.Context, rules []Rule, f *Facts, confirmed []string) (ok bool, verdicts []Verdict) {
	vars := f.vars()
	ok = true
	for _, r := range rules {
		v := Verdict{Code: r.Code, Source: r.Source, Severity: r.Severity, MessageZH: r.MessageZH, MessageEN: r.MessageEN}
		passed, err := e.c.Eval(ctx, r.Expr, vars)
		if err != nil {
			// Not evaluated: a refusal whatever its severity (a
			// confirmation cannot cover what nobody checked).
			v.MessageZH, v.MessageEN = celrule.Failure(r.Code, err)
			v.Severity = Refuse
		}
		v.Passed = passed
		if !v.Passed {
			if d, _ := vars[r.Detail].([]string); len(d) > 0 {
				v.Detail = strings.Join(d, "；")
			}
			if v.Severity == Confirm && contains(confirmed, r.Code) {
				v.Confirmed = true
			} else {
				ok = false
			}
		}
		verdicts = append(verdicts, v)
	}
	return ok, verdicts
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ClassNames are the control classes in Chinese.
var ClassNames = map[ControlClass]string{Narcotic: "麻醉药品", Psychotropic1: "第一类精神药品", Psychotropic2: "第二类精神药品",
	Toxic: "医疗用毒性药品", Radioactive: "放射性药品", Precursor: "药品类易制毒化学品", HighRisk: "高警示药品", Special: "特殊管理药品", NoControl: "非管制"}

// SpecialManagement are the classes never prescribed online on the
// platform (R-2, N-10).
var SpecialManagement = []ControlClass{Narcotic, Psychotropic1, Psychotropic2, Toxic, Radioactive, Precursor}

// DefaultRules are the platform's shipped safety rules; institutions add or
// replace them by code as their own data (the demo's 宣武医院 bans high-risk
// and special-management drugs too).
func DefaultRules() []Rule {
	classes := func(cs ...ControlClass) string {
		q := make([]string, len(cs))
		for i, c := range cs {
			q[i] = `"` + string(c) + `"`
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return []Rule{
		{Code: "banned-control-class", Source: "R-2, N-10", Severity: Refuse, Position: 10, Active: true, Detail: "controlled",
			MessageZH: "麻醉药品、精神药品、医疗用毒性药品、放射性药品和药品类易制毒化学品不得在线开具",
			MessageEN: "Narcotic, psychotropic, medical toxic and radioactive drugs and precursor chemicals may not be prescribed online",
			Expr:      "!control_classes.exists(c, c in " + classes(SpecialManagement...) + ")"},
		{Code: "formulary", Source: "W-2", Severity: Refuse, Position: 20, Active: true, Detail: "not_in_formulary",
			MessageZH: "本机构药品目录中没有该药品", MessageEN: "The drug is not in this institution's formulary",
			Expr: "not_in_formulary.size() == 0"},
		{Code: "online-allowed", Source: "W-3", Severity: Refuse, Position: 30, Active: true, Detail: "not_online",
			MessageZH: "本机构不允许在线开具该药品", MessageEN: "This institution does not allow the drug to be prescribed online",
			Expr: "not_online.size() == 0"},
		{Code: "allergy", Source: "N-11", Severity: Refuse, Position: 40, Active: true, Detail: "allergy_hits",
			MessageZH: "患者对该药品的成分过敏", MessageEN: "The patient is allergic to an ingredient of the drug",
			Expr: "allergy_hits.size() == 0"},
		{Code: "duplicate-ingredient", Source: "N-11", Severity: Refuse, Position: 50, Active: true, Detail: "duplicate_ingredients",
			MessageZH: "处方中有重复的药物成分", MessageEN: "An ingredient appears twice in the prescription",
			Expr: "duplicate_ingredients.size() == 0"},
		{Code: "interaction", Source: "N-11", Severity: Confirm, Position: 60, Active: true, Detail: "interactions",
			MessageZH: "处方中有已知的药物相互作用，需医师确认", MessageEN: "The prescription has a known drug interaction; the doctor must confirm",
			Expr: "interactions.size() == 0"},
		{Code: "days-supply", Source: "N-14", Severity: Refuse, Position: 70, Active: true,
			MessageZH: "用药天数超过限量：常规不超过 7 天，急诊不超过 3 天，慢病长处方须注明理由且不超过 12 周",
			MessageEN: "Too many days' supply: at most 7 days normally, 3 for acute care, 12 weeks for a stable chronic disease with the reason stated",
			Expr:      `max_days <= (supply == "acute" ? 3 : (supply == "long_term" && long_term_reason != "" ? 84 : 7))`},
		{Code: "child-weight", Source: "N-11", Severity: Refuse, Position: 80, Active: true, Detail: "weight_missing",
			MessageZH: "儿童按体重给药，须填写体重", MessageEN: "The child's weight is needed to check a weight-based dose",
			Expr: "weight_missing.size() == 0"},
		{Code: "paediatric-dose", Source: "N-11", Severity: Confirm, Position: 90, Active: true, Detail: "dose_out_of_range",
			MessageZH: "儿童按体重计算的日剂量超出常用范围，需医师确认", MessageEN: "The child's daily dose per kg is outside the usual range; the doctor must confirm",
			Expr: "dose_out_of_range.size() == 0"},
		{Code: "under-6-accompanied", Source: "N-4", Severity: Confirm, Position: 100, Active: true,
			MessageZH: "6 岁以下儿童：须确认监护人和相关专业医师陪伴", MessageEN: "A child under 6: confirm that a guardian and a clinician are with the child",
			Expr: "age_years >= 6"},
		{Code: "visit-diagnosis", Source: "V-2, N-9", Severity: Refuse, Position: 5, Active: true,
			MessageZH: "处方诊断须为本次问诊病历中记录的诊断之一", MessageEN: "The prescription's diagnosis must be one recorded in this visit's record",
			Expr: "visit_diagnoses.size() == 0 || diagnoses.exists(d, d in visit_diagnoses)"},
		{Code: "validity", Source: "N-13", Severity: Refuse, Position: 110, Active: true,
			MessageZH: "处方当日有效，延长有效期最长不超过 3 天", MessageEN: "A prescription is valid on the day of issue, extended to 3 days at most",
			Expr: "valid_days >= 1 && valid_days <= 3"},
	}
}
