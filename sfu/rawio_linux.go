//go:build linux

package sfu

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/pion/transport/v4"
	"golang.org/x/sys/unix"
)

// Raw socket I/O on Linux.
//
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
	ip := ap.Addr().Unmap()
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
	to    sockaddr // scratch destination for pooled writers

	// UDP segmentation offload: the message, its one buffer and the
	// UDP_SEGMENT control message.
	gsoFn func(fd uintptr) bool
	msg   syscall.Msghdr
	iov   syscall.Iovec
	oob   [gsoCmsgSpace]byte
	// segmented counts the segmented sends made.
	segmented uint64
}

// UDP segmentation offload (GSO, Linux 4.18 and later): one sendmsg(2)
// carries several datagrams for one destination, laid end to end in one
// buffer, all of one size but the last, which may be shorter; the kernel
// (or the network card) cuts them apart after routing and the IP and UDP
// output path, which then run once for all of them. A video frame's
// packets to one subscriber go out this way (batch.go): on loopback a
// datagram costs ~1.4 µs of the sender's CPU inside a 6-datagram send
// against ~4 µs alone.
const (
	solUDP     = 17  // SOL_UDP
	udpSegment = 103 // UDP_SEGMENT
	// gsoCmsgSpace is CMSG_SPACE(sizeof(uint16)).
	gsoCmsgSpace = syscall.SizeofCmsghdr + 8
)

// gsoSupported tells whether this build can send segmented datagrams.
const gsoSupported = true

// writeSegments sends buf to r's destination as datagrams of seg bytes, the
// last possibly shorter: with one segmented send where the socket allows
// it, else one datagram at a time. It returns the first error; datagrams
// after a failed one are not sent.
func (w *datagramWriter) writeSegments(r *route, buf []byte, seg int) error {
	if len(buf) <= seg {
		return w.writeTo(r, buf)
	}
	if r.sock.gsoAllowed(seg, len(buf)) {
		err := w.sendSegmented(r.sock.raw, buf, seg, &r.dst)
		if err == nil {
			w.segmented++
			return nil
		}
		if !gsoUnsupported(err) {
			return err
		}
		r.sock.disableGSO(err)
	}
	return w.writeEach(r, buf, seg)
}

// sendSegmented makes one sendmsg with a UDP_SEGMENT of seg bytes.
func (w *datagramWriter) sendSegmented(raw syscall.RawConn, buf []byte, seg int, dst *sockaddr) error {
	if w.gsoFn == nil {
		w.gsoFn = w.sendmsg
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&w.oob[0]))
		h.Level, h.Type = solUDP, udpSegment
		h.SetLen(syscall.SizeofCmsghdr + 2)
	}
	*(*uint16)(unsafe.Pointer(&w.oob[syscall.SizeofCmsghdr])) = uint16(seg)
	w.iov.Base = unsafe.SliceData(buf)
	w.iov.SetLen(len(buf))
	w.msg = syscall.Msghdr{
		Name:    &dst.raw[0],
		Namelen: dst.n,
		Iov:     &w.iov,
		Iovlen:  1,
		Control: &w.oob[0],
	}
	w.msg.SetControllen(gsoCmsgSpace)
	w.errno = 0
	err := raw.Write(w.gsoFn)
	w.iov.Base, w.msg = nil, syscall.Msghdr{}
	return w.outcome(err, "sendmsg")
}

// outcome is the error of a write whose descriptor callback returned err
// and left w.errno from the system call op.
func (w *datagramWriter) outcome(err error, op string) error {
	if err != nil {
		return err
	}
	if w.errno != 0 {
		return os.NewSyscallError(op, w.errno)
	}
	return nil
}

func (w *datagramWriter) sendmsg(fd uintptr) bool {
	_, _, w.errno = syscall.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&w.msg)), 0)
	return true // EAGAIN included: drop rather than wait
}

// gsoUnsupported tells the errors of a segmented send that mean the socket
// or its route cannot segment (an old kernel, no checksum offload, IPsec),
// as against a full buffer.
func gsoUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.ENOPROTOOPT) || errors.Is(err, syscall.EOPNOTSUPP)
}

// writeTo sends pkt to r's destination on r's socket.
func (w *datagramWriter) writeTo(r *route, pkt []byte) error {
	return w.write(r.sock.raw, pkt, &r.dst)
}

// write sends pkt to dst on the socket behind raw.
func (w *datagramWriter) write(raw syscall.RawConn, pkt []byte, dst *sockaddr) error {
	if w.fn == nil {
		w.fn = w.sendto
	}
	w.pkt, w.dst, w.errno = pkt, dst, 0
	err := raw.Write(w.fn)
	w.pkt, w.dst = nil, nil
	return w.outcome(err, "sendto")
}

func (w *datagramWriter) sendto(fd uintptr) bool {
	_, _, w.errno = syscall.RawSyscall6(unix.SYS_SENDTO, fd,
		uintptr(unsafe.Pointer(unsafe.SliceData(w.pkt))), uintptr(len(w.pkt)), 0,
		uintptr(unsafe.Pointer(&w.dst.raw[0])), uintptr(w.dst.n))
	return true // EAGAIN included: drop rather than wait
}

// rawReadConn is a media socket as pion's UDP mux sees it: a *net.UDPConn
// whose reads are raw recvfrom calls, for the same reason as the direct
// path's writes. Each publisher packet, RTCP packet and STUN check is one
// read; with net.UDPConn each read enters the scheduler's system call
// protocol and wakes its monitor thread, which then polls every 20 µs for a
// millisecond. The mux reads from one goroutine; mu keeps the per-call
// fields safe should there be more.
type rawReadConn struct {
	*net.UDPConn
	raw syscall.RawConn

	mu      sync.Mutex
	buf     []byte
	n       int
	from    syscall.RawSockaddrAny
	fromLen uint32
	errno   syscall.Errno
	fn      func(fd uintptr) bool

	writers sync.Pool // of *datagramWriter

	// rx takes the datagrams of peers with a direct route (receive.go).
	rx *receivers
}

// wrapMediaConn gives pion's mux a socket that reads with raw system calls.
func wrapMediaConn(c *net.UDPConn, raw syscall.RawConn, rx *receivers) transport.UDPConn {
	r := &rawReadConn{UDPConn: c, raw: raw, rx: rx}
	r.fn = r.recvfrom
	r.writers.New = func() any { return new(datagramWriter) }
	return r
}

// ReadFromAddrPort reads one datagram for pion (ice.AddrPortReaderWriter,
// which pion's mux prefers to ReadFrom). Datagrams the direct receive path
// takes are not returned; it reads on.
func (c *rawReadConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() { c.buf = nil }()
	for {
		c.buf, c.n, c.errno = b, 0, 0
		if err := c.raw.Read(c.fn); err != nil {
			return 0, netip.AddrPort{}, err
		}
		if c.errno != 0 {
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Addr: c.LocalAddr(), Err: os.NewSyscallError("recvfrom", c.errno)}
		}
		from, ok := addrPortOf(&c.from)
		if !ok {
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Addr: c.LocalAddr(), Err: syscall.EAFNOSUPPORT}
		}
		if c.rx != nil && c.rx.take(b[:c.n], from) {
			continue
		}
		return c.n, from, nil
	}
}

// WriteToAddrPort writes one datagram (the other half of
// ice.AddrPortReaderWriter): pion's own writes (RTCP, STUN, DTLS, and RTP
// before the direct route is known), raw like the direct path's, with a
// pooled writer since they come from many goroutines.
func (c *rawReadConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	w := c.writers.Get().(*datagramWriter)
	defer c.writers.Put(w)
	w.to = newSockaddr(addr)
	if err := w.write(c.raw, b, &w.to); err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(addr), Err: err}
	}
	return len(b), nil
}

func (c *rawReadConn) recvfrom(fd uintptr) bool {
	for {
		c.fromLen = syscall.SizeofSockaddrAny
		n, _, e := syscall.RawSyscall6(unix.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(c.buf))), uintptr(len(c.buf)), 0,
			uintptr(unsafe.Pointer(&c.from)), uintptr(unsafe.Pointer(&c.fromLen)))
		switch e {
		case 0:
			c.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait until readable
		default:
			c.errno = e
			return true
		}
	}
}

// addrPortOf reads a sockaddr_in or sockaddr_in6 filled in by the kernel.
func addrPortOf(sa *syscall.RawSockaddrAny) (netip.AddrPort, bool) {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		in := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), port), true
	case syscall.AF_INET6:
		in := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr), port), true
	}
	return netip.AddrPort{}, false
}
