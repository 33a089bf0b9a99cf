package load

import (
	"bytes"
	"encoding/binary"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestParseControl: the arrival time and the segment size are found among
// other control messages, in either order; garbage yields neither.
func TestParseControl(t *testing.T) {
	var buf [16]uint64
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
	off := 0
	put := func(level, typ int32, data []byte) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[off]))
		h.Level, h.Type = level, typ
		h.SetLen(syscall.CmsgLen(len(data)))
		copy(oob[off+syscall.CmsgLen(0):], data)
		off += syscall.CmsgSpace(len(data))
	}
	put(syscall.SOL_IP, syscall.IP_TTL, []byte{64, 0, 0, 0})
	ttl := off
	put(solUDP, udpGRO, binary.NativeEndian.AppendUint32(nil, 1188))
	gro := off
	ts := syscall.Timespec{Sec: 12, Nsec: 345}
	put(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)))
	if at, seg, ok := parseControl(oob[:off]); !ok || at != 12_000_000_345 || seg != 1188 {
		t.Errorf("parseControl = %d, %d, %v; want 12000000345, 1188, true", at, seg, ok)
	}
	if _, seg, ok := parseControl(oob[:gro]); ok || seg != 1188 {
		t.Errorf("without the timestamp: seg %d, ok %v", seg, ok)
	}
	if _, seg, ok := parseControl(oob[:ttl]); ok || seg != 0 {
		t.Errorf("a TTL message alone: seg %d, ok %v", seg, ok)
	}
	if _, _, ok := parseControl(nil); ok {
		t.Error("found a timestamp in nothing")
	}
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.SetLen(off + 8) // longer than the buffer
	if _, seg, ok := parseControl(oob[:off]); ok || seg != 0 {
		t.Errorf("a malformed message: seg %d, ok %v", seg, ok)
	}
}

// openTimed opens a timed socket on loopback.
func openTimed(t *testing.T, arr, dep *packetTimes, gro bool) *timedConn {
	t.Helper()
	n, err := newTimedNet(arr, dep, gro)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	tc, ok := conn.(*timedConn)
	if !ok {
		t.Fatalf("conn is a %T", conn)
	}
	return tc
}

// TestTimedConnGRO: a segmented send reaches a GRO socket whole and comes
// out of it as its datagrams, in order, each with its own arrival noted
// and the sender's address; then a lone datagram after it.
func TestTimedConnGRO(t *testing.T) {
	arrivals := newPacketTimes(2)
	receiver := openTimed(t, arrivals, nil, true)
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	to := receiver.LocalAddr().(*net.UDPAddr).AddrPort()
	_ = receiver.SetReadDeadline(time.Now().Add(5 * time.Second))

	const seg = 200
	var want [][]byte
	var send []byte
	for i := range 4 {
		d := make([]byte, seg)
		if i == 3 {
			d = d[:seg/2] // the last may be shorter
		}
		copy(d, rtpHeader(96, uint16(10+i), 77))
		d[len(d)-1] = byte(i)
		want = append(want, d)
		send = append(send, d...)
	}
	var oobBuf [4]uint64
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&oobBuf[0])), syscall.CmsgSpace(2))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = solUDP, 103 // UDP_SEGMENT
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[syscall.CmsgLen(0):], seg)
	if _, _, err := sender.WriteMsgUDPAddrPort(send, oob, to); err != nil {
		t.Fatalf("segmented send: %v", err)
	}
	lone := rtpHeader(96, 14, 77)
	if _, err := sender.WriteToUDPAddrPort(lone, to); err != nil {
		t.Fatal(err)
	}
	want = append(want, lone)

	from := sender.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 1500)
	for i, w := range want {
		n, addr, err := receiver.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], w) || addr != from {
			t.Fatalf("datagram %d: %d bytes from %v, want %d from %v", i, n, addr, len(w), from)
		}
		if i == 0 && len(receiver.rest) == 0 {
			t.Fatal("the segmented send was not read whole (does the kernel lack UDP_GRO?)")
		}
		if _, ok := arrivals.lookup(77, uint16(10+i)); !ok {
			t.Fatalf("datagram %d: no arrival noted", i)
		}
	}
}

// TestTimedConn sends a datagram through a timed socket and reads it
// through another: the departure is noted before the sending, the kernel
// stamps the arrival between the sending and the reading, and neither
// reading nor writing allocates.
func TestTimedConn(t *testing.T) {
	arrivals, departures := newPacketTimes(2), newPacketTimes(2)
	receiver := openTimed(t, arrivals, nil, false)
	sender := openTimed(t, newPacketTimes(2), departures, false)
	to := receiver.LocalAddr().(*net.UDPAddr).AddrPort()
	_ = receiver.SetReadDeadline(time.Now().Add(5 * time.Second))

	before := time.Now().UnixNano()
	if _, err := sender.WriteToAddrPort(rtpHeader(96, 5, 77), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if _, _, err := receiver.ReadFromAddrPort(buf); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	left, ok1 := departures.lookup(77, 5)
	arrived, ok2 := arrivals.lookup(77, 5)
	if !ok1 || !ok2 || left < before || arrived < left || arrived > after {
		t.Errorf("departure %d (%v), arrival %d (%v); sent after %d, read before %d", left, ok1, arrived, ok2, before, after)
	}

	pkt := rtpHeader(96, 6, 77)
	allocs := testing.AllocsPerRun(50, func() {
		pkt[3]++
		_, _ = sender.WriteToAddrPort(pkt, to)
		_, _, _ = receiver.ReadFromAddrPort(buf)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per datagram", allocs)
	}
}
