package sfu

import (
	"time"

	"github.com/pion/rtcp"
)

// Retransmission limits. A subscriber's NACKs are answered from the track's
// packet cache on the subscriber's RTCP goroutine. Unbounded, one RTCP
// packet of NACKs (a few hundred pairs of 17 sequence numbers each) makes
// the server resend thousands of packets, and a client sending such packets
// in a loop spends the server's CPU and uplink as no other subscriber
// could: an amplification any participant can aim at the server, and what
// a buggy client may do by mistake. As libwebrtc does with its own
// retransmissions, each down track
//   - resends a packet at most once per round trip to the subscriber: a
//     request repeated sooner cannot have seen the first answer yet;
//   - spends a byte budget that it earns as the publisher sends (so the
//     retransmissions to one subscriber stay within the stream's own
//     rate) plus a floor for slow streams, and that holds at most a burst.
//
// The state belongs to the subscriber's RTCP goroutine for the track, the
// only one that retransmits to it, so it needs no lock.

const (
	// resendFloorRate is the budget earned per second however slow the
	// stream (256 kbit/s).
	resendFloorRate = 32 << 10
	// resendBurst is the most bytes the budget holds: a lost keyframe of a
	// few Mbit/s stream.
	resendBurst = 256 << 10
	// resendMinInterval and resendMaxInterval bound the interval between two
	// resends of one packet; resendDefaultInterval is used until the round
	// trip is known.
	resendMinInterval     = 5 * time.Millisecond
	resendMaxInterval     = time.Second
	resendDefaultInterval = 20 * time.Millisecond
)

// resendLimiter is one down track's retransmission limits.
type resendLimiter struct {
	// epoch is the limiter's start; times are nanoseconds since it, read
	// from the monotonic clock.
	epoch time.Time
	// at is when the packet in each cache slot was last resent (0: never),
	// seq which packet that was.
	at  [cacheSize]int64
	seq [cacheSize]uint16
	// budget is the bytes the down track may resend now; earnedAt and
	// streamBytes are the time and the track's byte count it was last
	// topped up at.
	budget      float64
	earnedAt    int64
	streamBytes uint64
	started     bool
	// rtt is the round trip to the subscriber, 0 until known.
	rtt time.Duration
}

// newResendLimiter returns a down track's limits, with a full budget.
func newResendLimiter() *resendLimiter {
	return &resendLimiter{epoch: time.Now(), budget: resendBurst}
}

// now is the time on the limiter's clock: nanoseconds since its epoch,
// never 0.
func (l *resendLimiter) now() int64 { return int64(time.Since(l.epoch)) + 1 }

// earn tops the budget up at now, when the track has read streamBytes bytes
// from the publisher in all.
func (l *resendLimiter) earn(now int64, streamBytes uint64) {
	if !l.started {
		l.started, l.earnedAt, l.streamBytes = true, now, streamBytes
		return
	}
	if dt := now - l.earnedAt; dt > 0 {
		l.budget = min(resendBurst, l.budget+float64(streamBytes-l.streamBytes)+resendFloorRate*float64(dt)/1e9)
		l.earnedAt, l.streamBytes = now, streamBytes
	}
}

// recent reports whether the packet seq was resent less than a round trip
// before now.
func (l *resendLimiter) recent(seq uint16, now int64) bool {
	i := seq & (cacheSize - 1)
	return l.seq[i] == seq && l.at[i] != 0 && now-l.at[i] < int64(l.interval())
}

// spent reports whether the budget is spent: nothing more is resent
// until it is earned back.
func (l *resendLimiter) spent() bool { return l.budget <= 0 }

// take spends size bytes of the budget on resending seq at now. The last
// packet a budget allows may overdraw it, by less than one packet.
func (l *resendLimiter) take(seq uint16, size int, now int64) {
	l.budget -= float64(size)
	i := seq & (cacheSize - 1)
	l.seq[i], l.at[i] = seq, now
}

// interval is the least time between two resends of one packet.
func (l *resendLimiter) interval() time.Duration {
	if l.rtt == 0 {
		return resendDefaultInterval
	}
	return min(max(l.rtt, resendMinInterval), resendMaxInterval)
}

// roundTrip returns the round trip to the subscriber that a reception
// report of the down track ssrc gives at now (RFC 3550 §6.4.1: now less the
// time of the server's sender report it echoes and the delay since), and
// false when the report echoes none.
func roundTrip(reports []rtcp.ReceptionReport, ssrc uint32, now time.Time) (time.Duration, bool) {
	for _, r := range reports {
		if r.SSRC != ssrc || r.LastSenderReport == 0 {
			continue
		}
		d := uint32(ntpTime(now)>>16) - r.LastSenderReport - r.Delay // 1/65536 s
		if d >= 1<<31 {
			return 0, false // from the future: a clock step, or a forged report
		}
		// At least a microsecond: 0 means "not known" to the limiter.
		return max(time.Duration(uint64(d)*uint64(time.Second)>>16), time.Microsecond), true
	}
	return 0, false
}
