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

// A small run of the FHIR search benchmark on both stores (issue 16):
// every search of every kind answers 200 over HTTP with the total the
// store gives for the same query, the paging kinds follow their next
// links, and both paths give percentiles.
func TestFHIRSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("a benchmark's small run has no date: it runs in the full pass; -short (CI's far-ahead pass) skips it")
	}
	sqltest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		var prof bytes.Buffer
		o := FHIROptions{Slots: 2000, Appointments: 1500, Services: 5, Patients: 60, Requests: 20, Clients: 4, Profile: &prof, ProfileLoad: "http"}
		rep, err := RunFHIR(context.Background(), db, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if prof.Len() == 0 {
			t.Fatal("the load asked for was not profiled")
		}
		if rep.Slots != 2000 || rep.Appointments != 1500 || len(rep.Kinds) != 7 {
			t.Fatalf("report %+v", rep)
		}
		for _, k := range rep.Kinds {
			if k.HTTP.Failed != 0 || k.HTTP.Requests < 20 || k.Store.Requests < 20 || k.HTTP.P99 <= 0 || k.Store.P99 <= 0 || k.HTTP.P50 > k.HTTP.P99 {
				t.Fatalf("%s: %+v", k.Name, k)
			}
			// A paging kind followed its next links: more requests than searches.
			if k.Pages > 1 && k.HTTP.Requests <= 20 {
				t.Fatalf("%s: no next link followed: %+v", k.Name, k.HTTP)
			}
			if k.HTTP.Requests != k.Store.Requests {
				t.Fatalf("%s: %d pages over HTTP, %d on the store", k.Name, k.HTTP.Requests, k.Store.Requests)
			}
		}
		table := FHIRTable([]*FHIRReport{rep})
		if !strings.Contains(table, "appointment: all the patient's, paged by next links (patient)") {
			t.Fatal(table)
		}
		t.Log("\n" + table)
	})
}
