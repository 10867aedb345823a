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

// A small run of the payment benchmark on both stores: every order is
// created over HTTP; its notification, delivered five times out of order
// by concurrent clients, is verified and recorded exactly once (two
// ledger entries summing to zero, the booking confirmed once, one notice)
// with no 5xx; the store ceilings (MarkPaid on every call, and read
// first as proposed) record their own orders exactly once too.
func TestPaySmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a benchmark's small run has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		var prof bytes.Buffer
		o := PayOptions{Orders: 50, Notifications: 250, Clients: 8, CeilingWorkers: 4, Profile: &prof, ProfileLoad: "notify"}
		rep, err := RunPay(context.Background(), db, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if prof.Len() == 0 {
			t.Fatal("the load asked for was not profiled")
		}
		if c := rep.Create; c.OK != 50 || c.Errors != 0 || c.PerSec <= 0 {
			t.Fatalf("create %+v", c)
		}
		if v := rep.Verify; v.Notifications != 250 || v.Refused != 0 || v.PerSec <= 0 {
			t.Fatalf("verify %+v", v)
		}
		n := rep.Notify
		if n.Notifications != 250 || n.Acked != 250 || n.ServerErr != 0 || n.Refused != 0 || n.PerSec <= 0 || n.P99 < n.P50 {
			t.Fatalf("notify %+v", n)
		}
		if c := n.Check; !c.OK() || c.Payments != 50 || c.DoublePaid != 0 || c.Entries != 100 {
			t.Fatalf("after the notifications %+v", c)
		}
		calls := 0
		for _, c := range rep.Ceilings {
			calls += c.Calls
			if !c.Check.OK() || c.PerSec <= 0 {
				t.Fatalf("ceiling %+v", c)
			}
		}
		if len(rep.Ceilings) != 3 || calls != 500 || !rep.Ceilings[2].ReadFirst || rep.Ceiling() <= 0 {
			t.Fatalf("ceilings %+v", rep.Ceilings)
		}
		t.Log("\n" + PayTable([]*PayReport{rep}))
	})
}
