package sfu

import (
	"sync"
	"time"
)

// publishBudget caps the RTP one participant sends the server, all its
// tracks together: a token bucket of bytes, earned at the cap's rate and
// holding a second of it. Every byte a publisher sends is copied to each
// subscriber, so one participant flooding its tracks (a malicious client,
// or a broken one) would take the server's CPU and uplink from every other
// room. Packets over the cap are dropped after the track's bookkeeping:
// the server does not NACK what it dropped itself. The cap is far above
// what browsers send (a camera at 2.5 Mbit/s, a screen share bursting to a
// few), so it touches only floods.
//
// The tracks' forwarders share the budget, each taking it once per packet
// for a few arithmetic operations; no write happens under the lock.
type publishBudget struct {
	rate, burst float64 // bytes per second, bytes

	mu     sync.Mutex
	tokens float64
	at     time.Time // when tokens was last earned
}

// newPublishBudget returns the budget of a participant capped at
// bitsPerSecond, or nil (no cap) when it is 0.
func newPublishBudget(bitsPerSecond int64) *publishBudget {
	if bitsPerSecond <= 0 {
		return nil
	}
	rate := float64(bitsPerSecond) / 8
	return &publishBudget{rate: rate, burst: rate, tokens: rate}
}

// allow spends n bytes received at now, and reports false when the budget
// does not hold them. A nil budget allows everything.
func (b *publishBudget) allow(n int, now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() {
		b.at = now
	} else if dt := now.Sub(b.at); dt > 0 {
		// Tracks read the clock before taking the lock, so now may be a
		// little behind the last one: it then earns nothing.
		b.tokens = min(b.burst, b.tokens+dt.Seconds()*b.rate)
		b.at = now
	}
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
