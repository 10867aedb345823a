package main

import (
	"context"
	"io"

	"github.com/yunyi-health/yunyi/internal/bench"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// benchImport runs `yunyi bench import` (issue 15): a CSV of generated
// visits (3.5 million rows by default, made as they are sent) imported
// straight on the store, then over HTTP to the real server as one chunked
// upload, with the rows a second and the process's memory sampled during
// each, on fresh stores.
func benchImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, engines, pg, out := benchFlags("bench import")
	o := bench.ImportDefaults
	fs.IntVar(&o.Rows, "rows", o.Rows, "CSV rows imported over HTTP")
	fs.IntVar(&o.CeilingRows, "ceiling-rows", -1, "rows of the store ceiling run (default: --rows; 0: none)")
	fs.IntVar(&o.BadEvery, "bad-every", o.BadEvery, "every n-th row has an unknown ICD-10 code (0: none)")
	openProfile := profileFlags(fs, &o.ProfileLoad, bench.ImportLoads)
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
	if o.CeilingRows < 0 {
		o.CeilingRows = o.Rows
	}
	log := newLogger(stderr)
	var reps []*bench.ImportReport
	err = eachBenchStore(ctx, *engines, *pg, func(db *sqlstore.DB) error {
		rep, err := bench.RunImport(ctx, db, o, log)
		if err == nil {
			reps = append(reps, rep)
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeTable(stdout, *out, bench.ImportTable(reps))
}
