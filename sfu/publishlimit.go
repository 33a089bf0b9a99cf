package sfu

import (
	"sync"
	"time"

	"github.com/confab/confab/internal/tokenbucket"
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
	mu     sync.Mutex
	bucket tokenbucket.Bucket
}

// newPublishBudget returns the budget, starting full at now, of a
// participant capped at bitsPerSecond, or nil (no cap) when it is 0.
func newPublishBudget(bitsPerSecond int64, now time.Time) *publishBudget {
	if bitsPerSecond <= 0 {
		return nil
	}
	rate := float64(bitsPerSecond) / 8
	return &publishBudget{bucket: tokenbucket.New(rate, rate, now)}
}

// allow spends n bytes received at now, and reports false when the budget
// does not hold them. A nil budget allows everything. Tracks read the clock
// before taking the lock, so now may be a little behind the last one: it
// then earns nothing.
func (b *publishBudget) allow(n int, now time.Time) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bucket.Take(float64(n), now)
}
