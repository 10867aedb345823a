// Package web is Yunyi's HTTP face: the JSON API under /api/v1 and the
// server-rendered HTML UI, both from one binary. Errors are mapped to HTTP in
// one place (errors.go); authorization is asked of package authz.
package web

import (
	"context"
	"crypto/rand"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/audit"
	"github.com/yunyi-health/yunyi/internal/billing"
	"github.com/yunyi-health/yunyi/internal/blob"
	"github.com/yunyi-health/yunyi/internal/booking"
	"github.com/yunyi-health/yunyi/internal/chat"
	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/crawl"
	"github.com/yunyi-health/yunyi/internal/directory"
	"github.com/yunyi-health/yunyi/internal/errs"
	"github.com/yunyi-health/yunyi/internal/identity"
	"github.com/yunyi-health/yunyi/internal/insurance"
	"github.com/yunyi-health/yunyi/internal/metrics"
	"github.com/yunyi-health/yunyi/internal/notify"
	"github.com/yunyi-health/yunyi/internal/pay"
	"github.com/yunyi-health/yunyi/internal/rx"
	"github.com/yunyi-health/yunyi/internal/sign"
	"github.com/yunyi-health/yunyi/internal/sqlstore"
	"github.com/yunyi-health/yunyi/internal/supervision"
	"github.com/yunyi-health/yunyi/internal/ttl"
	"github.com/yunyi-health/yunyi/internal/turn"
	"github.com/yunyi-health/yunyi/internal/visit"
)

//go:embed templates static openapi.json
var assets embed.FS

// Config of a server.
type Config struct {
	Demo          bool // show the demo banner and accounts
	SecureCookies bool // mark cookies Secure (browsers accept them on loopback and HTTPS)
	Now           func() time.Time
	Limits        map[string][2]float64 // overrides of DefaultLimits
	Crawl         *crawl.Options        // fetch settings of the monitor (default crawl.DefaultOptions)
	BlobDir       string                // folder of uploaded files (default: a folder beside the database, or a temporary one)
	TURN          *turn.Server          // the embedded TURN server whose credentials browsers get; nil: none
	SMS           notify.SMS            // SMS adapter (default: the sandbox, recording into the database)
	SigningKey    []byte                // the operator's master key sealing practitioners' SM2 keys (--keys); nil: no signatures
	// Payments are the payment providers' adapters by name (wechat,
	// alipay); nil: sandboxes that behave as those providers do, set by
	// PaySandbox (TimeFactor, failures), mounted under /sandbox/pay/.
	Payments   map[string]pay.Provider
	PaySandbox pay.SandboxConfig
	// Courier is the courier's adapter; nil: a sandbox that behaves as SF
	// Express does (CourierSandbox sets its delays and failures).
	Courier        courier.Courier
	CourierSandbox courier.SandboxConfig
	// Insurance is the medical-insurance bureau's adapter; nil: the sandbox
	// bureau (with the demo's insured patients in demo mode).
	Insurance        insurance.Bureau
	InsuranceSandbox insurance.SandboxConfig // the sandbox bureau's failures and delays
	// PayLoop is how often unpaid holds are expired and refunds followed
	// (0: every 5 s; negative: never, the tests call ExpireHolds).
	PayLoop time.Duration
	// QualificationLoop is how often re-validations are reminded and lapsed
	// approvals suspended (N-23; 0: every 10 minutes; negative: never, the
	// tests call Revalidate).
	QualificationLoop time.Duration
	// Observability and proxies (obs.go, clientip.go).
	TrustedProxies []netip.Prefix    // reverse proxies whose X-Forwarded-For or Forwarded gives the client's address
	Metrics        *metrics.Registry // where HTTP metrics go (default metrics.Default)
	// ImportMaxBytes bounds an offline-history import (--import-max-bytes;
	// 0: DefaultImportMaxBytes, api_import.go).
	ImportMaxBytes int64
	// SupervisionURL is the supervision platform's address of its feed
	// (its POST /api/v1/supervision/events; --supervision-url): a reporter
	// loop sends the institutions' outboxes there. "": nothing is sent (the
	// outboxes keep every event; the tests run reporters themselves).
	SupervisionURL    string
	SupervisionClient *http.Client // sends the feed (default: 30 s timeout)
	// IDCheck is the public-security identity check's adapter (N-5); nil:
	// the sandbox check (identity.SandboxIDCheck), set by IDCheckSandbox.
	IDCheck        identity.IDCheck
	IDCheckSandbox identity.SandboxCheckConfig
	// PurgeBatch is the rows of one transaction of the retention purge
	// (N-17; 0: retention.DefaultBatch).
	PurgeBatch int
	// CDCURL is disease control's receiver of notifiable-disease reports
	// (W-5; --cdc-url): a sender loop posts the outbox there. "": nothing
	// is sent (the outbox keeps every report; the tests run senders).
	CDCURL     string
	CDCClient  *http.Client     // sends the reports (default: 30 s timeout)
	CDCSandbox CDCSandboxConfig // how the sandbox receiver fails (api_cdc.go)
}

// Server holds the dependencies of the handlers.
type Server struct {
	cfg          Config
	db           *sqlstore.DB
	ids          *identity.Service
	dir          directory.Store
	audit        *audit.Logger
	bk           *booking.Service
	links        *ttl.Cache // account:patient → *identity.Patient
	crawls       crawls
	log          *slog.Logger
	pages        *pages
	limits       *limiters
	handler      http.Handler
	demoInfo     []DemoAccount
	hub          *chat.Hub
	stopBus      context.CancelFunc // the buses' publishers and listeners
	changes      *sqlstore.Notifier // what this server changed, for the others (PostgreSQL)
	blobs        blob.Store
	sms          notify.SMS
	bg           sync.WaitGroup
	rxc          *rx.Checker           // prescriptions: catalogue, rules engine
	rxKeys       *rx.Keys              // prescriptions: signing (nil without a master key)
	rxw          *rx.Writer            // prescriptions: the group-commit writer of issues and reviews
	bill         *billing.Service      // payments, refunds, the ledger
	paySandboxes map[string]PaySandbox // the sandbox providers (nil with real ones)
	stopPay      context.CancelFunc
	stopQual     context.CancelFunc // the re-validation loop
	qualDone     chan struct{}      // closed when it has stopped (nil: not running)
	courierMu    sync.Mutex
	courier      courier.Courier // Config.Courier, or the sandbox made at the first dispatch
	courierKey   []byte          // the sandbox courier's push signing key
	ins          insuranceSetup
	feedKeys     *supervision.Keys  // the institutions' feed signing keys (nil without a master key; api_supervision.go)
	stopFeed     context.CancelFunc // the feed's reporter loop
	feedDone     chan struct{}      // closed when it has stopped (nil: not running)
	rn           *identity.RealName // registration and adding a child with their checks (api_register.go)
	stopCDC      context.CancelFunc // the disease-control reports' sender loop (api_cdc.go)
	cdcDone      chan struct{}      // closed when it has stopped (nil: not running)
}

// DemoAccount is shown on the login page in demo mode.
type DemoAccount struct {
	Username, Password, Role, Note string
	TOTPSecret                     string // staff: the known second-factor secret
}

// New builds a server over db. The audit logger is owned by the caller.
func New(cfg Config, db *sqlstore.DB, al *audit.Logger, log *slog.Logger) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db.SetClock(cfg.Now) // the store times what it records by the server's clock
	ids := identity.NewService(db)
	ids.Now = cfg.Now
	if cfg.SigningKey != nil {
		// TOTP secrets sealed under the master key (identity.SecretBox);
		// without one they are stored plain, as the log says.
		box, err := identity.NewSecretBox(cfg.SigningKey)
		if err != nil {
			return nil, err
		}
		ids.Box = box
	} else {
		log.Warn("no master key (--keys): staff second-factor secrets are stored without encryption")
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, db: db, ids: ids, dir: db, audit: al, log: log, pages: p, limits: newLimiters(cfg.Limits), bk: booking.New(db, cfg.Now),
		links: ttl.New(time.Minute, 200_000)}
	s.hub = chat.New(db, log, cfg.Now)
	// Servers sharing a PostgreSQL database carry each other's chat events
	// and tell each other what they changed.
	busCtx, stopBus := context.WithCancel(context.Background())
	s.stopBus = stopBus
	if err := s.startBuses(busCtx); err != nil {
		stopBus()
		return nil, err
	}
	if cfg.BlobDir == "" {
		cfg.BlobDir = defaultBlobDir(db)
	}
	if s.blobs, err = blob.NewDir(cfg.BlobDir); err != nil {
		return nil, err
	}
	s.sms = cfg.SMS
	if s.sms == nil {
		s.sms = &notify.SandboxSMS{Log: db, Delay: 200 * time.Millisecond, Now: cfg.Now}
	}
	s.setUpRealName(cfg)
	if err := ensureRxRules(context.Background(), db); err != nil {
		return nil, err
	}
	s.rxc = &rx.Checker{Cat: rx.DefaultCatalogue(), Engine: rx.NewEngine(), ICD: func(c string) bool { _, ok := visit.LookupICD(c); return ok }}
	if cfg.SigningKey != nil {
		sealer, err := sign.NewSealer(cfg.SigningKey)
		if err != nil {
			return nil, err
		}
		s.rxKeys = &rx.Keys{Store: db, Sealer: sealer}
	}
	s.rxw = rx.NewWriter(db)
	if err := s.setUpPayments(cfg); err != nil {
		return nil, err
	}
	s.startRevalidation(cfg)
	s.setUpFeed(cfg)
	s.setUpCDC(cfg)
	s.ins.bureau = cfg.Insurance
	if s.ins.bureau == nil {
		c := cfg.InsuranceSandbox
		c.Now = cfg.Now
		s.ins.sandbox = insurance.NewSandboxBureau(c)
		s.ins.bureau = s.ins.sandbox
	}
	s.courier, s.courierKey = cfg.Courier, make([]byte, 32)
	if _, err := rand.Read(s.courierKey); err != nil {
		return nil, err
	}
	s.cfg = cfg
	s.handler = s.routes()
	return s, nil
}

// defaultBlobDir keeps files beside a SQLite database file, else in a
// temporary folder.
func defaultBlobDir(db *sqlstore.DB) string {
	if p := db.Path(); p != "" {
		return p + ".files"
	}
	return filepath.Join(os.TempDir(), "yunyi-files")
}

// Close stops the booking, prescription and chat writers after what is
// queued, and waits for background sends.
func (s *Server) Close() {
	s.stopPay()
	s.stopQual()
	if s.qualDone != nil {
		<-s.qualDone
	}
	s.stopFeed()
	if s.feedDone != nil {
		<-s.feedDone
	}
	s.stopCDC()
	if s.cdcDone != nil {
		<-s.cdcDone
	}
	for _, sb := range s.paySandboxes {
		sb.Stop()
	}
	s.courierMu.Lock()
	if sb, ok := s.courier.(*courier.SandboxSF); ok {
		sb.Close()
	}
	s.courierMu.Unlock()
	s.bk.Close()
	s.rxw.Close()
	s.hub.Close()
	s.stopBus()
	s.bg.Wait()
}

// Hub exposes the chat hub (for the benchmark).
func (s *Server) Hub() *chat.Hub { return s.hub }

// Booking exposes the booking service (for the CLI and the benchmark).
func (s *Server) Booking() *booking.Service { return s.bk }

// SetDemoAccounts lists the demo accounts for the login page.
func (s *Server) SetDemoAccounts(a []DemoAccount) { s.demoInfo = a }

// Identity exposes the identity service (for the CLI and tests).
func (s *Server) Identity() *identity.Service { return s.ids }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	s.apiRoutes(mux)
	s.fhirRoutes(mux)
	s.mountSandboxes(mux)
	s.htmlRoutes(mux)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errCSRF())
	}))
	var h http.Handler = routePattern(s.methodNotAllowed(mux))
	h = s.guestFence(h) // a guest of a visit sees its call only (api_guest.go)
	h = s.authenticate(h)
	h = cop.Handler(h)
	h = s.securityHeaders(h)
	h = s.recoverer(h)
	h = s.accessLog(h)
	h = s.observe(h) // request id, client address, metrics
	return h
}

// methodNotAllowed answers an unknown path, or a known path with the
// wrong method, in Yunyi's error form (the mux's own answer is plain text).
func (s *Server) methodNotAllowed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := mux.Handler(r); pattern == "" {
			probe := &headerProbe{h: http.Header{}}
			h.ServeHTTP(probe, r)
			switch probe.status {
			case http.StatusMethodNotAllowed:
				w.Header().Set("Allow", probe.h.Get("Allow"))
				s.fail(w, r, errs.E("method_not_allowed"))
				return
			case http.StatusNotFound:
				s.fail(w, r, errs.E(errs.NotFound))
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// headerProbe records the status a handler would answer with.
type headerProbe struct {
	h      http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.h }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready", "engine": string(s.db.Engine)})
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		lvl := slog.LevelDebug
		if sw.status >= 500 {
			lvl = slog.LevelError
		}
		s.log.Log(r.Context(), lvl, "http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "dur", time.Since(start),
			"request_id", requestID(r), "ip", clientIP(r))
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "path", r.URL.Path, "panic", v, "request_id", requestID(r))
				s.fail(w, r, errPanic)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// detach keeps ctx's values but not its cancellation, for work that goes
// on after the answer.
func detach(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// ensureRxRules stores the platform's shipped prescription safety rules
// that are not there yet (a rule an operator changed is kept as it is).
func ensureRxRules(ctx context.Context, db *sqlstore.DB) error {
	have, err := db.RxRules(ctx, "")
	if err != nil {
		return err
	}
	platform := map[string]bool{}
	for _, r := range have {
		if r.Institution == "" {
			platform[r.Code] = true
		}
	}
	for _, r := range rx.DefaultRules() {
		if !platform[r.Code] {
			if err := db.SaveRxRule(ctx, &r); err != nil {
				return err
			}
		}
	}
	return nil
}
