package main

import (
	"context"
	"fmt"
	"io"

	"github.com/yunyi-health/yunyi/internal/bench"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// benchPay runs `yunyi bench pay` (issue 12): orders created over HTTP,
// paid at a WeChat Pay sandbox, their signed notifications delivered
// several times each, shuffled and concurrently, to the real server; every
// payment must be recorded exactly once. The notification check alone
// and the store ceiling are measured too, on fresh stores.
func benchPay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, engines, pg, out := benchFlags("bench pay")
	o := bench.PayDefaults
	fs.IntVar(&o.Orders, "orders", o.Orders, "payments created over HTTP and paid at the sandbox")
	fs.IntVar(&o.Notifications, "notifications", o.Notifications, "signed notifications delivered over HTTP (spread over the orders, shuffled)")
	fs.IntVar(&o.Clients, "clients", o.Clients, "HTTP clients")
	fs.IntVar(&o.CeilingWorkers, "ceiling-workers", o.CeilingWorkers, "concurrent callers of the store ceiling")
	openProfile := profileFlags(fs, &o.ProfileLoad, bench.PayLoads)
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
	var reps []*bench.PayReport
	err = eachBenchStore(ctx, *engines, *pg, func(db *sqlstore.DB) error {
		rep, err := bench.RunPay(ctx, db, o, log)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
		fmt.Fprintf(stderr, "%s notifications: answers %v\n", rep.Engine, rep.Notify.Codes)
		return nil
	})
	if err != nil {
		return err
	}
	return writeTable(stdout, *out, bench.PayTable(reps))
}
