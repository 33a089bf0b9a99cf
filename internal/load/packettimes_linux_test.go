package load

import (
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestParseTimestampNS(t *testing.T) {
	var buf [16]uint64
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
	// Another message first, then the timestamp.
	first := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	first.Level, first.Type = syscall.SOL_IP, syscall.IP_TTL
	first.SetLen(syscall.CmsgLen(4))
	off := syscall.CmsgSpace(4)
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[off]))
	h.Level, h.Type = syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS
	h.SetLen(syscall.CmsgLen(int(unsafe.Sizeof(syscall.Timespec{}))))
	*(*syscall.Timespec)(unsafe.Pointer(&oob[off+syscall.CmsgLen(0)])) = syscall.Timespec{Sec: 12, Nsec: 345}
	n := off + syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{})))
	if at, ok := parseTimestampNS(oob[:n]); !ok || at != 12_000_000_345 {
		t.Errorf("parseTimestampNS = %d, %v", at, ok)
	}
	if _, ok := parseTimestampNS(oob[:off]); ok {
		t.Error("found a timestamp in a TTL message")
	}
	if _, ok := parseTimestampNS(nil); ok {
		t.Error("found a timestamp in nothing")
	}
}

// TestTimedConn sends a datagram through a timed socket and reads it
// through another: the departure is noted before the sending, the kernel
// stamps the arrival between the sending and the reading, and neither
// reading nor writing allocates.
func TestTimedConn(t *testing.T) {
	arrivals, departures := newPacketTimes(2), newPacketTimes(2)
	open := func(arr, dep *packetTimes) *timedConn {
		t.Helper()
		n, err := newTimedNet(arr, dep)
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
	receiver := open(arrivals, nil)
	sender := open(newPacketTimes(2), departures)
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
