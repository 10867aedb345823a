package oversight

import (
	"strings"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

func day(s string) time.Time {
	t, _ := time.ParseInLocation(dates.Layout, s, dates.Beijing)
	return t
}

// The dashboard's range: defaults, the length of its periods chosen by the
// range's, and bad input refused by field.
func TestDashboardQueryValidate(t *testing.T) {
	now := day("2026-03-10").Add(10 * time.Hour)
	for _, tc := range []struct {
		in         DashboardQuery
		from, to   string
		by         By
		fieldCodes string
	}{
		{DashboardQuery{}, "2026-02-09", "2026-03-10", ByDay, ""},
		{DashboardQuery{From: "2026-01-01", To: "2026-03-31"}, "2026-01-01", "2026-03-31", ByWeek, ""},
		{DashboardQuery{From: "2025-06-01", To: "2026-03-31"}, "2025-06-01", "2026-03-31", ByMonth, ""},
		{DashboardQuery{From: "2026-03-01", To: "2026-03-01", By: ByMonth}, "2026-03-01", "2026-03-01", ByMonth, ""},
		{DashboardQuery{From: "2026-03-02", To: "2026-03-01"}, "", "", "", "to:period_order"},
		{DashboardQuery{From: "2024-01-01", To: "2026-03-01"}, "", "", "", "to:period_too_long"},
		{DashboardQuery{From: "2026-02-30"}, "", "", "", "from:date_format"},
		{DashboardQuery{By: "year"}, "", "", "", "by:not_an_option"},
	} {
		q := tc.in
		err := q.Validate(now)
		if tc.fieldCodes != "" {
			e, ok := err.(*errs.Error)
			if !ok || len(e.Fields) != 1 || e.Fields[0].Field+":"+e.Fields[0].Code != tc.fieldCodes {
				t.Errorf("%+v: %v, want %s", tc.in, err, tc.fieldCodes)
			}
			continue
		}
		if err != nil || q.From != tc.from || q.To != tc.to || q.By != tc.by {
			t.Errorf("%+v: %+v %v", tc.in, q, err)
		}
	}
}

// Periods: days; Monday-to-Sunday weeks with ISO labels; months; the first
// and last cut to the range; each [Start, End) in Beijing time.
func TestDashboardPeriods(t *testing.T) {
	labels := func(ps []Period) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Label+"="+p.From+".."+p.To)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		q    DashboardQuery
		want string
	}{
		{DashboardQuery{From: "2026-02-27", To: "2026-03-01", By: ByDay},
			"2026-02-27=2026-02-27..2026-02-27 2026-02-28=2026-02-28..2026-02-28 2026-03-01=2026-03-01..2026-03-01"},
		{DashboardQuery{From: "2026-12-30", To: "2027-01-12", By: ByWeek}, // Wednesday to a Tuesday, across a year
			"2026-W53=2026-12-30..2027-01-03 2027-W01=2027-01-04..2027-01-10 2027-W02=2027-01-11..2027-01-12"},
		{DashboardQuery{From: "2026-01-15", To: "2026-03-02", By: ByMonth},
			"2026-01=2026-01-15..2026-01-31 2026-02=2026-02-01..2026-02-28 2026-03=2026-03-01..2026-03-02"},
	} {
		ps := tc.q.Periods()
		if got := labels(ps); got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.q, got, tc.want)
		}
		if !ps[0].Start.Equal(day(tc.q.From)) || !ps[len(ps)-1].End.Equal(day(tc.q.To).AddDate(0, 0, 1)) {
			t.Errorf("%+v: instants %v..%v", tc.q, ps[0].Start, ps[len(ps)-1].End)
		}
	}
}

// The nearest-rank percentile the store's SQL computes: the smallest value
// with rank * 100 >= p * n.
func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		values   []int64
		p50, p90 int64
	}{
		{nil, 0, 0},
		{[]int64{7}, 7, 7},
		{[]int64{120, 300}, 120, 300},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5, 9},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 6, 10},
	} {
		if p50, p90 := Percentile(tc.values, 50), Percentile(tc.values, 90); p50 != tc.p50 || p90 != tc.p90 {
			t.Errorf("%v: p50 %d p90 %d, want %d %d", tc.values, p50, p90, tc.p50, tc.p90)
		}
	}
}

// Assemble: each institution's periods add up to its total, the
// institutions to the overall figures; the rates and the average come
// from the sums; a percentile row goes to its own group (they do not
// add); breakdowns merge across institutions, most first.
func TestAssemble(t *testing.T) {
	q := DashboardQuery{From: "2026-03-01", To: "2026-03-02", By: ByDay}
	ps := q.Periods()
	rows := &DashboardRows{
		Visits: []VisitRow{
			{Institution: "a", Period: 0, Kind: "first_visit", Department: "derm", DepartmentName: "皮肤科", Visits: 4, Completed: 2, Terminated: 1, NoShows: 1},
			{Institution: "a", Period: 1, Kind: "follow_up", Department: "derm", DepartmentName: "皮肤科", Visits: 2, Completed: 2},
			{Institution: "b", Period: 1, Kind: "first_visit", Department: "derm", DepartmentName: "皮肤科", Visits: 3, Completed: 1, Terminated: 2},
		},
		TerminationReasons: []ReasonRow{{Institution: "a", Reasons: []string{"needs_exam"}, N: 1}, {Institution: "b", Reasons: []string{"needs_exam", "red_flags"}, N: 2}},
		Reviews:            []ReviewRow{{Institution: "a", Period: 0, Reviewed: 4, Rejected: 1}},
		RejectionReasons:   []ReasonRow{{Institution: "a", Reasons: []string{"dose"}, N: 1}},
		Waits:              []PercentileRow{{Institution: "a", Period: -1, N: 5, P50: 60, P90: 600}, {Institution: "", Period: -1, N: 8, P50: 90, P90: 700}},
		Ratings:            []RatingRow{{Institution: "a", Period: 0, Score: 5, N: 1}, {Institution: "b", Period: 1, Score: 2, N: 2}},
		Cases:              []CaseRow{{Institution: "b", Kind: KindComplaint, Period: 1, Reported: 2, Open: 1, Overdue: 1}},
	}
	d := Assemble(q, ps, rows)
	if len(d.Institutions) != 2 || d.Institutions[0].Institution != "a" {
		t.Fatalf("institutions %+v", d.Institutions)
	}
	a, all := d.Institutions[0].Total, d.Overall.Total
	if a.Visits != 6 || a.FirstVisits != 4 || a.FollowUps != 2 || a.FirstVisitsEnded != 3 || a.FirstVisitsTerminated != 1 || a.TerminationRate != 0.3333 ||
		a.RejectionRate != 0.25 || a.Satisfaction != 5 || a.WaitP90 != 600 {
		t.Errorf("a: %+v", a)
	}
	if all.Visits != 9 || all.FirstVisitsEnded != 6 || all.FirstVisitsTerminated != 3 || all.TerminationRate != 0.5 || all.Ratings != 3 ||
		all.Satisfaction != 3 || all.Complaints != 2 || all.ComplaintsOverdue != 1 || all.Waits != 8 || all.WaitP50 != 90 {
		t.Errorf("overall: %+v", all)
	}
	if p := d.Overall.Periods[1]; p.Period != "2026-03-02" || p.Visits != 5 || p.Complaints != 2 {
		t.Errorf("overall's second day: %+v", p)
	}
	if r := d.Overall.TerminationReasons; len(r) != 2 || r[0].Code != "needs_exam" || r[0].N != 3 || r[1].N != 2 {
		t.Errorf("reasons %+v", r)
	}
	if k := d.Overall.ByKind; len(k) != 2 || k[0].Code != "first_visit" || k[0].N != 7 {
		t.Errorf("kinds %+v", k)
	}
	if dep := d.Overall.ByDepartment; len(dep) != 1 || dep[0].N != 9 || dep[0].Name != "皮肤科" {
		t.Errorf("departments %+v", dep)
	}
	if d.Overall.RatingsByScore != [5]int{0, 2, 0, 0, 1} {
		t.Errorf("scores %v", d.Overall.RatingsByScore)
	}
	// An institution asked for but without data is still shown, at zero.
	q.Institution = "c"
	if d := Assemble(q, ps, &DashboardRows{}); len(d.Institutions) != 1 || d.Institutions[0].Institution != "c" || len(d.Institutions[0].Periods) != 2 {
		t.Errorf("an empty institution: %+v", d.Institutions)
	}
}

// G-4: a bulletin's period (the previous complete month or quarter by
// default, never one not begun), its edits, and its publication, after
// which nothing changes.
func TestBulletinLifecycle(t *testing.T) {
	now := day("2026-04-15").Add(10 * time.Hour)
	m, err := NewBulletin(BulletinIn{Period: PeriodMonth}, now, 1)
	if err != nil || m.Label != "2026-03" || m.From != "2026-03-01" || m.To != "2026-03-31" || m.Title != "北京市互联网诊疗服务质量评价通报（2026年3月）" {
		t.Fatalf("the previous month: %+v %v", m, err)
	}
	qt, err := NewBulletin(BulletinIn{Period: PeriodQuarter}, now, 1)
	if err != nil || qt.Label != "2026-Q1" || qt.From != "2026-01-01" || qt.To != "2026-03-31" || !strings.Contains(qt.Title, "2026年第一季度") {
		t.Fatalf("the previous quarter: %+v %v", qt, err)
	}
	if q := qt.Query(); q.By != ByMonth || len(q.Periods()) != 3 {
		t.Fatalf("a quarter by month: %+v", q)
	}
	if jan, err := NewBulletin(BulletinIn{Period: PeriodQuarter}, day("2026-02-01"), 1); err != nil || jan.Label != "2025-Q4" {
		t.Fatalf("the quarter before January's: %+v %v", jan, err)
	}
	for _, in := range []BulletinIn{{}, {Period: "week"}, {Period: PeriodMonth, Year: 2026, Number: 5}, {Period: PeriodQuarter, Year: 2026, Number: 5},
		{Period: PeriodMonth, Year: 1999, Number: 1}} {
		if _, err := NewBulletin(in, now, 1); errs.Code(err) != errs.Invalid {
			t.Errorf("%+v: %v", in, err)
		}
	}
	title, comment := "通报", "意见"
	if err := m.Edit(BulletinEdit{Title: &title}, now); errs.Code(err) != errs.Invalid {
		t.Fatalf("an edit without the commentary: %v", err)
	}
	if err := m.Publish(&Dashboard{}, now, 1); errs.Code(err) != errs.Invalid {
		t.Fatalf("published without commentary: %v", err)
	}
	if err := m.Edit(BulletinEdit{Title: &title, Commentary: &comment}, now); err != nil || m.Title != "通报" || m.Commentary != "意见" {
		t.Fatalf("edit: %v %+v", err, m)
	}
	if err := m.Publish(&Dashboard{}, now, 1); err != nil || !m.Published() || !m.PublishedAt.Equal(now) {
		t.Fatalf("publish: %v", err)
	}
	if err := m.Edit(BulletinEdit{Title: &title, Commentary: &comment}, now); errs.Code(err) != CodeBulletinPublished {
		t.Fatalf("an edit after publication: %v", err)
	}
	if err := m.Publish(&Dashboard{}, now, 1); errs.Code(err) != CodeBulletinPublished {
		t.Fatalf("published twice: %v", err)
	}
}
