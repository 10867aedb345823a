package turn

import (
	"net"
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
	defer conn.Close()
	c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: pturn.NewSTUNConn(conn),
		Username: ice[1].Username, Password: ice[1].Credential, Realm: "yunyi", LoggerFactory: logging.NewDefaultLoggerFactory()})
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
	if _, err := rc.WriteTo([]byte("over tcp"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	n, _, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "over tcp" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
}
