package monitor

import (
	"context"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// PreviousMonth is the default period of a report drafted at now.
func PreviousMonth(now time.Time) (from, to string) {
	n := now.In(dates.Beijing)
	first := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, dates.Beijing)
	return first.AddDate(0, -1, 0).Format(dates.Layout), first.AddDate(0, 0, -1).Format(dates.Layout)
}

// DraftReport makes a draft report of the relevant items published in the
// period. number 0 continues the series (the last number + 1).
func DraftReport(ctx context.Context, st Store, from, to string, number int, now time.Time) (*Report, error) {
	var f errs.Fields
	if from == "" && to == "" {
		from, to = PreviousMonth(now)
	}
	if !dates.Valid(from) {
		f.Add("from", "date_format")
	}
	if !dates.Valid(to) {
		f.Add("to", "date_format")
	}
	if dates.Valid(from) && dates.Valid(to) && to < from {
		f.Add("to", "period_invalid")
	}
	if number < 0 || number > 9999 {
		f.Add("number", "number")
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	if number == 0 {
		last, err := st.LastReportNumber(ctx)
		if err != nil {
			return nil, err
		}
		number = last + 1
	}
	relevant := true
	items, err := st.Items(ctx, ItemFilter{From: from, To: to, Relevant: &relevant})
	if err != nil {
		return nil, err
	}
	r := &Report{Number: number, From: from, To: to, Date: to, Publisher: DefaultPublisher, Scope: DefaultScope, Status: Draft, Items: []ReportItem{}}
	for _, it := range items {
		it.EnsureSummary()
		r.Items = append(r.Items, ReportItem{ItemID: it.ID, Title: it.Title, Media: it.Media, Published: it.Published, URL: it.URL, Summary: it.Summary, Included: true})
	}
	if err := st.CreateReport(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// PublishReport makes a draft final: from then on it never changes.
func PublishReport(ctx context.Context, st Store, r *Report, now time.Time) error {
	if r.Status != Draft {
		return errs.E("report_published")
	}
	if len(r.included()) == 0 {
		return errs.E("report_empty")
	}
	r.Status, r.PublishedAt = Published, now
	return st.SaveReport(ctx, r)
}
