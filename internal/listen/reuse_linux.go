package listen

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

const reusePort = true

var bgctx = context.Background()

var reuseConfig = net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
	if err != nil {
		return err
	}
	return serr
}}
