package bench

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/sqlstore/sqltest"
)

// A small run of the supervision feed's benchmark on both stores (N-16):
// the platform's front loses the answer of every third batch after
// storing it, the reporter sends those again, and every event still
// arrives once, in order, with its id; the duplicates are counted, not
// stored.
func TestSupervisionSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a benchmark's small run has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	sqltest.Each(t, func(t *testing.T, sender *sqlstore.DB) {
		platform := sqltest.Open(t, sender.Engine)
		var prof bytes.Buffer
		o := SupervisionOptions{Events: 1200, Institutions: 3, Batch: 100, Parallel: 2, LoseEvery: 3, Profile: &prof, ProfileLoad: "http"}
		rep, err := RunSupervision(context.Background(), sender, platform, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if prof.Len() == 0 {
			t.Fatal("the load asked for was not profiled")
		}
		if rep.Received != 1200 || rep.Failures == 0 || rep.Duplicates != int64(rep.Failures)*100 || !strings.HasPrefix(rep.Check, "1200/1200 received once") {
			t.Fatalf("report %+v", rep)
		}
		if rep.HTTP <= 0 || rep.Ceiling <= 0 || rep.Written <= 0 {
			t.Fatalf("timings %+v", rep)
		}
		t.Log("\n" + SupervisionTable([]*SupervisionReport{rep}))
	})
}
