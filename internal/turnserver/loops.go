package turnserver

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pion/turn's Server.Close closes its sockets and returns; it neither waits
// for the goroutines reading them nor closes the TCP connections it has
// accepted. So every socket pion reads is handed to it wrapped, and the
// wrapper reports when pion's loop on it has ended. Close then waits for the
// count of live loops to reach zero. "Ended" is the last thing each loop does
// that we can observe: the failed read (UDP listener, relays) or the close
// of the connection (TCP control connections); what pion does after that is
// a few lines of bookkeeping.

// loops counts pion's socket loops that are still running and remembers the
// accepted TCP connections, which pion never closes on shutdown.
type loops struct {
	mu      sync.Mutex
	n       int
	closing bool
	idle    chan struct{} // closed when closing and n reaches zero
	conns   map[*trackedConn]struct{}
}

func newLoops() *loops {
	return &loops{idle: make(chan struct{}), conns: make(map[*trackedConn]struct{})}
}

func (l *loops) start() {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
}

func (l *loops) end() {
	l.mu.Lock()
	l.n--
	l.signalIdleLocked()
	l.mu.Unlock()
}

func (l *loops) signalIdleLocked() {
	if l.closing && l.n == 0 {
		select {
		case <-l.idle:
		default:
			close(l.idle)
		}
	}
}

// shutdown marks the set as closing and closes every accepted TCP
// connection under pion's feet, so that its per-connection loops end.
func (l *loops) shutdown() {
	l.mu.Lock()
	l.closing = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.signalIdleLocked()
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.Close() // the inner conn: the wrapper's Close is pion's.
	}
}

// wait returns once every loop has ended, or ErrCloseTimeout after timeout.
func (l *loops) wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-l.idle:
		return nil
	case <-t.C:
		l.mu.Lock()
		n := l.n
		l.mu.Unlock()
		return fmt.Errorf("%d still running after %v: %w", n, timeout, ErrCloseTimeout)
	}
}

// trackedPacketConn is a UDP socket pion reads in a loop until the first
// error: the TURN listener or a relay.
type trackedPacketConn struct {
	net.PacketConn
	loops   *loops
	once    sync.Once
	reading atomic.Bool
	// relay is set for relay sockets: pion sometimes opens one only to
	// learn a free port and closes it unread (EVEN-PORT), so closing a relay
	// nobody has read yet also ends its loop.
	relay bool
}

func trackPacketConn(pc net.PacketConn, l *loops, relay bool) *trackedPacketConn {
	l.start()
	return &trackedPacketConn{PacketConn: pc, loops: l, relay: relay}
}

func (c *trackedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.reading.Store(true)
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		c.once.Do(c.loops.end)
	}
	return n, addr, err
}

func (c *trackedPacketConn) Close() error {
	err := c.PacketConn.Close()
	if c.relay && !c.reading.Load() {
		c.once.Do(c.loops.end)
	}
	return err
}

// trackedListener is the TURN TCP listener; pion accepts until the first
// error, and reads each accepted connection in a goroutine of its own that
// closes the connection as its last act.
type trackedListener struct {
	net.Listener
	loops *loops
	once  sync.Once
}

func trackListener(ln net.Listener, l *loops) *trackedListener {
	l.start()
	return &trackedListener{Listener: ln, loops: l}
}

func (ln *trackedListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		ln.once.Do(ln.loops.end)
		return nil, err
	}
	tc := &trackedConn{Conn: c, loops: ln.loops}
	l := ln.loops
	l.mu.Lock()
	l.n++
	l.conns[tc] = struct{}{}
	closing := l.closing
	l.mu.Unlock()
	if closing {
		_ = c.Close() // accepted in the race with shutdown: end it at once.
	}
	return tc, nil
}

// trackedConn is an accepted TCP connection. Only pion calls its Close.
type trackedConn struct {
	net.Conn
	loops *loops
	once  sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.loops.mu.Lock()
		delete(c.loops.conns, c)
		c.loops.mu.Unlock()
		c.loops.end()
	})
	return err
}
