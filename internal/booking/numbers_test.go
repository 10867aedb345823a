package booking_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// 分时段预约 (issue 14): under a burst every booking of a session takes its
// own number, 1 to the capacity without gaps, and an estimated time of
// start + (number - 1) × the visit length (10 minutes by default). A
// number given back by a cancellation goes to the next booking of the
// session, lowest first, so numbers never pass the capacity; the inbox
// notice says the number and the time.
func TestNumbersUnderBurst(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		svc, slot := fixture(t, db, 10)
		accts := patients(t, db, 200)
		ctx := context.Background()
		var mu sync.Mutex
		var wg sync.WaitGroup
		got := map[int]*schedule.Appointment{}
		start := make(chan struct{})
		for i, a := range accts[:150] {
			wg.Add(1)
			go func(i int, a *identity.Account) {
				defer wg.Done()
				ps, err := db.PatientsOf(ctx, a.ID)
				if err != nil {
					t.Error(err)
					return
				}
				<-start
				b, err := svc.Book(ctx, booking.Request{Account: a, PatientID: ps[0].ID, SlotID: slot.ID, IdemKey: fmt.Sprint("k", i)}, &ps[0])
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if prev := got[b.Appointment.Number]; prev != nil {
					t.Errorf("number %d twice: %d and %d", b.Appointment.Number, prev.ID, b.Appointment.ID)
				}
				got[b.Appointment.Number] = b.Appointment
			}(i, a)
		}
		close(start)
		wg.Wait()
		numbers := func() []int {
			var out []int
			rows, err := db.Writer().Query(`SELECT number FROM appointments WHERE slot_id = $1 AND status IN ('booked', 'held') ORDER BY number`, slot.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var n int
				rows.Scan(&n)
				out = append(out, n)
			}
			return out
		}
		if fmt.Sprint(numbers()) != "[1 2 3 4 5 6 7 8 9 10]" || len(got) != 10 {
			t.Fatalf("numbers %v (%d answered)", numbers(), len(got))
		}
		for n, a := range got {
			if want := slot.Start.Add(time.Duration(n-1) * 10 * time.Minute); !a.EstimatedAt.Equal(want) {
				t.Errorf("number %d expected at %v, want %v", n, a.EstimatedAt, want)
			}
		}
		// The notice of number 4 says so.
		var body string
		db.Writer().QueryRow(`SELECT body FROM notifications WHERE account_id = $1`, got[4].AccountID).Scan(&body)
		if want := "第 4 号，预计 " + got[4].EstimatedAt.In(dates.Beijing).Format("15:04"); !strings.Contains(body, want) {
			t.Fatalf("notice %q lacks %q", body, want)
		}
		// Numbers 3 and 7 are given back; the next two bookings take them,
		// lowest first, and read back the same way.
		for _, n := range []int{7, 3} {
			if err := svc.Cancel(ctx, got[n], "plans changed"); err != nil {
				t.Fatal(err)
			}
		}
		var again []int
		for i, a := range accts[150:152] {
			ps, _ := db.PatientsOf(ctx, a.ID)
			b, err := svc.Book(ctx, booking.Request{Account: a, PatientID: ps[0].ID, SlotID: slot.ID, IdemKey: fmt.Sprint("r", i)}, &ps[0])
			if err != nil {
				t.Fatal(err)
			}
			again = append(again, b.Appointment.Number)
			read, err := db.Appointment(ctx, b.Appointment.ID)
			if err != nil || read.Number != b.Appointment.Number || !read.EstimatedAt.Equal(b.Appointment.EstimatedAt) {
				t.Fatalf("read back %+v (%v), booked %+v", read, err, b.Appointment)
			}
		}
		if fmt.Sprint(again) != "[3 7]" {
			t.Fatalf("numbers given back went to %v", again)
		}
		ns := numbers()
		sort.Ints(ns)
		if fmt.Sprint(ns) != "[1 2 3 4 5 6 7 8 9 10]" {
			t.Fatalf("numbers after rebooking %v", ns)
		}
	})
}
