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

// A small run of the import benchmark on both stores: both imports count
// every row, report the bad ones, and the table shows them.
func TestImportSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a benchmark's small run has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		var prof bytes.Buffer
		o := ImportOptions{Rows: 12000, CeilingRows: 6000, BadEvery: 100, Profile: &prof, ProfileLoad: "http"}
		rep, err := RunImport(context.Background(), db, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if prof.Len() == 0 {
			t.Fatal("the load asked for was not profiled")
		}
		if h := rep.HTTP; h.Rows != 12000 || h.Imported != 11880 || h.Failed != 120 || h.Listed != 120 || h.Bytes == 0 || h.PerSec <= 0 || h.Peak.HeapInuse == 0 {
			t.Fatalf("http %+v", h)
		}
		if s := rep.Store; s == nil || s.Rows != 6000 || s.Imported != 5940 || s.Failed != 60 {
			t.Fatalf("store %+v", s)
		}
		if tab := ImportTable([]*ImportReport{rep}); !strings.Contains(tab, "| 12000 |") || !strings.Contains(tab, "store ceiling") {
			t.Fatal(tab)
		}
	})
}
