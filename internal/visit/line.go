package visit

import (
	"cmp"
	"slices"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
)

// The line of a session (候诊排队): a session is one doctor's slot, its
// visits are called in by number, and a patient who is not there when
// called waits behind the next one and is called once more (ActSkip), then
// marked no-show. Everyone still to be seen knows how many are ahead and
// about how long it will be; a doctor who runs late moves the estimated
// times of those still waiting.

// CallsBeforeNoShow is how many times a patient is called before being
// marked no-show: each missed call but the last moves the visit behind the
// next one still to be seen (ActSkip); the last marks it no-show. It is
// one number for every service (the default, 2): a number per
// service would be a column of services and a field of the service's form,
// which nobody has asked to vary yet.
const CallsBeforeNoShow = 2

// ToBeSeen reports whether a visit is still to be seen and not yet called
// in: booked, checked in or waiting.
func (s State) ToBeSeen() bool { return s == Booked || s == CheckedIn || s == Waiting }

// Place is the number a visit is expected at in its session: its own, or,
// once it missed a call, the one after the place it waits behind.
func (v *Visit) Place() int {
	if v.LineAfter > 0 && v.LineAfter+1 > v.Number {
		return v.LineAfter + 1
	}
	return v.Number
}

// lineBase is the first key of the line's order: the place the visit waits
// in (its number, or the place it was moved behind).
func (v *Visit) lineBase() int {
	if v.LineAfter > 0 {
		return v.LineAfter
	}
	return v.Number
}

// SetEstimate sets EstimatedAt from the session's start, the visit's
// place, the service's visit length and the session's delay.
func (v *Visit) SetEstimate() {
	v.EstimatedAt = directory.EstimatedAt(v.Start, v.Place(), v.VisitLength, v.Delay)
}

// Planned is when the visit should start if the doctor ran on time.
func (v *Visit) Planned() time.Time {
	return directory.EstimatedAt(v.Start, v.Place(), v.VisitLength, 0)
}

// LateBy is how late the session runs when its doctor calls this visit in
// at now: never less than nothing (a doctor ahead of time moves nobody
// earlier than planned).
func (v *Visit) LateBy(now time.Time) time.Duration {
	return max(0, now.Sub(v.Planned()))
}

// TellLate reports whether the families of a session running delay late
// must be told that their time moved: by more than the service's notice.
func TellLate(delay, notice time.Duration) bool { return delay > notice }

// SortLine orders visits as their doctor calls them in: by session (start,
// slot), then by place in the line: number, a visit that missed a call
// right behind the one it was moved behind (those moved behind the same one
// in the order they were moved).
func SortLine(vs []Visit) {
	slices.SortStableFunc(vs, func(a, b Visit) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.SlotID, b.SlotID), cmp.Compare(a.lineBase(), b.lineBase()),
			a.SkippedAt.Compare(b.SkippedAt), cmp.Compare(a.Number, b.Number), cmp.Compare(a.ID, b.ID))
	})
}

// Position is where a visit still to be seen stands in its session's line.
type Position struct {
	VisitID int64 `json:"visit_id"`
	Number  int   `json:"number"`
	// Ahead is how many are to be seen before it: those still to be seen
	// ahead in the line, and the one in progress.
	Ahead int `json:"ahead"`
	// WaitMinutes is the expected wait: a visit length for each one ahead,
	// less what the one in progress has already taken.
	WaitMinutes int       `json:"expected_wait_minutes"`
	EstimatedAt time.Time `json:"estimated_at"`
}

// Positions gives the position at now of every visit still to be seen of
// one session; line is the session's visits in line order (SortLine),
// ended ones included.
func Positions(line []Visit, now time.Time) map[int64]Position {
	out := map[int64]Position{}
	ahead := 0
	var since time.Time // the latest call-in of the visits in progress
	for _, v := range line {
		if v.State == InProgress {
			ahead++
			if v.StartedAt.After(since) {
				since = v.StartedAt
			}
		}
	}
	for _, v := range line {
		if !v.State.ToBeSeen() {
			continue
		}
		wait := time.Duration(ahead) * v.VisitLength
		if !since.IsZero() {
			wait -= min(max(now.Sub(since), 0), v.VisitLength)
		}
		out[v.ID] = Position{VisitID: v.ID, Number: v.Number, Ahead: ahead, WaitMinutes: int((max(wait, 0) + time.Minute - 1) / time.Minute),
			EstimatedAt: v.EstimatedAt}
		ahead++
	}
	return out
}

// Behind is the line place a visit takes when it misses a call: right
// behind the next visit still to be seen after it; ok is false when none
// follows (it stays where it is, called again next).
func Behind(line []Visit, id int64) (place int, ok bool) {
	found := false
	for _, v := range line {
		if v.ID == id {
			found = true
		} else if found && v.State.ToBeSeen() {
			return v.lineBase(), true
		}
	}
	return 0, false
}

// Missed is what a call the patient did not answer does to a visit that
// missed calls before: ActSkip (called again after the next one) until the
// last call, then ActNoShow.
func Missed(s State, calls int) (Action, error) {
	if _, err := Next(s, ActSkip); err != nil {
		return ActSkip, err
	}
	if calls+1 >= CallsBeforeNoShow {
		return ActNoShow, nil
	}
	return ActSkip, nil
}

// NoShowAllowed says whether a visit that missed calls may be marked
// no-show: one not in the waiting room may (its time has come: the
// caller's check), one in the waiting room only on its last call.
func NoShowAllowed(s State, calls int) error {
	if _, err := Next(s, ActNoShow); err != nil {
		return err
	}
	if s == Waiting && calls+1 < CallsBeforeNoShow {
		return Illegal(ActNoShow, s)
	}
	return nil
}
