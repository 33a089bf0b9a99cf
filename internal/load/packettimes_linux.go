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

	"github.com/confab/confab/internal/netwrap"
)

const (
	solUDP = 17  // SOL_UDP
	udpGRO = 104 // UDP_GRO: the socket option and its control message
	// groBuffer holds one coalesced read: the most a UDP datagram, and so
	// a segmented send, can carry.
	groBuffer = 65536
)

// newTimedNet returns pion's standard network, but every UDP socket it
// opens has the kernel timestamp arriving datagrams (SO_TIMESTAMPNS),
// recorded in arrivals, and the time each datagram is handed to the kernel
// recorded in departures (when not nil). With gro, its sockets also take
// segmented sends whole (UDP_GRO) and hand pion their datagrams one by one.
func newTimedNet(arrivals, departures *packetTimes, gro bool) (transport.Net, error) {
	return netwrap.Wrap(nil, netwrap.Kernel(func(udp *net.UDPConn) (transport.UDPConn, error) {
		raw, err := udp.SyscallConn()
		if err != nil {
			return nil, fmt.Errorf("timestamped socket: %w", err)
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
			if serr == nil && gro {
				serr = syscall.SetsockoptInt(int(fd), solUDP, udpGRO, 1)
			}
		}); err != nil || serr != nil {
			return nil, fmt.Errorf("timestamped socket: %w", errors.Join(err, serr))
		}
		c := &timedConn{UDPConn: udp, arrivals: arrivals, departures: departures}
		if gro {
			c.gro = make([]byte, groBuffer)
		}
		return c, nil
	}))
}

// timedConn reads with recvmsg to get each datagram's kernel timestamp,
// and notes the time of each write. pion reads a socket from one goroutine
// only, which the control-message buffer relies on. It implements
// ice.AddrPortReaderWriter, so pion's reads and writes stay free of
// allocations.
type timedConn struct {
	*net.UDPConn
	arrivals, departures *packetTimes
	// oob has room for an SCM_TIMESTAMPNS and a UDP_GRO message; 8-byte
	// aligned.
	oob [12]uint64

	// gro, when not nil, is the buffer of a coalesced read; rest is what
	// is left of its datagrams, seg bytes each (the last may be shorter),
	// from restFrom, all stamped restAt.
	gro      []byte
	rest     []byte
	seg      int
	restFrom netip.AddrPort
	restAt   int64
}

func (c *timedConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.gro == nil {
		n, addr, at, _, err := c.readMsg(b)
		if err == nil && at != 0 {
			c.arrivals.record(b[:n], at)
		}
		return n, addr, err
	}
	if len(c.rest) == 0 {
		n, addr, at, seg, err := c.readMsg(c.gro)
		if err != nil {
			return 0, addr, err
		}
		if seg <= 0 {
			seg = n
		}
		c.rest, c.seg, c.restFrom, c.restAt = c.gro[:n], seg, addr, at
	}
	d := c.rest[:min(c.seg, len(c.rest))]
	c.rest = c.rest[len(d):]
	n := copy(b, d)
	if c.restAt != 0 {
		c.arrivals.record(b[:n], c.restAt)
	}
	return n, c.restFrom, nil
}

// readMsg reads one datagram (or, with UDP_GRO, one coalesced read) into
// b with its arrival time (0 when the kernel gave none) and segment size.
func (c *timedConn) readMsg(b []byte) (n int, addr netip.AddrPort, at int64, seg int, err error) {
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&c.oob[0])), len(c.oob)*8)
	n, oobn, _, addr, err := c.ReadMsgUDPAddrPort(b, oob)
	if err == nil {
		at, seg, _ = parseControl(oob[:oobn])
	}
	return n, addr, at, seg, err
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

// parseControl finds the arrival time (SCM_TIMESTAMPNS; ok says whether
// there is one) and the segment size of a coalesced read (UDP_GRO; 0 when
// there is none) among the control messages of one recvmsg, without
// allocating. oob must be 8-byte aligned.
func parseControl(oob []byte) (at int64, seg int, ok bool) {
	for len(oob) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < syscall.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := syscall.CmsgLen(0)
		switch {
		case h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS &&
			l >= data+int(unsafe.Sizeof(syscall.Timespec{})):
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[data]))
			at, ok = ts.Nano(), true
		case h.Level == solUDP && h.Type == udpGRO && l >= data+4:
			seg = int(*(*int32)(unsafe.Pointer(&oob[data])))
		}
		oob = oob[min(syscall.CmsgSpace(l-data), len(oob)):]
	}
	return at, seg, ok
}
