package schedule

import (
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
)

func bj(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, dates.Beijing)
}

// S-2: H-BCH books 1 to 7 days ahead; the pilot's first visits opened on
// 2026-01-31 at 14:00 (S-5).
func TestReleaseWindow(t *testing.T) {
	bch := directory.Release{MinDays: 1, MaxDays: 7, ReleaseTime: "08:00", CancelCutoffM: 120}
	now := bj(2026, 11, 25, 10, 0)
	cases := []struct {
		day  time.Time
		code string
	}{
		{bj(2026, 11, 25, 14, 0), directory.CodeClosed}, // today: less than 1 day ahead
		{bj(2026, 11, 26, 9, 0), ""},                    // tomorrow
		{bj(2026, 12, 2, 9, 0), ""},                     // 7 days ahead, released at 08:00 today
		{bj(2026, 12, 3, 9, 0), directory.CodeNotOpen},  // 8 days ahead: opens tomorrow 08:00
	}
	for _, c := range cases {
		err := bch.Bookable(c.day, now)
		if (c.code == "" && err != nil) || (c.code != "" && errs.Code(err) != c.code) {
			t.Errorf("%s: got %v, want %q", c.day, err, c.code)
		}
	}
	if got := bch.OpensFor(bj(2026, 12, 3, 9, 0)); !got.Equal(bj(2026, 11, 26, 8, 0)) {
		t.Errorf("opens %s", got)
	}
	pilot := directory.Release{MinDays: 0, MaxDays: 7, ReleaseTime: "00:00", OpensAt: bj(2026, 1, 31, 14, 0)}
	err := pilot.Bookable(bj(2026, 2, 1, 9, 0), bj(2026, 1, 31, 13, 59))
	if errs.Code(err) != directory.CodeNotOpen {
		t.Fatalf("before the pilot opened: %v", err)
	}
	if e := err.(*errs.Error); e.Args[0] != "2026-01-31 14:00" {
		t.Fatalf("opens at %v", e.Args)
	}
	if err := pilot.Bookable(bj(2026, 2, 1, 9, 0), bj(2026, 1, 31, 14, 0)); err != nil {
		t.Fatalf("at the opening: %v", err)
	}
}

// S-2 (H-CCMC: two specialties a day, 10 places each) and D-1 at
// generation.
func TestGenerate(t *testing.T) {
	fu := directory.Service{Code: "ccmc-allergy-fu", Kind: directory.FollowUp, Days: directory.Weekdays{1, 3, 5, 7}, Active: true}
	fv := directory.Service{Code: "ccmc-growth-fv", Kind: directory.FirstVisit, Days: directory.Weekdays{1, 3, 5, 7}, Active: true}
	senior := directory.Practitioner{ID: 1, Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "x", PracticeSince: "2000-01-01", InternetSince: "2020-01-01", TrainingPassedOn: "2025-01-01"}
	resident := directory.Practitioner{ID: 2, Profession: directory.Doctor, Title: directory.TitleResident, LicenceNo: "y", PracticeSince: "2024-01-01"}
	suspended := senior
	suspended.ID = 3
	suspended.Suspensions = []directory.Suspension{{Scope: directory.SuspendAll, Reason: "x"}}
	docs := map[int64]directory.Practitioner{1: senior, 2: resident, 3: suspended}
	var scheds []Schedule
	for _, id := range []int64{1, 2, 3} {
		for _, d := range []int{1, 3, 5, 7} {
			scheds = append(scheds, Schedule{PractitionerID: id, Weekday: d, StartTime: "09:00", Capacity: 10, Active: true})
		}
	}
	from, to := bj(2026, 11, 23, 0, 0), bj(2026, 11, 29, 0, 0) // Monday to Sunday
	slots := Generate(fu, scheds, docs, from, to)
	if len(slots) != 8 { // 4 days × 2 doctors (the suspended one gets none)
		t.Fatalf("follow-up slots: %d", len(slots))
	}
	for _, s := range slots {
		if s.Capacity != 10 || s.PractitionerID == 3 {
			t.Fatalf("%+v", s)
		}
		if wd := s.Start.In(dates.Beijing).Weekday(); wd == time.Tuesday || wd == time.Thursday || wd == time.Saturday {
			t.Fatalf("slot on a closed day: %s", s.Start)
		}
	}
	slots = Generate(fv, scheds, docs, from, to)
	if len(slots) != 4 {
		t.Fatalf("first-visit slots: %d (only the doctor meeting D-1)", len(slots))
	}
	for _, s := range slots {
		if s.PractitionerID != 1 {
			t.Fatalf("D-1: a first-visit slot for doctor %d", s.PractitionerID)
		}
	}
}

func TestCancelCutoff(t *testing.T) {
	a := Appointment{Status: Booked, Start: bj(2026, 11, 26, 9, 0)}
	if err := a.CanCancel(bj(2026, 11, 26, 6, 59), 120); err != nil {
		t.Fatal(err)
	}
	if err := a.CanCancel(bj(2026, 11, 26, 7, 1), 120); errs.Code(err) != CodeCutoff {
		t.Fatalf("after the cutoff: %v", err)
	}
	a.Status = Cancelled
	if err := a.CanCancel(bj(2026, 11, 25, 9, 0), 120); !errs.Is(err, errs.Conflict) {
		t.Fatal(err)
	}
}
