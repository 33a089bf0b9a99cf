package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// mediaClock maps a track's RTP timestamps to the server's wall clock: the
// timestamp of the latest frame and when its first packet arrived. The
// forwarding goroutine advances it with every packet; sender reports read
// it.
type mediaClock struct {
	mu sync.Mutex
	ts uint32
	at time.Time

	// seen and last are the forwarding goroutine's own: whether a packet
	// came, and the latest timestamp.
	seen bool
	last uint32
}

// advance notes a packet of timestamp ts that arrived at at: the first
// packet of a later frame moves the clock (under the lock, once per
// frame); others leave it.
func (c *mediaClock) advance(ts uint32, at time.Time) {
	if c.seen && int32(ts-c.last) <= 0 {
		return
	}
	c.seen, c.last = true, ts
	c.set(ts, at)
}

func (c *mediaClock) set(ts uint32, at time.Time) {
	c.mu.Lock()
	c.ts, c.at = ts, at
	c.mu.Unlock()
}

// rtpTime is the RTP timestamp matching now, extrapolated from the latest
// frame at clockRate; ok is false before the first frame.
func (c *mediaClock) rtpTime(now time.Time, clockRate uint32) (ts uint32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return 0, false
	}
	elapsed := now.Sub(c.at)
	return c.ts + uint32(elapsed.Seconds()*float64(clockRate)), true
}

// ntpTime is t as a 64-bit NTP timestamp.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	sec := uint64(t.Unix()) + ntpEpochOffset
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return sec<<32 | frac
}

// senderReports appends the sender reports due at now to pkts.
func (p *Peer) senderReports(now time.Time, pkts []rtcp.Packet) []rtcp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.senders {
		if r := d.senderReport(now); r != nil {
			pkts = append(pkts, r)
		}
	}
	return pkts
}

// senderReport describes what d has sent, or is nil before it has sent
// anything.
func (d *DownTrack) senderReport(now time.Time) *rtcp.SenderReport {
	ssrc := d.ssrc()
	sent := d.sent.Load()
	if ssrc == 0 || sent == 0 {
		return nil
	}
	ts, ok := d.track.clock.rtpTime(now, d.track.codec.ClockRate)
	if !ok {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     ts,
		PacketCount: uint32(sent + d.resent.Load()),
		OctetCount:  uint32(d.bytes.Load()),
	}
}
