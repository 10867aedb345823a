package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The client's address, for rate limits and the audit log. Behind
// reverse proxies (--trusted-proxies) the socket's peer is a proxy: when,
// and only when, it is a trusted one, the address is taken from the
// forwarding header the proxies append to, as the rightmost hop that is
// not a trusted proxy (every hop right of it was added by a proxy we
// trust; anything left of it the client could have written).
// X-Forwarded-For is read when present, else Forwarded (RFC 7239, its
// for= parameters). A proxy that writes Forwarded must therefore drop an
// incoming X-Forwarded-For, and one that writes X-Forwarded-For need not
// touch Forwarded. A hop that cannot be read (unknown, an obfuscated
// name, garbage) ends the walk at the trusted hop right of it.

// ParseTrustedProxies reads a comma-separated list of CIDR prefixes and
// single addresses ("10.0.0.0/8, 192.0.2.7, 2001:db8::/32").
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxies: %q is not a CIDR prefix", f)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxies: %q is not an IP address or CIDR prefix", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func trustedAddr(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the client's address of r (see above).
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap().WithZone("")
	if !trustedAddr(peer, trusted) {
		return peer.String()
	}
	hops := forwardedHops(r.Header)
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseNode(hops[i])
		if !ok {
			break
		}
		client = a
		if !trustedAddr(a, trusted) {
			break
		}
	}
	return client.String()
}

// forwardedHops lists the nodes of X-Forwarded-For, or else of Forwarded's
// for= parameters, from the first (farthest) to the last (nearest). An
// element of Forwarded without for= is an empty node.
func forwardedHops(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, line := range xff {
			for _, n := range strings.Split(line, ",") {
				hops = append(hops, strings.TrimSpace(n))
			}
		}
		return hops
	}
	for _, line := range h.Values("Forwarded") {
		for _, elem := range splitQuoted(line, ',') {
			node := ""
			for _, pair := range splitQuoted(elem, ';') {
				name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
					node = unquote(strings.TrimSpace(value))
				}
			}
			hops = append(hops, node)
		}
	}
	return hops
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote reads a token or a quoted-string.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseNode reads a hop's address: "192.0.2.1", "192.0.2.1:8080",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:8080". "unknown",
// obfuscated names ("_hidden") and anything else are not addresses.
func parseNode(n string) (netip.Addr, bool) {
	if strings.HasPrefix(n, "[") {
		end := strings.IndexByte(n, ']')
		if end < 0 || (end+1 < len(n) && n[end+1] != ':') {
			return netip.Addr{}, false
		}
		n = n[1:end]
	} else if strings.Count(n, ":") == 1 {
		n, _, _ = strings.Cut(n, ":")
	}
	a, err := netip.ParseAddr(n)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
