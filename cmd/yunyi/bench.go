package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yunyi-health/yunyi/internal/bench"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
)

// benchBooking runs `yunyi bench booking`: fresh stores (a temporary SQLite
// file; a temporary schema in PostgreSQL), the real server on loopback.
func benchBooking(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, engines, pg, out := benchFlags("bench booking")
	o := bench.Defaults
	fs.IntVar(&o.BurstClients, "burst", o.BurstClients, "burst clients on one slot")
	fs.IntVar(&o.BurstCapacity, "burst-capacity", o.BurstCapacity, "places of the burst slot")
	fs.IntVar(&o.PooledConns, "pooled-conns", o.PooledConns, "connections of the pooled burst")
	fs.IntVar(&o.SustainedClients, "clients", o.SustainedClients, "sustained clients")
	fs.Float64Var(&o.PacedRate, "paced-rate", o.PacedRate, "bookings a second offered by the paced load (0: none; default 2500, 2000 on PostgreSQL)")
	fs.IntVar(&o.Services, "services", o.Services, "sustained services")
	fs.IntVar(&o.SlotsPerService, "slots", o.SlotsPerService, "slots per service")
	fs.IntVar(&o.Capacity, "capacity", o.Capacity, "places per slot")
	fs.IntVar(&o.CeilingBookings, "ceiling", o.CeilingBookings, "bookings of the store ceiling run")
	openProfile := profileFlags(fs, &o.ProfileLoad, []string{"burst", "burst-new-conns", "burst-pooled", "sustained", "paced"})
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
	var reports []*bench.Report
	pacedSet := false
	fs.Visit(func(f *flag.Flag) { pacedSet = pacedSet || f.Name == "paced-rate" })
	err = eachBenchStore(ctx, *engines, *pg, func(db *sqlstore.DB) error {
		o := o
		if db.Engine == sqlstore.Postgres && !pacedSet {
			o.PacedRate = bench.PostgresPacedRate // below what PostgreSQL sustains here
		}
		rep, err := bench.Run(ctx, db, o, log)
		if err != nil {
			return err
		}
		reports = append(reports, rep)
		for _, x := range []bench.Result{rep.Burst, rep.Cold, rep.Pooled, rep.Sustained, rep.Paced} {
			fmt.Fprintf(stderr, "%s %s: outcomes %v\n", rep.Engine, x.Name, x.Codes)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeTable(stdout, *out, bench.Table(reports)+"\nHolds of a paid service (issue 12): 30 % never paid, their places booked again.\n\n"+bench.HoldsTable(reports))
}

// benchFlags are the flags every benchmark takes.
func benchFlags(name string) (fs *flag.FlagSet, engines, pg, out *string) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	engines = fs.String("engine", "sqlite,postgres", "engines to measure")
	pg = fs.String("pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server (a temporary schema is used and dropped)")
	out = fs.String("out", "", "also write the Markdown table to this file")
	return fs, engines, pg, out
}

// writeTable prints a result table under the machine it was measured on,
// and writes it to out when given.
func writeTable(stdout io.Writer, out, table string) error {
	head := fmt.Sprintf("Measured %s on %s/%s, %d CPUs, %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Fprint(stdout, head+table)
	if out != "" {
		return os.WriteFile(out, []byte(head+table), 0o644)
	}
	return nil
}

func benchStore(ctx context.Context, engine, pg string) (string, func(), error) {
	switch engine {
	case "sqlite":
		dir, err := os.MkdirTemp("", "yunyi-bench")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "bench.db"), func() { os.RemoveAll(dir) }, nil
	case "postgres":
		admin, err := sql.Open("pgx", pg)
		if err != nil {
			return "", nil, err
		}
		b := make([]byte, 6)
		rand.Read(b)
		schema := "bench_" + hex.EncodeToString(b)
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			admin.Close()
			return "", nil, fmt.Errorf("postgres at %s: %w", pg, err)
		}
		u, _ := url.Parse(pg)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), func() {
			admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			admin.Close()
		}, nil
	}
	return "", nil, fmt.Errorf("unknown engine %q", engine)
}

// benchMonitor runs `yunyi bench monitor`.
func benchMonitor(ctx context.Context, args []string, stdout io.Writer) error {
	fs, engines, pg, _ := benchFlags("bench monitor")
	n := fs.Int("articles", 10000, "articles")
	runes := fs.Int("runes", 3000, "characters per article")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintln(stdout, "| engine | articles | characters each | seconds (processing done at) | articles/s | relevant | merged as reposts |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|")
	return eachBenchStore(ctx, *engines, *pg, func(db *sqlstore.DB) error {
		res, err := bench.Pipeline(ctx, db, *n, *runes)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "| %s | %d | %d | %.1f (%.1f) | %.0f | %d | %d |\n", res.Engine, res.Articles, res.Runes, res.Duration.Seconds(),
			res.Processing.Seconds(), res.PerSec, res.Relevant, res.Merged)
		return nil
	})
}

// eachBenchStore runs fn on a fresh, migrated store of every engine named
// (comma-separated), removing each store after.
func eachBenchStore(ctx context.Context, engines, pg string, fn func(db *sqlstore.DB) error) error {
	for _, e := range strings.Split(engines, ",") {
		dsn, cleanup, err := benchStore(ctx, strings.TrimSpace(e), pg)
		if err != nil {
			return err
		}
		db, err := openDB(ctx, dsn)
		if err != nil {
			cleanup()
			return err
		}
		err = fn(db)
		db.Close()
		cleanup()
		if err != nil {
			return fmt.Errorf("%s: %w", e, err)
		}
	}
	return nil
}

// benchChat runs `yunyi bench chat`.
func benchChat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, engines, pg, out := benchFlags("bench chat")
	o := bench.ChatDefaults
	fs.IntVar(&o.Visits, "visits", o.Visits, "concurrent visits (two sockets each)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "messages a second per visit")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measured time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := newLogger(stderr)
	var rs []*bench.ChatResult
	if err := eachBenchStore(ctx, *engines, *pg, func(db *sqlstore.DB) error {
		r, err := bench.Chat(ctx, db, o, log)
		if err == nil {
			rs = append(rs, r)
		}
		return err
	}); err != nil {
		return err
	}
	return writeTable(stdout, *out, bench.ChatTable(rs))
}

// benchRx runs `yunyi bench rx`: prescriptions checked against every rule,
// issued and approved (both signed) over HTTP, the rule check alone and the
// store ceiling, on fresh stores.
func benchRx(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, engines, pg, out := benchFlags("bench rx")
	o := bench.RxDefaults
	fs.IntVar(&o.Prescriptions, "prescriptions", o.Prescriptions, "prescriptions issued and approved over HTTP (a visit each)")
	fs.IntVar(&o.Clients, "clients", o.Clients, "HTTP clients")
	fs.IntVar(&o.Doctors, "doctors", o.Doctors, "doctors sharing the visits")
	fs.IntVar(&o.Pharmacists, "pharmacists", o.Pharmacists, "pharmacists sharing the reviews")
	fs.IntVar(&o.Checks, "checks", o.Checks, "rule checks of each in-process row")
	workers := fs.String("check-workers", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(o.CheckWorkers)), ","), "[]"), "goroutines of the in-process rule check rows (comma-separated)")
	fs.IntVar(&o.CeilingPrescriptions, "ceiling", o.CeilingPrescriptions, "prescriptions of the store ceiling run")
	fs.IntVar(&o.CeilingWorkers, "ceiling-workers", o.CeilingWorkers, "concurrent callers of the store ceiling")
	openProfile := profileFlags(fs, &o.ProfileLoad, bench.RxLoads)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.CheckWorkers = nil
	for _, w := range strings.Split(*workers, ",") {
		if w = strings.TrimSpace(w); w == "" {
			continue
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 {
			return fmt.Errorf("--check-workers %q: not a number of goroutines", w)
		}
		o.CheckWorkers = append(o.CheckWorkers, n)
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
	var reps []*bench.RxReport
	err = eachBenchStore(ctx, *engines, *pg, func(db *sqlstore.DB) error {
		rep, err := bench.RunRx(ctx, db, o, log)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
		fmt.Fprintf(stderr, "%s http: outcomes %v\n", rep.Engine, rep.HTTP.Codes)
		return nil
	})
	if err != nil {
		return err
	}
	return writeTable(stdout, *out, bench.RxTable(reps))
}

// profileFlags declares --cpuprofile and --profile-load (one of loads) on
// a bench command's flags; after parsing, open checks the load's name and
// creates the profile's file (nil without --cpuprofile; the caller
// closes it).
func profileFlags(fs *flag.FlagSet, load *string, loads []string) (open func() (*os.File, error)) {
	file := fs.String("cpuprofile", "", "write a CPU profile of the loads to this file")
	fs.StringVar(load, "profile-load", "", "profile this load alone: "+strings.Join(loads, ", "))
	return func() (*os.File, error) {
		if *load != "" && !slices.Contains(loads, *load) {
			return nil, fmt.Errorf("--profile-load %q: not a load (%s)", *load, strings.Join(loads, ", "))
		}
		if *file == "" {
			return nil, nil
		}
		return os.Create(*file)
	}
}
