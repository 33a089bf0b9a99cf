package sfu

import (
	"log/slog"
	"sync/atomic"
)

// Stats are the media core's totals since the API was made: tracks and down
// tracks now, and cumulative counters that include those already gone.
type Stats struct {
	// PublishedTracks and ForwardedTracks are the tracks being published and
	// the down tracks (track × subscriber) being fed now.
	PublishedTracks, ForwardedTracks int
	// PacketsIn and BytesIn count RTP read from publishers; PacketsOut and
	// BytesOut, RTP packets and payload bytes written to subscribers
	// (retransmissions not included).
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
	// NACKsReceived counts NACK packets from subscribers; NACKsSent, NACK
	// packets sent to publishers; Retransmissions, packets resent to
	// subscribers; PLIsSent, keyframe requests sent to publishers.
	NACKsReceived, NACKsSent, Retransmissions, PLIsSent uint64
	// RetransmissionsLimited counts NACKed packets not resent because of the
	// retransmission limits (resend.go): resent less than a round trip
	// before, or the subscriber's budget spent.
	RetransmissionsLimited uint64
	// OverLimitDrops counts the packets from publishers dropped because
	// their participant sent more than Config.MaxPublishBitrate.
	OverLimitDrops uint64
	// DirectPacketsOut counts the packets of PacketsOut that the server
	// encrypted and wrote itself, around pion's write path (direct.go).
	DirectPacketsOut uint64
	// DirectPacketsIn counts the packets of PacketsIn that the server read
	// and decrypted itself, around pion's receive path (receive.go);
	// DirectDrops, the packets it dropped because a track's queue was full;
	// DirectDecryptFailures, the packets that failed to decrypt there.
	DirectPacketsIn, DirectDrops, DirectDecryptFailures uint64
	// ControlRateDrops counts the datagrams other than RTP (RTCP, STUN,
	// DTLS) from peers dropped because they came faster than the bound
	// (receive.go: controlRate).
	ControlRateDrops uint64
	// UnknownSSRCDrops counts the RTP packets from peers on an SSRC of no
	// stream of theirs, and the RTCP packets about an SSRC neither theirs
	// nor the server's towards them, dropped past the bound on such SSRCs
	// (receive.go: maxUnbound).
	UnknownSSRCDrops uint64
}

// dropCount counts what one of the server's bounds drops, and logs the
// first drop: a flood is worth one line, not one per packet.
type dropCount struct {
	n      atomic.Uint64
	logged atomic.Bool
}

// drop counts one, and logs msg with args on log the first time.
func (d *dropCount) drop(log *slog.Logger, msg string, args ...any) {
	d.n.Add(1)
	if d.logged.CompareAndSwap(false, true) {
		log.Warn(msg, args...)
	}
}

// Load returns the count.
func (d *dropCount) Load() uint64 { return d.n.Load() }

// totals hold the counters of tracks and down tracks that are gone, so the
// cumulative Stats never go backwards.
type totals struct {
	packetsIn, bytesIn, plis, overLimit   atomic.Uint64
	packetsOut, bytesOut, nacksIn, resent atomic.Uint64
	nacksOut, directOut, limited          atomic.Uint64
	directIn, directDrops, directFailures atomic.Uint64
	controlDrops, unknownSSRCDrops        atomic.Uint64
}

func (t *totals) retireReceiver(r *directReceiver) {
	t.directIn.Add(r.received.Load())
	t.directDrops.Add(r.dropped.Load())
	t.directFailures.Add(r.failed.Load())
	t.controlDrops.Add(r.controlDropped.Load() + r.checksDropped.Load())
	t.unknownSSRCDrops.Add(r.unboundDropped.Load())
}

func (t *totals) retireTrack(tr *Track) {
	t.packetsIn.Add(tr.packets.Load())
	t.bytesIn.Add(tr.bytes.Load())
	t.plis.Add(tr.keyframeReqs.Load())
	t.overLimit.Add(tr.overLimit.Load())
}

func (t *totals) retireDownTrack(d *DownTrack) {
	t.packetsOut.Add(d.sent.Load())
	t.bytesOut.Add(d.bytes.Load())
	t.nacksIn.Add(d.nacks.Load())
	t.resent.Add(d.resent.Load())
	t.limited.Add(d.limited.Load())
	t.directOut.Add(d.directSent.Load())
}

// livePeers appends the peers not yet closed to peers.
func (a *API) livePeers(peers []*Peer) []*Peer {
	a.mu.Lock()
	defer a.mu.Unlock()
	for p := range a.live {
		peers = append(peers, p)
	}
	return peers
}

// Stats adds up the live peers' counters and those of everything gone. It
// takes each peer's lock briefly; call it at scrape time, not per packet.
func (a *API) Stats() Stats {
	peers := a.livePeers(nil)
	s := Stats{
		PacketsIn: a.gone.packetsIn.Load(), BytesIn: a.gone.bytesIn.Load(), PLIsSent: a.gone.plis.Load(),
		PacketsOut: a.gone.packetsOut.Load(), BytesOut: a.gone.bytesOut.Load(),
		NACKsReceived: a.gone.nacksIn.Load(), Retransmissions: a.gone.resent.Load(),
		NACKsSent: a.gone.nacksOut.Load(), DirectPacketsOut: a.gone.directOut.Load(),
		DirectPacketsIn: a.gone.directIn.Load(), DirectDrops: a.gone.directDrops.Load(),
		DirectDecryptFailures: a.gone.directFailures.Load(), RetransmissionsLimited: a.gone.limited.Load(),
		OverLimitDrops: a.gone.overLimit.Load(), ControlRateDrops: a.gone.controlDrops.Load(),
		UnknownSSRCDrops: a.gone.unknownSSRCDrops.Load(),
	}
	for _, p := range peers {
		s.DirectPacketsIn += p.rx.received.Load()
		s.DirectDrops += p.rx.dropped.Load()
		s.DirectDecryptFailures += p.rx.failed.Load()
		s.ControlRateDrops += p.rx.controlDropped.Load() + p.rx.checksDropped.Load()
		s.UnknownSSRCDrops += p.rx.unboundDropped.Load()
		p.mu.Lock()
		for t := range p.published {
			s.PublishedTracks++
			s.PacketsIn += t.packets.Load()
			s.BytesIn += t.bytes.Load()
			s.PLIsSent += t.keyframeReqs.Load()
			s.OverLimitDrops += t.overLimit.Load()
		}
		for _, d := range p.subs {
			s.ForwardedTracks++
			s.PacketsOut += d.sent.Load()
			s.BytesOut += d.bytes.Load()
			s.NACKsReceived += d.nacks.Load()
			s.Retransmissions += d.resent.Load()
			s.RetransmissionsLimited += d.limited.Load()
			s.DirectPacketsOut += d.directSent.Load()
		}
		p.mu.Unlock()
	}
	return s
}
