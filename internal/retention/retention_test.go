package retention

import (
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// N-17: never shorter than the legal minimum; the visit records and the
// audit log are never purged.
func TestValidateN17(t *testing.T) {
	for _, c := range []struct {
		p     Policy
		field string // "" for valid
		code  string
	}{
		{Policy{Type: VisitRecord, Years: 15}, "", ""},
		{Policy{Type: VisitRecord, Years: 30}, "", ""},
		{Policy{Type: VisitRecord, Years: 14}, "years", CodeBelowMinimum},
		{Policy{Type: VisitRecord, Years: 20, Purge: true}, "purge", CodeNotPurgeable},
		{Policy{Type: Chat, Years: 3, Purge: true}, "", ""},
		{Policy{Type: Chat, Years: 2, Purge: true}, "years", CodeBelowMinimum},
		{Policy{Type: Call, Years: 0}, "years", CodeBelowMinimum},
		{Policy{Type: Call, Years: 101, Purge: true}, "years", CodeTooLong},
		{Policy{Type: Audit, Years: 15}, "", ""},
		{Policy{Type: Audit, Years: 15, Purge: true}, "purge", CodeNotPurgeable},
		{Policy{Type: Audit, Years: 1}, "years", CodeBelowMinimum},
	} {
		err := c.p.Validate()
		if c.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.p, err)
			}
			continue
		}
		e, ok := err.(*errs.Error)
		if !ok || e.Code != errs.Invalid || len(e.Fields) != 1 || e.Fields[0].Field != c.field || e.Fields[0].Code != c.code {
			t.Errorf("%+v: %v, want %s on %s", c.p, err, c.code, c.field)
		}
	}
	if err := (Policy{Type: "sms", Years: 3}).Validate(); !errs.Is(err, errs.NotFound) {
		t.Errorf("an unknown type: %v", err)
	}
}

// A record is kept its full period by the Beijing calendar: up to and
// including its anniversary; it may go from the next day, a microsecond
// before that is refused.
func TestPeriodBoundaryN17(t *testing.T) {
	now := testclock.Start()
	for _, typ := range []Type{VisitRecord, Chat} {
		p := Policy{Type: typ, Years: laws[typ].minYears}
		cutoff := p.Cutoff(now)
		b := cutoff.In(dates.Beijing)
		if b.Hour() != 0 || b.Minute() != 0 || now.In(dates.Beijing).Year()-b.Year() != p.Years {
			t.Fatalf("%s cutoff %v of %v", typ, b, now)
		}
		for _, c := range []struct {
			made time.Time
			gone bool
		}{
			{cutoff.Add(-time.Microsecond), true},
			{cutoff, false},
			{cutoff.Add(time.Second), false},
			{now, false},
			{cutoff.AddDate(-1, 0, 0), true},
		} {
			if got := p.Expired(c.made, now); got != c.gone {
				t.Errorf("%s made %v: expired %v, want %v", typ, c.made, got, c.gone)
			}
			err := p.MayDelete(c.made, now)
			if c.gone != (err == nil) {
				t.Errorf("%s made %v: delete %v", typ, c.made, err)
			}
			if err != nil && (!errs.Is(err, CodeTooEarly) || err.(*errs.Error).Args[0] != p.KeptUntil(c.made)) {
				t.Errorf("refusal %v", err)
			}
			// Gone exactly when its last day to keep is before today.
			if last, _ := time.ParseInLocation(dates.Layout, p.KeptUntil(c.made), dates.Beijing); last.Before(day(now)) != c.gone {
				t.Errorf("%s made %v: kept until %s, today %v", typ, c.made, p.KeptUntil(c.made), now)
			}
		}
	}
	// Around 29 February: a record of that day is kept until 1 March of a
	// common year and goes on 2 March; on 29 February of a leap year the
	// records of 28 February go.
	at := func(s string) time.Time {
		d, _ := time.ParseInLocation("2006-01-02 15:04", s, dates.Beijing)
		return d
	}
	chat := Policy{Type: Chat, Years: 3}
	for _, c := range []struct {
		made, now string
		gone      bool
	}{
		{"2028-02-29 12:00", "2031-03-01 23:59", false},
		{"2028-02-29 12:00", "2031-03-02 00:00", true},
		{"2028-03-01 00:00", "2031-03-01 23:59", false},
		{"2028-02-28 23:59", "2031-03-01 00:00", true},
		{"2029-02-28 10:00", "2032-02-29 00:00", true},
		{"2029-03-01 00:00", "2032-02-29 23:59", false},
		{"2029-03-01 00:00", "2032-03-02 00:00", true},
	} {
		if got := chat.Expired(at(c.made), at(c.now)); got != c.gone {
			t.Errorf("made %s, now %s: expired %v, want %v (cutoff %v)", c.made, c.now, got, c.gone, chat.Cutoff(at(c.now)))
		}
	}
	if got := chat.KeptUntil(at("2028-02-29 12:00")); got != "2031-03-01" {
		t.Errorf("kept until %s", got)
	}
}

// What counts as which record: a pre-consultation file is a draft until
// the visit starts, then the visit record's; a chat image is the chat's.
func TestOfAttachment(t *testing.T) {
	for _, c := range []struct {
		purpose string
		locked  bool
		typ     Type
		draft   bool
	}{
		{"pre_consult", false, VisitRecord, true},
		{"pre_consult", true, VisitRecord, false},
		{"chat", false, Chat, false},
		{"chat", true, Chat, false},
	} {
		typ, draft := OfAttachment(c.purpose, c.locked)
		if typ != c.typ || draft != c.draft {
			t.Errorf("%s locked %v: %s draft %v", c.purpose, c.locked, typ, draft)
		}
	}
}

func TestRunDetail(t *testing.T) {
	r := &Run{Counts: map[Part]int64{ChatMessages: 12, CallGuests: 1}, Cutoffs: map[Type]string{Chat: "2023-01-01T10:00:00+08:00"}}
	if got := r.Detail(); got != "chat_messages=12 chat_files=0 call_guests=1 chat<2023-01-01T10:00:00+08:00" {
		t.Errorf("detail %q", got)
	}
}
