// Package dates has the calendar helpers the domain packages share. Dates
// are civil dates in Beijing time, written YYYY-MM-DD.
package dates

import "time"

// Layout of a civil date.
const Layout = "2006-01-02"

// Beijing is the time zone of every civil date in Yunyi (UTC+8, no DST).
var Beijing = time.FixedZone("CST", 8*3600)

// Years returns the whole years from from to to (an age), negative when to
// is before from.
func Years(from, to time.Time) int {
	y := to.Year() - from.Year()
	if to.Month() < from.Month() || (to.Month() == from.Month() && to.Day() < from.Day()) {
		y--
	}
	return y
}

// YearsSince returns the whole years from the date s to day, or -1 when s is
// empty, malformed or after day.
func YearsSince(s string, day time.Time) int {
	t, err := time.Parse(Layout, s)
	if err != nil || t.After(day) {
		return -1
	}
	return Years(t, day)
}

// Valid reports whether s is a YYYY-MM-DD date.
func Valid(s string) bool {
	_, err := time.Parse(Layout, s)
	return err == nil
}
