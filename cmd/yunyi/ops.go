package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/yunyi-health/yunyi/internal/metrics"
	"github.com/yunyi-health/yunyi/internal/web"
)

// What `yunyi serve` needs in a hospital's data centre: TLS in the binary
// with certificates renewed in place, a redirect from plain HTTP, the
// client's address behind reverse proxies, metrics on their own address,
// JSON logs. Each of these flags is also read from the environment as
// YUNYI_<NAME> (--tls-cert: YUNYI_TLS_CERT); a flag given wins.

// opsFlags are serve's deployment flags.
type opsFlags struct {
	tlsCert, tlsKey string
	redirectAddr    string
	trustedProxies  string
	metricsAddr     string
	logFormat       string

	trusted         []netip.Prefix // parsed trustedProxies
	metricsExplicit bool           // --metrics-addr or its variable was given
}

const defaultMetricsAddr = "127.0.0.1:9090"

func addOpsFlags(fs *flag.FlagSet) *opsFlags {
	o := &opsFlags{}
	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, def, usage)
	}
	str(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate file (PEM, the chain after the leaf); a renewed file is used from the next connection on, without a restart")
	str(&o.tlsKey, "tls-key", "", "the private key file (PEM) of --tls-cert")
	str(&o.redirectAddr, "http-redirect-addr", "", "with TLS, also listen for plain HTTP here (e.g. :80) and redirect every request to HTTPS")
	str(&o.trustedProxies, "trusted-proxies", "", "comma-separated CIDR prefixes or addresses of reverse proxies whose X-Forwarded-For (else Forwarded) gives the client's address, for rate limits and the audit log; from any other peer those headers are ignored")
	str(&o.metricsAddr, "metrics-addr", defaultMetricsAddr, "serve Prometheus metrics at http://ADDR/metrics (\"off\" to disable)")
	str(&o.logFormat, "log-format", "text", "log format: text or json")
	return o
}

// resolve checks the flags. Call it after parseFlags.
func (o *opsFlags) resolve(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	o.metricsExplicit = given["metrics-addr"]
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if o.redirectAddr != "" && o.tlsCert == "" {
		return errors.New("--http-redirect-addr needs --tls-cert and --tls-key")
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return fmt.Errorf("--log-format %q: text or json", o.logFormat)
	}
	var err error
	if o.trusted, err = web.ParseTrustedProxies(o.trustedProxies); err != nil {
		return err
	}
	return nil
}

// newLogFormat is the process's logger in format (text or json).
func newLogFormat(w io.Writer, format string) *slog.Logger {
	lvl := slog.LevelInfo
	if os.Getenv("YUNYI_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// certReloader gives TLS handshakes the certificate of certFile and
// keyFile, read again when either file's modification time or size
// changes: a renewal (certbot, an operator's copy) takes effect at the
// next connection. A pair that cannot be loaded (one file written, the
// other not yet) leaves the last good certificate in use, and is tried
// again at the next handshake.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu     sync.Mutex
	cert   *tls.Certificate
	loaded [2]fileStamp // of the files the certificate came from
	failed [2]fileStamp // of the last pair that could not be loaded (logged once)
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(name string) (fileStamp, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// newCertReloader loads the pair once: a pair that cannot be loaded at
// start is an error.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	st, err := c.stamps()
	if err != nil {
		return nil, err
	}
	if err := c.load(st); err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return c, nil
}

func (c *certReloader) stamps() ([2]fileStamp, error) {
	a, err := stamp(c.certFile)
	if err != nil {
		return [2]fileStamp{}, err
	}
	b, err := stamp(c.keyFile)
	return [2]fileStamp{a, b}, err
}

// load reads the pair; c.mu is held or c is not shared yet.
func (c *certReloader) load(st [2]fileStamp) error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	c.cert, c.loaded = &cert, st
	if leaf := cert.Leaf; leaf != nil {
		lvl := slog.LevelInfo
		if time.Until(leaf.NotAfter) < 14*24*time.Hour {
			lvl = slog.LevelWarn
		}
		c.log.Log(context.Background(), lvl, "TLS certificate loaded", "file", c.certFile, "subject", leaf.Subject.String(),
			"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter)
	}
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (c *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.stamps()
	if err != nil || st == c.loaded {
		if err != nil && st != c.failed {
			c.failed = st
			c.log.Warn("TLS certificate files unreadable; serving the last one loaded", "err", err)
		}
		return c.cert, nil
	}
	if err := c.load(st); err != nil {
		if st != c.failed {
			c.failed = st
			c.log.Warn("TLS certificate files changed but cannot be loaded; serving the last one loaded", "err", err)
		}
	}
	return c.cert, nil
}

// tlsConfig is the server's TLS configuration over the reloader.
func (c *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// redirectToHTTPS answers every request with a permanent redirect to the
// same host and path over HTTPS at httpsPort (left out when 443).
func redirectToHTTPS(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if host == "" {
			http.Error(w, "Host header required", http.StatusBadRequest)
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if httpsPort != "" && httpsPort != "443" {
			host += ":" + httpsPort
		}
		code := http.StatusPermanentRedirect // keeps the method and body
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
}

// metricsServer serves reg at /metrics.
func metricsServer(reg *metrics.Registry, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", reg.Handler())
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}
