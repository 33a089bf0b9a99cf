//go:build linux

package sfu

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"
)

// On Linux the direct path writes each datagram with a raw sendto(2) on the
// media socket's descriptor. net.UDPConn's WriteTo goes through the Go
// scheduler's system call protocol (entersyscall/exitsyscall), and when the
// scheduler's monitor thread sleeps, entering a system call wakes it: at tens
// of thousands of datagrams a second that churn cost more CPU than the
// writes' own user-space part (profile of 10 publishers × 10 subscribers:
// sysmon and thread switches ~25 % of server CPU). A UDP sendto on a
// non-blocking socket does not block, so a raw system call is safe; a full
// send buffer (EAGAIN) drops the datagram instead of waiting, as a congested
// network would.

// sockaddr is a destination in the kernel's sockaddr_in / sockaddr_in6 form,
// made once per route.
type sockaddr struct {
	raw [syscall.SizeofSockaddrInet6]byte
	n   uint32
}

func newSockaddr(ap netip.AddrPort) sockaddr {
	var sa sockaddr
	ip := ap.Addr()
	if ip.Is4() {
		// struct sockaddr_in: family (host order), port (network order),
		// address.
		*(*uint16)(unsafe.Pointer(&sa.raw[0])) = syscall.AF_INET
		binary.BigEndian.PutUint16(sa.raw[2:], ap.Port())
		a := ip.As4()
		copy(sa.raw[4:8], a[:])
		sa.n = syscall.SizeofSockaddrInet4
		return sa
	}
	// struct sockaddr_in6: family, port, flow info, address, scope id.
	*(*uint16)(unsafe.Pointer(&sa.raw[0])) = syscall.AF_INET6
	binary.BigEndian.PutUint16(sa.raw[2:], ap.Port())
	a := ip.As16()
	copy(sa.raw[8:24], a[:])
	sa.n = syscall.SizeofSockaddrInet6
	return sa
}

// datagramWriter writes datagrams for one goroutine (a track's forwarding
// goroutine, or a subscriber's RTCP goroutine for retransmissions). Its
// fields carry the arguments into the descriptor callback, so a write
// allocates nothing.
type datagramWriter struct {
	pkt   []byte
	dst   *sockaddr
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// writeTo sends pkt to r's destination on r's socket.
func (w *datagramWriter) writeTo(r *route, pkt []byte) error {
	if w.fn == nil {
		w.fn = w.sendto
	}
	w.pkt, w.dst, w.errno = pkt, &r.dst, 0
	err := r.sock.raw.Write(w.fn)
	w.pkt, w.dst = nil, nil
	if err != nil {
		return err
	}
	if w.errno != 0 {
		return w.errno
	}
	return nil
}

func (w *datagramWriter) sendto(fd uintptr) bool {
	_, _, w.errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd,
		uintptr(unsafe.Pointer(unsafe.SliceData(w.pkt))), uintptr(len(w.pkt)), 0,
		uintptr(unsafe.Pointer(&w.dst.raw[0])), uintptr(w.dst.n))
	return true // EAGAIN included: drop rather than wait
}
