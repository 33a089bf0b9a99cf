package load

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
)

// timedNet is pion's standard network, but every UDP socket it opens has
// the kernel timestamp arriving datagrams (SO_TIMESTAMPNS), recorded in
// arrivals, and the time each datagram is handed to the kernel recorded in
// departures (when not nil).
type timedNet struct {
	transport.Net
	arrivals, departures *packetTimes
}

// newTimedNet returns the network of a client whose packets are timed.
func newTimedNet(arrivals, departures *packetTimes) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	return timedNet{Net: n, arrivals: arrivals, departures: departures}, nil
}

func (n timedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		return conn, nil // not a kernel socket: no timestamps
	}
	raw, err := udp.SyscallConn()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("timestamped socket: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("timestamped socket: %w", errors.Join(err, serr))
	}
	return &timedConn{UDPConn: udp, arrivals: n.arrivals, departures: n.departures}, nil
}

// timedConn reads with recvmsg to get each datagram's kernel timestamp,
// and notes the time of each write. pion reads a socket from one goroutine
// only, which the control-message buffer relies on. It implements
// ice.AddrPortReaderWriter, so pion's reads and writes stay free of
// allocations.
type timedConn struct {
	*net.UDPConn
	arrivals, departures *packetTimes
	oob                  [8]uint64 // room for one SCM_TIMESTAMPNS message; 8-byte aligned
}

func (c *timedConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&c.oob[0])), len(c.oob)*8)
	n, oobn, _, addr, err := c.ReadMsgUDPAddrPort(b, oob)
	if err == nil {
		if at, ok := parseTimestampNS(oob[:oobn]); ok {
			c.arrivals.record(b[:n], at)
		}
	}
	return n, addr, err
}

func (c *timedConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.departures != nil {
		// Before the write: over loopback the packet may be forwarded and
		// read before this goroutine runs again.
		c.departures.record(b, time.Now().UnixNano())
	}
	return c.WriteToUDPAddrPort(b, addr)
}

// WriteTo serves callers that do not use WriteToAddrPort.
func (c *timedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	udp, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(b, addr)
	}
	return c.WriteToAddrPort(b, udp.AddrPort())
}

// ReadFrom serves callers that do not use ReadFromAddrPort.
func (c *timedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// parseTimestampNS finds the SCM_TIMESTAMPNS message among the control
// messages of one recvmsg, without allocating. oob must be 8-byte aligned.
func parseTimestampNS(oob []byte) (int64, bool) {
	for len(oob) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < syscall.SizeofCmsghdr || l > len(oob) {
			return 0, false
		}
		data := syscall.CmsgLen(0)
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS &&
			l >= data+int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[data]))
			return ts.Nano(), true
		}
		oob = oob[min(syscall.CmsgSpace(l-data), len(oob)):]
	}
	return 0, false
}
