package booking_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// now is the tests' instant (testclock).
func now() time.Time { return testclock.Start() }

// fixture: one approved institution, one department, one follow-up service
// open every day, one doctor with a session on the weekday three days ahead,
// so that the week from now() holds it exactly once whatever today is.
func fixture(t *testing.T, db *sqlstore.DB, capacity int) (*booking.Service, *schedule.Slot) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.SaveInstitution(ctx, &directory.Institution{Code: "h1", Name: "测试医院", Status: directory.QualApproved, ApprovedOn: "2020-01-01"}))
	must(db.SaveDepartment(ctx, &directory.Department{Institution: "h1", Code: "derm", Name: "皮肤科", Online: true}))
	must(db.SaveService(ctx, &directory.Service{Institution: "h1", Department: "derm", Code: "h1-derm-fu", Name: "皮肤科复诊", Kind: directory.FollowUp,
		Days: directory.Weekdays{1, 2, 3, 4, 5, 6, 7}, Active: true, Release: directory.DefaultRelease}))
	doc := &directory.Practitioner{Institution: "h1", Department: "derm", Name: "王医生", Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "L1"}
	must(db.SavePractitioner(ctx, doc))
	must(db.SaveSchedule(ctx, &schedule.Schedule{Service: "h1-derm-fu", PractitionerID: doc.ID, Weekday: isoWeekday(now().In(dates.Beijing).AddDate(0, 0, 3)), StartTime: "09:00", Capacity: capacity, Active: true}))
	svc := booking.New(db, func() time.Time { return now() })
	t.Cleanup(svc.Close)
	n, err := svc.Generate(ctx, "h1-derm-fu", now(), now().AddDate(0, 0, 7))
	must(err)
	if n != 1 {
		t.Fatalf("generated %d slots", n)
	}
	slots, err := db.ListSlots(ctx, schedule.SlotFilter{Service: "h1-derm-fu"})
	must(err)
	return svc, &slots[0]
}

func patients(t *testing.T, db *sqlstore.DB, n int) []*identity.Account {
	t.Helper()
	var out []*identity.Account
	for i := 0; i < n; i++ {
		a := &identity.Account{Username: fmt.Sprintf("p%04d", i), PasswordHash: "x", Role: identity.RolePatient, CreatedAt: now()}
		birth := now().AddDate(-30, 0, -i)
		p := &identity.Patient{Name: "患者", ResidentID: identity.MakeResidentID("110105", birth, i%100, identity.Male), Birth: birth, Sex: identity.Male, CreatedAt: now()}
		if err := db.CreatePatientAccount(context.Background(), a, p); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// 500 people race for 10 places: exactly 10 bookings, none twice, every
// loser told slot_full.
func TestBurstNeverOversells(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		svc, slot := fixture(t, db, 10)
		accts := patients(t, db, 500)
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[string]int{}
		start := make(chan struct{})
		for i, a := range accts {
			wg.Add(1)
			go func(i int, a *identity.Account) {
				defer wg.Done()
				ps, err := db.PatientsOf(ctx, a.ID)
				if err != nil {
					t.Error(err)
					return
				}
				<-start
				_, err = svc.Book(ctx, booking.Request{Account: a, PatientID: ps[0].ID, SlotID: slot.ID, IdemKey: fmt.Sprint("k", i)}, &ps[0])
				mu.Lock()
				codes[errs.Code(err)+fmt.Sprint(err == nil)]++
				mu.Unlock()
			}(i, a)
		}
		close(start)
		wg.Wait()
		if codes["internaltrue"] != 10 || codes["slot_fullfalse"] != 490 {
			t.Fatalf("outcomes %v", codes)
		}
		var booked, rows int
		db.Writer().QueryRow(`SELECT booked FROM slots WHERE id = $1`, slot.ID).Scan(&booked)
		db.Writer().QueryRow(`SELECT COUNT(DISTINCT patient_id) FROM appointments WHERE slot_id = $1 AND status = 'booked'`, slot.ID).Scan(&rows)
		if booked != 10 || rows != 10 {
			t.Fatalf("slot says %d booked, %d appointments", booked, rows)
		}
	})
}

func TestIdempotencyOnePerDayAndCancel(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		svc, slot := fixture(t, db, 3)
		ctx := context.Background()
		a := patients(t, db, 1)[0]
		ps, _ := db.PatientsOf(ctx, a.ID)
		req := booking.Request{Account: a, PatientID: ps[0].ID, SlotID: slot.ID, IdemKey: "same"}
		b1, err := svc.Book(ctx, req, &ps[0])
		if err != nil {
			t.Fatal(err)
		}
		b2, err := svc.Book(ctx, req, &ps[0])
		if err != nil || !b2.Replayed || b2.Appointment.ID != b1.Appointment.ID {
			t.Fatalf("the same key twice must book once: %+v %v", b2, err)
		}
		// A second booking in the same department the same day.
		req.IdemKey = "other"
		if _, err := svc.Book(ctx, req, &ps[0]); errs.Code(err) != schedule.CodeOnePerDay {
			t.Fatalf("want already_booked, got %v", err)
		}
		s, _ := db.Slot(ctx, slot.ID)
		if s.Remaining != 2 {
			t.Fatalf("remaining %d", s.Remaining)
		}
		// Cancel returns the place; then the patient can book again.
		if err := svc.Cancel(ctx, b1.Appointment, "plans changed"); err != nil {
			t.Fatal(err)
		}
		if s, _ := db.Slot(ctx, slot.ID); s.Remaining != 3 {
			t.Fatalf("after cancel remaining %d", s.Remaining)
		}
		if err := svc.Cancel(ctx, b1.Appointment, "again"); !errs.Is(err, errs.Conflict) {
			t.Fatalf("cancel twice: %v", err)
		}
		req.IdemKey = "third"
		if _, err := svc.Book(ctx, req, &ps[0]); err != nil {
			t.Fatalf("book after cancel: %v", err)
		}
	})
}

// In one written batch: the last place taken, then requests the full slot
// refuses; among them a retry of the booking that took the place, which
// gets that booking back, not slot_full (the keys of all refused requests
// are looked up together).
func TestBatchRefusalsAndRetry(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		_, slot := fixture(t, db, 1)
		ctx := context.Background()
		as := patients(t, db, 3)
		var reqs []schedule.BookRequest
		for i, a := range as {
			ps, _ := db.PatientsOf(ctx, a.ID)
			reqs = append(reqs, schedule.BookRequest{SlotID: slot.ID, PatientID: ps[0].ID, AccountID: a.ID, IdemKey: fmt.Sprint("key-", i), Answers: "{}", At: now()})
		}
		reqs = append(reqs, reqs[0]) // the first booking sent again
		res, err := db.Book(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Appointment == nil || !res[0].Filled || res[1].Code != schedule.CodeSlotFull || res[2].Code != schedule.CodeSlotFull {
			t.Fatalf("outcomes %+v", res)
		}
		if !res[3].Replayed || res[3].Appointment == nil || res[3].Appointment.ID != res[0].Appointment.ID {
			t.Fatalf("the retry: %+v", res[3])
		}
	})
}

// One written batch mixing requests for slots only they ask for (taken
// and inserted a statement for all of them) with requests sharing a slot
// (one by one): a full slot refuses, a second booking of a patient the
// same day is refused and its place returned, a key sent again gets the
// booking it made (S-4's one booking a day per department).
func TestBatchAloneAndShared(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		svc, s1 := fixture(t, db, 1)
		for _, x := range []struct {
			at  string
			cap int
		}{{"10:00", 1}, {"11:00", 2}, {"12:00", 1}, {"13:00", 1}} {
			if err := db.SaveSchedule(ctx, &schedule.Schedule{Service: "h1-derm-fu", PractitionerID: s1.PractitionerID, Weekday: isoWeekday(now().In(dates.Beijing).AddDate(0, 0, 3)), StartTime: x.at, Capacity: x.cap, Active: true}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Generate(ctx, "h1-derm-fu", now(), now().AddDate(0, 0, 7)); err != nil {
			t.Fatal(err)
		}
		slots, _ := db.ListSlots(ctx, schedule.SlotFilter{Service: "h1-derm-fu"})
		if len(slots) != 5 {
			t.Fatalf("%d slots", len(slots))
		}
		s := func(k int) int64 { return slots[k].ID } // by start: 09:00 .. 13:00
		as := patients(t, db, 5)
		req := func(p int, slot int64, key string) schedule.BookRequest {
			ps, _ := db.PatientsOf(ctx, as[p].ID)
			return schedule.BookRequest{SlotID: slot, PatientID: ps[0].ID, AccountID: as[p].ID, IdemKey: key, Answers: "{}", At: now()}
		}
		// 12:00 is full before the batch.
		if res, err := db.Book(ctx, []schedule.BookRequest{req(4, s(3), "z")}); err != nil || res[0].Appointment == nil {
			t.Fatalf("%+v %v", res, err)
		}
		res, err := db.Book(ctx, []schedule.BookRequest{
			req(0, s(0), "a"), // alone: booked, the last place
			req(0, s(2), "b"), // shares 11:00: patient 0 has a booking that day
			req(1, s(1), "c"), // alone: booked
			req(2, s(2), "d"), // shares 11:00: booked
			req(3, s(3), "e"), // alone, full
			req(1, s(4), "c"), // alone, the key of the third again
		})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Appointment == nil || !res[0].Filled || res[1].Code != schedule.CodeOnePerDay || res[2].Appointment == nil ||
			res[3].Appointment == nil || res[4].Code != schedule.CodeSlotFull || !res[5].Replayed || res[5].Appointment.ID != res[2].Appointment.ID {
			t.Fatalf("outcomes %+v", res)
		}
		for k, want := range []int{1, 1, 1, 1, 0} {
			if sl, _ := db.Slot(ctx, s(k)); sl.Capacity-sl.Remaining != want {
				t.Errorf("slot %d: %d booked, want %d", k, sl.Capacity-sl.Remaining, want)
			}
		}
	})
}

// isoWeekday is t's weekday numbered 1 (Monday) to 7 (Sunday), as schedules
// number them.
func isoWeekday(t time.Time) int {
	if w := int(t.Weekday()); w != 0 {
		return w
	}
	return 7
}
