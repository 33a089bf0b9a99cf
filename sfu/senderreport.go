package sfu

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// senderReportInterval is how often a Peer sends RTCP sender reports for
// the tracks it receives (RFC 3550 suggests about every 5 s for small
// sessions; browsers use 1 s).
const senderReportInterval = time.Second

// maxReportsPerPacket bounds one compound RTCP packet of sender reports
// (28 bytes each) well under the MTU.
const maxReportsPerPacket = 32

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

// reportSlots spreads the peers' sender reports over a second, so the
// reporter never writes them all at once.
const reportSlots = 10

// sendReports sends every peer's sender reports once per
// senderReportInterval, a tenth of the peers at a time. One goroutine per
// API, run until stop is closed.
func (a *API) sendReports(stop <-chan struct{}) {
	tick := time.NewTicker(senderReportInterval / reportSlots)
	defer tick.Stop()
	var peers []*Peer
	var pkts []rtcp.Packet
	slot := 0
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			peers = a.livePeers(peers[:0])
			for _, p := range peers {
				if p.reportSlot == slot {
					pkts = p.sendReports(now, pkts[:0])
				}
			}
			clear(peers)
			slot = (slot + 1) % reportSlots
		}
	}
}

// sendReports sends p's sender reports due at now; pkts is scratch, returned
// for reuse.
func (p *Peer) sendReports(now time.Time, pkts []rtcp.Packet) []rtcp.Packet {
	pkts = p.senderReports(now, pkts)
	for rest := pkts; len(rest) > 0; {
		n := min(len(rest), maxReportsPerPacket)
		if err := p.pc.WriteRTCP(rest[:n]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			p.log.Debug("send sender reports", "err", err)
		}
		rest = rest[n:]
	}
	clear(pkts)
	return pkts
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
