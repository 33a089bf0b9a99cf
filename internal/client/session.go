package client

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/protocol"
)

// negState is where the offer/answer exchange of a session stands.
type negState int

const (
	negIdle        negState = iota
	negServerOffer          // the handler is applying a server offer
	negClientOffer          // the client's offer awaits the server's answer
)

// session is the state of one joined period: one PeerConnection. Join creates
// it; Leave and Close end it.
type session struct {
	pc        *webrtc.PeerConnection
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error

	// rx is the direct receive path (Options.DirectReceive), or nil.
	rx *directRx

	// Guarded by Client.mu.
	neg       negState
	offerDone chan error // result of the outstanding client offer; capacity 1
	broken    error      // set when negotiation cannot go on
	byMid     map[string]protocol.ForwardedTrack
	remotes   []*RemoteTrack

	// Owned by the handler goroutine: server candidates that arrived before
	// any remote description.
	pendingCandidates []webrtc.ICECandidateInit

	// Local candidates are held while a local description is made and sent,
	// so that the server never gets a candidate before the description that
	// carries its ICE credentials.
	candMu      sync.Mutex
	gateOpen    bool
	heldOutputs []*webrtc.ICECandidate // nil element: end of candidates
}

// close closes the PeerConnection and waits for pion's goroutines.
func (s *session) close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.closeErr = s.pc.GracefulClose()
	})
	return s.closeErr
}

func (s *session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Join joins room as name, without a token. See JoinWithToken.
func (c *Client) Join(ctx context.Context, room, name string) (*protocol.Joined, error) {
	return c.JoinWithToken(ctx, room, name, "")
}

// JoinWithToken sends join and waits for the first joined or error message
// that arrives after it. An error message is returned as a *protocol.Error
// (wrapped: use errors.As), and the client may try again. On joined, it creates
// the PeerConnection with the loopback ICE servers of joined, adds the tracks
// recorded by AddTrack, sends publish for them and sends the first offer. It
// returns once the offer is sent, without waiting for the answer or for media:
// use WaitIdle, WaitConnected and WaitRemoteTracks for those.
//
// If creating the PeerConnection fails, JoinWithToken sends leave and returns
// the error. If something fails after that (adding a track, sending the
// offer), it returns joined with the error; the session then exists but is
// broken (Offer and WaitIdle fail with ErrBroken): Leave or Close it.
//
// The waiting consumes the joined or error message (see WaitMessage), so take
// the participants from the returned value. An unrelated error message that
// arrives first (rate-limited, say) is taken for the answer to join.
func (c *Client) JoinWithToken(ctx context.Context, room, name, token string) (*protocol.Joined, error) {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return nil, ErrClosed
	case c.joining || c.sess != nil:
		c.mu.Unlock()
		return nil, ErrAlreadyJoined
	}
	c.joining = true
	from := c.nextSeq
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.joining = false
		c.mu.Unlock()
	}()

	if err := c.send(protocol.Join{Type: protocol.TypeJoin, Room: room, Name: name, Token: token}); err != nil {
		return nil, fmt.Errorf("join room %q: %w", room, err)
	}
	e, err := c.waitEntry(ctx, from, func(typ string, _ []byte) bool {
		return typ == protocol.TypeJoined || typ == protocol.TypeError
	})
	if err != nil {
		return nil, fmt.Errorf("join room %q: wait for joined: %w", room, err)
	}
	if e.typ == protocol.TypeError {
		var em protocol.ErrorMessage
		if err := json.Unmarshal(e.raw, &em); err != nil {
			return nil, fmt.Errorf("join room %q: decode error message: %w", room, err)
		}
		return nil, fmt.Errorf("join room %q: %w", room, &protocol.Error{Code: em.Code, Message: em.Message})
	}
	var joined protocol.Joined
	if err := json.Unmarshal(e.raw, &joined); err != nil {
		return nil, fmt.Errorf("join room %q: decode joined: %w", room, err)
	}

	sess, err := c.newSession(joined.ICEServers)
	if err != nil {
		// The server has us joined; leave, so that Join may be tried again.
		_ = c.send(protocol.Leave{Type: protocol.TypeLeave})
		return nil, fmt.Errorf("join room %q: %w", room, err)
	}

	c.trackMu.Lock()
	defer c.trackMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = sess.close()
		return nil, ErrClosed
	}
	c.self = joined.Self
	c.sess = sess
	// The first offer is reserved now, so that no other offer goes first.
	sess.neg = negClientOffer
	sess.offerDone = make(chan error, 1)
	locals := append([]*localTrack(nil), c.locals...)
	c.notifyLocked()
	c.mu.Unlock()

	fail := func(err error) (*protocol.Joined, error) {
		err = fmt.Errorf("join room %q: %w", room, err)
		c.mu.Lock()
		sess.broken = err
		c.mu.Unlock()
		return &joined, err
	}
	for _, lt := range locals {
		if err := c.attach(sess, lt); err != nil {
			return fail(err)
		}
	}
	if len(locals) == 0 {
		if err := c.prepareEmptyOffer(sess); err != nil {
			return fail(err)
		}
	} else if err := c.sendPublish(locals); err != nil {
		return fail(err)
	}
	if err := c.sendOffer(sess, nil); err != nil {
		return fail(err)
	}
	return &joined, nil
}

// newSession creates the PeerConnection of a session and hooks its callbacks.
func (c *Client) newSession(servers []protocol.ICEServer) (*session, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("register codecs: %w", err)
	}
	registry := &interceptor.Registry{}
	if f := c.opts.NetworkInterceptors; f != nil {
		if err := f(registry); err != nil {
			return nil, fmt.Errorf("network interceptors: %w", err)
		}
	}
	if c.opts.LightInterceptors {
		if err := registerLightInterceptors(m, registry); err != nil {
			return nil, err
		}
	} else if err := webrtc.RegisterDefaultInterceptors(m, registry); err != nil {
		return nil, fmt.Errorf("register default interceptors: %w", err)
	}
	if f := c.opts.Interceptors; f != nil {
		if err := f(registry); err != nil {
			return nil, fmt.Errorf("interceptors: %w", err)
		}
	}
	var rx *directRx
	if c.opts.DirectReceive {
		rx = newDirectRx(c.log, c.deliver)
	}
	se, err := settingEngine(c, rx)
	if err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(
		webrtc.WithMediaEngine(m),
		webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(se),
	)
	iceServers, dropped := loopbackICEServers(servers)
	if len(dropped) > 0 {
		c.log.Warn("ignoring ICE servers that are not on 127.0.0.1", "urls", dropped)
	}
	policy := webrtc.ICETransportPolicyAll
	if c.opts.RelayOnly {
		policy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: iceServers, ICETransportPolicy: policy})
	if err != nil {
		return nil, fmt.Errorf("create peer connection: %w", err)
	}
	sess := &session{pc: pc, closed: make(chan struct{}), rx: rx}
	if rx != nil {
		rx.pc.Store(pc)
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) { c.onLocalCandidate(sess, cand) })
	pc.OnTrack(func(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
		c.onTrack(sess, track, receiver)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		c.log.Debug("peer connection state", "state", st.String())
		c.notify()
	})
	return sess, nil
}

// registerLightInterceptors registers the interceptors of
// Options.LightInterceptors.
func registerLightInterceptors(m *webrtc.MediaEngine, registry *interceptor.Registry) error {
	// First, so that the receive-side interceptors find each packet's
	// header parsed.
	registry.Add(&parsedHeaders{})
	if err := webrtc.ConfigureNack(m, registry); err != nil {
		return fmt.Errorf("register NACK interceptors: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(registry); err != nil {
		return fmt.Errorf("register RTCP report interceptors: %w", err)
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, registry); err != nil {
		return fmt.Errorf("register transport-cc sequence numbers: %w", err)
	}
	return nil
}

// prepareEmptyOffer gives a viewer's first offer something to carry.
func (c *Client) prepareEmptyOffer(sess *session) error {
	switch c.opts.EmptyOffer {
	case EmptyOfferDataChannel:
		if _, err := sess.pc.CreateDataChannel("confab", nil); err != nil {
			return fmt.Errorf("create data channel: %w", err)
		}
	case EmptyOfferRecvOnly:
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			_, err := sess.pc.AddTransceiverFromKind(kind,
				webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
			if err != nil {
				return fmt.Errorf("add recvonly %s transceiver: %w", kind, err)
			}
		}
	}
	return nil
}

// Leave sends leave and ends the session: the PeerConnection is closed and the
// remote tracks are gone. The local tracks stay recorded, so a later Join
// publishes them again. The socket stays open. Leave sends leave even when not
// joined (the server answers not-joined).
func (c *Client) Leave() error {
	c.trackMu.Lock()
	defer c.trackMu.Unlock()
	err := c.send(protocol.Leave{Type: protocol.TypeLeave})
	c.mu.Lock()
	sess := c.sess
	c.sess = nil
	c.self = protocol.Peer{}
	for _, lt := range c.locals {
		lt.sender = nil
	}
	c.notifyLocked()
	c.mu.Unlock()
	if sess != nil {
		if cerr := sess.close(); cerr != nil && err == nil {
			err = fmt.Errorf("leave: close peer connection: %w", cerr)
		}
	}
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}

// Self is the participant the server made of this client in joined; zero when
// not joined.
func (c *Client) Self() protocol.Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// PC is the current PeerConnection, or nil when not joined. Negotiate through
// the client (Offer, AddTrack, RemoveTrack), not on the PeerConnection directly.
func (c *Client) PC() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil
	}
	return c.sess.pc
}

// Negotiations is the number of completed offer/answer exchanges since Dial:
// server offers answered plus client offers answered.
func (c *Client) Negotiations() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.negotiations
}

// WaitNegotiations waits until Negotiations() >= n.
func (c *Client) WaitNegotiations(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		got, ch := c.negotiations, c.changed
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		if err := c.wait(ctx, ch); err != nil {
			return fmt.Errorf("wait for %d negotiations (have %d): %w", n, got, err)
		}
	}
}

// WaitConnected waits until the PeerConnection is connected. It fails with
// ErrConnectionFailed if the connection fails or closes, and with ErrNotJoined
// if there is no session.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		sess, ch := c.sess, c.changed
		c.mu.Unlock()
		if sess == nil {
			return ErrNotJoined
		}
		switch st := sess.pc.ConnectionState(); st {
		case webrtc.PeerConnectionStateConnected:
			return nil
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			return fmt.Errorf("wait connected: %w (%s)", ErrConnectionFailed, st)
		}
		if err := c.wait(ctx, ch); err != nil {
			return fmt.Errorf("wait connected (state %s): %w", sess.pc.ConnectionState(), err)
		}
	}
}

// WaitIdle waits until negotiation is quiet: joined, no offer in flight in
// either direction, no server offer or answer queued, and no renegotiation
// pending. It fails at once if negotiation is broken (glare, a rejected or
// unusable description).
func (c *Client) WaitIdle(ctx context.Context) error {
	for {
		c.mu.Lock()
		sess, ch := c.sess, c.changed
		var broken error
		idle := false
		if sess != nil {
			broken = sess.broken
			idle = sess.neg == negIdle && !c.renegPending && !c.renegRunning && !c.handling && !c.sdpQueuedLocked()
		}
		c.mu.Unlock()
		switch {
		case sess == nil:
			return ErrNotJoined
		case broken != nil:
			return fmt.Errorf("wait idle: %w: %w", ErrBroken, broken)
		case idle:
			return nil
		}
		if err := c.wait(ctx, ch); err != nil {
			return fmt.Errorf("wait idle: %w", err)
		}
	}
}

// Mute sends mute for one of the client's tracks.
func (c *Client) Mute(trackID string, muted bool) error {
	return c.send(protocol.Mute{Type: protocol.TypeMute, TrackID: trackID, Muted: muted})
}

// Chat sends a chat message.
func (c *Client) Chat(text string) error {
	return c.send(protocol.ChatRequest{Type: protocol.TypeChat, Text: text})
}
