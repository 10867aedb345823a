package oversight

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// The regulator's dashboard (监管看板, issue 13; N-15, N-22, G-4): per
// institution and overall, by day, week or month, the visits by kind and
// department, first visits terminated and why, prescriptions rejected at
// review and why, waiting and talk times (p50/p90), no-shows,
// satisfaction, and complaints and adverse events reported, still open
// and overdue. A visit's figures count on its day (the appointment's
// day, Beijing); a complaint's or an adverse event's on the day it was
// reported. The store computes the figures with SQL aggregations; this
// file holds their shapes and puts them together.

// By is the length of a dashboard's periods.
type By string

const (
	ByDay   By = "day"
	ByWeek  By = "week" // Monday to Sunday
	ByMonth By = "month"
)

// MaxDashboardDays is the longest range a dashboard covers.
const MaxDashboardDays = 366

// Period is one column of the dashboard: the days From to To (inclusive,
// Beijing), [Start, End) as instants.
type Period struct {
	Label string    `json:"label"`
	From  string    `json:"from"`
	To    string    `json:"to"`
	Start time.Time `json:"-"`
	End   time.Time `json:"-"`
}

// DashboardQuery is what a dashboard is asked for.
type DashboardQuery struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Institution string `json:"institution,omitempty"` // "": every institution
	By          By     `json:"by"`
}

// Validate fills the defaults (the last 30 days to today, by day up to a
// month, by week up to half a year, else by month) and checks the range.
func (q *DashboardQuery) Validate(now time.Time) error {
	q.From, q.To, q.Institution = strings.TrimSpace(q.From), strings.TrimSpace(q.To), strings.TrimSpace(q.Institution)
	today := now.In(dates.Beijing)
	if q.To == "" {
		q.To = today.Format(dates.Layout)
	}
	var f errs.Fields
	to, err := time.ParseInLocation(dates.Layout, q.To, dates.Beijing)
	if err != nil {
		f.Add("to", "date_format")
	}
	if q.From == "" && err == nil {
		q.From = to.AddDate(0, 0, -29).Format(dates.Layout)
	}
	from, err2 := time.ParseInLocation(dates.Layout, q.From, dates.Beijing)
	if err2 != nil {
		f.Add("from", "date_format")
	}
	if err == nil && err2 == nil {
		switch days := int(math.Round(to.Sub(from).Hours()/24)) + 1; {
		case days < 1:
			f.Add("to", "period_order")
		case days > MaxDashboardDays:
			f.Add("to", "period_too_long", MaxDashboardDays)
		case q.By == "":
			q.By = ByMonth
			if days <= 31 {
				q.By = ByDay
			} else if days <= 183 {
				q.By = ByWeek
			}
		}
	}
	if q.By != "" && q.By != ByDay && q.By != ByWeek && q.By != ByMonth {
		f.Add("by", "not_an_option")
	}
	return f.Err()
}

// Periods splits a valid query's range into its periods, oldest first;
// the first and the last are cut to the range.
func (q DashboardQuery) Periods() []Period {
	from, _ := time.ParseInLocation(dates.Layout, q.From, dates.Beijing)
	to, _ := time.ParseInLocation(dates.Layout, q.To, dates.Beijing)
	var out []Period
	for d := from; !d.After(to); {
		var next time.Time
		var label string
		switch q.By {
		case ByWeek:
			next = d.AddDate(0, 0, 8-isoWeekday(d))
			y, w := d.ISOWeek()
			label = fmt.Sprintf("%d-W%02d", y, w)
		case ByMonth:
			next = time.Date(d.Year(), d.Month()+1, 1, 0, 0, 0, 0, dates.Beijing)
			label = d.Format("2006-01")
		default:
			next = d.AddDate(0, 0, 1)
			label = d.Format(dates.Layout)
		}
		if next.After(to.AddDate(0, 0, 1)) {
			next = to.AddDate(0, 0, 1)
		}
		out = append(out, Period{Label: label, From: d.Format(dates.Layout), To: next.AddDate(0, 0, -1).Format(dates.Layout), Start: d, End: next})
		d = next
	}
	return out
}

func isoWeekday(t time.Time) int {
	if t.Weekday() == time.Sunday {
		return 7
	}
	return int(t.Weekday())
}

// Count is one entry of a breakdown: a code (a kind, a department, a
// reason), its names and how many.
type Count struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	NameEN string `json:"name_en,omitempty"`
	N      int    `json:"n"`
}

// Counts are the figures of one period (or of the whole range: Period "").
type Counts struct {
	Period string `json:"period,omitempty"`
	// Visits are the booked appointments of the days (cancelled and unpaid
	// ones not counted), by kind, and how they ended.
	Visits      int `json:"visits"`
	FirstVisits int `json:"first_visits"`
	FollowUps   int `json:"follow_ups"`
	Completed   int `json:"completed"`
	Terminated  int `json:"terminated"`
	NoShows     int `json:"no_shows"`
	// First visits that ended (completed or terminated), and how many of
	// them were terminated and referred offline (V-3).
	FirstVisitsEnded      int     `json:"first_visits_ended"`
	FirstVisitsTerminated int     `json:"first_visits_terminated"`
	TerminationRate       float64 `json:"first_visit_termination_rate"` // 0..1
	// Prescriptions reviewed by the pharmacists (N-11), and rejected.
	Reviewed      int     `json:"prescriptions_reviewed"`
	Rejected      int     `json:"prescriptions_rejected"`
	RejectionRate float64 `json:"prescription_rejection_rate"` // 0..1
	// Waiting (waiting room to call-in) and talk (call-in to end) times in
	// seconds: how many visits were measured, the median and the 90th
	// percentile (nearest rank).
	Waits   int   `json:"waits"`
	WaitP50 int64 `json:"wait_p50_seconds"`
	WaitP90 int64 `json:"wait_p90_seconds"`
	Talks   int   `json:"talks"`
	TalkP50 int64 `json:"talk_p50_seconds"`
	TalkP90 int64 `json:"talk_p90_seconds"`
	// Satisfaction (N-22): ratings and their average score (1 to 5).
	Ratings      int     `json:"ratings"`
	RatingSum    int     `json:"-"`
	Satisfaction float64 `json:"satisfaction"`
	// Complaints and adverse events reported in the period, those still
	// open and those past the deadline of their next step now.
	Complaints           int `json:"complaints"`
	ComplaintsOpen       int `json:"complaints_open"`
	ComplaintsOverdue    int `json:"complaints_overdue"`
	AdverseEvents        int `json:"adverse_events"`
	AdverseEventsOpen    int `json:"adverse_events_open"`
	AdverseEventsOverdue int `json:"adverse_events_overdue"`
}

func (c *Counts) add(o *Counts) {
	c.Visits += o.Visits
	c.FirstVisits += o.FirstVisits
	c.FollowUps += o.FollowUps
	c.Completed += o.Completed
	c.Terminated += o.Terminated
	c.NoShows += o.NoShows
	c.FirstVisitsEnded += o.FirstVisitsEnded
	c.FirstVisitsTerminated += o.FirstVisitsTerminated
	c.Reviewed += o.Reviewed
	c.Rejected += o.Rejected
	c.Ratings += o.Ratings
	c.RatingSum += o.RatingSum
	c.Complaints += o.Complaints
	c.ComplaintsOpen += o.ComplaintsOpen
	c.ComplaintsOverdue += o.ComplaintsOverdue
	c.AdverseEvents += o.AdverseEvents
	c.AdverseEventsOpen += o.AdverseEventsOpen
	c.AdverseEventsOverdue += o.AdverseEventsOverdue
}

// rates works out the rates and the average from the counts.
func (c *Counts) rates() {
	c.TerminationRate = ratio(c.FirstVisitsTerminated, c.FirstVisitsEnded)
	c.RejectionRate = ratio(c.Rejected, c.Reviewed)
	c.Satisfaction = 0
	if c.Ratings > 0 {
		c.Satisfaction = float64(int(float64(c.RatingSum)/float64(c.Ratings)*100+0.5)) / 100
	}
}

// ratio is n/of to four decimals (0 when of is 0).
func ratio(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(int(float64(n)/float64(of)*10000+0.5)) / 10000
}

// Figures are the dashboard of one institution, or of all (Institution
// ""): the whole range, each period, and the breakdowns of the range.
type Figures struct {
	Institution        string   `json:"institution,omitempty"`
	Name               string   `json:"name"`
	NameEN             string   `json:"name_en,omitempty"`
	Total              Counts   `json:"total"`
	Periods            []Counts `json:"periods"`
	ByKind             []Count  `json:"by_kind"`
	ByDepartment       []Count  `json:"by_department"`
	TerminationReasons []Count  `json:"termination_reasons"` // first visits'
	RejectionReasons   []Count  `json:"rejection_reasons"`
	RatingsByScore     [5]int   `json:"ratings_by_score"` // [0] is 1 star
}

// DoctorFigures are one doctor's prescribing figures of the range (N-15:
// shown to the regulator and the institution's quality staff only, each
// query audited).
type DoctorFigures struct {
	Institution   string  `json:"institution"`
	DoctorID      int64   `json:"doctor_id"`
	DoctorName    string  `json:"doctor_name"`
	Prescriptions int     `json:"prescriptions"`
	Approved      int     `json:"approved"`
	Rejected      int     `json:"rejected"`
	RejectionRate float64 `json:"rejection_rate"`
	TotalFen      int64   `json:"total_fen"` // approved and dispensed
}

// VisitRef is a visit worth a closer look (terminated, or with a
// prescription rejected): codes and times only, no patient.
type VisitRef struct {
	ID          int64  `json:"id"`
	Institution string `json:"institution"`
	Department  string `json:"department"`
	Kind        string `json:"kind"`
	Day         string `json:"day"`
	State       string `json:"state"`
	Rejected    int    `json:"prescriptions_rejected"`
}

// Dashboard is the whole dashboard.
type Dashboard struct {
	DashboardQuery
	Periods      []Period        `json:"periods"`
	Overall      Figures         `json:"overall"`
	Institutions []Figures       `json:"institutions"`
	Doctors      []DoctorFigures `json:"doctors,omitempty"`
	Visits       []VisitRef      `json:"visits,omitempty"` // the regulator's, to drill down into
}

// The rows the store aggregates, each of an institution and a period
// (Period is the index into the periods).

// VisitRow counts the booked appointments of an institution's department
// and kind in a period, and how they ended.
type VisitRow struct {
	Institution, Kind, Department, DepartmentName, DepartmentNameEN string
	Period                                                          int
	Visits, Completed, Terminated, NoShows                          int
}

// ReasonRow counts the first-visit terminations (or the rejections) of
// an institution that gave the same reasons.
type ReasonRow struct {
	Institution string
	Reasons     []string
	N           int
}

// ReviewRow counts an institution's reviewed and rejected prescriptions of
// a period.
type ReviewRow struct {
	Institution        string
	Period             int
	Reviewed, Rejected int
}

// PercentileRow is a time's count, median and 90th percentile (seconds)
// of an institution ("" all) in a period (-1 the whole range).
type PercentileRow struct {
	Institution string
	Period      int
	N           int
	P50, P90    int64
}

// RatingRow counts an institution's ratings of a score in a period.
type RatingRow struct {
	Institution string
	Period      int
	Score, N    int
}

// CaseRow counts an institution's complaints or adverse events reported
// in a period, those still open and those overdue.
type CaseRow struct {
	Institution             string
	Kind                    Kind
	Period                  int
	Reported, Open, Overdue int
}

// DashboardRows are everything the store aggregates for a dashboard.
type DashboardRows struct {
	Visits             []VisitRow
	TerminationReasons []ReasonRow
	Reviews            []ReviewRow
	RejectionReasons   []ReasonRow
	Waits, Talks       []PercentileRow
	Ratings            []RatingRow
	Cases              []CaseRow
}

// DashboardStore aggregates the figures. now decides what is overdue.
type DashboardStore interface {
	DashboardRows(ctx context.Context, q DashboardQuery, periods []Period, now time.Time) (*DashboardRows, error)
	// PrescribingByDoctor is N-15's per-doctor figures of the range.
	PrescribingByDoctor(ctx context.Context, q DashboardQuery) ([]DoctorFigures, error)
	// NotableVisits are the range's terminated visits and those with a
	// rejected prescription, newest first.
	NotableVisits(ctx context.Context, q DashboardQuery, limit int) ([]VisitRef, error)
	// VisitChat is a visit's chat metadata (no text).
	VisitChat(ctx context.Context, visitID int64) (*ChatMeta, error)
}

// Assemble puts the rows together: each institution's figures (the
// institutions in order of their codes) and the overall ones.
func Assemble(q DashboardQuery, periods []Period, rows *DashboardRows) *Dashboard {
	d := &Dashboard{DashboardQuery: q, Periods: periods, Institutions: []Figures{}}
	figs := map[string]*Figures{}
	get := func(inst string) *Figures {
		f := figs[inst]
		if f == nil {
			f = &Figures{Institution: inst, Periods: make([]Counts, len(periods))}
			for i, p := range periods {
				f.Periods[i].Period = p.Label
			}
			figs[inst] = f
		}
		return f
	}
	at := func(inst string, period int) *Counts {
		f := get(inst)
		if period < 0 || period >= len(f.Periods) {
			return &f.Total
		}
		return &f.Periods[period]
	}
	if q.Institution != "" {
		get(q.Institution)
	}
	kinds, depts := map[string]map[string]*Count{}, map[string]map[string]*Count{}
	tally := func(m map[string]map[string]*Count, inst string, c Count) {
		if m[inst] == nil {
			m[inst] = map[string]*Count{}
		}
		if x := m[inst][c.Code]; x != nil {
			x.N += c.N
			return
		}
		m[inst][c.Code] = &c
	}
	for _, r := range rows.Visits {
		c := at(r.Institution, r.Period)
		c.Visits += r.Visits
		c.Completed += r.Completed
		c.Terminated += r.Terminated
		c.NoShows += r.NoShows
		if r.Kind == "first_visit" {
			c.FirstVisits += r.Visits
			c.FirstVisitsEnded += r.Completed + r.Terminated
			c.FirstVisitsTerminated += r.Terminated
		} else {
			c.FollowUps += r.Visits
		}
		tally(kinds, r.Institution, Count{Code: r.Kind, N: r.Visits})
		tally(depts, r.Institution, Count{Code: r.Department, Name: r.DepartmentName, NameEN: r.DepartmentNameEN, N: r.Visits})
	}
	termReasons, rejReasons := map[string]map[string]*Count{}, map[string]map[string]*Count{}
	for _, r := range rows.TerminationReasons {
		get(r.Institution)
		for _, code := range r.Reasons {
			tally(termReasons, r.Institution, Count{Code: code, N: r.N})
		}
	}
	for _, r := range rows.RejectionReasons {
		get(r.Institution)
		for _, code := range r.Reasons {
			tally(rejReasons, r.Institution, Count{Code: code, N: r.N})
		}
	}
	for _, r := range rows.Reviews {
		c := at(r.Institution, r.Period)
		c.Reviewed += r.Reviewed
		c.Rejected += r.Rejected
	}
	for _, r := range rows.Ratings {
		c := at(r.Institution, r.Period)
		c.Ratings += r.N
		c.RatingSum += r.Score * r.N
		if r.Score >= 1 && r.Score <= 5 {
			get(r.Institution).RatingsByScore[r.Score-1] += r.N
		}
	}
	for _, r := range rows.Cases {
		c := at(r.Institution, r.Period)
		if r.Kind == KindComplaint {
			c.Complaints, c.ComplaintsOpen, c.ComplaintsOverdue = c.Complaints+r.Reported, c.ComplaintsOpen+r.Open, c.ComplaintsOverdue+r.Overdue
		} else {
			c.AdverseEvents, c.AdverseEventsOpen, c.AdverseEventsOverdue = c.AdverseEvents+r.Reported, c.AdverseEventsOpen+r.Open, c.AdverseEventsOverdue+r.Overdue
		}
	}
	// Institutions: the totals are the sum of the periods; the overall
	// figures the sum of the institutions.
	var codes []string
	for code := range figs {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	all := &d.Overall
	all.Periods = make([]Counts, len(periods))
	for i, p := range periods {
		all.Periods[i].Period = p.Label
	}
	allKinds, allDepts, allTerm, allRej := map[string]*Count{}, map[string]*Count{}, map[string]*Count{}, map[string]*Count{}
	merge := func(to map[string]*Count, from map[string]*Count) {
		for code, c := range from {
			if x := to[code]; x != nil {
				x.N += c.N
			} else {
				cc := *c
				to[code] = &cc
			}
		}
	}
	for _, code := range codes {
		f := figs[code]
		for i := range f.Periods {
			f.Total.add(&f.Periods[i])
			all.Periods[i].add(&f.Periods[i])
		}
		all.Total.add(&f.Total)
		for i, n := range f.RatingsByScore {
			all.RatingsByScore[i] += n
		}
		f.ByKind, f.ByDepartment, f.TerminationReasons, f.RejectionReasons = sorted(kinds[code]), sorted(depts[code]), sorted(termReasons[code]), sorted(rejReasons[code])
		merge(allKinds, kinds[code])
		merge(allDepts, depts[code])
		merge(allTerm, termReasons[code])
		merge(allRej, rejReasons[code])
	}
	all.ByKind, all.ByDepartment, all.TerminationReasons, all.RejectionReasons = sorted(allKinds), sorted(allDepts), sorted(allTerm), sorted(allRej)
	// Percentiles do not add up: the store gives each group its own.
	times := func(list []PercentileRow, set func(c *Counts, r PercentileRow)) {
		for _, r := range list {
			var f *Figures
			if r.Institution == "" {
				f = all
			} else {
				f = get(r.Institution)
			}
			if r.Period < 0 || r.Period >= len(f.Periods) {
				set(&f.Total, r)
			} else {
				set(&f.Periods[r.Period], r)
			}
		}
	}
	times(rows.Waits, func(c *Counts, r PercentileRow) { c.Waits, c.WaitP50, c.WaitP90 = r.N, r.P50, r.P90 })
	times(rows.Talks, func(c *Counts, r PercentileRow) { c.Talks, c.TalkP50, c.TalkP90 = r.N, r.P50, r.P90 })
	for _, f := range append([]*Figures{all}, mapValues(figs, codes)...) {
		f.Total.rates()
		for i := range f.Periods {
			f.Periods[i].rates()
		}
		if f != all {
			d.Institutions = append(d.Institutions, *f)
		}
	}
	return d
}

func mapValues(m map[string]*Figures, keys []string) []*Figures {
	out := make([]*Figures, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// sorted lists a breakdown, most first (then by code).
func sorted(m map[string]*Count) []Count {
	out := []Count{}
	for _, c := range m {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// Percentile is the nearest-rank percentile p (0..100) of sorted values:
// the smallest value with at least p% of the values at or below it; the
// store's SQL computes the same (rank * 100 >= p * n).
func Percentile(sortedValues []int64, p int) int64 {
	n := len(sortedValues)
	for i, v := range sortedValues {
		if (i+1)*100 >= p*n {
			return v
		}
	}
	return 0
}

// ChatMeta is what the regulator sees of a visit's chat: counts and
// times, never the text (least data, N-22).
type ChatMeta struct {
	Messages    int         `json:"messages"`
	ByKind      []ChatCount `json:"by_sender_and_kind"`
	First       time.Time   `json:"first_at,omitzero"`
	Last        time.Time   `json:"last_at,omitzero"`
	Attachments int         `json:"attachments"` // pre-consultation files
}

// ChatCount is how many messages of a kind one party sent.
type ChatCount struct {
	Sender string `json:"sender"` // patient, doctor, system, guest
	Kind   string `json:"kind"`   // text, image, system
	N      int    `json:"n"`
}

// MaxReason is the longest reason the regulator gives for a drill-down.
const MaxReason = 500

// CheckReason checks the reason the regulator gives to open a visit:
// required, at most MaxReason characters.
func CheckReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	var f errs.Fields
	text(&f, "reason", reason, MaxReason, true)
	return reason, f.Err()
}
