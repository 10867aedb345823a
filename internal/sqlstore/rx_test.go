package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/sign"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

func rxFixture(visit int64, at time.Time) *rx.Prescription {
	return &rx.Prescription{VisitID: visit, Institution: "bch", Department: "dermatology", PatientID: 7, PatientName: "李小天", DoctorID: 3,
		DoctorName: "马静怡", Status: rx.PendingReview, IssuedAt: at, ValidDays: 1, ValidUntil: at.Add(12 * time.Hour), Diagnoses: []string{"L20.9"},
		Items: []rx.Item{{Drug: "X1", Name: "布洛芬混悬液", Dose: 5, DoseUnit: "ml", Frequency: "tid", Route: "oral", Days: 3, Quantity: 1}}}
}

// Issues and reviews are written in batches: within a batch each request
// gets its own outcome, and concurrent issues for one visit from two
// servers (two writers) all land, each with its own version (N-11's
// review is a compare and set).
func TestPrescriptionBatches(t *testing.T) {
	ctx := context.Background()
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		sealer, err := sign.NewSealer([]byte("yunyi-test-master-key-32-bytes!!"))
		if err != nil {
			t.Fatal(err)
		}
		keys := &rx.Keys{Store: db, Sealer: sealer}
		doc, err := keys.Signer(ctx, rx.RoleDoctor, 3, "马静怡")
		if err != nil {
			t.Fatal(err)
		}
		at := now().UTC().Truncate(time.Microsecond)

		// Two writers (two servers) issue for one visit at once.
		w1, w2 := rx.NewWriter(db), rx.NewWriter(db)
		defer w1.Close()
		defer w2.Close()
		const n = 10
		ps := make([]*rx.Prescription, n)
		errsOf := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := w1
				if i%2 == 1 {
					w = w2
				}
				ps[i] = rxFixture(900, at)
				errsOf[i] = w.Issue(ctx, ps[i], doc, nil, nil)
			}()
		}
		wg.Wait()
		versions := map[int]bool{}
		for i, p := range ps {
			if errsOf[i] != nil {
				t.Fatalf("issue %d: %v", i, errsOf[i])
			}
			versions[p.Version] = true
			stored, err := db.Prescription(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ok, _, err := keys.Verify(ctx, stored); err != nil || !ok {
				t.Fatalf("prescription %d does not verify: %v", p.ID, err)
			}
		}
		if len(versions) != n {
			t.Fatalf("versions %v", versions)
		}

		// One batch: the same visit and version twice (the second conflicts).
		a, b := rxFixture(901, at), rxFixture(901, at)
		for _, p := range []*rx.Prescription{a, b} {
			p.Version = 1
			if p.ID, err = db.ReservePrescriptionID(ctx); err != nil {
				t.Fatal(err)
			}
		}
		ra, rb := &rx.IssueRequest{P: a}, &rx.IssueRequest{P: b}
		if err := db.Issue(ctx, []*rx.IssueRequest{ra, rb}); err != nil {
			t.Fatal(err)
		}
		if ra.Err != nil || !errs.Is(rb.Err, errs.Conflict) {
			t.Fatalf("issue batch: %v, %v", ra.Err, rb.Err)
		}
		if _, err := db.Prescription(ctx, b.ID); !errs.Is(err, errs.NotFound) {
			t.Fatalf("the conflicting one was stored: %v", err)
		}

		// One batch of reviews: one approved, the same one again, one past
		// its validity, one that does not exist.
		late := ps[1]
		review := func(p *rx.Prescription, when time.Time) *rx.ReviewRequest {
			q := *p
			q.Status, q.ReviewerID, q.ReviewerName, q.ReviewedAt = rx.Rejected, 5, "药师", when
			q.ReviewReasons = []string{"剂量"}
			return &rx.ReviewRequest{P: &q}
		}
		missing := rxFixture(902, at)
		missing.ID = 1 << 40
		reqs := []*rx.ReviewRequest{review(ps[0], at.Add(time.Hour)), review(ps[0], at.Add(time.Hour)), review(late, at.Add(13*time.Hour)),
			review(missing, at.Add(time.Hour))}
		if err := db.Review(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		want := []string{"", rx.CodeNotPending, rx.CodeExpired, errs.NotFound}
		for i, r := range reqs {
			got := ""
			if r.Err != nil {
				got = errs.Code(r.Err)
			}
			if got != want[i] {
				t.Errorf("review %d: %v, want %q", i, r.Err, want[i])
			}
		}
		if p, _ := db.Prescription(ctx, ps[0].ID); p.Status != rx.Rejected || p.ReviewReasons[0] != "剂量" {
			t.Fatalf("reviewed: %+v", p)
		}
		if p, _ := db.Prescription(ctx, late.ID); p.Status != rx.PendingReview {
			t.Fatalf("an expired one was reviewed: %s", p.Status)
		}
	})
}
