// Command yunyi is the Yunyi internet-hospital platform in one binary.
//
//	yunyi serve [--addr 127.0.0.1:8080] [--db yunyi.db|postgres://...] [--demo] [--tls-cert FILE --tls-key FILE]
//	            [--http-redirect-addr :80] [--trusted-proxies CIDR,...] [--metrics-addr 127.0.0.1:9090|off] [--log-format text|json]
//	yunyi migrate [--db ...]
//	yunyi user create --username U --password P --role R [--institution CODE]
//	yunyi audit verify [--db ...]
//	yunyi backup [--db ...] --out FILE
//	yunyi restore [--db ...] FILE
//	yunyi version
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/demo"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/listen"
	"github.com/yunyi-health/yunyi/internal/metrics"
	"github.com/yunyi-health/yunyi/internal/sign"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/turn"
	"github.com/yunyi-health/yunyi/internal/web"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "yunyi:", err)
		os.Exit(1)
	}
}

const usage = `yunyi — internet hospital platform

Commands:
  serve         run the server (--addr, --db, --demo)
  migrate       apply database migrations (--db)
  user create   create an account (--username --password --role [--institution])
  audit verify  check the audit log's hash chain (--db)
  backup        write a consistent backup while the server serves (--db, --out FILE)
  restore       restore a backup into an empty database (--db, FILE)
  bench booking measure booking over HTTP and on the store (--engine, --out)
  bench monitor measure the monitoring pipeline without the network (--engine, --articles)
  bench chat    measure chat delivery: 2,000 visits over WebSocket, a message a second each (--engine, --visits)
  bench rx      measure prescriptions: rule check, issue and approve over HTTP, store ceiling (--engine, --prescriptions, --out)
  bench pay     measure payments: notifications over HTTP, duplicated and out of order, paid exactly once (--engine, --orders, --notifications, --out)
  bench import  measure offline-history imports: 3.5 million CSV rows streamed over HTTP and straight on the store, rows/s and memory (--engine, --rows, --out)
  bench supervision  measure the supervision feed: 100,000 events from 6 institutions, reporter → HTTP → receiver, nothing lost or doubled (--engine, --events, --out)
  bench fhir    measure FHIR searches of Slot and Appointment over 100,000 of each, HTTP p50/p90/p99 against the store's (--engine, --slots, --out)
  rx verify     check a prescription's SM2 signatures against the database (--id, --db); exit 1 when invalid
  monitor crawl collect the monitoring report's sources now (--db)
  version       print the version

The database is a SQLite file (default yunyi.db in the working folder) or a
postgres:// URL, from --db or the YUNYI_DB environment variable.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	if os.Getenv("GOGC") == "" {
		// The live heap is tens of megabytes: trading a little memory for
		// fewer collections gives the booking path 10-20 % more throughput.
		debug.SetGCPercent(400)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout)
	case "user":
		if len(args) < 2 || args[1] != "create" {
			return errors.New("usage: yunyi user create --username U --password P --role R [--institution CODE]")
		}
		return userCreate(ctx, args[2:], stdout)
	case "backup":
		return backupCmd(ctx, args[1:], stdout, stderr)
	case "restore":
		return restoreCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		if len(args) < 2 || args[1] != "verify" {
			return errors.New("usage: yunyi audit verify [--db ...]")
		}
		return auditVerify(ctx, args[2:], stdout)
	case "bench":
		if len(args) >= 2 && args[1] == "monitor" {
			return benchMonitor(ctx, args[2:], stdout)
		}
		if len(args) >= 2 && args[1] == "chat" {
			return benchChat(ctx, args[2:], stdout, stderr)
		}
		if len(args) >= 2 && args[1] == "rx" {
			return benchRx(ctx, args[2:], stdout, stderr)
		}
		if len(args) >= 2 && args[1] == "import" {
			return benchImport(ctx, args[2:], stdout, stderr)
		}
		if len(args) >= 2 && args[1] == "pay" {
			return benchPay(ctx, args[2:], stdout, stderr)
		}
		if len(args) >= 2 && args[1] == "supervision" {
			return benchSupervision(ctx, args[2:], stdout, stderr)
		}
		if len(args) >= 2 && args[1] == "fhir" {
			return benchFHIR(ctx, args[2:], stdout, stderr)
		}
		if len(args) < 2 || args[1] != "booking" {
			return errors.New("usage: yunyi bench booking|monitor|chat|rx|pay|import|supervision|fhir [--engine sqlite,postgres] [--out FILE]")
		}
		return benchBooking(ctx, args[2:], stdout, stderr)
	case "rx":
		if len(args) < 2 || args[1] != "verify" {
			return errors.New("usage: yunyi rx verify --id N [--db ...]")
		}
		return rxVerify(ctx, args[2:], stdout)
	case "monitor":
		if len(args) < 2 || args[1] != "crawl" {
			return errors.New("usage: yunyi monitor crawl [--db ...]")
		}
		return monitorCrawl(ctx, args[2:], stdout)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "yunyi", Version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func defaultDB() string {
	if v := os.Getenv("YUNYI_DB"); v != "" {
		return v
	}
	return "yunyi.db"
}

func openDB(ctx context.Context, dsn string) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func newLogger(w io.Writer) *slog.Logger { return newLogFormat(w, "text") }

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dsn := fs.String("db", "yunyi.db", "SQLite file or postgres:// URL")
	withDemo := fs.Bool("demo", false, "load the demo data on an empty database and show demo accounts")
	insecure := fs.Bool("insecure-cookies", false, "do not mark cookies Secure (only for plain HTTP off loopback; browsers treat loopback as secure)")
	turnAddr := fs.String("turn-addr", "127.0.0.1:3478", "UDP address of the embedded STUN/TURN server for video calls (\"off\" to disable)")
	turnIP := fs.String("turn-public-ip", "", "the IP address browsers reach the TURN server at (default: the listen IP)")
	turnPrivate := fs.Bool("turn-allow-private", false, "let the TURN relay reach loopback and private addresses (on with --demo)")
	turnTLS := fs.String("turn-tls-addr", "", "also serve TURN over TLS at this address (e.g. :443 or :5349), for networks that let only HTTPS out")
	turnCert := fs.String("turn-tls-cert", "", "certificate file (PEM) of TURN over TLS")
	turnKey := fs.String("turn-tls-key", "", "key file (PEM) of TURN over TLS")
	turnHost := fs.String("turn-tls-host", "", "the host name browsers reach TURN over TLS by, as in its certificate (default: the public IP)")
	files := fs.String("files", "", "folder of uploaded files (default: beside the SQLite file)")
	keysFlag := fs.String("keys", "", "file of the master key (64 hex characters, mode 0600) that seals practitioners' SM2 signing keys; with --demo and none given, yunyi.keys in the working folder is made")
	nowFlag := fs.String("now", "", "start the server's clock at this RFC 3339 instant and let it run on from there (demos and tests; default: the real time)")
	importMax := byteSize(web.DefaultImportMaxBytes)
	fs.Var(&importMax, "import-max-bytes", "largest offline-history upload (CSV or FHIR), e.g. 512MB or 2GB: a larger one is refused with 413")
	supervisionURL := fs.String("supervision-url", "", "the supervision platform's feed address (its POST /api/v1/supervision/events): the institutions' supervision events are sent there, signed with their keys (needs --keys); empty: not sent")
	rateLimits := rateLimitsFlag{}
	fs.Var(&rateLimits, "rate-limits", "rate limits to change, as NAME=PER_MINUTE/BURST,... (e.g. login-ip=20/20,booking-account=60/40); names: "+limitNames())
	cdcURL := fs.String("cdc-url", "", "disease control's receiver of notifiable-disease reports (W-5; a FHIR message Bundle each, POSTed with retries and backoff until taken; the sandbox is this server's /api/v1/sandbox/cdc); empty: kept in the outbox")
	ops := addOpsFlags(fs)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := ops.resolve(fs); err != nil {
		return err
	}
	start := time.Now()
	now, err := serverClock(*nowFlag)
	if err != nil {
		return err
	}
	log := newLogFormat(stderr, ops.logFormat)
	slog.SetDefault(log)
	db, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	al := audit.NewLoggerClock(db, now)
	defer al.Close()

	var ts *turn.Server
	if *turnAddr != "off" && *turnAddr != "" {
		ts, err = turn.Start(turn.Config{Addr: *turnAddr, PublicIP: *turnIP, AllowPrivatePeers: *turnPrivate || *withDemo,
			TLSAddr: *turnTLS, TLSCertFile: *turnCert, TLSKeyFile: *turnKey, TLSHost: *turnHost})
		if err != nil && *turnTLS != "" {
			return err // TURN over TLS was asked for and cannot run: say so now
		}
		if err != nil {
			// Video still works between browsers that reach each other.
			log.Warn("TURN server not started; video calls need a direct path", "err", err)
		} else {
			defer ts.Close()
			log.Info("TURN server", "port", ts.Port())
		}
	}
	master, err := masterKey(*keysFlag, *withDemo)
	if err != nil {
		return err
	}
	if master == nil {
		log.Warn("no signing key file (--keys or YUNYI_KEYS): prescriptions cannot be signed, issued or reviewed")
	}
	if *supervisionURL != "" {
		if u, err := url.Parse(*supervisionURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--supervision-url %q: not an http(s) address", *supervisionURL)
		}
		if master == nil {
			return errors.New("--supervision-url: the feed is signed with the institutions' keys, sealed under the master key: give --keys")
		}
		// The reporter runs inside the server (web.Server.setUpFeed): the
		// interval, the backoff and the batch size are data
		// (supervision_settings).
		log.Info("supervision feed", "platform", *supervisionURL)
	}
	if *cdcURL != "" {
		if u, err := url.Parse(*cdcURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--cdc-url %q: not an http(s) address", *cdcURL)
		}
		log.Info("disease-control reports", "receiver", *cdcURL)
	}
	srv, err := web.New(web.Config{Now: now, SigningKey: master, Demo: *withDemo, SecureCookies: !*insecure, TURN: ts, BlobDir: *files,
		TrustedProxies: ops.trusted, Metrics: metrics.Default, ImportMaxBytes: int64(importMax), SupervisionURL: *supervisionURL, Limits: rateLimits,
		// The sandbox receiver fails as a real one does now and then.
		CDCURL: *cdcURL, CDCSandbox: web.CDCSandboxConfig{FailRate: 0.2, LostRate: 0.1, Delay: 100 * time.Millisecond}}, db, al, log)
	if err != nil {
		return err
	}
	var demoAccounts []demo.Account
	if *withDemo {
		accts, loaded, err := demo.Load(ctx, db, now())
		if err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
		if loaded {
			log.Info("demo data loaded", "accounts", len(accts))
		}
		// Every staff account has a second factor with a known secret (N-20).
		if accts, err = demo.EnrolStaff(ctx, db, srv.Identity(), accts); err != nil {
			return fmt.Errorf("demo second factors: %w", err)
		}
		demoAccounts = accts
		var shown []web.DemoAccount
		for _, a := range accts {
			shown = append(shown, web.DemoAccount{Username: a.Username, Password: demo.Password, Role: a.Role, Note: a.Note, TOTPSecret: a.TOTPSecret})
		}
		srv.SetDemoAccounts(shown)
		// Yesterday's visits with an approved and a rejected-then-approved prescription.
		if err := srv.LoadDemoPrescriptions(ctx); err != nil {
			return fmt.Errorf("demo prescriptions: %w", err)
		}
	}

	defer srv.Close()
	// Collections a stopped process left running will not finish.
	if n, err := srv.InterruptedCrawls(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Warn("monitor collections interrupted by the last stop", "count", n)
	}
	// Slots of every service's booking window, now and every hour after.
	if n, err := srv.Booking().GenerateAll(ctx); err != nil {
		return fmt.Errorf("generate slots: %w", err)
	} else if n > 0 {
		log.Info("slots generated", "count", n)
	}
	go func() {
		hourly := time.NewTicker(time.Hour)
		defer hourly.Stop()
		minutely := time.NewTicker(time.Minute)
		defer minutely.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hourly.C:
				if _, err := srv.Booking().GenerateAll(ctx); err != nil {
					log.Error("generate slots", "err", err)
				}
			case <-minutely.C:
				// The monitoring report's sources, each on its own interval.
				if err := srv.CrawlDue(ctx); err != nil {
					log.Error("monitor crawl", "err", err)
				}
				// Reminders of the visits of the next half hour.
				if err := srv.SendReminders(ctx); err != nil {
					log.Error("visit reminders", "err", err)
				}
				// Prescriptions not reviewed within their validity (N-13).
				if err := srv.ExpirePrescriptions(ctx); err != nil {
					log.Error("prescription expiry", "err", err)
				}
				// Complaints, adverse events and rectification orders past
				// their deadlines (V-4, G-3): the institution and the regulator are told once.
				if err := srv.AlertOverdue(ctx); err != nil {
					log.Error("oversight deadlines", "err", err)
				}
			}
		}
	}()

	// The retention purge (N-17): records past their period, once a day,
	// asked every hour (the first an hour after the start); a run is
	// batched and audited once.
	go func() {
		hourly := time.NewTicker(time.Hour)
		defer hourly.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hourly.C:
			}
			if _, err := srv.PurgeDue(ctx); err != nil && ctx.Err() == nil {
				log.Error("retention purge", "err", err)
			}
		}
	}()

	var certs *certReloader
	if ops.tlsCert != "" {
		if certs, err = newCertReloader(ops.tlsCert, ops.tlsKey, log); err != nil {
			return err
		}
	}
	lns, err := listen.TCP(*addr)
	if err != nil {
		return err
	}
	defer func() {
		for _, ln := range lns {
			ln.Close() // when returning before serving (the server closes what it serves)
		}
	}()
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if certs != nil {
		hs.TLSConfig, scheme = certs.tlsConfig(), "https"
	}
	errc := make(chan error, len(lns)+2)
	// Plain HTTP redirected to HTTPS, and the metrics, each on its own address.
	var side []*http.Server
	var sideInfo []string
	if ops.redirectAddr != "" {
		ln, err := net.Listen("tcp", ops.redirectAddr)
		if err != nil {
			return fmt.Errorf("--http-redirect-addr: %w", err)
		}
		defer ln.Close()
		_, port, _ := net.SplitHostPort(lns[0].Addr().String())
		rs := &http.Server{Handler: redirectToHTTPS(port), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
			IdleTimeout: 30 * time.Second, ErrorLog: hs.ErrorLog}
		side = append(side, rs)
		sideInfo = append(sideInfo, fmt.Sprintf("Redirecting http://%s to HTTPS.", ln.Addr()))
		go func() { errc <- rs.Serve(ln) }()
	}
	if ops.metricsAddr != "off" && ops.metricsAddr != "" {
		ln, err := net.Listen("tcp", ops.metricsAddr)
		switch {
		case err != nil && ops.metricsExplicit:
			return fmt.Errorf("--metrics-addr: %w", err)
		case err != nil:
			// The default address may be another server's on this host.
			log.Warn("metrics not served (--metrics-addr to choose another address, \"off\" to disable)", "addr", ops.metricsAddr, "err", err)
		default:
			defer ln.Close()
			ms := metricsServer(metrics.Default, log)
			side = append(side, ms)
			sideInfo = append(sideInfo, fmt.Sprintf("Metrics at http://%s/metrics.", ln.Addr()))
			go func() { errc <- ms.Serve(ln) }()
		}
	}
	url := scheme + "://" + lns[0].Addr().String()
	fmt.Fprintf(stdout, "Yunyi %s listening on %s (database: %s, ready in %s)\n", Version, url, db.Engine, time.Since(start).Round(time.Millisecond))
	for _, l := range sideInfo {
		fmt.Fprintln(stdout, l)
	}
	if *nowFlag != "" {
		fmt.Fprintf(stdout, "The server's clock started at %s.\n", *nowFlag)
	}
	if *withDemo {
		fmt.Fprintf(stdout, "Demo mode. Every demo account's password is %q; staff accounts also ask for a code of their TOTP key (add it to an authenticator app):\n", demo.Password)
		for _, a := range demoAccounts {
			key := a.TOTPSecret
			if key == "" {
				key = "-"
			}
			fmt.Fprintf(stdout, "  %-26s %-18s %-32s %s\n", a.Username, a.Role, key, a.Note)
		}
	}
	for _, ln := range lns {
		if certs != nil {
			go func() { errc <- hs.ServeTLS(ln, "", "") }()
		} else {
			go func() { errc <- hs.Serve(ln) }()
		}
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down; letting requests in flight finish")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, s := range side {
		s.Shutdown(sctx)
	}
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Yunyi stopped.")
	return nil
}

func migrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dsn := fs.String("db", defaultDB(), "SQLite file or postgres:// URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := sqlstore.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d migration(s) applied\n", n)
	return nil
}

func userCreate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	dsn := fs.String("db", defaultDB(), "SQLite file or postgres:// URL")
	username := fs.String("username", "", "login name")
	password := fs.String("password", "", "password (8+ characters, letters and digits)")
	role := fs.String("role", "", "one of: "+roles())
	institution := fs.String("institution", "", "institution code (staff roles)")
	pharmacy := fs.String("pharmacy", "", "retail pharmacy code (role retail_pharmacist)")
	phone := fs.String("phone", "", "mobile number (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ids := identity.NewService(db)
	a, err := ids.CreateAccount(ctx, identity.NewStaff{Username: *username, Password: *password, Role: identity.Role(*role), Institution: *institution, Pharmacy: *pharmacy, Phone: *phone})
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	al := audit.NewLogger(db)
	defer al.Close()
	if err := al.Record(ctx, audit.Entry{ActorRole: "cli", Action: "account.create", ObjectType: "account", ObjectID: a.Username, Institution: a.Institution, Detail: string(a.Role)}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created account %d %s (%s)\n", a.ID, a.Username, a.Role)
	return nil
}

func roles() string {
	var s []string
	for _, r := range identity.Roles {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}

// dbCommand parses a command's only flag, --db, and opens the store.
func dbCommand(ctx context.Context, name string, args []string) (*sqlstore.DB, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dsn := fs.String("db", defaultDB(), "SQLite file or postgres:// URL")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return openDB(ctx, *dsn)
}

func auditVerify(ctx context.Context, args []string, stdout io.Writer) error {
	db, err := dbCommand(ctx, "audit verify", args)
	if err != nil {
		return err
	}
	defer db.Close()
	n, problem, err := audit.Verify(ctx, db)
	if err != nil {
		return err
	}
	if problem != nil {
		fmt.Fprintf(stdout, "audit log BROKEN after %d good entries: %s\n", n, problem.Error())
		return problem
	}
	fmt.Fprintf(stdout, "audit log intact: %d entries verified\n", n)
	return nil
}

func monitorCrawl(ctx context.Context, args []string, stdout io.Writer) error {
	db, err := dbCommand(ctx, "monitor crawl", args)
	if err != nil {
		return err
	}
	defer db.Close()
	al := audit.NewLogger(db)
	defer al.Close()
	srv, err := web.New(web.Config{}, db, al, newLogger(io.Discard))
	if err != nil {
		return err
	}
	defer srv.Close()
	run, err := srv.CrawlNow()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(run)
}

// serverClock is the server's clock: the real time, or one that started at
// the instant at (RFC 3339) when the server started and runs at real speed.
// Cookies carry Max-Age, so browsers on the real clock keep their sessions;
// the server alone decides expiry.
func serverClock(at string) (func() time.Time, error) {
	if at == "" {
		return time.Now, nil
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return nil, fmt.Errorf("--now %q: not an RFC 3339 time (2026-12-02T10:00:00+08:00)", at)
	}
	offset := time.Until(t)
	return func() time.Time { return time.Now().Add(offset) }, nil
}

// masterKey is the operator's key that seals the signing keys: from --keys
// (a file, or the 64 hex characters themselves), or for the demo a file
// yunyi.keys in the working folder made on first start. nil when none.
func masterKey(keys string, demoMode bool) ([]byte, error) {
	if keys != "" {
		if k, ok := sign.MasterKeyFromEnv(keys); ok {
			return k, nil
		}
		return sign.LoadMasterKey(keys)
	}
	if !demoMode {
		return nil, nil
	}
	const demoKeys = "yunyi.keys"
	if _, err := os.Stat(demoKeys); err == nil {
		return sign.LoadMasterKey(demoKeys)
	}
	return sign.CreateMasterKey(demoKeys)
}
