package signaling

import (
	"errors"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/sfu"
)

// negotiation is the server's side of perfect negotiation with one client. The
// server is the impolite peer: it never rolls back, and it ignores a client
// offer that arrives while its own offer is outstanding (the polite client rolls
// back, answers, and offers again). At most one server offer is in flight;
// subscription changes made meanwhile are folded into the next one, and a short
// delay gathers a burst of changes (many joins at once) into one offer. The
// first server offer, right after the first answer, goes without the delay.
type negotiation struct {
	// answered is set once the client's first offer has been answered; the
	// server offers only after that, so header-extension ids and payload types
	// follow the client's numbering.
	answered bool
	// outstanding is set while a server offer waits for its answer.
	outstanding bool
	// tooManyCandidates is set once the peer refused a candidate past its
	// bound, which is logged once.
	tooManyCandidates bool
}

func (s *session) handleOffer(sdp string) {
	if s.neg.outstanding {
		// Glare: we are impolite. The client rolls back and answers ours.
		s.log.Debug("ignoring client offer while the server's offer is outstanding")
		return
	}
	if !s.admitDescription(len(sdp)) {
		return
	}
	answer, err := s.peer.Answer(sdp)
	if err != nil {
		s.log.Warn("client offer rejected", "err", err)
		s.sendError(protocol.Errorf(protocol.CodeNegotiationFailed, "could not apply your offer: %v", err))
		if errors.Is(err, sfu.ErrPeerStuck) {
			// pion took the offer before refusing it and cannot roll it
			// back: this peer connection can never negotiate again. Leave,
			// so that the client can join again with a new one.
			s.log.Warn("removed: the offer left the peer connection unable to negotiate")
			s.leave()
			s.sendError(protocol.Errorf(protocol.CodeRemoved,
				"your offer left the server's side of the media connection unable to negotiate again; join again with a new RTCPeerConnection"))
		}
		return
	}
	s.send(protocol.SessionDescription{Type: protocol.TypeAnswer, SDP: answer})
	first := !s.neg.answered
	s.neg.answered = true
	s.flushCandidates()
	if first {
		// What the room holds at join is all known now: offer it at once,
		// which saves a new participant the gathering delay; the delay
		// only gathers later bursts of changes.
		s.sendOffer()
	}
	s.scheduleOffer()
}

func (s *session) handleAnswer(sdp string) {
	if !s.neg.outstanding {
		s.sendError(protocol.Errorf(protocol.CodeNegotiationFailed, "no offer from the server is waiting for an answer"))
		return
	}
	if pending, err := s.peer.SetAnswer(sdp); err != nil {
		s.log.Warn("client answer rejected", "err", err)
		s.sendError(protocol.Errorf(protocol.CodeNegotiationFailed, "could not apply your answer: %v", err))
		if !pending {
			// pion took the answer half-way: start over with a new offer.
			s.neg.outstanding = false
			s.peer.Renegotiate()
			s.scheduleOffer()
		}
		// Otherwise the offer stays outstanding: a corrected answer is welcome.
		return
	}
	s.neg.outstanding = false
	s.scheduleOffer()
}

func (s *session) handleCandidate(c *protocol.ICECandidate) {
	if c == nil || c.Candidate == "" {
		return // end of candidates: nothing to do for pion
	}
	init := webrtc.ICECandidateInit{
		Candidate:        c.Candidate,
		SDPMid:           c.SDPMid,
		SDPMLineIndex:    c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment,
	}
	if !s.peer.HasRemoteDescription() {
		if len(s.pending) >= maxPendingCandidates {
			s.sendError(protocol.Errorf(protocol.CodeNegotiationFailed, "too many candidates before the first offer"))
			return
		}
		s.pending = append(s.pending, init)
		return
	}
	s.addCandidate(init)
}

func (s *session) flushCandidates() {
	for _, c := range s.pending {
		s.addCandidate(c)
	}
	s.pending = nil
}

// addCandidate gives c to the peer, and the client negotiation-failed if
// the peer refuses it.
func (s *session) addCandidate(c webrtc.ICECandidateInit) {
	err := s.peer.AddCandidate(c)
	if err == nil {
		return
	}
	if errors.Is(err, sfu.ErrTooManyCandidates) && !s.neg.tooManyCandidates {
		s.neg.tooManyCandidates = true
		s.log.Warn("client sends too many ICE candidates; refusing the rest", "err", err)
	} else {
		s.log.Debug("client candidate rejected", "err", err)
	}
	s.sendError(protocol.Errorf(protocol.CodeNegotiationFailed, "could not add your candidate: %v", err))
}

// scheduleOffer arms the offer timer when the client's subscriptions changed and
// the server may offer.
func (s *session) scheduleOffer() {
	if s.peer == nil || !s.neg.answered || s.neg.outstanding || s.offerDue != nil || !s.peer.NeedsOffer() {
		return
	}
	if s.offerTimer == nil {
		s.offerTimer = time.NewTimer(s.srv.opts.OfferDelay)
	} else {
		s.offerTimer.Reset(s.srv.opts.OfferDelay)
	}
	s.offerDue = s.offerTimer.C
}

// sendOffer sends the server's offer for the current subscriptions.
func (s *session) sendOffer() {
	if s.peer == nil || s.neg.outstanding || !s.peer.NeedsOffer() || !s.peer.Stable() {
		return
	}
	sdp, tracks, err := s.peer.Offer()
	if err != nil {
		if !errors.Is(err, sfu.ErrClosed) {
			s.fail(err)
		}
		return
	}
	wire := make(map[string]protocol.ForwardedTrack, len(tracks))
	for mid, t := range tracks {
		info, ok := s.forwarded[t]
		if !ok {
			info = protocol.ForwardedTrack{ParticipantID: t.StreamID(), TrackID: t.ID(), Kind: t.Kind().String(), Source: defaultSource(t.Kind())}
		}
		wire[mid] = info
	}
	s.neg.outstanding = true
	s.lastOffer = &protocol.ServerOffer{Type: protocol.TypeOffer, SDP: sdp, Tracks: wire}
	s.send(*s.lastOffer)
}

func defaultSource(kind webrtc.RTPCodecType) string {
	if kind == webrtc.RTPCodecTypeAudio {
		return protocol.SourceMicrophone
	}
	return protocol.SourceCamera
}
