package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// TestResendLimiterInterval: a packet is resent again only once the
// interval has passed: the round trip to the subscriber, kept within
// bounds, or a default before it is known.
func TestResendLimiterInterval(t *testing.T) {
	const ms = int64(time.Millisecond)
	l := newResendLimiter()
	l.earn(0, 0)
	l.take(7, 100, 1000*ms)
	for _, tc := range []struct {
		rtt    time.Duration
		after  int64
		recent bool
	}{
		{0, 1 * ms, true}, {0, 19 * ms, true}, {0, 21 * ms, false},
		{100 * time.Millisecond, 60 * ms, true}, {100 * time.Millisecond, 101 * ms, false},
		{time.Millisecond, 4 * ms, true}, {time.Millisecond, 6 * ms, false}, // at least resendMinInterval
		{time.Minute, 999 * ms, true}, {time.Minute, 1001 * ms, false}, // at most resendMaxInterval
	} {
		l.rtt = tc.rtt
		if got := l.recent(7, 1000*ms+tc.after); got != tc.recent {
			t.Errorf("rtt %v, %d ms after: recent %v, want %v", tc.rtt, tc.after/ms, got, tc.recent)
		}
	}
	if l.recent(7+cacheSize, 1001*ms) {
		t.Error("a packet sharing the slot counted as resent")
	}
}

// TestResendLimiterBudget: the budget starts full, is spent by what is
// resent (the last packet may overdraw it), and is earned back as the
// publisher sends plus the floor rate, never above the burst.
func TestResendLimiterBudget(t *testing.T) {
	l := newResendLimiter()
	l.earn(0, 1000)
	n := 0
	for ; !l.spent(); n++ {
		l.take(uint16(n), 1200, 0)
	}
	if want := (resendBurst + 1199) / 1200; n != want {
		t.Fatalf("%d packets of 1200 bytes from a full budget, want %d", n, want)
	}
	// 10 ms later the publisher has sent 6000 bytes: about 6000 + 327 earned.
	l.earn(int64(10*time.Millisecond), 7000)
	if l.spent() || l.budget > 6400 {
		t.Fatalf("budget %.0f after earning about 6300", l.budget)
	}
	l.earn(int64(time.Hour), 1<<40)
	if l.budget != resendBurst {
		t.Fatalf("budget %.0f, want at most %d", l.budget, resendBurst)
	}
	// A clock reading no later than the last earns nothing, and the
	// publisher's bytes since are earned at the next later one.
	l.take(1, resendBurst, int64(time.Hour))
	l.earn(int64(time.Hour), 1<<40+5000)
	if l.budget != 0 {
		t.Fatalf("budget %.0f after earning at the same instant, want 0", l.budget)
	}
	l.earn(int64(time.Hour)+1, 1<<40+5000)
	if l.budget < 5000 || l.budget > 5001 {
		t.Fatalf("budget %.0f, want the 5000 bytes the publisher sent", l.budget)
	}
}

// TestRoundTrip: the round trip from a reception report is now less the
// echoed sender report's time and the delay since it (RFC 3550 §6.4.1); a
// report about another SSRC, one echoing no sender report, or one that
// would put the sender report in the future gives none.
func TestRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	sr := uint32(ntpTime(now.Add(-50*time.Millisecond)) >> 16)
	delay := uint32(30 * 65536 / 1000) // 30 ms
	rtt, ok := roundTrip([]rtcp.ReceptionReport{{SSRC: 9}, {SSRC: 5, LastSenderReport: sr, Delay: delay}}, 5, now)
	if !ok || rtt < 19*time.Millisecond || rtt > 21*time.Millisecond {
		t.Fatalf("round trip %v, %v; want 20 ms", rtt, ok)
	}
	for name, r := range map[string]rtcp.ReceptionReport{
		"no sender report": {SSRC: 5},
		"future":           {SSRC: 5, LastSenderReport: sr, Delay: delay * 3},
		"another SSRC":     {SSRC: 6, LastSenderReport: sr, Delay: delay},
	} {
		if rtt, ok := roundTrip([]rtcp.ReceptionReport{r}, 5, now); ok {
			t.Errorf("%s: round trip %v", name, rtt)
		}
	}
}
