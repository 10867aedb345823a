// Package listen opens the server's TCP listeners. On Linux a server
// listens through several sockets bound to one port (SO_REUSEPORT): the
// kernel spreads new connections over their accept queues, so a rush of
// thousands of connections at once is not dropped at one queue's limit
// (net.core.somaxconn, 4096 here) to be retried by the clients a second
// later.
package listen

import (
	"net"
	"strconv"
)

// Queues is how many listening sockets share the port where the system
// allows it.
const Queues = 4

// TCP listens on addr ("host:port"; port 0 picks a free one) with up to
// Queues sockets on the same port; the first one's address is the
// server's.
func TCP(addr string) ([]net.Listener, error) {
	if !reusePort {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return []net.Listener{ln}, nil
	}
	// A plain listen first: a port another server holds is refused as
	// usual (sharing it is only for this server's own sockets), and port
	// 0 is resolved.
	probe, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	port := strconv.Itoa(probe.Addr().(*net.TCPAddr).Port)
	probe.Close()
	first, err := reuseConfig.Listen(bgctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	lns := []net.Listener{first}
	for len(lns) < Queues {
		ln, err := reuseConfig.Listen(bgctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			break // the first ones serve
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
