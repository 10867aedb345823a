package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/qualification"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
	"github.com/yunyi-health/yunyi/internal/supervision"
)

// outboxOf is an institution's whole outbox, checked to be numbered 1, 2,
// … without gaps.
func outboxOf(t *testing.T, db *sqlstore.DB, inst string) []supervision.Event {
	t.Helper()
	evs, err := db.FeedOutbox(context.Background(), inst, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.Institution != inst {
			t.Fatalf("outbox of %s: event %d is %s #%d", inst, i, e.Institution, e.Seq)
		}
	}
	return evs
}

// N-16, N-22: a supervised change writes its event in its own
// transaction; a change that fails writes none (and takes no number), and
// the event carries codes, never the names or the reasons' text.
func TestFeedEventsWrittenWithTheirChange(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		db.SetClock(now)
		doctor, _ := qualInstitution(t, db) // onboards 王医生: one event
		if err := db.AddSuspension(ctx, &directory.Suspension{PractitionerID: doctor, Scope: directory.SuspendFirstVisit, Reason: "资质复核中，暂停首诊",
			Since: now(), By: 1}); err != nil {
			t.Fatal(err)
		}
		// Changes that fail: no event, no number taken.
		if err := db.AddSuspension(ctx, &directory.Suspension{PractitionerID: 999999, Scope: directory.SuspendAll, Since: now(), By: 1}); err == nil {
			t.Fatal("a suspension of nobody was stored")
		}
		if err := db.SetQualification(ctx, "nowhere", directory.QualApproved, "2026-01-01", ""); !errs.Is(err, errs.NotFound) {
			t.Fatalf("qualification of an unknown institution: %v", err)
		}
		dup := &directory.Practitioner{Institution: "h1", Department: "derm", Name: "重复", Profession: directory.Doctor, Title: directory.TitleChief, LicenceNo: "Q-1"}
		if err := db.SavePractitioner(ctx, dup); err == nil || dup.ID != 0 {
			t.Fatalf("a duplicate licence was stored: %v", err)
		}
		if err := db.SetQualification(ctx, "h1", directory.QualApproved, "2026-01-01", ""); err != nil {
			t.Fatal(err)
		}
		if _, done, err := db.Suspend(ctx, qualification.Suspension{Institution: "h1", Reason: "整改期间暂停", At: now()}); err != nil || !done {
			t.Fatalf("suspend: %v %v", done, err)
		}
		evs := outboxOf(t, db, "h1")
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, string(e.Kind)+":"+e.Outcome)
		}
		want := []string{"practitioner.onboarded:doctor", "practitioner.suspended:first_visit", "qualification.changed:approved", "qualification.changed:suspended"}
		if strings.Join(kinds, " ") != strings.Join(want, " ") {
			t.Fatalf("outbox %v, want %v", kinds, want)
		}
		for _, e := range evs {
			raw, _ := e.Canonical()
			for _, secret := range []string{"王医生", "资质复核", "整改期间", "Q-1"} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("event %s carries %q: %s", e.Kind, secret, raw)
				}
			}
			if e.ID == "" || e.OccurredAt.IsZero() {
				t.Errorf("event %+v", e)
			}
		}
		if evs[1].Practitioner != doctor || evs[1].Department != "derm" {
			t.Errorf("suspension event %+v", evs[1])
		}
		if outboxOf(t, db, "nowhere"); len(outboxOf(t, db, "nowhere")) != 0 {
			t.Error("a failed change left an event")
		}
	})
}

// Numbers are taken in the change's transaction: writers of one
// institution at once (PostgreSQL: concurrent transactions) still number
// its events 1..N without a gap or a double, and each institution apart.
func TestFeedNumbersUnderConcurrency(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		const writers, each = 8, 25
		var wg sync.WaitGroup
		errc := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					evs := []supervision.Event{{Institution: "a", Kind: supervision.RatingGiven, OccurredAt: now(), Score: 1 + i%5},
						{Institution: []string{"b", "c"}[w%2], Kind: supervision.ComplaintFiled, OccurredAt: now(), Category: "waiting"}}
					if err := db.EmitEvents(ctx, evs, []int64{int64(w*100 + i + 1), 0}); err != nil {
						errc <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for inst, n := range map[string]int{"a": writers * each, "b": writers / 2 * each, "c": writers / 2 * each} {
			evs := outboxOf(t, db, inst)
			if len(evs) != n {
				t.Fatalf("%s: %d events, want %d", inst, len(evs), n)
			}
			for _, e := range evs {
				if ids[e.ID] {
					t.Fatalf("event id %s twice", e.ID)
				}
				ids[e.ID] = true
				if inst == "a" && len(e.Patient) != 32 {
					t.Fatalf("patient key %q", e.Patient)
				}
			}
		}
		curs, err := db.FeedCursors(ctx)
		if err != nil || len(curs) != 3 || curs[0].HeadSeq != writers*each || curs[0].Lag != writers*each {
			t.Fatalf("cursors %+v %v", curs, err)
		}
	})
}

// The reporter's claim on an outbox is a compare-and-set: a second server
// waits for the lease; a failure releases it with the time of the next
// attempt, and the outbox is not due before.
func TestFeedOutboxClaim(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		if err := db.EmitEvents(ctx, []supervision.Event{{Institution: "a", Kind: supervision.ComplaintFiled, OccurredAt: now()}}, nil); err != nil {
			t.Fatal(err)
		}
		t0 := now()
		if _, ok, err := db.ClaimOutbox(ctx, "a", "one", t0, t0.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if _, ok, err := db.ClaimOutbox(ctx, "a", "two", t0.Add(time.Second), t0.Add(time.Minute)); ok || err != nil {
			t.Fatalf("a second claim while held: %v %v", ok, err)
		}
		if due, _ := db.DueOutboxes(ctx, t0.Add(time.Second)); len(due) != 0 {
			t.Fatalf("a held outbox is due: %+v", due)
		}
		if err := db.FailOutbox(ctx, "a", "two", "x", t0, t0); err == nil {
			t.Fatal("a server that holds no claim recorded a failure")
		}
		if err := db.FailOutbox(ctx, "a", "one", "HTTP 503", t0.Add(time.Second), t0.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		if due, _ := db.DueOutboxes(ctx, t0.Add(2*time.Second)); len(due) != 0 {
			t.Fatalf("due before its next attempt: %+v", due)
		}
		due, err := db.DueOutboxes(ctx, t0.Add(3*time.Second))
		if err != nil || len(due) != 1 || due[0].Attempts != 1 || due[0].LastError != "HTTP 503" || due[0].Lag != 1 {
			t.Fatalf("due %+v %v", due, err)
		}
		c, ok, err := db.ClaimOutbox(ctx, "a", "two", t0.Add(3*time.Second), t0.Add(time.Minute))
		if !ok || err != nil || c.AckedSeq != 0 || c.HeadSeq != 1 {
			t.Fatalf("claim after the failure: %+v %v %v", c, ok, err)
		}
		if err := db.AckOutbox(ctx, "a", "two", 1, t0.Add(4*time.Second), t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		curs, _ := db.FeedCursors(ctx)
		if len(curs) != 1 || curs[0].Lag != 0 || curs[0].Attempts != 0 || curs[0].LastError != "" {
			t.Fatalf("after the ack: %+v", curs)
		}
	})
}

// The platform's store keeps each institution's feed a gap-free prefix:
// a batch repeating what it has is counted as duplicates, one that would
// leave a gap is refused with the last number, one whose number it has
// under another id is refused; counts by kind, institution and day.
func TestFeedReceive(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		ev := func(inst string, seq int64, kind supervision.Kind, days int) supervision.Event {
			return supervision.Event{ID: fmt.Sprintf("%s-%08d-x", inst, seq), Institution: inst, Seq: seq, Kind: kind,
				OccurredAt: now().AddDate(0, 0, days).UTC(), Department: "derm"}
		}
		batch := func(inst string, from, to int64) *supervision.Batch {
			b := &supervision.Batch{Institution: inst, Head: 10}
			for s := from; s <= to; s++ {
				b.Events = append(b.Events, ev(inst, s, supervision.VisitStarted, int(s%2)))
			}
			return b
		}
		at := now()
		rec, err := db.ReceiveFeed(ctx, batch("a", 1, 4), at)
		if err != nil || rec.Accepted != 4 || rec.LastSeq != 4 || rec.Duplicates != 0 {
			t.Fatalf("first batch %+v %v", rec, err)
		}
		if rec, err = db.ReceiveFeed(ctx, batch("a", 3, 6), at); err != nil || rec.Accepted != 2 || rec.Duplicates != 2 || rec.LastSeq != 6 {
			t.Fatalf("overlapping batch %+v %v", rec, err)
		}
		if rec, err = db.ReceiveFeed(ctx, batch("a", 1, 6), at); err != nil || rec.Accepted != 0 || rec.Duplicates != 6 {
			t.Fatalf("repeated batch %+v %v", rec, err)
		}
		_, err = db.ReceiveFeed(ctx, batch("a", 8, 9), at)
		if g, ok := err.(*supervision.GapError); !ok || g.Last != 6 || g.First != 8 {
			t.Fatalf("a gap: %v", err)
		}
		other := batch("a", 6, 7)
		other.Events[0].ID = "another-id-6"
		if _, err := db.ReceiveFeed(ctx, other, at); !errs.Is(err, supervision.CodeMismatch) {
			t.Fatalf("another id under a number it has: %v", err)
		}
		reused := batch("a", 7, 7)
		reused.Events[0].ID = ev("a", 2, "", 0).ID
		if _, err := db.ReceiveFeed(ctx, reused, at); !errs.Is(err, supervision.CodeMismatch) {
			t.Fatalf("an id it has under another number: %v", err)
		}
		if _, err := db.ReceiveFeed(ctx, batch("b", 1, 3), at); err != nil {
			t.Fatal(err)
		}
		if err := db.RefuseBatch(ctx, "a", supervision.CodeBadSignature, at); err != nil {
			t.Fatal(err)
		}
		feeds, err := db.Feeds(ctx)
		if err != nil || len(feeds) != 2 {
			t.Fatalf("feeds %+v %v", feeds, err)
		}
		if f := feeds[0]; f.Institution != "a" || f.LastSeq != 6 || f.HeadSeq != 10 || f.Lag != 4 || f.Events != 6 || f.Duplicates != 8 ||
			f.Batches != 3 || f.LastError != supervision.CodeBadSignature {
			t.Fatalf("feed of a: %+v", f)
		}
		list, err := db.ReceivedEvents(ctx, supervision.Filter{Institution: "a", AfterSeq: 2})
		if err != nil || len(list) != 4 || list[0].Seq != 3 || list[3].Seq != 6 {
			t.Fatalf("events after 2: %+v %v", list, err)
		}
		counts, err := db.CountReceived(ctx, "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		total := map[string]int64{}
		for _, c := range counts {
			if c.Kind != supervision.VisitStarted {
				t.Fatalf("count %+v", c)
			}
			total[c.Institution] += c.Events
		}
		if total["a"] != 6 || total["b"] != 3 || len(counts) != 4 {
			t.Fatalf("counts %+v", counts)
		}
		day := ev("a", 1, "", 1).Day()
		if counts, _ := db.CountReceived(ctx, "a", day, day); len(counts) != 1 || counts[0].Events != 3 || counts[0].Day != day {
			t.Fatalf("counts of a on %s: %+v", day, counts)
		}
	})
}
