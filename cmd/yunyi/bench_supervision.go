package main

import (
	"context"
	"fmt"
	"io"

	"github.com/yunyi-health/yunyi/internal/bench"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// benchSupervision runs `yunyi bench supervision` (issue 13): 100,000
// supervision events from 6 institutions written to the outboxes of one
// fresh store, received straight on a second store (the platform's
// ceiling), then reported through the real reporter over HTTP to the real
// server on that second store; every event must arrive once, in order.
func benchSupervision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, engines, pg, out := benchFlags("bench supervision")
	o := bench.SupervisionDefaults
	fs.IntVar(&o.Events, "events", o.Events, "events written to the outboxes and reported")
	fs.IntVar(&o.Institutions, "institutions", o.Institutions, "institutions sharing them")
	fs.IntVar(&o.Batch, "batch", o.Batch, "events a batch (at most 1000)")
	fs.IntVar(&o.Parallel, "parallel", o.Parallel, "institutions sent at once")
	fs.IntVar(&o.LoseEvery, "lose-every", o.LoseEvery, "drop the answer of every n-th batch after the platform stored it (0: none)")
	openProfile := profileFlags(fs, &o.ProfileLoad, bench.SupervisionLoads)
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
	var reps []*bench.SupervisionReport
	err = eachBenchStore(ctx, *engines, *pg, func(sender *sqlstore.DB) error {
		// The platform: a second fresh store of the same engine.
		dsn, cleanup, err := benchStore(ctx, string(sender.Engine), *pg)
		if err != nil {
			return err
		}
		defer cleanup()
		platform, err := openDB(ctx, dsn)
		if err != nil {
			return err
		}
		defer platform.Close()
		rep, err := bench.RunSupervision(ctx, sender, platform, o, log)
		if rep != nil {
			reps = append(reps, rep)
			fmt.Fprintf(stderr, "%s: %d batches, %d failed and sent again; %s\n", rep.Engine, rep.Batches, rep.Failures, rep.Check)
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeTable(stdout, *out, bench.SupervisionTable(reps))
}
