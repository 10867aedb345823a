package turn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	pturn "github.com/pion/turn/v4"
)

// A client allocates a relay with the credentials the server hands out and
// a peer on loopback receives what it sends through the relay; a wrong
// password gets no allocation.
func TestRelay(t *testing.T) {
	s, err := Start(Config{Addr: "127.0.0.1:0", AllowPrivatePeers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ice, err := s.ICEServers("visit-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ice) != 2 || !strings.HasPrefix(ice[1].URLs[0], "turn:127.0.0.1:"+strconv.Itoa(s.Port())) || ice[1].Username == "" {
		t.Fatalf("ice servers %+v", ice)
	}
	relay := func(user, pass string) (net.PacketConn, func(), error) {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(s.Port())
		c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn, Username: user, Password: pass,
			Realm: "yunyi", LoggerFactory: logging.NewDefaultLoggerFactory(), RTO: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		rc, err := c.Allocate()
		return rc, func() { c.Close(); conn.Close() }, err
	}
	if _, done, err := relay(ice[1].Username, "wrong"); err == nil {
		t.Fatal("allocation with a wrong credential")
	} else {
		done()
	}
	rc, done, err := relay(ice[1].Username, ice[1].Credential)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	peer, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer peer.Close()
	if _, err := rc.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if from.String() != rc.LocalAddr().String() {
		t.Fatalf("came from %s, not the relay %s", from, rc.LocalAddr())
	}
}

func TestPublicPeer(t *testing.T) {
	for ip, want := range map[string]bool{"127.0.0.1": false, "10.1.2.3": false, "192.168.1.1": false, "169.254.1.1": false, "8.8.8.8": true} {
		if got := PublicPeer(net.ParseIP(ip)); got != want {
			t.Errorf("PublicPeer(%s) = %v", ip, got)
		}
	}
}

// The same credentials allocate a relay over TCP, for networks that block
// UDP; the peer receives through it.
func TestRelayOverTCP(t *testing.T) {
	s, err := Start(Config{Addr: "127.0.0.1:0", AllowPrivatePeers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ice, _ := s.ICEServers("visit-2")
	if len(ice[1].URLs) != 2 || !strings.HasSuffix(ice[1].URLs[1], "?transport=tcp") {
		t.Fatalf("no TCP relay offered: %v", ice[1].URLs)
	}
	addr := "127.0.0.1:" + strconv.Itoa(s.Port())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	relayThrough(t, conn, addr, ice[1], "over tcp")
}

// And over TLS, for networks that let only HTTPS out: the browsers get a
// turns: URL naming the certificate's host.
func TestRelayOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir, "turn.example.org")
	s, err := Start(Config{Addr: "127.0.0.1:0", AllowPrivatePeers: true, TLSAddr: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile,
		TLSHost: "turn.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ice, _ := s.ICEServers("visit-3")
	want := "turns:turn.example.org:" + strconv.Itoa(s.tlsPort) + "?transport=tcp"
	if urls := ice[1].URLs; urls[len(urls)-1] != want {
		t.Fatalf("no TLS relay offered: %v", urls)
	}
	addr := "127.0.0.1:" + strconv.Itoa(s.tlsPort)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "turn.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	relayThrough(t, conn, addr, ice[1], "over tls")
	if _, err := Start(Config{Addr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", TLSCertFile: filepath.Join(dir, "none.pem"), TLSKeyFile: keyFile}); err == nil {
		t.Fatal("a missing certificate was accepted")
	}
}

// relayThrough allocates a relay over a stream connection with the
// credentials of ice, and checks a peer receives through it.
func relayThrough(t *testing.T, conn net.Conn, addr string, ice ICEServer, text string) {
	t.Helper()
	defer conn.Close()
	c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: pturn.NewSTUNConn(conn),
		Username: ice.Username, Password: ice.Credential, Realm: "yunyi", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	peer, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer peer.Close()
	if _, err := rc.WriteTo([]byte(text), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	n, _, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != text {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
}

// selfSigned writes a certificate for host and its key into dir, and
// returns their files and a pool trusting it.
func selfSigned(t *testing.T, dir, host string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
