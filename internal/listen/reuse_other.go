//go:build !linux

package listen

import (
	"context"
	"net"
)

const reusePort = false

var bgctx = context.Background()

var reuseConfig net.ListenConfig
