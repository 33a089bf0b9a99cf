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

// TestArrivalConn reads a datagram through a timestamped socket: the kernel
// stamps it between its sending and its reading, and reading allocates
// nothing.
func TestArrivalConn(t *testing.T) {
	table := newArrivals(2)
	n, err := newArrivalNet(table)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ac, ok := conn.(*arrivalConn)
	if !ok {
		t.Fatalf("conn is a %T", conn)
	}
	sender, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))

	before := time.Now().UnixNano()
	if _, err := sender.Write(rtpHeader(96, 5, 77)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	if _, _, err := ac.ReadFromAddrPort(buf); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	at, ok := table.lookup(77, 5)
	if !ok || at < before || at > after {
		t.Errorf("arrival %d, %v; sent after %d, read before %d", at, ok, before, after)
	}

	seq := uint16(6)
	allocs := testing.AllocsPerRun(50, func() {
		_, _ = sender.Write(rtpHeader(96, seq, 77))
		seq++
		_, _, _ = ac.ReadFromAddrPort(buf)
	})
	// rtpHeader allocates its buffer; reading must add nothing.
	if allocs > 1 {
		t.Errorf("%.1f allocations per datagram", allocs)
	}
}
