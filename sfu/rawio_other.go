//go:build !linux

package sfu

import (
	"net"
	"net/netip"
	"syscall"

	"github.com/pion/transport/v4"
)

// sockaddr is unused where datagrams go through net.UDPConn.
type sockaddr struct{}

func newSockaddr(netip.AddrPort) sockaddr { return sockaddr{} }

// datagramWriter writes datagrams for one goroutine; off Linux it is
// net.UDPConn's WriteToUDPAddrPort.
type datagramWriter struct {
	// segmented counts the segmented sends made: none here.
	segmented uint64
}

// writeTo sends pkt to r's destination on r's socket.
func (w *datagramWriter) writeTo(r *route, pkt []byte) error {
	_, err := r.sock.conn.WriteToUDPAddrPort(pkt, r.to)
	return err
}

// gsoSupported tells whether this build can send segmented datagrams: not
// off Linux.
const gsoSupported = false

// writeSegments sends buf to r's destination as datagrams of seg bytes, the
// last possibly shorter, one at a time.
func (w *datagramWriter) writeSegments(r *route, buf []byte, seg int) error {
	return w.writeEach(r, buf, seg)
}

// wrapMediaConn leaves the socket as it is off Linux.
func wrapMediaConn(c *net.UDPConn, _ syscall.RawConn, _ *receivers) transport.UDPConn { return c }
