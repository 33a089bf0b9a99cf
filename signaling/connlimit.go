package signaling

import (
	"crypto/tls"
	"errors"
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

	mu       sync.Mutex
	total    int
	perAddr  addrCounts
	refusals refusals
}

// refusalLogInterval spaces the logs of refused connections: a flood of
// them must not become a flood of logs.
const refusalLogInterval = 10 * time.Second

func newConnLimit(max, maxPerAddr int, log *slog.Logger, m *metrics.Metrics) *connLimit {
	return &connLimit{max: max, maxPerAddr: maxPerAddr, log: log, metrics: m, perAddr: make(addrCounts)}
}

// addrCounts counts connections per client key.
type addrCounts map[netip.Addr]int

// remove uncounts one connection of key's, dropping key at zero.
func (c addrCounts) remove(key netip.Addr) {
	if n := c[key] - 1; n > 0 {
		c[key] = n
	} else {
		delete(c, key)
	}
}

// refusals counts refused connections (or failed accepts) between their
// logs, which come at most once per refusalLogInterval.
type refusals struct {
	logged gate
	n      int
}

// note counts one refusal at now, and returns how many to log now: 0
// when it is not yet time for a log.
func (r *refusals) note(now time.Time) int {
	r.n++
	if !r.logged.due(now, refusalLogInterval) {
		return 0
	}
	n := r.n
	r.n = 0
	return n
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
		refusal = protocol.Errorf(protocol.CodeServerBusy, "it has as many connections as it allows (%d); try again later", l.max)
	case l.maxPerAddr > 0 && l.perAddr[key] >= l.maxPerAddr:
		refusal = protocol.Errorf(protocol.CodeServerBusy, "your address has as many connections as it allows one address (%d); close some, or try again later", l.maxPerAddr)
	}
	if refusal == nil {
		l.total++
		l.perAddr[key]++
		l.metrics.SetConnections(l.total)
		l.mu.Unlock()
		return key, nil
	}
	refused := l.refusals.note(time.Now())
	total, fromClient := l.total, l.perAddr[key]
	l.mu.Unlock()
	if refused > 0 { // not under l.mu: a blocked log must not hold up every accept
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
	l.perAddr.remove(key)
}

// addrLimitListener bounds the TCP connections open at once from one
// client address (clientKey), whatever they carry: the WebSocket caps
// count upgraded connections only, and a client could otherwise hold any
// number of sockets in an unfinished HTTP request. A connection past the
// bound is closed as soon as it is accepted, with nothing written (a
// write to a TLS socket would wait for the client's handshake). With max
// 0 it bounds nothing.
//
// It also waits out accept errors that pass (retriedAcceptErrors: out of
// file descriptors or memory, a connection that failed before it was
// taken), which the HTTP server would take as the end of the listener.
type addrLimitListener struct {
	net.Listener
	max int
	log *slog.Logger
	// backoff is the wait before the next try after an accept error
	// that passes; 0 after a success. failures counts those errors
	// between their logs. Only Accept's goroutine uses them.
	backoff  time.Duration
	failures refusals
	// closed is closed by Close, to end a backoff at once.
	closed    chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	open     addrCounts
	refusals refusals
}

func newAddrLimitListener(ln net.Listener, max int, log *slog.Logger) *addrLimitListener {
	return &addrLimitListener{Listener: ln, max: max, log: log, open: make(addrCounts), closed: make(chan struct{})}
}

// Accept returns the next connection within the bound. The HTTP server
// calls it from one goroutine.
func (l *addrLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !acceptErrorPasses(err) {
				return nil, err
			}
			l.backoff = min(max(2*l.backoff, 5*time.Millisecond), time.Second)
			if n := l.failures.note(time.Now()); n > 0 {
				l.log.Warn("accept failed; trying again", "err", err, "failures", n, "in", l.backoff)
			}
			select {
			case <-time.After(l.backoff):
			case <-l.closed:
				return nil, net.ErrClosed
			}
			continue
		}
		if l.backoff > 0 {
			// The run of failures is over: say so, with those not yet
			// logged, and log the next run's first failure at once.
			l.log.Info("accepting again after failures", "failuresSinceLastLog", l.failures.n)
			l.failures = refusals{}
			l.backoff = 0
		}
		if l.max == 0 {
			return c, nil
		}
		key := clientKey(c.RemoteAddr())
		l.mu.Lock()
		if l.open[key] < l.max {
			l.open[key]++
			l.mu.Unlock()
			lc := &addrLimitedConn{Conn: c, l: l, key: key}
			if tc, ok := c.(tlsConn); ok {
				return &addrLimitedTLSConn{lc, tc}, nil
			}
			return lc, nil
		}
		refused := l.refusals.note(time.Now())
		l.mu.Unlock()
		_ = c.Close()
		if refused > 0 {
			l.log.Warn("closing TCP connections over the per-address bound", "client", key, "refused", refused, "bound", l.max)
		}
	}
}

// Close closes the listener, ending a wait in Accept at once.
func (l *addrLimitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *addrLimitListener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open.remove(key)
}

// addrLimitedConn gives its place back when first closed: the HTTP
// server may close a connection more than once, and from two goroutines.
type addrLimitedConn struct {
	net.Conn
	l    *addrLimitListener
	key  netip.Addr
	once sync.Once
}

// Close closes the connection and, the first time, frees its place.
func (c *addrLimitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}

// tlsConn is what the HTTP server looks for to tell a TLS connection
// (fasthttp's connTLSer): it then reports the request as TLS, and runs
// the handshake under its read timeout.
type tlsConn interface {
	Handshake() error
	ConnectionState() tls.ConnectionState
}

// addrLimitedTLSConn is an addrLimitedConn over TLS that still shows as
// TLS to the HTTP server.
type addrLimitedTLSConn struct {
	*addrLimitedConn
	tls tlsConn
}

// Handshake runs the TLS handshake, if it has not run.
func (c *addrLimitedTLSConn) Handshake() error { return c.tls.Handshake() }

// ConnectionState is the TLS connection's state.
func (c *addrLimitedTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// acceptErrorPasses tells an accept error that a later try may not meet:
// the process or the system out of file descriptors or memory, a
// connection that failed before it was taken (reset, or a network or
// protocol error on it, which accept(2) says to treat as a retry), a
// firewall's refusal, or a deadline passed.
func acceptErrorPasses(err error) bool {
	for _, e := range retriedAcceptErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
