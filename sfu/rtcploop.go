package sfu

import (
	"errors"
	"io"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// The server's RTCP: one goroutine per API sends every peer's RTCP on one
// ticker. Each run it sends each publishing peer the transport-cc feedback
// of what arrived since the last run and NACKs for what did not arrive;
// once a second, in the run of the peer's slot, also the sender reports of
// what the server sends the peer and the receiver reports of what it
// receives from it. A peer's RTCP of one run goes out as one compound
// packet (or a few, when they would not fit one).
//
// Before, each publishing peer ran three tickers of its own (pion's NACK
// generator and receiver reports, and the transport-cc feedback), each
// waking the server at its own phase, and sent their packets apart.

const (
	// rtcpInterval is the time between the loop's runs: the transport-cc
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
)

// rtcpScratch holds the loop's reusable buffers.
type rtcpScratch struct {
	pkts   []rtcp.Packet
	tracks []*Track
	seqs   []uint16
}

// sendRTCP runs the RTCP loop until stop is closed.
func (a *API) sendRTCP(stop <-chan struct{}) {
	tick := time.NewTicker(rtcpInterval)
	defer tick.Stop()
	var peers []*Peer
	var s rtcpScratch
	slot := 0
	for {
		select {
		case <-stop:
			return
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
// receiver reports too.
func (p *Peer) sendRTCP(now time.Time, reports bool, s *rtcpScratch) {
	pkts := s.pkts[:0]
	if reports {
		pkts = p.senderReports(now, pkts)
	}
	s.tracks = p.publishedTracks(s.tracks[:0])
	if reports {
		pkts = p.receiverReports(now, s.tracks, pkts)
	}
	for _, t := range s.tracks {
		if !t.nack {
			continue
		}
		s.seqs = t.reception.missing(s.seqs[:0])
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
	clear(s.tracks)
	pkts = p.rx.transportFeedback(pkts)
	p.writeRTCP(pkts)
	clear(pkts)
	s.pkts = pkts
}

// publishedTracks appends the tracks p publishes to tracks.
func (p *Peer) publishedTracks(tracks []*Track) []*Track {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.published {
		tracks = append(tracks, t)
	}
	return tracks
}

// receiverReports appends to pkts the receiver reports, at now, of the
// tracks p publishes.
func (p *Peer) receiverReports(now time.Time, tracks []*Track, pkts []rtcp.Packet) []rtcp.Packet {
	var rr *rtcp.ReceiverReport
	for _, t := range tracks {
		block, ok := t.reception.report(t.ssrc, now)
		if !ok {
			continue
		}
		if rr == nil || len(rr.Reports) == maxReportBlocks {
			rr = &rtcp.ReceiverReport{SSRC: p.rx.ssrc}
			pkts = append(pkts, rr)
		}
		rr.Reports = append(rr.Reports, block)
	}
	return pkts
}

// writeRTCP writes pkts to p, as few compound packets of at most
// maxRTCPSize bytes as their order allows.
func (p *Peer) writeRTCP(pkts []rtcp.Packet) {
	for len(pkts) > 0 {
		n, size := 1, pkts[0].MarshalSize()
		for n < len(pkts) && size+pkts[n].MarshalSize() <= maxRTCPSize {
			size += pkts[n].MarshalSize()
			n++
		}
		if err := p.pc.WriteRTCP(pkts[:n]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			p.log.Debug("send RTCP", "err", err)
		}
		pkts = pkts[n:]
	}
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
