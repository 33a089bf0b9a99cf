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
type datagramWriter struct{}

// writeTo sends pkt to r's destination on r's socket.
func (w *datagramWriter) writeTo(r *route, pkt []byte) error {
	_, err := r.sock.conn.WriteToUDPAddrPort(pkt, r.to)
	return err
}

// wrapMediaConn leaves the socket as it is off Linux.
func wrapMediaConn(c *net.UDPConn, _ syscall.RawConn) transport.UDPConn { return c }
