package load

import (
	"encoding/binary"
	"testing"
)

// rtpHeader is a 12-byte RTP header with the given sequence number and SSRC.
func rtpHeader(pt byte, seq uint16, ssrc uint32) []byte {
	b := make([]byte, 12, 100)
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

func TestPacketTimes(t *testing.T) {
	a := newPacketTimes(2)
	a.record(rtpHeader(96, 7, 1234), 100)
	a.record(rtpHeader(111, 7, 99), 200)
	a.record(rtpHeader(200, 8, 1234), 300)          // RTCP sender report
	a.record([]byte{22, 254, 253, 0, 0, 0, 0}, 400) // DTLS
	a.record([]byte{0, 1, 0, 0}, 500)               // STUN
	if at, ok := a.lookup(1234, 7); !ok || at != 100 {
		t.Errorf("lookup(1234, 7) = %d, %v", at, ok)
	}
	if at, ok := a.lookup(99, 7); !ok || at != 200 {
		t.Errorf("lookup(99, 7) = %d, %v", at, ok)
	}
	if _, ok := a.lookup(1234, 8); ok {
		t.Error("an RTCP packet was recorded")
	}
	// A retransmission replaces the first arrival.
	a.record(rtpHeader(96, 7, 1234), 600)
	if at, _ := a.lookup(1234, 7); at != 600 {
		t.Errorf("after a retransmission: %d", at)
	}
	// A stream's last 4096 packets all keep their slots.
	n := uint16(len(a.slots))
	for seq := range n {
		a.record(rtpHeader(96, seq+1000, 42), int64(seq))
	}
	for seq := range n {
		if at, ok := a.lookup(42, seq+1000); !ok || at != int64(seq) {
			t.Fatalf("lookup(42, %d) = %d, %v", seq+1000, at, ok)
		}
	}
}

func TestNewPacketTimes(t *testing.T) {
	for _, tt := range []struct{ streams, slots int }{{0, 4096}, {2, 4096}, {4, 4096}, {5, 8192}, {48, 65536}, {200, 65536}} {
		if got := len(newPacketTimes(tt.streams).slots); got != tt.slots {
			t.Errorf("newPacketTimes(%d): %d slots, want %d", tt.streams, got, tt.slots)
		}
	}
}
