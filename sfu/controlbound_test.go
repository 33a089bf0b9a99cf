package sfu

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestControlRateBound: what a peer sends besides RTP (here RTCP, then a
// STUN-sized runt) beyond its bound is dropped by the socket's reader
// (taken, counted) instead of reaching pion: a second's worth at once, then
// the bound's rate, which grows with the streams the peer receives. What
// comes from an address not yet known to be the peer's is left to pion.
func TestControlRateBound(t *testing.T) {
	rx := newDirectReceiver(slog.New(slog.DiscardHandler), nil)
	var now time.Duration // since rx's epoch, when its bucket started
	rx.clock = func() time.Time { return rx.epoch.Add(now) }
	rr, err := (&rtcp.ReceiverReport{SSRC: 1}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	send := func(n int) (toPion int) {
		for range n {
			if !rx.receive(rr, false) {
				toPion++
			}
		}
		return toPion
	}
	if got := send(1500); got != controlRate {
		t.Fatalf("%d of 1500 RTCP packets at once went to pion, want %d", got, controlRate)
	}
	if got := rx.controlDropped.Load(); got != 500 {
		t.Fatalf("%d dropped counted, want 500", got)
	}
	if rx.receive(rr, true) {
		t.Fatal("RTCP from an address being learned was dropped")
	}
	stun := make([]byte, 20) // a STUN header: first two bits 0
	if !rx.receive(stun, false) {
		t.Fatal("a STUN message went to pion with the bound spent")
	}
	now += 50 * time.Millisecond
	if got := send(200); got != controlRate/20 {
		t.Fatalf("%d RTCP packets went to pion 50 ms later, want %d", got, controlRate/20)
	}
	// Receiving 100 streams raises the bound by controlPerStream each.
	rx.subscribed.Store(100)
	now += 50 * time.Millisecond
	if got, want := send(1000), (controlRate+100*controlPerStream)/20; got != want {
		t.Fatalf("%d RTCP packets went to pion 50 ms later with 100 streams, want %d", got, want)
	}
}
