package sfu

import (
	"sync"
	"time"
)

// DefaultKeyframeInterval is the least time between two keyframe requests sent
// to one publisher's track.
const DefaultKeyframeInterval = 500 * time.Millisecond

// keyframeThrottle decides whether a keyframe request may go to the publisher
// now. Subscribers ask freely (each PLI or FIR they send, each new subscriber);
// the publisher sees at most one request per interval, and a request that comes
// too soon is not lost: it is granted when the interval has passed (the caller
// retries through pending).
type keyframeThrottle struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
	pending  bool
}

// request records a request at now and reports whether to send a PLI now.
func (k *keyframeThrottle) request(now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last.IsZero() || now.Sub(k.last) >= k.interval {
		k.last = now
		k.pending = false
		return true
	}
	k.pending = true
	return false
}

// due reports whether a deferred request should be sent at now, and if so marks
// it sent.
func (k *keyframeThrottle) due(now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.pending || now.Sub(k.last) < k.interval {
		return false
	}
	k.last = now
	k.pending = false
	return true
}
