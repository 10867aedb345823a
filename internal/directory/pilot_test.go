package directory

import (
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/errs"
)

// G-2, S-5: a designation covers its days, from and to included; the
// institution is a pilot on a day one of its designations covers.
func TestPilotDesignationDates(t *testing.T) {
	at := func(day string) time.Time {
		t, _ := time.ParseInLocation(dates.Layout+" 15:04", day+" 09:00", dates.Beijing)
		return t
	}
	i := &Institution{Code: "h", Departments: []Department{{Code: "d", Specialties: []Specialty{{Code: "skin"}, {Code: "growth"}}}},
		Pilots: []Designation{{Institution: "h", Specialty: "skin", From: "2026-02-01", To: "2026-02-10"}}}
	for day, want := range map[string]bool{"2026-01-31": false, "2026-02-01": true, "2026-02-10": true, "2026-02-11": false} {
		if got := i.SpecialtyPilotOn("skin", at(day)); got != want {
			t.Errorf("skin on %s: %v", day, got)
		}
		if got := i.PilotOn(at(day)); got != want {
			t.Errorf("institution on %s: %v", day, got)
		}
	}
	if i.SpecialtyPilotOn("growth", at("2026-02-05")) || i.SpecialtyPilotOn("", at("2026-02-05")) {
		t.Fatal("an undesignated specialty")
	}
	// A day is Beijing's: 23:30 UTC on 31 January is 1 February in Beijing.
	if !i.SpecialtyPilotOn("skin", time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC)) {
		t.Fatal("the Beijing date")
	}
	i.MarkPilots(at("2026-02-05"))
	if !i.Pilot || !i.SpecialtyPilot("skin") || i.SpecialtyPilot("growth") {
		t.Fatalf("flags %+v", i)
	}
	if (Designation{}).ValidOn("2026-01-01") != true {
		t.Fatal("a designation kept without dates has no limit")
	}
	for _, c := range []struct {
		d     Designation
		field string
		code  string
	}{
		{Designation{}, "from", "required"},
		{Designation{From: "2026-2-1"}, "from", "date_format"},
		{Designation{From: "2026-02-01", To: "2026-01-31"}, "to", "before_from"},
	} {
		err := c.d.Validate()
		e, ok := err.(*errs.Error)
		if !ok || len(e.Fields) != 1 || e.Fields[0].Field != c.field || e.Fields[0].Code != c.code {
			t.Errorf("%+v: %v", c.d, err)
		}
	}
	if err := (&Designation{From: "2026-02-01", To: "2026-02-01"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
