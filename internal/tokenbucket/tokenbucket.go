// Package tokenbucket holds the token bucket behind the server's rate
// limits: signaling messages per connection, media bytes per publishing
// participant, RTCP and ICE packets per peer.
package tokenbucket

import "time"

// Bucket earns Rate tokens a second and holds at most Burst. It has no lock:
// its owner serializes the calls. Rate and Burst may be changed between
// calls; the next Take earns at the new rate.
type Bucket struct {
	Rate, Burst float64

	tokens float64
	last   time.Time // when tokens was last earned
}

// New returns a full bucket that starts earning at now.
func New(rate, burst float64, now time.Time) Bucket {
	return Bucket{Rate: rate, Burst: burst, tokens: burst, last: now}
}

// Take earns what has accrued by now and takes n tokens, reporting false
// (and taking nothing) when the bucket holds fewer. A now no later than the
// last earns nothing: callers that read the clock before taking their lock
// may come in a little out of order.
func (b *Bucket) Take(n float64, now time.Time) bool {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.Burst, b.tokens+dt.Seconds()*b.Rate)
		b.last = now
	}
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}
