package sfu

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestControlRateBound: what a peer sends besides RTP (here RTCP, then a
// STUN-sized runt) beyond a burst of controlBurst, then controlRate a
// second, is dropped by the socket's reader (taken, counted) instead of
// reaching pion; what comes from an address not yet known to be the peer's
// is left to pion.
func TestControlRateBound(t *testing.T) {
	rx := newDirectReceiver(slog.New(slog.DiscardHandler), nil)
	rr, err := (&rtcp.ReceiverReport{SSRC: 1}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	toPion := 0
	for range 1500 {
		if !rx.receive(rr, false) {
			toPion++
		}
	}
	// The loop takes well under a millisecond: a token or two earned.
	if toPion < controlBurst || toPion > controlBurst+10 {
		t.Fatalf("%d of 1500 RTCP packets at once went to pion, want about %d", toPion, controlBurst)
	}
	dropped := uint64(1500 - toPion)
	if got := rx.controlDropped.Load(); got != dropped {
		t.Fatalf("%d dropped counted, want %d", got, dropped)
	}
	if rx.receive(rr, true) {
		t.Fatal("RTCP from an address being learned was dropped")
	}
	stun := make([]byte, 20) // a STUN header: first two bits 0
	if !rx.receive(stun, false) {
		t.Fatal("a STUN message went to pion with the bound spent")
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
