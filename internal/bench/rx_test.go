package bench

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// A small run of the prescription benchmark on both stores: every
// prescription is checked, issued and approved over HTTP with no error,
// stored with both signatures (a sample verifies), and the rule check and
// the store ceiling give numbers.
func TestRxSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a benchmark's small run has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		var prof bytes.Buffer
		o := RxOptions{Prescriptions: 60, Clients: 6, Doctors: 3, Pharmacists: 2, Checks: 300, CheckWorkers: []int{1, 8},
			CeilingPrescriptions: 40, CeilingWorkers: 4, Profile: &prof, ProfileLoad: "http"}
		rep, err := RunRx(context.Background(), db, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if prof.Len() == 0 {
			t.Fatal("the load asked for was not profiled")
		}
		if len(rep.Checks) != 2 {
			t.Fatalf("checks %+v", rep.Checks)
		}
		for _, c := range rep.Checks {
			if c.Refused != 0 || c.Rules < 10 || c.PerSec <= 0 || c.P50 <= 0 || c.P99 < c.P50 {
				t.Fatalf("rule check %+v", c)
			}
		}
		h := rep.HTTP
		if h.OK != 60 || h.Errors != 0 || h.Codes["ok"] != 60 || h.Stored != 60 || h.Sampled == 0 || h.Verified != h.Sampled {
			t.Fatalf("http %+v", h)
		}
		if h.PerSec <= 0 || h.IssueP50 <= 0 || h.ReviewP50 <= 0 || h.PairP99 < h.PairP50 || h.PairP50 < h.IssueP50 {
			t.Fatalf("http latencies %+v", h)
		}
		if len(rep.Ceilings) != 3 || rep.Ceilings[0].Prescriptions+rep.Ceilings[1].Prescriptions+rep.Ceilings[2].Prescriptions != 40 || !rep.Ceilings[2].Signing || rep.Ceiling() <= 0 {
			t.Fatalf("ceilings %+v", rep.Ceilings)
		}
		var n int
		if err := db.Writer().QueryRow(`SELECT COUNT(*) FROM prescriptions WHERE status = 'approved' AND pharmacist_sig <> ''`).Scan(&n); err != nil || n != 100 {
			t.Fatalf("approved prescriptions %d %v", n, err)
		}
		t.Log("\n" + RxTable([]*RxReport{rep}))
	})
}
