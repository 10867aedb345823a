package visit_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/i18n"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// fuzzTemplates are the demo's pre-consultation templates (V-1) and one
// with every field type and a red flag over a table and a multiple
// choice.
func fuzzTemplates(f *testing.F) []visit.Questionnaire {
	num := func(x float64) *float64 { return &x }
	qs := demo.Questionnaires()
	all := visit.Questionnaire{Code: "all", Title: "全部", Fields: []visit.Field{
		{Key: "name", Label: "姓名", Type: visit.FieldText, Required: true},
		{Key: "story", Label: "病史", Type: visit.FieldTextarea},
		{Key: "temp", Label: "体温", Type: visit.FieldNumber, Min: num(30), Max: num(45)},
		{Key: "since", Label: "起病", Type: visit.FieldDate},
		{Key: "sex", Label: "性别", Type: visit.FieldChoice, Options: []visit.Option{{Value: "m", Label: "男"}, {Value: "f", Label: "女"}}},
		{Key: "sym", Label: "症状", Type: visit.FieldMulti, Options: []visit.Option{{Value: "fever", Label: "发热"}, {Value: "cough", Label: "咳嗽"}, {Value: "", Label: "空"}}},
		{Key: "ok", Label: "同意", Type: visit.FieldYesNo, Required: true},
		{Key: "hist", Label: "记录", Type: visit.FieldTable, MaxRows: 3, Columns: []visit.Column{{Key: "d", Label: "日期", Type: visit.FieldDate},
			{Key: "w", Label: "体重", Type: visit.FieldNumber}, {Key: "note", Label: "备注", Type: visit.FieldText}}},
		{Key: "files", Label: "附件", Type: visit.FieldFiles, Required: true},
	}, RedFlags: []visit.RedFlag{
		{Code: "fever", When: `has(a.sym) && "fever" in a.sym && has(a.temp) && a.temp >= 39.0`, Message: "高热", MessageEN: "High fever"},
		{Code: "heavy", When: `has(a.hist) && a.hist.exists(r, has(r.w) && r.w > 150.0)`, Message: "体重", MessageEN: "Weight"},
		{Code: "long", When: `has(a.story) && size(a.story) > 3000`, Message: "长", MessageEN: "Long"},
	}}
	qs = append(qs, all)
	for _, q := range qs {
		if err := q.Validate(); err != nil {
			f.Fatalf("template %s: %v", q.Code, err)
		}
	}
	return qs
}

// empty says whether an answer says nothing: none, blank text, an empty
// list, or a table whose rows have no cell of the table's columns.
func empty(fl visit.Field, v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == "" && fl.Type != visit.FieldMulti && fl.Type != visit.FieldTable
	case []any:
		if fl.Type != visit.FieldTable && fl.Type != visit.FieldMulti {
			return false
		}
		if fl.Type == visit.FieldMulti {
			return len(x) == 0
		}
		for _, r := range x {
			m, ok := r.(map[string]any)
			if !ok {
				return false
			}
			for _, c := range fl.Columns {
				if !empty(visit.Field{Type: c.Type}, m[c.Key]) {
					return false
				}
			}
		}
		return true
	}
	return false
}

// fieldErrs maps field → code of a refusal.
func fieldErrs(t *testing.T, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err == nil {
		return out
	}
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Fields) == 0 {
		t.Fatalf("refused with %v: want invalid_input by field", err)
	}
	for _, fe := range e.Fields {
		if _, dup := out[fe.Field]; dup {
			t.Fatalf("%s named twice: %v", fe.Field, err)
		}
		if !i18n.Has("field." + fe.Code) {
			t.Fatalf("code %s has no text", fe.Code)
		}
		out[fe.Field] = fe.Code
	}
	return out
}

// FuzzAnswers: answers to a pre-consultation template (V-1) are refused
// naming every bad field and only those (each field's verdict is the one
// it gets alone), or taken: what is kept is the template's fields, every
// required one answered, and nothing said is dropped silently; the
// answers kept are checked again unchanged and stay within the sizes a
// red flag's cost estimate assumes; the red flags they raise are the
// template's, none stopped by the cost limit.
func FuzzAnswers(f *testing.F) {
	qs := fuzzTemplates(f)
	for _, s := range []string{
		`{"name":" 李小雨 ","story":"x","temp":39.5,"since":"2026-01-02","sex":"f","sym":["fever","cough"],"ok":"yes","hist":[{"d":"2026-01-01","w":"20.5","note":"a"},{}]}`,
		`{"name":"","ok":true}`, `{"name":5,"temp":"abc","since":"2026-02-30","sex":5,"sym":"fever","ok":"maybe","hist":{}}`,
		`{"name":"x","ok":false,"temp":"NaN","sym":[1],"hist":[1]}`, `{"name":"x","ok":"1","temp":"1e400","hist":[{"w":"x"}]}`,
		`{"name":"x","ok":"on","sym":[],"hist":[{"w":1},{"w":2},{"w":3},{"w":4}]}`, `{"name":"x","ok":"no","sex":"","sym":[""],"extra":1}`,
		`{"name":"x","ok":true,"hist":[{"zzz":1}],"temp":null}`, `{"name":"` + strings.Repeat("长", 201) + `","ok":true}`,
		`{"diagnosis":"特应性皮炎","current_state":"好转","chest_pain":"yes","new_symptoms":false}`,
		`{"concern":"short","weight_kg":"18","measurements":[{"date":"2025-06-01","height_cm":"110","weight_kg":"18"}],"father_height_cm":175,"mother_height_cm":"160","birth_weeks":"30"}`,
		`{"site":["face","face","face"],"duration_days":3,"fever":"yes","blisters_mucosa":"no"}`, `{}`, `null`, `[]`,
		`{"name":"x","ok":true,"sex":5}`, `{"name":"x","ok":true,"sex":["m"]}`, `{"concern":true,"father_height_cm":170,"mother_height_cm":160}`,
		`{"name":"x","ok":true,"sym":[` + strings.TrimSuffix(strings.Repeat(`"fever",`, visit.MaxAnswerSize+1), ",") + `]}`,
	} {
		for i := range qs {
			f.Add([]byte(s), uint8(i), i%2 == 0)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8, hasFiles bool) {
		var answers map[string]any
		if json.Unmarshal(data, &answers) != nil {
			return // the API refuses it before (bad_json)
		}
		q := qs[int(which)%len(qs)]
		out, err := q.Check(answers, hasFiles)
		bad := fieldErrs(t, err)
		for _, fl := range q.Fields {
			alone := visit.Questionnaire{Fields: []visit.Field{fl}}
			_, err1 := alone.Check(answers, hasFiles)
			if got, want := bad[fl.Key], fieldErrs(t, err1)[fl.Key]; got != want {
				t.Fatalf("%s: %q with the others, %q alone (%s)", fl.Key, got, want, data)
			}
		}
		for k := range bad {
			if _, ok := q.Field(k); !ok {
				t.Fatalf("%s named, not a field", k)
			}
		}
		if err != nil {
			if out != nil {
				t.Fatalf("refused with answers %v", out)
			}
			return
		}
		for _, fl := range q.Fields {
			v, kept := out[fl.Key]
			if fl.Type == visit.FieldFiles {
				if kept {
					t.Fatalf("files field %s kept %v", fl.Key, v)
				}
				continue
			}
			if fl.Required && !kept {
				t.Fatalf("required %s missing from %v", fl.Key, out)
			}
			if raw, said := answers[fl.Key]; said && !kept && !empty(fl, raw) {
				t.Fatalf("%s: %.200v dropped without a word", fl.Key, raw)
			}
		}
		for k, v := range out {
			if _, ok := q.Field(k); !ok {
				t.Fatalf("%s kept, not a field", k)
			}
			if !within(v) {
				t.Fatalf("%s: %.200v beyond visit.MaxAnswerSize", k, v)
			}
		}
		if !q.Complete(out) {
			t.Fatalf("taken, not complete: %v", out)
		}
		again, err := q.Check(out, hasFiles)
		if err != nil || !reflect.DeepEqual(again, out) {
			t.Fatalf("checked again: %v %v, was %v", again, err, out)
		}
		// Stored as JSON and read back, the same verdicts.
		b, _ := json.Marshal(out)
		var stored map[string]any
		json.Unmarshal(b, &stored)
		flags := q.Flags(context.Background(), stored)
		codes := map[string]bool{}
		for _, rf := range q.RedFlags {
			codes[rf.Code] = true
		}
		for _, fl := range flags {
			if !codes[fl.Code] || fl.Message == "" || fl.MessageEN == "" {
				t.Fatalf("flag %+v", fl)
			}
			if strings.Contains(fl.MessageEN, "could not be evaluated") {
				t.Fatalf("answers within the sizes assumed stopped a red flag: %+v (%s)", fl, b)
			}
		}
	})
}

// within says whether an answer stays within the sizes the red flags'
// cost estimate assumes.
func within(v any) bool {
	switch x := v.(type) {
	case string:
		return utf8.RuneCountInString(x) <= visit.MaxAnswerSize
	case []any:
		if len(x) > visit.MaxAnswerSize {
			return false
		}
		for _, e := range x {
			if !within(e) {
				return false
			}
		}
	case map[string]any:
		if len(x) > visit.MaxAnswerSize {
			return false
		}
		for _, e := range x {
			if !within(e) {
				return false
			}
		}
	}
	return true
}
