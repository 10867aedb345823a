package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// selfSigned makes a self-signed certificate for 127.0.0.1 and localhost
// with the serial number, PEM-encoded with its key.
func selfSigned(t *testing.T, serial int64) (certPEM, keyPEM []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "yunyi test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), cert
}

// writeAt writes a file and sets its modification time (renewals in a
// test come faster than some file systems' timestamps change).
func writeAt(t *testing.T, name string, data []byte, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(name, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects a command's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until re matches out and returns its first group.
func waitFor(t *testing.T, out *syncBuffer, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := rx.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no %s in output:\n%s", re, out.String())
	return ""
}

// `yunyi serve` over TLS: HTTPS with HSTS and request ids, a renewed
// certificate used from the next connection without a restart (a half
// written renewal keeps the old one), the plain-HTTP redirect, metrics on
// their own address, JSON logs.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certA, keyA, a := selfSigned(t, 1001)
	mod := time.Now().Add(-time.Hour)
	writeAt(t, certFile, certA, mod)
	writeAt(t, keyFile, keyA, mod)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "yunyi.db"), "--turn-addr", "off",
			"--tls-cert", certFile, "--tls-key", keyFile, "--http-redirect-addr", "127.0.0.1:0",
			"--metrics-addr", "127.0.0.1:0", "--log-format", "json"}, &stdout, &stderr)
	}()
	base := waitFor(t, &stdout, `listening on (https://127\.0\.0\.1:\d+) `)
	redirect := waitFor(t, &stdout, `Redirecting http://(\S+) to HTTPS`)
	metricsURL := waitFor(t, &stdout, `Metrics at (http://\S+/metrics)\.`)
	hostPort := strings.TrimPrefix(base, "https://")
	_, port, _ := net.SplitHostPort(hostPort)

	pool := x509.NewCertPool()
	pool.AddCert(a)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	res, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Strict-Transport-Security"), "max-age=") || res.Header.Get("X-Request-Id") == "" {
		t.Errorf("GET /healthz over TLS: %d, HSTS %q, id %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"), res.Header.Get("X-Request-Id"))
	}

	served := func(roots ...*x509.Certificate) *big.Int {
		t.Helper()
		p := x509.NewCertPool()
		for _, c := range roots {
			p.AddCert(c)
		}
		conn, err := tls.Dial("tcp", hostPort, &tls.Config{RootCAs: p})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	if got := served(a); got.Int64() != 1001 {
		t.Fatalf("serial %v, want 1001", got)
	}
	// A renewal: both files replaced. The next connection has it.
	certB, keyB, b := selfSigned(t, 1002)
	mod = mod.Add(time.Minute)
	writeAt(t, certFile, certB, mod)
	writeAt(t, keyFile, keyB, mod)
	if got := served(a, b); got.Int64() != 1002 {
		t.Fatalf("after renewal: serial %v, want 1002", got)
	}
	// Half a renewal (the certificate written, not yet its key) keeps
	// serving the last good pair; the key completes it.
	certC, keyC, c := selfSigned(t, 1003)
	mod = mod.Add(time.Minute)
	writeAt(t, certFile, certC, mod)
	if got := served(b, c); got.Int64() != 1002 {
		t.Fatalf("half renewed: serial %v, want 1002", got)
	}
	writeAt(t, keyFile, keyC, mod)
	if got := served(b, c); got.Int64() != 1003 {
		t.Fatalf("renewal completed: serial %v, want 1003", got)
	}

	// Plain HTTP is redirected, to the same host, path and query.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", "http://"+redirect+"/visits/7?tab=chat", nil)
	req.Host = "yunyi.example.org"
	res, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "https://yunyi.example.org:" + port + "/visits/7?tab=chat"; res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != want {
		t.Errorf("redirect: %d to %q, want 301 to %q", res.StatusCode, res.Header.Get("Location"), want)
	}
	if res.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
	res, err = plain.Post("http://"+redirect+"/api/v1/auth/login", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("POST redirect: %d, want 308", res.StatusCode)
	}

	// Metrics on their own address, not on the server's.
	res, err = http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`yunyi_http_request_duration_seconds_count{route="GET /healthz",status="2xx"} 1`, "yunyi_http_requests_in_flight ", "go_goroutines "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	res, err = client.Get(base + "/metrics")
	if err == nil {
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("GET /metrics on the server: %d", res.StatusCode)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	// JSON logs, the renewals among them.
	reloads := 0
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("log line not JSON: %q", sc.Text())
		}
		if l["msg"] == "TLS certificate loaded" {
			reloads++
		}
	}
	if reloads != 3 {
		t.Errorf("%d certificate loads logged, want 3:\n%s", reloads, stderr.String())
	}
}

// Every flag is in `yunyi serve --help`, which says where else flags come
// from (issue 17).
func TestServeHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"addr", "db", "demo", "keys", "now", "files", "tls-cert", "tls-key", "http-redirect-addr", "trusted-proxies",
		"metrics-addr", "log-format", "import-max-bytes", "supervision-url", "rate-limits", "config", "turn-addr"} {
		if !strings.Contains(stderr.String(), "-"+name+" ") {
			t.Errorf("help lacks -%s:\n%s", name, stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "$YUNYI_TLS_CERT") || !strings.Contains(stderr.String(), "--config") ||
		!strings.Contains(stderr.String(), "login-ip (default 10/10)") {
		t.Errorf("help does not say where flags come from or which limits there are:\n%s", stderr.String())
	}
}

// Flags come from the command line, then $YUNYI_<FLAG>, then the config
// file (issue 17); a file naming an unknown flag is refused.
func TestFlagsFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "yunyi.conf")
	os.WriteFile(conf, []byte("# Yunyi at the hospital\nlog-format json\nmetrics-addr off\nrate-limits login-ip=20/15,booking-account=60/40\ntrusted-proxies 10.0.0.5\n"), 0o600)
	parse := func(args ...string) (*opsFlags, rateLimitsFlag, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		limits := rateLimitsFlag{}
		fs.Var(&limits, "rate-limits", "")
		o := addOpsFlags(fs)
		if err := parseFlags(fs, args); err != nil {
			return nil, nil, err
		}
		return o, limits, o.resolve(fs)
	}
	o, limits, err := parse("--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	if o.logFormat != "json" || o.metricsAddr != "off" || len(o.trusted) != 1 || limits["login-ip"] != [2]float64{20, 15} ||
		limits["booking-account"] != [2]float64{60, 40} {
		t.Errorf("from the file: %+v %v", o, limits)
	}
	// The environment wins over the file, the command line over both.
	t.Setenv("YUNYI_CONFIG", conf)
	t.Setenv("YUNYI_LOG_FORMAT", "text")
	t.Setenv("YUNYI_METRICS_ADDR", "127.0.0.1:9191")
	o, _, err = parse("--metrics-addr", "127.0.0.1:9292")
	if err != nil || o.logFormat != "text" || o.metricsAddr != "127.0.0.1:9292" || len(o.trusted) != 1 {
		t.Errorf("precedence: %+v %v", o, err)
	}
	os.WriteFile(conf, []byte("no-such-flag 1\n"), 0o600)
	if _, _, err := parse(); err == nil {
		t.Error("a config file with an unknown flag was accepted")
	}
	t.Setenv("YUNYI_CONFIG", filepath.Join(dir, "missing.conf"))
	if _, _, err := parse(); err == nil {
		t.Error("a missing config file was accepted")
	}
}

func TestRateLimitsFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"login-ip=20/15", ""},
		{"login-ip=20/15, booking-account=60/40", ""},
		{"nope=1/1", "no such rate limit"},
		{"login-ip=20", "PER_MINUTE/BURST"},
		{"login-ip=0/5", "positive"},
		{"login-ip=x/5", "PER_MINUTE/BURST"},
		{"login-ip", "NAME=PER_MINUTE/BURST"},
	} {
		f := rateLimitsFlag{}
		err := f.Set(c.in)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

// The flags are read from YUNYI_<NAME> unless given; wrong combinations
// are refused.
func TestOpsFlagsFromEnvironment(t *testing.T) {
	parse := func(args ...string) (*opsFlags, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := addOpsFlags(fs)
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		return o, o.resolve(fs)
	}
	o, err := parse()
	if err != nil || o.metricsAddr != defaultMetricsAddr || o.metricsExplicit || o.logFormat != "text" || o.trusted != nil {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	t.Setenv("YUNYI_METRICS_ADDR", "off")
	t.Setenv("YUNYI_LOG_FORMAT", "json")
	t.Setenv("YUNYI_TRUSTED_PROXIES", "10.0.0.0/8,192.0.2.1")
	t.Setenv("YUNYI_TLS_CERT", "/etc/yunyi/cert.pem")
	t.Setenv("YUNYI_TLS_KEY", "/etc/yunyi/key.pem")
	t.Setenv("YUNYI_HTTP_REDIRECT_ADDR", ":80")
	o, err = parse("--log-format", "text")
	if err != nil {
		t.Fatal(err)
	}
	if o.metricsAddr != "off" || !o.metricsExplicit || o.logFormat != "text" || len(o.trusted) != 2 ||
		o.tlsCert != "/etc/yunyi/cert.pem" || o.tlsKey != "/etc/yunyi/key.pem" || o.redirectAddr != ":80" {
		t.Errorf("from the environment: %+v", o)
	}
	for _, c := range []struct {
		env, value string
		args       []string
		want       string
	}{
		{"YUNYI_TLS_KEY", "", nil, "go together"},
		{"YUNYI_TLS_CERT", "", []string{"--tls-key", ""}, "needs --tls-cert"},
		{"YUNYI_LOG_FORMAT", "xml", nil, "text or json"},
		{"YUNYI_TRUSTED_PROXIES", "10.0.0.0/40", nil, "CIDR"},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.value)
			if _, err := parse(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// An explicit metrics address that cannot be had stops the start.
func TestServeMetricsAddrTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "yunyi.db"),
		"--turn-addr", "off", "--metrics-addr", ln.Addr().String()}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("error %v", err)
	}
}
