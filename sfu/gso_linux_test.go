//go:build linux

package sfu

import (
	"bytes"
	"net"
	"syscall"
	"testing"
)

// TestSegmentedSendFallsBack: where the kernel refuses a segmented send
// (here a socket without UDP checksums, which cannot segment), every
// datagram still arrives, one by one, and the socket stops trying.
func TestSegmentedSendFallsBack(t *testing.T) {
	for _, noChecksum := range []bool{false, true} {
		rx := listenLoopback(t, "udp4", "127.0.0.1")
		tx := listenLoopback(t, "udp4", "127.0.0.1")
		sock := mediaSocketOf(t, tx)
		if noChecksum {
			var serr error
			if err := sock.raw.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_NO_CHECK, 1)
			}); err != nil || serr != nil {
				t.Fatalf("SO_NO_CHECK: %v %v", err, serr)
			}
		}
		to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
		r := &route{sock: sock, to: to, dst: newSockaddr(to)}
		const seg, n = 1000, 5
		buf := randomBytes(t, seg*(n-1)+300)
		var w datagramWriter
		if err := w.writeSegments(r, buf, seg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 65536)
		for i := range n {
			d, _ := readDatagram(t, rx, got)
			if want := buf[i*seg : min((i+1)*seg, len(buf))]; !bytes.Equal(d, want) {
				t.Fatalf("no checksum %v: datagram %d is %d bytes, want %d", noChecksum, i, len(d), len(want))
			}
		}
		if noChecksum != sock.noGSO.Load() {
			t.Fatalf("no checksum %v: segmentation turned off: %v", noChecksum, sock.noGSO.Load())
		}
		want := uint64(1)
		if noChecksum {
			want = 0
		}
		if w.segmented != want {
			t.Fatalf("no checksum %v: %d segmented sends, want %d", noChecksum, w.segmented, want)
		}
	}
}
