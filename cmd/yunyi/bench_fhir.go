package main

import (
	"context"
	"fmt"
	"io"

	"github.com/yunyi-health/yunyi/internal/bench"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// benchFHIR runs `yunyi bench fhir` (issue 16): 100,000 slots and 100,000
// appointments loaded into a fresh store, then the typical FHIR searches
// of Slot (public) and Appointment (as a patient), concurrently, straight
// on the store (the ceiling) and through the real server over loopback;
// p50/p90/p99 per kind of search and the ratio of the p99s.
func benchFHIR(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, engines, pg, out := benchFlags("bench fhir")
	o := bench.FHIRDefaults
	fs.IntVar(&o.Slots, "slots", o.Slots, "slots loaded")
	fs.IntVar(&o.Appointments, "appointments", o.Appointments, "appointments loaded (one a slot at most)")
	fs.IntVar(&o.Services, "services", o.Services, "services sharing the slots")
	fs.IntVar(&o.Patients, "patients", o.Patients, "patients sharing the appointments")
	fs.IntVar(&o.Requests, "requests", o.Requests, "searches of each kind")
	fs.IntVar(&o.Clients, "clients", o.Clients, "concurrent clients")
	openProfile := profileFlags(fs, &o.ProfileLoad, bench.FHIRLoads)
	if err := fs.Parse(args); err != nil {
		return err
	}
	prof, err := openProfile()
	if err != nil {
		return err
	}
	if prof != nil {
		defer prof.Close()
		o.Profile = prof
	}
	log := newLogger(stderr)
	var reps []*bench.FHIRReport
	err = eachBenchStore(ctx, *engines, *pg, func(db *sqlstore.DB) error {
		rep, err := bench.RunFHIR(ctx, db, o, log)
		if rep != nil {
			reps = append(reps, rep)
			fmt.Fprintf(stderr, "%s: store %.1f s, HTTP %.1f s\n", rep.Engine, rep.StoreSeconds, rep.HTTPSeconds)
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeTable(stdout, *out, bench.FHIRTable(reps))
}
