package sfu

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestRTCPRateBound: a peer's RTCP beyond a burst of rtcpBurst, then
// rtcpRate a second, is dropped by the socket's reader (taken, counted)
// instead of reaching pion; what comes from an address not yet known to be
// the peer's is left to pion, and RTP is not counted against the bound.
func TestRTCPRateBound(t *testing.T) {
	rx := newDirectReceiver(slog.New(slog.DiscardHandler), nil)
	rr, err := (&rtcp.ReceiverReport{SSRC: 1}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !isRTCP(rr) {
		t.Fatal("a receiver report not taken for RTCP")
	}
	toPion := 0
	for range 1500 {
		if !rx.receive(rr, false) {
			toPion++
		}
	}
	// The loop takes well under a millisecond: a token or two earned.
	if toPion < rtcpBurst || toPion > rtcpBurst+10 {
		t.Fatalf("%d of 1500 RTCP packets at once went to pion, want about %d", toPion, rtcpBurst)
	}
	if got := rx.rtcpDropped.Load(); got != uint64(1500-toPion) {
		t.Fatalf("%d dropped counted, want %d", got, 1500-toPion)
	}
	if rx.receive(rr, true) {
		t.Fatal("RTCP from an address being learned was dropped")
	}
	slept := time.Now()
	time.Sleep(50 * time.Millisecond)
	toPion = 0
	for range 200 {
		if !rx.receive(rr, false) {
			toPion++
		}
	}
	// At the rate of 1000 a second: at least the 50 ms slept, at most the
	// time that has passed (a busy machine oversleeps).
	most := min(200, int(time.Since(slept).Milliseconds())+2)
	if toPion < 49 || toPion > most {
		t.Fatalf("%d RTCP packets went to pion after 50 ms, want 50 to %d", toPion, most)
	}
}
