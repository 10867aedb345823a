package visit

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"

	"github.com/yunyi-health/yunyi/internal/celrule"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
)

// Field types of a questionnaire.
const (
	FieldText     = "text"
	FieldTextarea = "textarea"
	FieldNumber   = "number"
	FieldDate     = "date"
	FieldChoice   = "choice" // one of Options
	FieldMulti    = "multi"  // any of Options
	FieldYesNo    = "yesno"  // true or false
	FieldTable    = "table"  // rows of Columns (e.g. a height and weight history)
	FieldFiles    = "files"  // attachments; answered by uploading, not in the answers
)

var fieldTypes = map[string]bool{FieldText: true, FieldTextarea: true, FieldNumber: true, FieldDate: true, FieldChoice: true,
	FieldMulti: true, FieldYesNo: true, FieldTable: true, FieldFiles: true}

// Option of a choice field.
type Option struct {
	Value   string `json:"value"`
	Label   string `json:"label"`
	LabelEN string `json:"label_en"`
}

// Column of a table field (types text, number or date).
type Column struct {
	Key     string `json:"key"`
	Label   string `json:"label"`
	LabelEN string `json:"label_en"`
	Type    string `json:"type"`
	Unit    string `json:"unit,omitempty"`
}

// Field is one question.
type Field struct {
	Key      string   `json:"key"`
	Label    string   `json:"label"`
	LabelEN  string   `json:"label_en"`
	Type     string   `json:"type"`
	Required bool     `json:"required,omitempty"`
	Unit     string   `json:"unit,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	Options  []Option `json:"options,omitempty"`
	Columns  []Column `json:"columns,omitempty"`
	MaxRows  int      `json:"max_rows,omitempty"`
}

// RedFlag is a warning for the doctor: a CEL expression over the answers
// (variable a, a map from field key to answer; use has(a.key) for optional
// fields) that is true when the answers show a danger sign.
type RedFlag struct {
	Code      string `json:"code"`
	When      string `json:"when"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

// Questionnaire is the pre-consultation template of a service, stored as
// data.
type Questionnaire struct {
	Code      string    `json:"code"`
	Title     string    `json:"title"`
	TitleEN   string    `json:"title_en"`
	Fields    []Field   `json:"fields"`
	RedFlags  []RedFlag `json:"red_flags,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

var keyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// Validate checks a template: codes and keys well formed and unique, types
// known, choices with options, tables with columns, red flags compiling to
// a boolean.
func (q *Questionnaire) Validate() error {
	var f errs.Fields
	if !keyRE.MatchString(q.Code) {
		f.Add("code", "code_format")
	}
	if strings.TrimSpace(q.Title) == "" {
		f.Add("title", "required")
	}
	if len(q.Fields) == 0 {
		f.Add("fields", "required")
	}
	seen := map[string]bool{}
	for i, fl := range q.Fields {
		at := fmt.Sprintf("fields[%d]", i)
		switch {
		case !keyRE.MatchString(fl.Key):
			f.Add(at+".key", "code_format")
		case seen[fl.Key]:
			f.Add(at+".key", "duplicate")
		}
		seen[fl.Key] = true
		if strings.TrimSpace(fl.Label) == "" {
			f.Add(at+".label", "required")
		}
		if !fieldTypes[fl.Type] {
			f.Add(at+".type", "field_type")
		}
		if (fl.Type == FieldChoice || fl.Type == FieldMulti) && len(fl.Options) == 0 {
			f.Add(at+".options", "required")
		}
		if fl.Type == FieldTable {
			if len(fl.Columns) == 0 {
				f.Add(at+".columns", "required")
			}
			for j, c := range fl.Columns {
				if !keyRE.MatchString(c.Key) || (c.Type != FieldText && c.Type != FieldNumber && c.Type != FieldDate) {
					f.Add(fmt.Sprintf("%s.columns[%d]", at, j), "field_type")
				}
			}
		}
	}
	codes := map[string]bool{}
	for i, rf := range q.RedFlags {
		at := fmt.Sprintf("red_flags[%d]", i)
		if !keyRE.MatchString(rf.Code) || codes[rf.Code] {
			f.Add(at+".code", "code_format")
		}
		codes[rf.Code] = true
		if strings.TrimSpace(rf.Message) == "" {
			f.Add(at+".message", "required")
		}
		flagRules().CheckExpr(&f, at+".when", rf.When)
	}
	return f.Err()
}

// Field returns the field of a key.
func (q *Questionnaire) Field(key string) (Field, bool) {
	for _, f := range q.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// Check validates answers against the template and returns them
// normalised (numbers as float64, dates as YYYY-MM-DD, trimmed text; unknown
// keys dropped). files fields are answered by attachments: hasFiles says
// whether the visit has any. Every problem is reported, by field.
func (q *Questionnaire) Check(answers map[string]any, hasFiles bool) (map[string]any, error) {
	var f errs.Fields
	out := map[string]any{}
	for _, fl := range q.Fields {
		raw, present := answers[fl.Key]
		if fl.Type == FieldFiles {
			if fl.Required && !hasFiles {
				f.Add(fl.Key, "files_required")
			}
			continue
		}
		v, code := normalise(fl, raw, present)
		if code != "" {
			f.Add(fl.Key, code)
			continue
		}
		if v == nil {
			if fl.Required {
				f.Add(fl.Key, "required")
			}
			continue
		}
		out[fl.Key] = v
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// normalise one answer: nil when empty, or the error code.
func normalise(fl Field, raw any, present bool) (any, string) {
	if !present || raw == nil {
		return nil, ""
	}
	switch fl.Type {
	case FieldText, FieldTextarea:
		s, ok := raw.(string)
		if !ok {
			return nil, "answer_type"
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, ""
		}
		limit := 200
		if fl.Type == FieldTextarea {
			limit = 4000
		}
		if utf8.RuneCountInString(s) > limit {
			return nil, "too_long"
		}
		return s, ""
	case FieldNumber:
		n, ok, empty := number(raw)
		if empty {
			return nil, ""
		}
		if !ok {
			return nil, "number_format"
		}
		if (fl.Min != nil && n < *fl.Min) || (fl.Max != nil && n > *fl.Max) {
			return nil, "number_range"
		}
		return n, ""
	case FieldDate:
		s, ok := raw.(string)
		if !ok {
			return nil, "date_format"
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil, ""
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return nil, "date_format"
		}
		return s, ""
	case FieldYesNo:
		switch v := raw.(type) {
		case bool:
			return v, ""
		case string:
			switch v {
			case "":
				return nil, ""
			case "yes", "true", "1", "on":
				return true, ""
			case "no", "false", "0":
				return false, ""
			}
		}
		return nil, "answer_type"
	case FieldChoice:
		s, ok := raw.(string)
		if !ok { // a number or a list is not dropped as if unanswered
			return nil, "answer_type"
		}
		if s == "" {
			return nil, ""
		}
		for _, o := range fl.Options {
			if o.Value == s {
				return s, ""
			}
		}
		return nil, "not_an_option"
	case FieldMulti:
		var vals []string
		switch v := raw.(type) {
		case []any:
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					return nil, "not_an_option"
				}
				vals = append(vals, s)
			}
		case []string:
			vals = v
		default:
			return nil, "answer_type"
		}
		// Each option once: a list is no longer than the options, whatever
		// was sent (the red flags' cost estimate assumes MaxAnswerSize).
		out := []any{}
		seen := map[string]bool{}
		for _, s := range vals {
			found := false
			for _, o := range fl.Options {
				found = found || o.Value == s
			}
			if !found {
				return nil, "not_an_option"
			}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil, ""
		}
		return out, ""
	case FieldTable:
		rows, ok := raw.([]any)
		if !ok {
			return nil, "answer_type"
		}
		max := fl.MaxRows
		if max == 0 {
			max = 20
		}
		var out []any
		for _, r := range rows {
			m, ok := r.(map[string]any)
			if !ok {
				return nil, "answer_type"
			}
			row := map[string]any{}
			for _, c := range fl.Columns {
				v, code := normalise(Field{Key: c.Key, Type: c.Type}, m[c.Key], true)
				if code != "" {
					return nil, code
				}
				if v != nil {
					row[c.Key] = v
				}
			}
			if len(row) > 0 {
				out = append(out, row)
			}
		}
		if len(out) > max {
			return nil, "too_many_rows"
		}
		if len(out) == 0 {
			return nil, ""
		}
		return out, ""
	}
	return nil, "field_type"
}

func number(raw any) (n float64, ok, empty bool) {
	switch v := raw.(type) {
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0), false
	case int:
		return float64(v), true, false
	case string:
		v = strings.TrimSpace(v)
		if v == "" {
			return 0, false, true
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0), false
	}
	return 0, false, false
}

// Flag is a red flag raised by the answers.
type Flag struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

// MaxAnswerSize is the largest answer the cost estimate of a red flag
// assumes, in characters of a text (a textarea holds 4000) or rows and
// elements of a table or a multiple choice.
const MaxAnswerSize = 4000

// flagRules compiles red flags: conditions over the answers (variable a),
// bounded like every rule that is data (celrule: refused at save when too
// costly, stopped at the cost limit or when the request ends).
var flagRules = sync.OnceValue(func() *celrule.Compiler {
	env, err := cel.NewEnv(cel.Variable("a", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		panic(err) // a fixed environment: a failure is a programming error
	}
	return celrule.New(env, celrule.Config{MaxSize: MaxAnswerSize, DynResult: true})
})

// Flags returns the red flags the answers raise. A flag whose expression
// cannot be evaluated on these answers (a missing optional answer read
// without has()) does not fire; one stopped by a bound (over the cost
// limit, the request cancelled) fires, its message naming it: a warning
// nobody could check is shown (fail closed).
func (q *Questionnaire) Flags(ctx context.Context, answers map[string]any) []Flag {
	out := []Flag{}
	if answers == nil {
		return out
	}
	vars := map[string]any{"a": answers}
	for _, rf := range q.RedFlags {
		b, err := flagRules().Eval(ctx, rf.When, vars)
		switch {
		case err != nil && celrule.Stopped(err):
			why := celrule.Reason(err)
			out = append(out, Flag{Code: rf.Code, Message: i18n.T(i18n.ZH, "flag.failed", rf.Code, why, rf.Message),
				MessageEN: i18n.T(i18n.EN, "flag.failed", rf.Code, why, rf.MessageEN)})
		case err == nil && b:
			out = append(out, Flag{Code: rf.Code, Message: rf.Message, MessageEN: rf.MessageEN})
		}
	}
	return out
}

// Complete reports whether every required non-file question has an answer.
func (q *Questionnaire) Complete(answers map[string]any) bool {
	for _, f := range q.Fields {
		if f.Required && f.Type != FieldFiles {
			if _, ok := answers[f.Key]; !ok {
				return false
			}
		}
	}
	return true
}
