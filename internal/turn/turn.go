// Package turn runs the embedded STUN/TURN server (pion/turn) that relays
// the video call's media for networks where the two browsers cannot reach
// each other directly. Browsers get short-lived credentials (the TURN REST
// scheme: "expiry:user" and an HMAC of it under a shared secret), so no
// password is stored and a leaked credential expires on its own.
package turn

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/pion/logging"
	pturn "github.com/pion/turn/v4"
)

// Config of the TURN server.
type Config struct {
	Addr     string // UDP address to listen on, e.g. "0.0.0.0:3478"; port 0 picks one
	PublicIP string // the relay address browsers reach; default: the listen IP, or 127.0.0.1
	Realm    string
	Secret   string        // shared secret of the credentials; random when empty
	TTL      time.Duration // lifetime of a credential; default 2 hours
	// AllowPrivatePeers lets the relay send to loopback and private
	// addresses (a demo or test on one machine); off, the relay cannot be
	// used to reach the server's own network.
	AllowPrivatePeers bool
	// TLSAddr, when set, also serves TURN over TLS there (e.g. ":443" or
	// ":5349"), for networks that let only HTTPS out; TLSCertFile and
	// TLSKeyFile hold its certificate, issued for TLSHost, the name
	// browsers reach it by (turns: URLs name the host, not the address).
	TLSAddr, TLSCertFile, TLSKeyFile, TLSHost string
}

// Server is a running TURN server.
type Server struct {
	cfg  Config
	srv  *pturn.Server
	conn net.PacketConn
	port int
	tcp  bool // also listening on TCP (same port), for networks that block UDP
	// tlsPort is the port of TURN over TLS (0: none).
	tlsPort int
}

// ICEServer is one entry of RTCPeerConnection's iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Start listens and serves.
func Start(cfg Config) (*Server, error) {
	if cfg.Realm == "" {
		cfg.Realm = "yunyi"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 2 * time.Hour
	}
	if cfg.Secret == "" {
		var b [24]byte
		rand.Read(b[:])
		cfg.Secret = hex.EncodeToString(b[:])
	}
	conn, tl, err := listenPair(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("turn: listen %s: %w", cfg.Addr, err)
	}
	laddr := conn.LocalAddr().(*net.UDPAddr)
	if cfg.PublicIP == "" {
		cfg.PublicIP = "127.0.0.1"
		if !laddr.IP.IsUnspecified() {
			cfg.PublicIP = laddr.IP.String()
		}
	}
	relayIP := net.ParseIP(cfg.PublicIP)
	if relayIP == nil {
		conn.Close()
		if tl != nil {
			tl.Close()
		}
		return nil, fmt.Errorf("turn: public IP %q is not an IP address", cfg.PublicIP)
	}
	listenIP := "0.0.0.0"
	if !laddr.IP.IsUnspecified() {
		listenIP = laddr.IP.String()
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelWarn
	allowPrivate := cfg.AllowPrivatePeers
	permit := func(client net.Addr, peer net.IP) bool { return allowPrivate || PublicPeer(peer) }
	gen := &pturn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: listenIP}
	sc := pturn.ServerConfig{
		Realm:             cfg.Realm,
		AuthHandler:       pturn.LongTermTURNRESTAuthHandler(cfg.Secret, lf.NewLogger("turn")),
		LoggerFactory:     lf,
		PacketConnConfigs: []pturn.PacketConnConfig{{PacketConn: conn, RelayAddressGenerator: gen, PermissionHandler: permit}},
	}
	if tl != nil {
		sc.ListenerConfigs = []pturn.ListenerConfig{{Listener: tl, RelayAddressGenerator: gen, PermissionHandler: permit}}
	}
	closeAll := func() {
		conn.Close()
		for _, l := range sc.ListenerConfigs {
			l.Listener.Close()
		}
	}
	tlsPort := 0
	if cfg.TLSAddr != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turn: TLS certificate: %w", err)
		}
		ln, err := tls.Listen("tcp4", cfg.TLSAddr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turn: listen TLS %s: %w", cfg.TLSAddr, err)
		}
		sc.ListenerConfigs = append(sc.ListenerConfigs, pturn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen, PermissionHandler: permit})
		tlsPort = ln.Addr().(*net.TCPAddr).Port
		if cfg.TLSHost == "" {
			cfg.TLSHost = cfg.PublicIP
		}
	}
	srv, err := pturn.NewServer(sc)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("turn: %w", err)
	}
	return &Server{cfg: cfg, srv: srv, conn: conn, port: laddr.Port, tcp: tl != nil, tlsPort: tlsPort}, nil
}

// listenPair listens on UDP at addr and on TCP at the same port, for
// networks that let no UDP out (the relay to the other browser is still
// UDP, from the server). With port 0 it tries other ports until both are
// free; on a fixed port whose TCP side is taken it runs on UDP alone (tl
// nil).
func listenPair(addr string) (conn net.PacketConn, tl net.Listener, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	for try := 0; ; try++ {
		conn, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return nil, nil, err
		}
		tl, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port)))
		if err == nil || port != "0" || try == 20 {
			return conn, tl, nil
		}
		conn.Close()
	}
}

// PublicPeer reports whether the relay may send to ip: not loopback,
// private, link-local or unspecified.
func PublicPeer(ip net.IP) bool {
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast())
}

// Port is the UDP port the server listens on.
func (s *Server) Port() int { return s.port }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// ICEServers returns the STUN and TURN entries for a user, with a
// credential valid for the configured lifetime.
func (s *Server) ICEServers(user string) ([]ICEServer, error) {
	name, pass, err := pturn.GenerateLongTermTURNRESTCredentials(s.cfg.Secret, user, s.cfg.TTL)
	if err != nil {
		return nil, err
	}
	hp := net.JoinHostPort(s.cfg.PublicIP, strconv.Itoa(s.port))
	relay := ICEServer{URLs: []string{"turn:" + hp + "?transport=udp"}, Username: name, Credential: pass}
	if s.tcp {
		relay.URLs = append(relay.URLs, "turn:"+hp+"?transport=tcp")
	}
	if s.tlsPort != 0 {
		relay.URLs = append(relay.URLs, "turns:"+net.JoinHostPort(s.cfg.TLSHost, strconv.Itoa(s.tlsPort))+"?transport=tcp")
	}
	return []ICEServer{{URLs: []string{"stun:" + hp}}, relay}, nil
}
