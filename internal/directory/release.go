package directory

import (
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// Booking refusals of a release.
const (
	CodeNotOpen = "not_open"
	CodeClosed  = "booking_closed"
)

// Release is when a service's slots can be booked (S-2): from MinDays to
// MaxDays ahead; the slots of a day open at ReleaseTime MaxDays before it;
// nothing opens before OpensAt (a service's first release, such as the
// first-visit pilot's 2026-01-31 afternoon).
type Release struct {
	MinDays       int       `json:"book_min_days"`
	MaxDays       int       `json:"book_max_days"`
	ReleaseTime   string    `json:"release_time"` // HH:MM
	OpensAt       time.Time `json:"opens_at,omitzero"`
	CancelCutoffM int       `json:"cancel_cutoff_minutes"`
}

// Validate checks a release setting.
func (r *Release) Validate() error {
	var f errs.Fields
	if r.MinDays < 0 || r.MinDays > 90 {
		f.Add("book_min_days", "days_range")
	}
	if r.MaxDays < r.MinDays || r.MaxDays > 90 {
		f.Add("book_max_days", "days_range")
	}
	if _, err := time.Parse("15:04", r.ReleaseTime); err != nil {
		f.Add("release_time", "time_format")
	}
	if r.CancelCutoffM < 0 || r.CancelCutoffM > 7*24*60 {
		f.Add("cancel_cutoff_minutes", "days_range")
	}
	return f.Err()
}

// OpensFor returns when the slots of day open for booking.
func (r Release) OpensFor(day time.Time) time.Time {
	hm, _ := time.Parse("15:04", r.ReleaseTime)
	d := DayStart(day).AddDate(0, 0, -r.MaxDays).Add(time.Duration(hm.Hour())*time.Hour + time.Duration(hm.Minute())*time.Minute)
	if r.OpensAt.After(d) {
		return r.OpensAt
	}
	return d
}

// Bookable says whether a slot on day can be booked at now; when not, the
// error is not_open (with the opening time) or closed (too late).
func (r Release) Bookable(day, now time.Time) error {
	if opens := r.OpensFor(day); now.Before(opens) {
		return errs.E(CodeNotOpen, opens.In(dates.Beijing).Format("2006-01-02 15:04"))
	}
	if DayStart(day).Before(DayStart(now).AddDate(0, 0, r.MinDays)) {
		return errs.E(CodeClosed, r.MinDays)
	}
	return nil
}

// DayStart is midnight of t's day in Beijing.
func DayStart(t time.Time) time.Time {
	t = t.In(dates.Beijing)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, dates.Beijing)
}
