package sfu

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The server's RTCP: one goroutine per API sends every peer's RTCP on one
// ticker. Each run it sends each publishing peer the transport-cc feedback
// of what arrived since the last run and NACKs for what did not arrive;
// once a second, in the run of the peer's slot, also the sender reports of
// what the server sends the peer and the receiver reports of what it
// receives from it. A peer's RTCP of one run goes out as one compound
// packet (or a few, when they would not fit one), sealed and written by the
// loop itself once the peer has a direct route (direct.go), like its RTP,
// and through pion before. Between runs, a track's forwarder that finds a
// gap queues its peer for the loop (nackDue) to NACK the packets newly
// missing at once.
//
// Before, each publishing peer ran three tickers of its own (pion's NACK
// generator and receiver reports, and the transport-cc feedback), each
// waking the server at its own phase, and sent their packets apart.

const (
	// rtcpInterval is the default time between the loop's runs: the transport-cc
	// feedback interval of pion and libwebrtc, and pion's NACK interval.
	rtcpInterval = 100 * time.Millisecond
	// reportSlots is how many runs apart a peer's sender and receiver
	// reports go: once a second, as browsers send theirs (RFC 3550 allows
	// a few seconds for small sessions). Peers are spread over the slots,
	// so a run never sends everyone's reports.
	reportSlots = 10
	// maxRTCPSize bounds one compound RTCP packet, well under the MTU.
	maxRTCPSize = 1000
	// maxReportBlocks is the number of reception reports one receiver
	// report can carry (its 5-bit count).
	maxReportBlocks = 31
	// nackQueue bounds the peers queued for NACKs between runs; a peer
	// that finds it full waits for the next run.
	nackQueue = 64
	// maxNackEvery bounds the runs between two requests for a packet
	// (3 s at the default interval), however long the round trip.
	maxNackEvery = 30
)

// rtcpScratch holds the loop's reusable buffers and its socket writer.
type rtcpScratch struct {
	// head is the receiver report each compound starts with: made once,
	// as most peers, most runs, send nothing.
	head   rtcp.ReceiverReport
	pkts   []rtcp.Packet
	chunk  []rtcp.Packet
	tracks []*Track
	seqs   []uint16
	sealed []byte
	w      datagramWriter
}

// sendRTCP runs the RTCP loop until stop is closed.
func (a *API) sendRTCP(stop <-chan struct{}) {
	tick := time.NewTicker(a.rtcpInterval)
	defer tick.Stop()
	var peers []*Peer
	var s rtcpScratch
	slot := 0
	for {
		select {
		case <-stop:
			return
		case p := <-a.nackDue:
			p.nackDue.Store(false)
			p.sendFreshNACKs(&s)
		case now := <-tick.C:
			peers = a.livePeers(peers[:0])
			for _, p := range peers {
				p.sendRTCP(now, p.reportSlot == slot, &s)
			}
			clear(peers)
			slot = (slot + 1) % reportSlots
		}
	}
}

// sendRTCP sends p's RTCP of one run at now: with reports, its sender and
// receiver reports too. Every compound packet starts with a receiver
// report (RFC 3550 §6.1), empty when none is due, whose SSRC says which
// path sealed it (see directRTCP).
func (p *Peer) sendRTCP(now time.Time, reports bool, s *rtcpScratch) {
	r, ssrc, pkts, ok := p.startRTCP(s)
	if !ok {
		return
	}
	head := &s.head
	if reports {
		pkts = p.receiverReports(now, s.tracks, head, pkts)
		pkts = p.senderReports(now, pkts)
	}
	pkts = p.nacks(s.tracks, false, pkts, s)
	clear(s.tracks)
	pkts = p.rx.transportFeedback(pkts)
	if len(pkts) > 1 || len(head.Reports) > 0 {
		p.writeRTCP(r, ssrc, pkts, s)
	}
	clear(pkts)
	s.pkts = pkts
}

// sendFreshNACKs sends p, between the loop's runs, NACKs for the packets
// missing that were never asked for.
func (p *Peer) sendFreshNACKs(s *rtcpScratch) {
	r, ssrc, pkts, ok := p.startRTCP(s)
	if !ok {
		return
	}
	pkts = p.nacks(s.tracks, true, pkts, s)
	clear(s.tracks)
	if len(pkts) > 1 {
		p.writeRTCP(r, ssrc, pkts, s)
	}
	clear(pkts)
	s.pkts = pkts
}

// nacks appends to pkts a NACK for each of tracks that takes NACKs and has
// packets to ask for: those never asked for when fresh, else those due in
// a regular run (reception.missing), a round trip apart.
func (p *Peer) nacks(tracks []*Track, fresh bool, pkts []rtcp.Packet, s *rtcpScratch) []rtcp.Packet {
	every := p.nackEvery()
	for _, t := range tracks {
		if !t.nack {
			continue
		}
		if fresh {
			s.seqs = t.reception.freshNACKs(s.seqs[:0])
		} else {
			s.seqs = t.reception.missing(s.seqs[:0], every)
		}
		if len(s.seqs) == 0 {
			continue
		}
		pkts = append(pkts, &rtcp.TransportLayerNack{
			SenderSSRC: p.rx.ssrc,
			MediaSSRC:  t.ssrc,
			Nacks:      rtcp.NackPairsFromSequenceNumbers(s.seqs),
		})
		p.owner.gone.nacksOut.Add(1)
	}
	return pkts
}

// startRTCP begins one of p's compounds in s: the tracks p publishes in
// s.tracks, and pkts holding only s.head, an empty receiver report of ssrc,
// the SSRC of the path r (nil for pion's) that will seal it. ok is false
// when p is closed.
func (p *Peer) startRTCP(s *rtcpScratch) (r *route, ssrc uint32, pkts []rtcp.Packet, ok bool) {
	var closed bool
	s.tracks, closed = p.publishedTracks(s.tracks[:0])
	if closed {
		clear(s.tracks)
		return nil, 0, nil, false
	}
	r = p.route.Load()
	ssrc = p.rx.ssrc
	if r != nil {
		ssrc = p.rtcpOut.ssrc
	}
	s.head = rtcp.ReceiverReport{SSRC: ssrc, Reports: s.head.Reports[:0]}
	return r, ssrc, append(s.pkts[:0], &s.head), true
}

// publishedTracks appends the tracks p publishes to tracks; closed reports
// that p is closed.
func (p *Peer) publishedTracks(tracks []*Track) (_ []*Track, closed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.published {
		tracks = append(tracks, t)
	}
	return tracks, p.closed
}

// receiverReports adds the reception reports, at now, of the tracks p
// publishes to head, and to more receiver reports appended to pkts when
// they do not fit one.
func (p *Peer) receiverReports(now time.Time, tracks []*Track, head *rtcp.ReceiverReport, pkts []rtcp.Packet) []rtcp.Packet {
	rr := head
	for _, t := range tracks {
		block, ok := t.reception.report(t.ssrc, now)
		if !ok {
			continue
		}
		if len(rr.Reports) == maxReportBlocks {
			rr = &rtcp.ReceiverReport{SSRC: head.SSRC}
			pkts = append(pkts, rr)
		}
		rr.Reports = append(rr.Reports, block)
	}
	return pkts
}

// writeRTCP writes pkts, which start with a receiver report of ssrc, to p
// as few compound packets of at most maxRTCPSize bytes as their order
// allows, each starting with a receiver report of ssrc: on the direct
// route r, or through pion when r is nil.
func (p *Peer) writeRTCP(r *route, ssrc uint32, pkts []rtcp.Packet, s *rtcpScratch) {
	for first := true; len(pkts) > 0; first = false {
		var chunk []rtcp.Packet
		chunk, pkts = nextCompound(s.chunk[:0], pkts, ssrc, first)
		var err error
		if r != nil {
			err = p.rtcpOut.send(r, chunk, s)
		} else {
			err = p.pc.WriteRTCP(chunk)
		}
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			p.log.Debug("send RTCP", "direct", r != nil, "err", err)
		}
		clear(chunk)
		s.chunk = chunk
	}
}

// nextCompound appends to chunk the packets of pkts that make the next
// compound packet, at most maxRTCPSize bytes unless one packet alone is
// larger, and returns it with the rest. A compound after the first gets an
// empty receiver report of ssrc in front.
func nextCompound(chunk, pkts []rtcp.Packet, ssrc uint32, first bool) (compound, rest []rtcp.Packet) {
	size := 0
	if !first {
		chunk = append(chunk, &rtcp.ReceiverReport{SSRC: ssrc})
		size = chunk[0].MarshalSize()
	}
	n := 0
	for n < len(pkts) && (n == 0 || size+pkts[n].MarshalSize() <= maxRTCPSize) {
		size += pkts[n].MarshalSize()
		n++
	}
	return append(chunk, pkts[:n]...), pkts[n:]
}

// directRTCP is a peer's SRTCP state for sending the loop's RTCP on the
// direct route, touched only by the loop's goroutine. pion's srtp.Context
// seals it (RTCP is ten packets a second, not worth a sealer of our own).
//
// pion's session keeps an SRTCP index per SSRC under the same keys, and an
// index must never be used twice with one key and SSRC (the GCM nonce is
// made of them). The SSRC that counts is the first packet's: every
// compound the loop seals starts with a receiver report of ssrc, which
// nothing sent through pion ever starts with.
type directRTCP struct {
	ssrc uint32
	keys *srtpKeys
	ctx  *srtp.Context
}

// send seals pkts as one compound SRTCP packet with r's keys and writes it
// to r. Nothing goes through pion on failure (see directRTCP).
func (d *directRTCP) send(r *route, pkts []rtcp.Packet, s *rtcpScratch) error {
	if d.keys != r.keys {
		ctx, err := r.keys.newContext()
		if err != nil {
			return err
		}
		d.keys, d.ctx = r.keys, ctx
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return fmt.Errorf("marshal RTCP: %w", err)
	}
	s.sealed, err = d.ctx.EncryptRTCP(s.sealed[:0], raw, nil)
	if err != nil {
		return fmt.Errorf("srtcp encrypt: %w", err)
	}
	return s.w.writeTo(r, s.sealed)
}

// negotiatedNACK reports whether feedback includes generic NACK.
func negotiatedNACK(feedback []webrtc.RTCPFeedback) bool {
	for _, f := range feedback {
		if f.Type == webrtc.TypeRTCPFBNACK && f.Parameter == "" {
			return true
		}
	}
	return false
}

// rttRefresh is how often a publishing peer's round-trip time is read.
const rttRefresh = time.Second

// refreshRTT takes the round-trip time to p from ICE, at most once per
// rttRefresh: pion times the connectivity checks and keepalives (every
// 2 s) on the selected pair. Reading it waits for the ICE agent's
// goroutine, so it runs on a published track's RTCP goroutine, at the
// publisher's sender reports (about one a second per track), never on the
// RTCP loop that serves every peer.
func (p *Peer) refreshRTT() {
	now := time.Now().UnixNano()
	last := p.rttAt.Load()
	if now-last < int64(rttRefresh) || !p.rttAt.CompareAndSwap(last, now) {
		return
	}
	stats, ok := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePairStats()
	if ok && stats.CurrentRoundTripTime > 0 {
		p.rtt.Store(int64(stats.CurrentRoundTripTime * float64(time.Second)))
	}
}

// nackEvery is how many of the loop's runs apart a packet is asked for
// again: the round trip to the peer, rounded up, at least one run (also
// before the round trip is known).
func (p *Peer) nackEvery() uint16 {
	interval := p.owner.rtcpInterval
	if interval <= 0 {
		return 1
	}
	runs := (time.Duration(p.rtt.Load()) + interval - 1) / interval
	return uint16(min(max(runs, 1), maxNackEvery))
}
