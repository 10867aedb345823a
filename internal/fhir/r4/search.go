package r4

import (
	"errors"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
)

// Token is a token search value: system|code, |code (no system), or code
// (any system).
type Token struct {
	System    string
	Code      string
	HasSystem bool
}

// ParseToken reads a token value.
func ParseToken(v string) Token {
	if sys, code, ok := strings.Cut(v, "|"); ok {
		return Token{System: sys, Code: code, HasSystem: true}
	}
	return Token{Code: v}
}

// Matches says whether a coding matches the token.
func (t Token) Matches(system, code string) bool {
	if t.HasSystem && t.System != system {
		return false
	}
	return t.Code == "" || t.Code == code
}

// Range is a half-open time interval; a zero end is open.
type Range struct {
	From, To time.Time
}

// Narrow intersects r with o.
func (r Range) Narrow(o Range) Range {
	if !o.From.IsZero() && (r.From.IsZero() || o.From.After(r.From)) {
		r.From = o.From
	}
	if !o.To.IsZero() && (r.To.IsZero() || o.To.Before(r.To)) {
		r.To = o.To
	}
	return r
}

// Contains says whether t is in the range.
func (r Range) Contains(t time.Time) bool {
	return (r.From.IsZero() || !t.Before(r.From)) && (r.To.IsZero() || t.Before(r.To))
}

// ErrDate is a date search value that cannot be read.
var ErrDate = errors.New("bad date")

// ParseDate reads a date search value: an optional prefix (eq, ge, gt, le,
// lt) and a date (YYYY, YYYY-MM, YYYY-MM-DD, in Beijing) or a dateTime.
// The value stands for the interval of its precision.
func ParseDate(v string) (Range, error) {
	prefix := "eq"
	if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
	}
	var start, end time.Time
	var err error
	switch len(v) {
	case 4:
		start, err = time.ParseInLocation("2006", v, dates.Beijing)
		end = start.AddDate(1, 0, 0)
	case 7:
		start, err = time.ParseInLocation("2006-01", v, dates.Beijing)
		end = start.AddDate(0, 1, 0)
	case 10:
		start, err = time.ParseInLocation(dates.Layout, v, dates.Beijing)
		end = start.AddDate(0, 0, 1)
	default:
		start, err = time.Parse(time.RFC3339, v)
		end = start.Add(time.Second)
	}
	if err != nil {
		return Range{}, ErrDate
	}
	switch prefix {
	case "eq":
		return Range{start, end}, nil
	case "ge":
		return Range{From: start}, nil
	case "gt":
		return Range{From: end}, nil
	case "le":
		return Range{To: end}, nil
	case "lt":
		return Range{To: start}, nil
	}
	return Range{}, ErrDate
}
