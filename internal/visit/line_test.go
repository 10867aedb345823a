package visit

import (
	"fmt"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/testclock"
)

// session is a session of visits numbered 1..n in the given states, 10
// minutes each, starting at start.
func session(start time.Time, states ...State) []Visit {
	out := make([]Visit, len(states))
	for i, s := range states {
		out[i] = Visit{ID: int64(100 + i), SlotID: 7, Start: start, Number: i + 1, State: s, VisitLength: 10 * time.Minute}
		out[i].SetEstimate()
	}
	return out
}

// Where each visit still to be seen stands: the ones still to be seen
// ahead and the one in progress; the wait counts a visit length for each,
// less what the one in progress has taken. Ended visits are not counted.
func TestPositions(t *testing.T) {
	start := testclock.Start()
	cases := []struct {
		name   string
		states []State
		since  time.Duration // the visit in progress started this long ago
		want   string        // visit number: ahead/minutes
	}{
		{"nobody called yet", []State{Waiting, CheckedIn, Booked, Waiting}, 0, "1:0/0 2:1/10 3:2/20 4:3/30"},
		{"one in progress, just called", []State{InProgress, Waiting, Waiting}, 0, "2:1/10 3:2/20"},
		{"one in progress for 4 minutes", []State{InProgress, Waiting, Waiting}, 4 * time.Minute, "2:1/6 3:2/16"},
		{"in progress over its length", []State{InProgress, Waiting, Waiting}, 25 * time.Minute, "2:1/0 3:2/10"},
		{"ended ones are not ahead", []State{Completed, NoShow, Terminated, Waiting, Booked}, 0, "4:0/0 5:1/10"},
		{"taken out of order", []State{Waiting, Waiting, InProgress, Waiting}, 0, "1:1/10 2:2/20 4:3/30"},
		{"the issue's example", []State{Completed, InProgress, Waiting, Waiting}, 5 * time.Minute, "3:1/5 4:2/15"},
	}
	for _, c := range cases {
		line := session(start, c.states...)
		now := start.Add(time.Hour)
		for i := range line {
			if line[i].State == InProgress {
				line[i].StartedAt = now.Add(-c.since)
			}
		}
		pos := Positions(line, now)
		got := ""
		for _, v := range line {
			if p, ok := pos[v.ID]; ok {
				if got != "" {
					got += " "
				}
				got += fmt.Sprintf("%d:%d/%d", p.Number, p.Ahead, p.WaitMinutes)
				if !p.EstimatedAt.Equal(v.EstimatedAt) {
					t.Errorf("%s: estimated %v, want %v", c.name, p.EstimatedAt, v.EstimatedAt)
				}
			}
		}
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// A missed call moves a visit right behind the next one still to be seen
// (then the line is sorted by it); one moved behind another moved one goes
// after it; the last one stays where it is. The estimated time follows the
// place; the session's delay moves everyone's.
func TestSkipAndLineOrder(t *testing.T) {
	start := testclock.Start()
	line := session(start, Waiting, Booked, Waiting, Waiting)
	order := func() string {
		SortLine(line)
		s := ""
		for _, v := range line {
			s += fmt.Sprint(v.Number)
		}
		return s
	}
	skip := func(number int, at time.Duration) {
		for i := range line {
			if line[i].Number == number {
				place, ok := Behind(line, line[i].ID)
				if ok {
					line[i].LineAfter, line[i].SkippedAt = place, start.Add(at)
				}
				line[i].Calls++
				line[i].SetEstimate()
				return
			}
		}
	}
	line[0].State = InProgress // 1 is seen
	skip(2, time.Minute)       // 2 is not there: behind 3
	if got := order(); got != "1324" {
		t.Fatalf("after 2 missed: %s", got)
	}
	if v := line[2]; v.Number != 2 || v.Place() != 4 || !v.EstimatedAt.Equal(start.Add(30*time.Minute)) {
		t.Fatalf("2 moved behind 3: place %d at %v", v.Place(), v.EstimatedAt)
	}
	skip(3, 2*time.Minute) // 3 is not there either: behind 2, which waits behind it
	if got := order(); got != "1234" {
		t.Fatalf("after 3 missed: %s", got)
	}
	skip(4, 3*time.Minute) // nobody after 4: it stays
	if got := order(); got != "1234" || line[3].LineAfter != 0 {
		t.Fatalf("the last one moved: %s", got)
	}
	// Positions follow the line's order.
	pos := Positions(line, start.Add(time.Minute))
	if pos[line[1].ID].Ahead != 1 || pos[line[2].ID].Ahead != 2 {
		t.Fatalf("positions after skips %+v", pos)
	}
	// A session running 25 minutes late moves the estimated times, never
	// earlier than planned.
	for _, d := range []time.Duration{25 * time.Minute, -5 * time.Minute} {
		v := line[1]
		v.Delay = d
		v.SetEstimate()
		if want := v.Planned().Add(max(d, 0)); !v.EstimatedAt.Equal(want) {
			t.Fatalf("delay %v: %v, want %v", d, v.EstimatedAt, want)
		}
	}
}

// How late a session runs when the doctor calls a visit in: the time past
// the visit's planned time, never less than nothing; the families hear it
// past the service's notice.
func TestLateBy(t *testing.T) {
	start := testclock.Start()
	v := session(start, Booked, Booked, Waiting)[2] // number 3: planned at +20 min
	cases := []struct {
		at    time.Duration
		late  time.Duration
		tell  bool
		delay time.Duration // the session's delay before: it does not count
	}{
		{15 * time.Minute, 0, false, 0},
		{20 * time.Minute, 0, false, 0},
		{35 * time.Minute, 15 * time.Minute, false, 0}, // exactly the notice: not more
		{36 * time.Minute, 16 * time.Minute, true, 5 * time.Minute},
	}
	for _, c := range cases {
		v.Delay = c.delay
		late := v.LateBy(start.Add(c.at))
		if late != c.late || TellLate(late, 15*time.Minute) != c.tell {
			t.Errorf("called at +%v: %v late (tell %v), want %v (%v)", c.at, late, TellLate(late, 15*time.Minute), c.late, c.tell)
		}
	}
}

// Called CallsBeforeNoShow times: the first missed call is a skip, the last
// the no-show; a patient in the waiting room is marked no-show only on the
// last call, one not there (booked, checked in) at once.
func TestMissedCalls(t *testing.T) {
	cases := []struct {
		state  State
		calls  int
		missed Action // "": refused
		noShow bool
	}{
		{Waiting, 0, ActSkip, false},
		{Waiting, 1, ActNoShow, true},
		{Booked, 0, ActSkip, true},
		{CheckedIn, 1, ActNoShow, true},
		{InProgress, 0, "", false},
		{Completed, 1, "", false},
		{NoShow, 1, "", false},
	}
	for _, c := range cases {
		act, err := Missed(c.state, c.calls)
		if c.missed == "" {
			if err == nil || !errs.Is(err, CodeIllegal) {
				t.Errorf("Missed(%s, %d) = %s, %v", c.state, c.calls, act, err)
			}
		} else if err != nil || act != c.missed {
			t.Errorf("Missed(%s, %d) = %s, %v; want %s", c.state, c.calls, act, err, c.missed)
		}
		if err := NoShowAllowed(c.state, c.calls); (err == nil) != c.noShow {
			t.Errorf("NoShowAllowed(%s, %d) = %v", c.state, c.calls, err)
		}
	}
}
