package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/protocol"
)

// Offer makes a client offer now and waits for the server's answer. It waits
// first until no server offer is being applied or queued and no other client
// offer is in flight. It fails with ErrGlare if a server offer arrives while
// this offer is outstanding (the session is then broken), and with an error
// wrapping *protocol.Error if the server answers negotiation-failed (the offer
// stays outstanding: a late answer is still applied).
//
// If ctx ends while the offer is outstanding, Offer returns but the offer stays
// in flight; its answer is applied when it arrives.
func (c *Client) Offer(ctx context.Context) error {
	return c.offer(ctx, nil)
}

// RestartICE is Offer with an ICE restart: new ICE credentials and candidates.
func (c *Client) RestartICE(ctx context.Context) error {
	return c.offer(ctx, &webrtc.OfferOptions{ICERestart: true})
}

func (c *Client) offer(ctx context.Context, opts *webrtc.OfferOptions) error {
	sess, done, err := c.acquireOffer(ctx)
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	if err := c.sendOffer(sess, opts); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("offer: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("offer: wait for answer: %w", ctx.Err())
	case <-sess.closed:
		return fmt.Errorf("offer: %w", ErrNotJoined)
	case <-c.done:
		return fmt.Errorf("offer: %w", ErrClosed)
	}
}

// acquireOffer waits until the session may offer and reserves the slot.
func (c *Client) acquireOffer(ctx context.Context) (*session, <-chan error, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, nil, ErrClosed
		}
		sess, ch := c.sess, c.changed
		if sess == nil {
			c.mu.Unlock()
			return nil, nil, ErrNotJoined
		}
		if sess.broken != nil {
			err := sess.broken
			c.mu.Unlock()
			return nil, nil, fmt.Errorf("%w: %w", ErrBroken, err)
		}
		if sess.neg == negIdle && !c.sdpQueuedLocked() {
			sess.neg = negClientOffer
			done := make(chan error, 1)
			sess.offerDone = done
			c.notifyLocked()
			c.mu.Unlock()
			// Only the handler applies remote descriptions, and it is idle for
			// this session; so signaling is stable unless pion disagrees.
			if st := sess.pc.SignalingState(); st != webrtc.SignalingStateStable {
				c.finishOffer(sess, false, fmt.Errorf("signaling state is %s", st))
				return nil, nil, fmt.Errorf("signaling state is %s, not stable", st)
			}
			return sess, done, nil
		}
		c.mu.Unlock()
		if err := c.wait(ctx, ch); err != nil {
			return nil, nil, fmt.Errorf("wait for stable signaling: %w", err)
		}
	}
}

// sendOffer creates, applies and sends an offer; sess.neg must already be
// negClientOffer (reserved by acquireOffer or Join).
func (c *Client) sendOffer(sess *session, opts *webrtc.OfferOptions) error {
	// Candidates gathered from here on (an ICE restart gathers anew) may carry
	// credentials the server only learns from this offer: hold them until it
	// is sent.
	sess.closeCandidateGate()
	defer c.openCandidateGate(sess)
	offer, err := sess.pc.CreateOffer(opts)
	if err != nil {
		err = fmt.Errorf("create offer: %w", err)
		c.finishOffer(sess, false, err)
		return err
	}
	if err := sess.pc.SetLocalDescription(offer); err != nil {
		err = fmt.Errorf("set local offer: %w", err)
		c.finishOffer(sess, sess.pc.SignalingState() != webrtc.SignalingStateStable, err)
		return err
	}
	sdp := offer.SDP
	if c.opts.OfferSetup != "" {
		sdp = strings.ReplaceAll(sdp, "a=setup:actpass", "a=setup:"+c.opts.OfferSetup)
	}
	if err := c.send(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: sdp}); err != nil {
		err = fmt.Errorf("send offer: %w", err)
		c.finishOffer(sess, true, err)
		return err
	}
	return nil
}

// finishOffer ends the outstanding client offer with err (nil: answered).
// broken marks the session as unable to negotiate again.
func (c *Client) finishOffer(sess *session, broken bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finishOfferLocked(sess, broken, err)
}

func (c *Client) finishOfferLocked(sess *session, broken bool, err error) {
	if sess.neg == negClientOffer {
		sess.neg = negIdle
	}
	if err == nil {
		c.negotiations++
	} else if broken && sess.broken == nil {
		sess.broken = err
	}
	if sess.offerDone != nil {
		sess.offerDone <- err // capacity 1, one send per offer
		sess.offerDone = nil
	}
	c.notifyLocked()
}

// sdpQueuedLocked reports whether a server offer or answer waits in the
// handler's queue. c.mu must be held.
func (c *Client) sdpQueuedLocked() bool {
	for _, e := range c.queue {
		if e.typ == protocol.TypeOffer || e.typ == protocol.TypeAnswer {
			return true
		}
	}
	return false
}

// handle applies one signaling message to sess. It runs on the handler
// goroutine only, which is therefore the only one to set remote descriptions.
func (c *Client) handle(sess *session, e *entry) {
	var err error
	switch e.typ {
	case protocol.TypeOffer:
		err = c.handleOffer(sess, e.raw)
	case protocol.TypeAnswer:
		err = c.handleAnswer(sess, e.raw)
	case protocol.TypeCandidate:
		err = c.handleCandidate(sess, e.raw)
	case protocol.TypeError:
		c.handleNegotiationFailed(sess, e.raw)
	}
	if err != nil && !sess.isClosed() {
		c.mu.Lock()
		c.setAsyncErrLocked(err)
		c.mu.Unlock()
	}
}

// handleOffer answers a server offer and remembers its tracks map.
func (c *Client) handleOffer(sess *session, raw []byte) error {
	var m protocol.ServerOffer
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("decode server offer: %w", err)
	}
	c.mu.Lock()
	switch {
	case sess.neg == negClientOffer:
		// Err must report the glare by the time Offer returns it, so record
		// it before finishing the offer (which wakes Offer), not afterwards.
		c.setAsyncErrLocked(fmt.Errorf("server offer: %w", ErrGlare))
		c.finishOfferLocked(sess, true, ErrGlare)
		c.mu.Unlock()
		return nil // reported above
	case sess.broken != nil:
		c.mu.Unlock()
		return nil // reported when it broke
	}
	sess.neg = negServerOffer
	previous := sess.byMid
	sess.byMid = maps.Clone(m.Tracks) // before the remote description: OnTrack reads it
	c.notifyLocked()
	c.mu.Unlock()

	err := c.answerOffer(sess, m.SDP)
	stable := sess.pc.SignalingState() == webrtc.SignalingStateStable

	c.mu.Lock()
	defer c.mu.Unlock()
	sess.neg = negIdle
	if err != nil {
		sess.byMid = previous
		if !stable && sess.broken == nil {
			sess.broken = err
		}
		c.notifyLocked()
		return err
	}
	c.negotiations++
	sess.pruneLocked()
	c.notifyLocked()
	return nil
}

// answerOffer applies a server offer and sends the answer.
func (c *Client) answerOffer(sess *session, sdp string) error {
	// A server ICE restart makes pion gather anew when the offer is applied;
	// those candidates must follow the answer that carries their credentials.
	sess.closeCandidateGate()
	defer c.openCandidateGate(sess)
	waitICEStarted(sess.pc, iceStartWait)
	err := sess.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp})
	if err != nil {
		return fmt.Errorf("set remote offer: %w", err)
	}
	c.flushCandidates(sess)
	answer, err := sess.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := sess.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	if err := c.send(protocol.SessionDescription{Type: protocol.TypeAnswer, SDP: answer.SDP}); err != nil {
		return fmt.Errorf("send answer: %w", err)
	}
	return nil
}

// handleAnswer applies the server's answer to the outstanding client offer.
func (c *Client) handleAnswer(sess *session, raw []byte) error {
	var m protocol.SessionDescription
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("decode server answer: %w", err)
	}
	c.mu.Lock()
	outstanding := sess.neg == negClientOffer
	c.mu.Unlock()
	if !outstanding {
		return errors.New("server answer without an outstanding client offer")
	}
	err := sess.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
	if err != nil {
		err = fmt.Errorf("set remote answer: %w", err)
		c.finishOffer(sess, true, err)
		return err
	}
	c.flushCandidates(sess)
	c.finishOffer(sess, false, nil)
	return nil
}

// handleNegotiationFailed reports a negotiation-failed error to the client's
// outstanding offer, if any. The offer stays outstanding: the error may have
// been caused by something else, and a late answer is still applied.
func (c *Client) handleNegotiationFailed(sess *session, raw []byte) {
	var em protocol.ErrorMessage
	if json.Unmarshal(raw, &em) != nil {
		return
	}
	perr := &protocol.Error{Code: em.Code, Message: em.Message}
	c.mu.Lock()
	defer c.mu.Unlock()
	if sess.neg == negClientOffer && sess.offerDone != nil {
		sess.offerDone <- fmt.Errorf("server rejected offer: %w", perr)
		sess.offerDone = nil
		c.notifyLocked()
	}
}

// handleCandidate adds a server candidate, or holds it until a remote
// description exists. Candidates that are not on 127.0.0.1 are dropped.
func (c *Client) handleCandidate(sess *session, raw []byte) error {
	var m protocol.Candidate
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("decode server candidate: %w", err)
	}
	if m.Candidate == nil || m.Candidate.Candidate == "" {
		return nil // end of candidates: nothing to do
	}
	if !loopbackCandidate(m.Candidate.Candidate) {
		c.log.Debug("dropping server candidate not on 127.0.0.1", "candidate", m.Candidate.Candidate)
		return nil
	}
	init := webrtc.ICECandidateInit{
		Candidate:        m.Candidate.Candidate,
		SDPMid:           m.Candidate.SDPMid,
		SDPMLineIndex:    m.Candidate.SDPMLineIndex,
		UsernameFragment: m.Candidate.UsernameFragment,
	}
	if sess.pc.RemoteDescription() == nil {
		sess.pendingCandidates = append(sess.pendingCandidates, init)
		return nil
	}
	if err := sess.pc.AddICECandidate(init); err != nil {
		c.log.Warn("add server candidate", "candidate", init.Candidate, "err", err)
	}
	return nil
}

// flushCandidates adds the server candidates held before the first remote
// description. Handler goroutine only.
func (c *Client) flushCandidates(sess *session) {
	held := sess.pendingCandidates
	sess.pendingCandidates = nil
	for _, init := range held {
		if err := sess.pc.AddICECandidate(init); err != nil {
			c.log.Warn("add held server candidate", "candidate", init.Candidate, "err", err)
		}
	}
}

// onLocalCandidate sends a gathered candidate (nil: end of candidates), or
// holds it while a local description is being made and sent.
func (c *Client) onLocalCandidate(sess *session, cand *webrtc.ICECandidate) {
	sess.candMu.Lock()
	defer sess.candMu.Unlock()
	if !sess.gateOpen {
		sess.heldOutputs = append(sess.heldOutputs, cand)
		return
	}
	c.sendCandidate(sess, cand)
}

// closeCandidateGate holds local candidates until openCandidateGate. The gate
// starts closed: nothing goes out before the first offer.
func (s *session) closeCandidateGate() {
	s.candMu.Lock()
	s.gateOpen = false
	s.candMu.Unlock()
}

// openCandidateGate sends the held local candidates, in order, and lets later
// ones through.
func (c *Client) openCandidateGate(sess *session) {
	sess.candMu.Lock()
	defer sess.candMu.Unlock()
	sess.gateOpen = true
	for _, cand := range sess.heldOutputs {
		c.sendCandidate(sess, cand)
	}
	sess.heldOutputs = nil
}

// sendCandidate sends one local candidate. sess.candMu must be held, which
// keeps candidates in gathering order.
func (c *Client) sendCandidate(sess *session, cand *webrtc.ICECandidate) {
	if sess.isClosed() {
		return
	}
	msg := protocol.Candidate{Type: protocol.TypeCandidate}
	if cand != nil {
		init := cand.ToJSON()
		msg.Candidate = &protocol.ICECandidate{
			Candidate:        init.Candidate,
			SDPMid:           init.SDPMid,
			SDPMLineIndex:    init.SDPMLineIndex,
			UsernameFragment: init.UsernameFragment,
		}
	}
	if err := c.send(msg); err != nil {
		c.log.Debug("send candidate", "err", err)
	}
}

// scheduleRenegotiation makes a client offer soon, in the background. Calls
// that come while one is pending fold into it.
func (c *Client) scheduleRenegotiation() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.renegPending = true
	if c.renegRunning {
		return
	}
	if c.goLocked(c.renegotiateLoop) {
		c.renegRunning = true
	}
	c.notifyLocked()
}

func (c *Client) renegotiateLoop() {
	for {
		c.mu.Lock()
		if !c.renegPending || c.closed {
			c.renegRunning = false
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
		c.renegPending = false
		c.mu.Unlock()

		ctx, cancel := context.WithTimeout(c.ctx, renegotiationTimeout)
		err := c.offer(ctx, nil)
		cancel()
		if err != nil && !isShutdown(err) {
			c.mu.Lock()
			if !c.closed {
				c.setAsyncErrLocked(fmt.Errorf("renegotiate: %w", err))
			}
			c.mu.Unlock()
		}
	}
}

// sendPublish sends the metadata of the given local tracks.
func (c *Client) sendPublish(locals []*localTrack) error {
	msg := protocol.Publish{Type: protocol.TypePublish, Tracks: make([]protocol.PublishedTrack, 0, len(locals))}
	for _, lt := range locals {
		msg.Tracks = append(msg.Tracks, protocol.PublishedTrack{TrackID: lt.id, Source: lt.source})
	}
	if err := c.send(msg); err != nil {
		return fmt.Errorf("send publish: %w", err)
	}
	return nil
}

// iceStartWait bounds waitICEStarted.
const iceStartWait = 5 * time.Second

// waitICEStarted waits, at most limit, until pion has started ICE for the
// remote description already applied. pion (v4.2.20) starts it on its
// operations queue after SetRemoteDescription returns; an offer applied
// before then finds the agent without remote credentials, takes the
// offer's for changed ones, and restarts ICE with new local credentials,
// which the server learns only from the answer: until then it discards the
// client's checks as bearing the wrong username, and a mass join left some
// clients connecting for good. The server sends its first offer right
// after its first answer, so this is the common case, not a corner.
func waitICEStarted(pc *webrtc.PeerConnection, limit time.Duration) {
	if pc.CurrentRemoteDescription() == nil {
		return // the first remote description: nothing to wait for
	}
	deadline := time.Now().Add(limit)
	for pc.ICEConnectionState() == webrtc.ICEConnectionStateNew && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}
