package signaling

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/confab/confab/internal/metrics"
	"github.com/confab/confab/internal/protocol"
)

// connLimit counts the server's open WebSocket connections, in all and per
// client address, and refuses those past its caps. Each connection, joined
// or not, holds goroutines, buffers and a file descriptor, so without a cap
// one client opening sockets in a loop could exhaust the process.
type connLimit struct {
	max, maxPerAddr int // 0: no cap
	log             *slog.Logger
	metrics         *metrics.Metrics

	mu      sync.Mutex
	total   int
	perAddr map[netip.Addr]int
	logged  gate // refusals logged at most once per refusalLogInterval
	refused int  // refusals since the last log
}

// refusalLogInterval spaces the logs of refused connections: a flood of
// them must not become a flood of logs.
const refusalLogInterval = 10 * time.Second

func newConnLimit(max, maxPerAddr int, log *slog.Logger, m *metrics.Metrics) *connLimit {
	return &connLimit{max: max, maxPerAddr: maxPerAddr, log: log, metrics: m, perAddr: make(map[netip.Addr]int)}
}

// clientKey is the address a connection counts against: the client's IP
// address, or for IPv6 its /64 network, which one host commonly has whole.
// Every non-IP address (a Unix socket, as from a local proxy) gives the
// zero Addr: such connections share one key.
func clientKey(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if a != nil {
			if ap, err := netip.ParseAddrPort(a.String()); err == nil {
				ip = ap.Addr()
			}
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			ip = p.Addr()
		}
	}
	return ip
}

// acquire counts a new connection from addr, or refuses it with the error
// to send the client. A counted connection must be released once.
func (l *connLimit) acquire(addr net.Addr) (netip.Addr, *protocol.Error) {
	key := clientKey(addr)
	l.mu.Lock()
	var refusal *protocol.Error
	switch {
	case l.max > 0 && l.total >= l.max:
		refusal = protocol.Errorf(protocol.CodeServerBusy, "the server has as many connections as it allows (%d); try again later", l.max)
	case l.maxPerAddr > 0 && l.perAddr[key] >= l.maxPerAddr:
		refusal = protocol.Errorf(protocol.CodeServerBusy, "your address has as many connections as the server allows one address (%d); close some, or try again later", l.maxPerAddr)
	}
	if refusal == nil {
		l.total++
		l.perAddr[key]++
		l.metrics.SetConnections(l.total)
		l.mu.Unlock()
		return key, nil
	}
	l.refused++
	logNow := l.logged.due(time.Now(), refusalLogInterval)
	refused, total, fromClient := l.refused, l.total, l.perAddr[key]
	if logNow {
		l.refused = 0
	}
	l.mu.Unlock()
	if logNow { // not under l.mu: a blocked log must not hold up every accept
		l.log.Warn("refusing connections over the cap", "client", key, "refused", refused,
			"connections", total, "fromClient", fromClient,
			"maxConnections", l.max, "maxConnectionsPerIP", l.maxPerAddr)
	}
	return key, refusal
}

// release uncounts a connection that acquire counted under key.
func (l *connLimit) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	l.metrics.SetConnections(l.total)
	if n := l.perAddr[key] - 1; n > 0 {
		l.perAddr[key] = n
	} else {
		delete(l.perAddr, key)
	}
}
