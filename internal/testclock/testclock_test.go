package testclock

import (
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

func TestNextWorkingDay(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct{ now, want string }{
		{"2026-12-01T08:00:00+08:00", "2026-12-02"}, // Tuesday → Wednesday
		{"2026-12-04T09:00:00+08:00", "2026-12-07"}, // Friday → Monday
		{"2026-12-05T12:00:00+08:00", "2026-12-07"}, // Saturday → Monday
		{"2026-12-06T23:59:00+08:00", "2026-12-07"}, // Sunday → Monday
		{"2026-12-01T17:00:00Z", "2026-12-03"},      // already Wednesday 01:00 in Beijing
		{"2027-12-31T23:30:00+08:00", "2028-01-03"}, // New Year's Eve (Friday) → Monday
		{"2028-02-28T10:00:00+08:00", "2028-02-29"}, // a leap day
	}
	for _, c := range cases {
		got := NextWorkingDay(at(c.now))
		if got.Format(dates.Layout) != c.want || got.Hour() != 10 || got.Location() != dates.Beijing {
			t.Errorf("after %s: %s, want %s 10:00 Beijing", c.now, got, c.want)
		}
	}
}

func TestClock(t *testing.T) {
	c := New()
	if !c.Now().Equal(Start()) {
		t.Fatal("a new clock is not at Start")
	}
	c.Add(time.Hour)
	if c.Now().Sub(Start()) != time.Hour {
		t.Fatal("Add")
	}
	if Day(1) != Start().In(dates.Beijing).AddDate(0, 0, 1).Format(dates.Layout) {
		t.Fatal("Day")
	}
}
