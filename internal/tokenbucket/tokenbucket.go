// Package tokenbucket holds the token bucket behind the server's rate
// limits: signaling messages and bytes per connection, session
// descriptions per participant, media bytes per publishing participant,
// RTCP and ICE packets per peer.
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
	b.earn(now)
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// Spend earns what has accrued by now and takes n tokens even when the
// bucket holds fewer, going into debt; it returns how long from now until
// the debt is paid (0 when there is none). A reader that waits that long
// after each spend reads no faster than Rate, and at once no more than
// Burst plus one spend.
func (b *Bucket) Spend(n float64, now time.Time) time.Duration {
	b.earn(now)
	b.tokens -= n
	if b.tokens >= 0 || b.Rate <= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.Rate * float64(time.Second))
}

// earn adds the tokens accrued since the last call, up to Burst.
func (b *Bucket) earn(now time.Time) {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.Burst, b.tokens+dt.Seconds()*b.Rate)
		b.last = now
	}
}
