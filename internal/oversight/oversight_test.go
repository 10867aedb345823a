package oversight

import (
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

func bj(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, dates.Beijing)
	if err != nil {
		panic(err)
	}
	return t
}

// The lifecycle of complaints and adverse events (V-4, N-21): one step at
// a time, each with the fields it requires and none of another's.
func TestCaseStateMachine(t *testing.T) {
	now := bj("2026-03-02 10:00")
	cases := []struct {
		name  string
		from  State
		step  Step
		code  string // "" ok, else the error code
		field string // the field of an invalid_input
		want  State
	}{
		{"triage", Reported, Step{To: Triaged, Note: "已分派医务处"}, "", "", Triaged},
		{"triage without a note", Reported, Step{To: Triaged}, errs.Invalid, "note", Reported},
		{"triage with findings", Reported, Step{To: Triaged, Note: "n", Findings: "f"}, errs.Invalid, "findings", Reported},
		{"investigate", Triaged, Step{To: Investigating, Note: "调阅问诊记录"}, "", "", Investigating},
		{"close", Investigating, Step{To: Closed, Findings: "已向患者致歉并整改"}, "", "", Closed},
		{"close without findings", Investigating, Step{To: Closed}, errs.Invalid, "findings", Investigating},
		{"close with a note", Investigating, Step{To: Closed, Findings: "f", Note: "n"}, errs.Invalid, "note", Investigating},
		{"skip to closed", Reported, Step{To: Closed, Findings: "f"}, CodeIllegalStep, "", Reported},
		{"skip to investigating", Reported, Step{To: Investigating, Note: "n"}, CodeIllegalStep, "", Reported},
		{"triage twice", Triaged, Step{To: Triaged, Note: "n"}, CodeIllegalStep, "", Triaged},
		{"back to reported", Triaged, Step{To: Reported}, CodeIllegalStep, "", Triaged},
		{"after closing", Closed, Step{To: Triaged, Note: "n"}, CodeIllegalStep, "", Closed},
		{"unknown state", Reported, Step{To: "archived"}, errs.Invalid, "state", Reported},
		{"note too long", Reported, Step{To: Triaged, Note: string(make([]rune, MaxNote+1))}, errs.Invalid, "note", Reported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &Case{Kind: KindComplaint, State: tc.from, ReportedAt: now}
			err := c.Apply(tc.step, now.Add(time.Hour), 7)
			if errs.Code(err) != tc.code && !(tc.code == "" && err == nil) {
				t.Fatalf("err %v, want %q", err, tc.code)
			}
			if tc.field != "" {
				var e *errs.Error
				if !asErr(err, &e) || len(e.Fields) == 0 || e.Fields[0].Field != tc.field {
					t.Fatalf("fields of %v, want %s", err, tc.field)
				}
			}
			if c.State != tc.want {
				t.Fatalf("state %s, want %s", c.State, tc.want)
			}
			if tc.code == "" && (c.ReachedAt(tc.want) != now.Add(time.Hour) || c.HandlerID != 7) {
				t.Fatalf("step not recorded: %+v", c)
			}
		})
	}
}

func asErr(err error, e **errs.Error) bool {
	x, ok := err.(*errs.Error)
	*e = x
	return ok
}

func TestAddWorkingDays(t *testing.T) {
	for _, tc := range []struct {
		from string
		n    int
		want string
	}{
		{"2026-03-02 10:00", 5, "2026-03-09 10:00"}, // Monday → next Monday
		{"2026-03-06 16:30", 1, "2026-03-09 16:30"}, // Friday → Monday
		{"2026-03-06 16:30", 5, "2026-03-13 16:30"}, // Friday → next Friday
		{"2026-03-07 11:00", 1, "2026-03-10 00:00"}, // Saturday counts from Monday's start
		{"2026-03-08 23:00", 5, "2026-03-16 00:00"}, // Sunday
		{"2026-03-04 09:00", 0, "2026-03-04 09:00"},
	} {
		if got := AddWorkingDays(bj(tc.from), tc.n); !got.Equal(bj(tc.want)) {
			t.Errorf("%s + %d working days = %s, want %s", tc.from, tc.n, got.In(dates.Beijing).Format("2006-01-02 15:04 Mon"), tc.want)
		}
	}
}

// The deadlines are data; the most specific row wins and a step no row
// covers gets five working days.
func TestDeadlinesPickTheMostSpecificRow(t *testing.T) {
	rows := []Deadline{
		{Kind: KindComplaint, Step: Closed, Within: 5, Unit: UnitWorkingDays},
		{Kind: KindComplaint, Category: "privacy", Step: Closed, Within: 3, Unit: UnitWorkingDays},
		{Kind: KindAdverseEvent, Step: Triaged, Within: 3, Unit: UnitWorkingDays},
		{Kind: KindAdverseEvent, Severity: "serious", Step: Triaged, Within: 24, Unit: UnitHours},
		{Kind: KindAdverseEvent, Category: "medication_error", Step: Triaged, Within: 2, Unit: UnitWorkingDays},
		{Kind: KindAdverseEvent, Category: "medication_error", Severity: "serious", Step: Triaged, Within: 12, Unit: UnitHours},
	}
	at := bj("2026-03-06 16:00") // a Friday
	for _, tc := range []struct {
		kind               Kind
		category, severity string
		step               State
		want               string
	}{
		{KindComplaint, "fees", "", Closed, "2026-03-13 16:00"},
		{KindComplaint, "privacy", "", Closed, "2026-03-11 16:00"},
		{KindComplaint, "fees", "", Triaged, "2026-03-13 16:00"}, // no row: the default
		{KindAdverseEvent, "delayed_referral", "general", Triaged, "2026-03-11 16:00"},
		{KindAdverseEvent, "delayed_referral", "serious", Triaged, "2026-03-07 16:00"}, // 24 hours, weekend or not
		{KindAdverseEvent, "medication_error", "general", Triaged, "2026-03-10 16:00"},
		{KindAdverseEvent, "medication_error", "serious", Triaged, "2026-03-07 04:00"},
	} {
		c := &Case{Kind: tc.kind, Category: tc.category, Severity: tc.severity, ReportedAt: at}
		c.Schedule(rows)
		if got := c.Due[tc.step]; !got.Equal(bj(tc.want)) {
			t.Errorf("%s %s %s %s: due %s, want %s", tc.kind, tc.category, tc.severity, tc.step, got.In(dates.Beijing).Format("2006-01-02 15:04"), tc.want)
		}
	}
}

func TestOverdueAndLate(t *testing.T) {
	at := bj("2026-03-02 10:00")
	c := &Case{Kind: KindAdverseEvent, Severity: "serious", State: Reported, ReportedAt: at,
		Due: map[State]time.Time{Triaged: at.Add(24 * time.Hour), Investigating: at.Add(48 * time.Hour), Closed: at.Add(240 * time.Hour)}}
	if c.Overdue(at.Add(23*time.Hour)) || !c.Overdue(at.Add(25*time.Hour)) {
		t.Fatal("triage overdue after 24 hours only")
	}
	if err := c.Apply(Step{To: Triaged, Note: "n"}, at.Add(25*time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if c.Overdue(at.Add(26*time.Hour)) || len(c.Late()) != 1 || c.Late()[0] != Triaged {
		t.Fatalf("after a late triage: overdue %v, late %v", c.Overdue(at.Add(26*time.Hour)), c.Late())
	}
	c.State = Closed
	if c.Overdue(at.Add(1000*time.Hour)) || !c.NextDue().IsZero() {
		t.Fatal("a closed case is never overdue")
	}
}

func TestReportValidate(t *testing.T) {
	cats := Categories{{List: ListComplaint, Code: "fees"}, {List: ListAdverseEvent, Code: "medication_error"}, {List: ListSeverity, Code: "serious"}}
	for _, tc := range []struct {
		name   string
		kind   Kind
		r      Report
		fields []string
	}{
		{"complaint", KindComplaint, Report{Institution: "bch", Category: "fees", Text: "多收费"}, nil},
		{"complaint with a severity", KindComplaint, Report{Institution: "bch", Category: "fees", Severity: "serious", Text: "x"}, []string{"severity"}},
		{"complaint of an event's category", KindComplaint, Report{Institution: "bch", Category: "medication_error", Text: "x"}, []string{"category"}},
		{"empty", KindComplaint, Report{}, []string{"institution", "category", "text"}},
		{"event", KindAdverseEvent, Report{Institution: "bch", Category: "medication_error", Severity: "serious", Text: "剂量错误"}, nil},
		{"event without severity", KindAdverseEvent, Report{Institution: "bch", Category: "medication_error", Text: "x"}, []string{"severity"}},
		{"event of an unknown severity", KindAdverseEvent, Report{Institution: "bch", Category: "medication_error", Severity: "mild", Text: "x"}, []string{"severity"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate(tc.kind, cats, "text")
			var got []string
			var e *errs.Error
			if asErr(err, &e) {
				for _, f := range e.Fields {
					got = append(got, f.Field)
				}
			}
			if len(got) != len(tc.fields) {
				t.Fatalf("fields %v, want %v (%v)", got, tc.fields, err)
			}
			for i := range got {
				if got[i] != tc.fields[i] {
					t.Fatalf("fields %v, want %v", got, tc.fields)
				}
			}
		})
	}
}

// Rectification orders (G-3): issued → responded → verified, or reopened
// and answered again; a suspension is recorded on an open order.
func TestRectificationStateMachine(t *testing.T) {
	now := bj("2026-03-02 10:00")
	if _, err := NewRectification(Order{Institution: "bch", Findings: "f", Deadline: "2026-03-01"}, now, 1); errs.Code(err) != errs.Invalid {
		t.Fatalf("a past deadline: %v", err)
	}
	if _, err := NewRectification(Order{Institution: "bch", Findings: "f", Deadline: "2026/03/09"}, now, 1); errs.Code(err) != errs.Invalid {
		t.Fatalf("a malformed deadline: %v", err)
	}
	r, err := NewRectification(Order{Institution: "bch", Findings: "处方审核记录不全", Deadline: "2026-03-02"}, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Deadline.Equal(bj("2026-03-03 00:00")) || r.InspectedOn != "2026-03-02" || r.State != RectIssued || r.Round != 1 {
		t.Fatalf("%+v", r)
	}
	if r.Overdue(bj("2026-03-02 23:59")) || !r.Overdue(bj("2026-03-03 00:01")) {
		t.Fatal("overdue after the deadline day only")
	}
	steps := []struct {
		name  string
		do    func() (*Event, error)
		code  string
		state RectState
	}{
		{"verify before a response", func() (*Event, error) { return r.Verify(true, "", "", now, 1) }, CodeIllegalStep, RectIssued},
		{"respond without measures", func() (*Event, error) { return r.Respond(" ", now, 2) }, errs.Invalid, RectIssued},
		{"respond late", func() (*Event, error) { return r.Respond("补全审方记录", bj("2026-03-04 09:00"), 2) }, "", RectResponded},
		{"respond twice", func() (*Event, error) { return r.Respond("again", now, 2) }, CodeIllegalStep, RectResponded},
		{"reopen without a comment", func() (*Event, error) { return r.Verify(false, "", "", now, 1) }, errs.Invalid, RectResponded},
		{"reopen with a past deadline", func() (*Event, error) { return r.Verify(false, "不充分", "2026-03-01", bj("2026-03-04 10:00"), 1) }, errs.Invalid, RectResponded},
		{"reopen", func() (*Event, error) { return r.Verify(false, "不充分", "2026-03-10", bj("2026-03-04 10:00"), 1) }, "", RectReopened},
		{"suspend without a reason", func() (*Event, error) { return r.Suspend("", now, 1) }, errs.Invalid, RectReopened},
		{"suspend", func() (*Event, error) { return r.Suspend("整改期间暂停互联网诊疗", now, 1) }, "", RectReopened},
		{"respond again", func() (*Event, error) { return r.Respond("已补全", bj("2026-03-05 09:00"), 2) }, "", RectResponded},
		{"accept with a deadline", func() (*Event, error) { return r.Verify(true, "", "2026-03-20", now, 1) }, errs.Invalid, RectResponded},
		{"accept", func() (*Event, error) { return r.Verify(true, "通过", "", now, 1) }, "", RectVerified},
		{"suspend a verified order", func() (*Event, error) { return r.Suspend("x", now, 1) }, CodeNotSuspendable, RectVerified},
		{"reopen a verified order", func() (*Event, error) { return r.Verify(false, "x", "", now, 1) }, CodeIllegalStep, RectVerified},
	}
	for _, s := range steps {
		ev, err := s.do()
		if (s.code == "" && err != nil) || (s.code != "" && errs.Code(err) != s.code) {
			t.Fatalf("%s: %v, want %q", s.name, err, s.code)
		}
		if r.State != s.state {
			t.Fatalf("%s: state %s, want %s", s.name, r.State, s.state)
		}
		switch s.name {
		case "respond late":
			if !ev.Late {
				t.Fatal("a response after the deadline is not marked late")
			}
		case "reopen":
			if r.Round != 2 || r.DeadlineDate != "2026-03-10" || !r.Deadline.Equal(bj("2026-03-11 00:00")) {
				t.Fatalf("reopened %+v", r)
			}
		case "respond again":
			if ev.Late {
				t.Fatal("a response before the new deadline is marked late")
			}
		case "suspend":
			if r.SuspensionReason != "整改期间暂停互联网诊疗" {
				t.Fatalf("%+v", r)
			}
		}
	}
}

func TestRatingValidate(t *testing.T) {
	for _, tc := range []struct {
		r  Rating
		ok bool
	}{
		{Rating{Score: 5}, true},
		{Rating{Score: 1, Comment: "等待太久"}, true},
		{Rating{Score: 0}, false},
		{Rating{Score: 6}, false},
		{Rating{Score: 3, Comment: string(make([]rune, MaxComment+1))}, false},
	} {
		if err := tc.r.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.r, err)
		}
	}
}
