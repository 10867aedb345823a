package listen

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

// Every socket of the port is served: many connections opened at once
// all get their answer, whichever queue the kernel put them in.
func TestTCPServesEveryQueue(t *testing.T) {
	lns, err := TCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if reusePort && len(lns) != Queues {
		t.Fatalf("%d listeners, want %d", len(lns), Queues)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	for _, ln := range lns {
		go srv.Serve(ln)
	}
	defer srv.Close()
	addr := lns[0].Addr().String()
	for i := 0; i < 64; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		b, err := io.ReadAll(conn)
		conn.Close()
		if err != nil || len(b) == 0 {
			t.Fatalf("connection %d: %q %v", i, b, err)
		}
	}
	// The port is the server's: another server asking for it is refused.
	if more, err := TCP(addr); err == nil {
		for _, ln := range more {
			ln.Close()
		}
		t.Fatal("a second server shared the port")
	}
}
