package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/dates"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/schedule"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	"github.com/yunyi-health/yunyi/internal/visit"
)

// lineSession makes a session (a slot) of a 10-minute service with a
// 15-minute late notice, starting two days after the tests' instant at
// 09:00 Beijing, and books n patients into it: numbers 1..n, in order.
func lineSession(t *testing.T, db *sqlstore.DB, n int) (slot schedule.Slot, ids []int64) {
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
		Days: directory.Weekdays{1, 2, 3, 4, 5, 6, 7}, Active: true, Release: directory.DefaultRelease, VisitMinutes: 10, LateNoticeMinutes: 15}))
	doc := &directory.Practitioner{Institution: "h1", Department: "derm", Name: "王医生", Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "L1"}
	must(db.SavePractitioner(ctx, doc))
	day := now().In(dates.Beijing).AddDate(0, 0, 2)
	start := time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, dates.Beijing)
	_, err := db.InsertSlots(ctx, []schedule.Slot{{Service: "h1-derm-fu", Institution: "h1", Department: "derm", PractitionerID: doc.ID,
		Kind: directory.FollowUp, Day: start.Format(dates.Layout), Start: start, Capacity: 20}})
	must(err)
	slots, err := db.ListSlots(ctx, schedule.SlotFilter{Service: "h1-derm-fu"})
	must(err)
	slot = slots[0]
	for i := range n {
		a := &identity.Account{Username: fmt.Sprintf("line%02d", i), PasswordHash: "x", Role: identity.RolePatient, CreatedAt: now()}
		birth := now().AddDate(-30, 0, -i)
		p := &identity.Patient{Name: fmt.Sprintf("患者%d", i+1), ResidentID: identity.MakeResidentID("110105", birth, 50+i, identity.Male), Birth: birth,
			Sex: identity.Male, CreatedAt: now()}
		must(db.CreatePatientAccount(ctx, a, p))
		ps, err := db.PatientsOf(ctx, a.ID)
		must(err)
		res, err := db.Book(ctx, []schedule.BookRequest{{SlotID: slot.ID, PatientID: ps[0].ID, AccountID: a.ID, IdemKey: fmt.Sprint("k", i),
			Answers: "{}", At: now(), VisitLength: 10 * time.Minute}})
		must(err)
		if res[0].Appointment == nil || res[0].Appointment.Number != i+1 {
			t.Fatalf("booking %d: %+v", i, res[0])
		}
		ids = append(ids, res[0].Appointment.ID)
	}
	return slot, ids
}

// stepTo moves a visit through the state machine to the state given.
func stepTo(t *testing.T, db *sqlstore.DB, id int64, at time.Time, acts ...visit.Action) {
	t.Helper()
	for _, a := range acts {
		v, err := db.Visit(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		to, err := visit.Next(v.State, a)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Step(context.Background(), visit.Transition{VisitID: id, Action: a, To: to, At: at, By: 1}, nil); err != nil {
			t.Fatalf("%s of %d: %v", a, id, err)
		}
	}
}

// positions reads a session's line: "number:ahead/minutes" of each visit
// still to be seen, in line order.
func positions(t *testing.T, db *sqlstore.DB, slotID int64, at time.Time) string {
	t.Helper()
	line, err := db.Line(context.Background(), slotID)
	if err != nil {
		t.Fatal(err)
	}
	pos := visit.Positions(line, at)
	out := ""
	for _, v := range line {
		if p, ok := pos[v.ID]; ok {
			if out != "" {
				out += " "
			}
			out += fmt.Sprintf("%d:%d/%d", p.Number, p.Ahead, p.WaitMinutes)
		}
	}
	return out
}

// A session of five bookings: each visit reads its number, its slot and
// its estimated time (start + (number - 1) × 10 minutes); the line counts
// those still to be seen ahead and the one in progress; a cancelled or
// finished visit leaves it.
func TestLineOfASession(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		slot, ids := lineSession(t, db, 5)
		for i, id := range ids {
			v, err := db.Visit(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if want := slot.Start.Add(time.Duration(i) * 10 * time.Minute); v.Number != i+1 || v.SlotID != slot.ID || !v.EstimatedAt.Equal(want) ||
				v.VisitLength != 10*time.Minute || v.LateNotice != 15*time.Minute {
				t.Fatalf("visit %d: number %d slot %d at %v (want %v)", i, v.Number, v.SlotID, v.EstimatedAt, want)
			}
		}
		at := slot.Start
		if got := positions(t, db, slot.ID, at); got != "1:0/0 2:1/10 3:2/20 4:3/30 5:4/40" {
			t.Fatalf("before the session: %s", got)
		}
		stepTo(t, db, ids[0], at, visit.ActCheckIn, visit.ActWait, visit.ActStart)
		stepTo(t, db, ids[2], at, visit.ActCheckIn, visit.ActWait)
		if err := db.Cancel(ctx, ids[3], "plans changed", at); err != nil {
			t.Fatal(err)
		}
		if got := positions(t, db, slot.ID, at.Add(4*time.Minute)); got != "2:1/6 3:2/16 5:3/26" {
			t.Fatalf("1 in progress for 4 minutes, 4 cancelled: %s", got)
		}
		stepTo(t, db, ids[0], at.Add(12*time.Minute), visit.ActComplete)
		stepTo(t, db, ids[1], at.Add(12*time.Minute), visit.ActNoShow)
		if got := positions(t, db, slot.ID, at.Add(12*time.Minute)); got != "3:0/0 5:1/10" {
			t.Fatalf("1 done, 2 no-show: %s", got)
		}
	})
}

// A doctor calling in number 3 twenty minutes late: the session runs 20
// minutes late (over the 15-minute notice), the estimated times of those
// still waiting move by it, and their families are marked told once: a
// second call-in, later still, tells nobody again.
func TestLateDoctorMovesTimesOnce(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		slot, ids := lineSession(t, db, 5)
		start := slot.Start
		stepTo(t, db, ids[0], start, visit.ActNoShow)
		stepTo(t, db, ids[1], start, visit.ActCheckIn, visit.ActWait)
		stepTo(t, db, ids[2], start, visit.ActCheckIn, visit.ActWait)
		stepTo(t, db, ids[3], start, visit.ActCheckIn)
		call := func(i int, at time.Time) []visit.Visit {
			t.Helper()
			v, err := db.Visit(ctx, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			delay := v.LateBy(at)
			var told []visit.Visit
			err = db.Step(ctx, visit.Transition{VisitID: v.ID, Action: visit.ActStart, To: visit.InProgress, At: at, By: 1}, func(tx visit.Tx) error {
				var err error
				told, err = tx.RunLate(v.SlotID, v.ID, delay, visit.TellLate(delay, v.LateNotice))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return told
		}
		// Number 2 called 5 minutes late: under the notice, nobody told.
		if told := call(1, start.Add(15*time.Minute)); len(told) != 0 {
			t.Fatalf("told at 5 minutes late: %v", told)
		}
		v5, _ := db.Visit(ctx, ids[4])
		if want := start.Add(45 * time.Minute); !v5.EstimatedAt.Equal(want) {
			t.Fatalf("5 expected at %v, want %v", v5.EstimatedAt, want)
		}
		stepTo(t, db, ids[1], start.Add(30*time.Minute), visit.ActComplete)
		// Number 3 (planned at +20) called at +40: 20 minutes late.
		told := call(2, start.Add(40*time.Minute))
		if len(told) != 2 || told[0].ID != ids[3] || told[1].ID != ids[4] {
			t.Fatalf("told %+v, want numbers 4 and 5", told)
		}
		if want := start.Add(50 * time.Minute); !told[0].EstimatedAt.Equal(want) || told[0].Delay != 20*time.Minute {
			t.Fatalf("4 now at %v (delay %v), want %v", told[0].EstimatedAt, told[0].Delay, want)
		}
		stepTo(t, db, ids[2], start.Add(50*time.Minute), visit.ActComplete)
		// Number 4 called at +75 (planned +30): 45 late; told already.
		if told := call(3, start.Add(75*time.Minute)); len(told) != 0 {
			t.Fatalf("told twice: %v", told)
		}
		var noticed int
		db.Writer().QueryRow(`SELECT COUNT(*) FROM appointments WHERE slot_id = $1 AND late_noticed > 0`, slot.ID).Scan(&noticed)
		v5, _ = db.Visit(ctx, ids[4])
		if noticed != 2 || !v5.EstimatedAt.Equal(start.Add(85*time.Minute)) {
			t.Fatalf("%d noticed; 5 at %v", noticed, v5.EstimatedAt)
		}
	})
}

// A patient not there when called waits behind the next one (a
// compare-and-set on the missed calls: a repeated click counts once); a
// patient in the waiting room is marked no-show only on the last call.
func TestSkipMovesBehindTheNext(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		slot, ids := lineSession(t, db, 4)
		at := slot.Start.Add(time.Minute)
		for _, id := range ids {
			stepTo(t, db, id, at, visit.ActCheckIn, visit.ActWait)
		}
		skip := func(i, calls int) error {
			return db.Skip(ctx, visit.Transition{VisitID: ids[i], Action: visit.ActSkip, To: visit.Waiting, At: at, By: 1}, calls, nil)
		}
		if err := skip(0, 0); err != nil {
			t.Fatal(err)
		}
		if err := skip(0, 0); !errs.Is(err, visit.CodeIllegal) {
			t.Fatalf("a second skip on the same call: %v", err)
		}
		if got := positions(t, db, slot.ID, at); got != "2:0/0 1:1/10 3:2/20 4:3/30" {
			t.Fatalf("1 missed its call: %s", got)
		}
		v, _ := db.Visit(ctx, ids[0])
		if v.Calls != 1 || !v.EstimatedAt.Equal(slot.Start.Add(20*time.Minute)) { // right behind 2 (+10)
			t.Fatalf("1 after a missed call: calls %d at %v", v.Calls, v.EstimatedAt)
		}
		// Waiting and called only once: no no-show yet; after the second, yes.
		noShow := func(i int) error {
			return db.Step(ctx, visit.Transition{VisitID: ids[i], Action: visit.ActNoShow, To: visit.NoShow, At: at, By: 1}, nil)
		}
		if err := noShow(1); !errs.Is(err, visit.CodeIllegal) {
			t.Fatalf("a waiting patient never called is no no-show: %v", err)
		}
		if err := noShow(0); err != nil {
			t.Fatalf("the last call's no-show: %v", err)
		}
		if got := positions(t, db, slot.ID, at); got != "2:0/0 3:1/10 4:2/20" {
			t.Fatalf("after the no-show: %s", got)
		}
		var steps int
		db.Writer().QueryRow(`SELECT COUNT(*) FROM visit_steps WHERE visit_id = $1 AND action = 'skip'`, ids[0]).Scan(&steps)
		if steps != 1 {
			t.Fatalf("%d skips recorded", steps)
		}
	})
}

// Reminders go 30 minutes before each visit's estimated time (its number's
// place, moved by the session's delay), once, and not to a visit already
// seen.
func TestRemindersByEstimatedTime(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		slot, ids := lineSession(t, db, 4)
		due := func(at time.Time) []int {
			t.Helper()
			vs, err := db.DueReminders(ctx, at, at.Add(30*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			var out []int
			for _, v := range vs {
				out = append(out, v.Number)
			}
			return out
		}
		start := slot.Start
		if got := due(start.Add(-31 * time.Minute)); len(got) != 0 {
			t.Fatalf("reminded too early: %v", got)
		}
		if got := fmt.Sprint(due(start.Add(-25 * time.Minute))); got != "[1]" {
			t.Fatalf("at -25 min: %v", got)
		}
		if got := fmt.Sprint(due(start.Add(-15 * time.Minute))); got != "[2]" {
			t.Fatalf("at -15 min (1 already reminded): %v", got)
		}
		// The doctor runs 20 minutes late; number 3 is seen early anyway
		// (out of order): 4 is reminded by its moved time only.
		if _, err := db.Writer().Exec(`UPDATE slots SET delay_us = $2 WHERE id = $1`, slot.ID, (20 * time.Minute).Microseconds()); err != nil {
			t.Fatal(err)
		}
		stepTo(t, db, ids[2], start, visit.ActCheckIn, visit.ActStart)
		if got := due(start.Add(5 * time.Minute)); len(got) != 0 {
			t.Fatalf("at +5 min: %v", got)
		}
		if got := fmt.Sprint(due(start.Add(25 * time.Minute))); got != "[4]" {
			t.Fatalf("at +25 min (4 expected at +50): %v", got)
		}
		if got := due(start.Add(26 * time.Minute)); len(got) != 0 {
			t.Fatalf("reminded twice: %v", got)
		}
	})
}
