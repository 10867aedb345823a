package visit

import (
	"context"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/errs"
)

// The state machine of the issue: every legal step, and a sample of
// illegal ones answering visit_illegal_step.
func TestNext(t *testing.T) {
	cases := []struct {
		from State
		act  Action
		to   State
		ok   bool
	}{
		{Booked, ActCheckIn, CheckedIn, true},
		{CheckedIn, ActWait, Waiting, true},
		{Waiting, ActStart, InProgress, true},
		{CheckedIn, ActStart, InProgress, true},
		{InProgress, ActComplete, Completed, true},
		{InProgress, ActTerminate, Terminated, true},
		{Waiting, ActTerminate, Terminated, true}, // red flags seen before the call (V-3)
		{Booked, ActNoShow, NoShow, true},
		{Waiting, ActCancel, Cancelled, true},
		{Waiting, ActNoShow, NoShow, true},    // on the last call only (NoShowAllowed)
		{CheckedIn, ActSkip, CheckedIn, true}, // a missed call: the state stays
		{Waiting, ActSkip, Waiting, true},
		{InProgress, ActSkip, InProgress, false},
		{Booked, ActStart, Booked, false}, // no pre-consultation yet (V-1)
		{Booked, ActComplete, Booked, false},
		{Completed, ActTerminate, Completed, false},
		{Terminated, ActStart, Terminated, false},
		{InProgress, ActCancel, InProgress, false},
		{Cancelled, ActWait, Cancelled, false},
		{InProgress, Action("fly"), InProgress, false},
	}
	for _, c := range cases {
		got, err := Next(c.from, c.act)
		if c.ok != (err == nil) || got != c.to {
			t.Errorf("Next(%s, %s) = %s, %v", c.from, c.act, got, err)
		}
		if err != nil && !errs.Is(err, CodeIllegal) {
			t.Errorf("Next(%s, %s): code %s", c.from, c.act, errs.Code(err))
		}
	}
	if !InProgress.AnswersLocked() || Waiting.AnswersLocked() || !Completed.Final() || Waiting.Final() {
		t.Fatal("locks")
	}
}

func skin() *Questionnaire {
	return &Questionnaire{Code: "skin", Title: "皮肤", Fields: []Field{
		{Key: "site", Label: "部位", Type: FieldMulti, Required: true, Options: []Option{{Value: "face", Label: "面部"}, {Value: "trunk", Label: "躯干"}}},
		{Key: "days", Label: "天数", Type: FieldNumber, Required: true, Min: ptr(0), Max: ptr(3650)},
		{Key: "fever", Label: "发热", Type: FieldYesNo},
		{Key: "onset", Label: "起病", Type: FieldDate},
		{Key: "history", Label: "记录", Type: FieldTable, Columns: []Column{{Key: "date", Label: "日期", Type: FieldDate}, {Key: "w", Label: "体重", Type: FieldNumber}}},
		{Key: "files", Label: "照片", Type: FieldFiles, Required: true},
	}, RedFlags: []RedFlag{
		{Code: "fever_rash", When: `has(a.fever) && a.fever == true`, Message: "皮疹伴发热"},
		{Code: "long", When: `has(a.days) && a.days > 30.0`, Message: "病程超过 30 天"},
	}}
}

func ptr(f float64) *float64 { return &f }

// V-1: answers are checked against the template, every problem reported.
func TestQuestionnaireCheck(t *testing.T) {
	q := skin()
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := q.Check(map[string]any{"site": []any{"knee"}, "days": "abc", "onset": "2026-13-01", "fever": "maybe"}, false)
	want := map[string]string{"site": "not_an_option", "days": "number_format", "onset": "date_format", "fever": "answer_type", "files": "files_required"}
	got := map[string]string{}
	if e, ok := err.(*errs.Error); ok {
		for _, f := range e.Fields {
			got[f.Field] = f.Code
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	clean, err := q.Check(map[string]any{"site": []any{"face"}, "days": "45", "fever": true, "unknown": 1,
		"history": []any{map[string]any{"date": "2026-10-01", "w": 12.5}, map[string]any{}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if clean["days"] != 45.0 || clean["unknown"] != nil || len(clean["history"].([]any)) != 1 {
		t.Fatalf("normalised %v", clean)
	}
	flags := q.Flags(context.Background(), clean)
	if len(flags) != 2 {
		t.Fatalf("flags %v", flags)
	}
	if f := q.Flags(context.Background(), map[string]any{"site": []any{"face"}}); len(f) != 0 {
		t.Fatalf("flags without answers %v", f)
	}
}

func TestQuestionnaireValidate(t *testing.T) {
	q := skin()
	q.Fields = append(q.Fields, Field{Key: "days", Label: "x", Type: "slider"}, Field{Key: "c", Label: "x", Type: FieldChoice})
	q.RedFlags = append(q.RedFlags, RedFlag{Code: "bad", When: "a.days >", Message: "x"})
	err := q.Validate()
	e, ok := err.(*errs.Error)
	if !ok {
		t.Fatalf("%v", err)
	}
	got := map[string]string{}
	for _, f := range e.Fields {
		got[f.Field] = f.Code
	}
	for k, v := range map[string]string{"fields[6].key": "duplicate", "fields[6].type": "field_type", "fields[7].options": "required", "red_flags[2].when": "expr_invalid"} {
		if got[k] != v {
			t.Errorf("%s: %q (all %v)", k, got[k], got)
		}
	}
}

func TestRecord(t *testing.T) {
	r := &Record{ChiefComplaint: " 皮疹 3 天 ", Diagnoses: []Diagnosis{{Code: "l20.9"}, {Code: ""}}, Advice: "外用保湿剂"}
	r.Normalise()
	if err := r.ValidateSigned(); err != nil {
		t.Fatal(err)
	}
	if r.ChiefComplaint != "皮疹 3 天" || len(r.Diagnoses) != 1 || r.Diagnoses[0].Code != "L20.9" || r.Diagnoses[0].Name != "特应性皮炎" {
		t.Fatalf("normalised %+v", r)
	}
	bad := &Record{Diagnoses: []Diagnosis{{Code: "X99.9"}}}
	bad.Normalise()
	err := bad.ValidateSigned()
	got := map[string]string{}
	for _, f := range err.(*errs.Error).Fields {
		got[f.Field] = f.Code
	}
	if got["chief_complaint"] != "required" || got["advice"] != "required" || got["diagnoses[0].code"] != "icd_unknown" {
		t.Fatalf("%v", got)
	}
	if err := (&Record{Diagnoses: []Diagnosis{}}).ValidateDraft(); err != nil {
		t.Fatalf("an empty draft is fine: %v", err)
	}
	if err := r.ValidateAmendment(); err == nil {
		t.Fatal("an amendment needs a reason")
	}
	if got := SearchICD("皮炎", 100); len(got) < 3 {
		t.Fatalf("search %v", got)
	}
	if got := SearchICD("E34", 5); len(got) != 1 || got[0].Code != "E34.3" {
		t.Fatalf("search by code %v", got)
	}
}

// V-3: reasons from the list, a department of the institution, an urgency
// and advice; "other" needs words.
func TestTerminationValidate(t *testing.T) {
	reasons := []Reason{{Code: "needs_exam", Name: "需要体格检查", Active: true}, {Code: "other", Name: "其他", Active: true}, {Code: "old", Name: "停用", Active: false}}
	depts := map[string]bool{"dermatology": true}
	ok := &Termination{Reasons: []string{"needs_exam"}, Referral: Referral{Department: "dermatology", Urgency: UrgencySoon, Advice: "三天内皮肤科门诊"}}
	if err := ok.Validate(reasons, depts); err != nil {
		t.Fatal(err)
	}
	bad := &Termination{Reasons: []string{"old"}, Referral: Referral{Department: "x", Urgency: "now"}}
	got := map[string]string{}
	for _, f := range bad.Validate(reasons, depts).(*errs.Error).Fields {
		got[f.Field] = f.Code
	}
	for k, v := range map[string]string{"reasons": "not_an_option", "referral.department": "not_found", "referral.urgency": "not_an_option", "referral.advice": "required"} {
		if got[k] != v {
			t.Errorf("%s: %q", k, got[k])
		}
	}
	other := &Termination{Reasons: []string{"other"}, Referral: ok.Referral}
	if err := other.Validate(reasons, depts); err == nil {
		t.Fatal("other without a note")
	}
}

// nestedAll is the hostile rule of issue 15: nine nested .all() over
// ten-element lists (10^9 steps).
func nestedAll() string {
	e := "has(a.fever)"
	for i := 0; i < 9; i++ {
		e = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(x" + string(rune('a'+i)) + ", " + e + ")"
	}
	return e
}

// Issue 15: a red flag that could cost too much is refused at save; one
// that goes over the cost limit anyway fires, naming itself (the doctor
// checks by hand what nobody could compute); a cancelled request stops.
func TestHostileRedFlags(t *testing.T) {
	q := skin()
	q.RedFlags = append(q.RedFlags, RedFlag{Code: "hostile", When: nestedAll(), Message: "x"})
	e, ok := q.Validate().(*errs.Error)
	if !ok || len(e.Fields) != 1 || e.Fields[0].Field != "red_flags[2].when" || e.Fields[0].Code != "rule_too_costly" {
		t.Fatalf("nine nested .all() saved: %v", e)
	}
	// Within the estimate for answers of MaxAnswerSize rows, over the
	// limit on a table far longer than any template allows.
	q = skin()
	q.RedFlags = append(q.RedFlags, RedFlag{Code: "heavy_rows", When: `has(a.history) && a.history.exists(r, r.w > 1000.0)`,
		Message: "体重记录异常", MessageEN: "Odd weight"})
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	rows := make([]any, 200_000)
	for i := range rows {
		rows[i] = map[string]any{"w": 20.0}
	}
	flags := q.Flags(context.Background(), map[string]any{"fever": true, "history": rows})
	if len(flags) != 2 || flags[0].Code != "fever_rash" || flags[1].Code != "heavy_rows" ||
		!strings.Contains(flags[1].Message, "heavy_rows") || !strings.Contains(flags[1].MessageEN, "cost limit") || !strings.Contains(flags[1].Message, "体重记录异常") {
		t.Fatalf("%+v", flags)
	}
	if flags := q.Flags(context.Background(), map[string]any{"history": rows[:3]}); len(flags) != 0 {
		t.Fatalf("%+v", flags)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	flags = q.Flags(ctx, map[string]any{"history": rows})
	if len(flags) != 3 || !strings.Contains(flags[2].MessageEN, "cancelled") {
		t.Fatalf("cancelled: %+v", flags)
	}
}
