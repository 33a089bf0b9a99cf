package sfu

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// PeerHandler receives a Peer's events. Callbacks run on pion's goroutines or
// the Peer's own; they must not block and must not call back into the Peer
// synchronously. A nil field is skipped.
type PeerHandler struct {
	// OnTrack is called when the remote side starts publishing a track.
	OnTrack func(*Track)
	// OnTrackEnded is called when a published track has ended.
	OnTrackEnded func(*Track)
	// OnCandidate is called with each local ICE candidate; nil means gathering
	// is complete.
	OnCandidate func(*webrtc.ICECandidateInit)
	// OnStateChange is called when the connection state changes.
	OnStateChange func(webrtc.PeerConnectionState)
}

// Peer is one participant's PeerConnection to the server: the tracks it
// publishes and the DownTracks it receives. Negotiation methods (Answer, Offer,
// SetAnswer, AddCandidate) and subscription changes are meant to be called by
// one owner goroutine; Subscribe and Unsubscribe are also safe from others.
type Peer struct {
	id      string
	pc      *webrtc.PeerConnection
	owner   *API
	log     *slog.Logger
	handler PeerHandler

	mu sync.Mutex
	// subs are the tracks this peer should receive, by published Track.
	subs map[*Track]*DownTrack
	// published are the tracks this peer publishes, until they end.
	published map[*Track]struct{}
	// senders are the transceivers the server sends on, with the DownTrack
	// each carries.
	senders map[*webrtc.RTPTransceiver]*DownTrack
	// dirty is set when subs differs from what was last offered.
	dirty  bool
	closed bool

	// secrets captures the DTLS handshake's keys; route, once set, sends
	// forwarded packets around pion's write path (direct.go).
	secrets *dtlsSecrets
	route   atomic.Pointer[route]
	routeMu sync.Mutex
	// rx receives the peer's RTP around pion's receive path once its
	// route is known (receive.go).
	rx *directReceiver
	// budget caps what the peer publishes, its tracks together (nil: no
	// cap).
	budget *publishBudget
	// candidates counts the remote ICE candidates of the current ICE
	// session, to bound them (MaxRemoteCandidates).
	candidates remoteCandidates
	// serverMids are the mids of every media section the server opened to
	// send the peer someone's media, under mu; the others in its offers
	// are the client's own (MaxClientSections).
	serverMids map[string]struct{}
	// clientMids are the mids of every other section the client's offers
	// have had, under mu: pion keeps a transceiver for each.
	clientMids map[string]struct{}
	// dataChannels counts the data channels the client opened.
	dataChannels atomic.Int32
	// localUfrag is the ICE ufrag the peer is known by in the media
	// sockets' ufrag index, under mu.
	localUfrag string

	// rtcpOut seals the RTCP loop's packets for the direct route.
	rtcpOut directRTCP
	// nackDue says that p is in the RTCP loop's queue of peers with
	// packets newly missing (nackNow).
	nackDue atomic.Bool
	// rtt is the last round-trip time to the peer ICE measured, in
	// nanoseconds; 0 before any. It spaces the NACKs' retries.
	rtt atomic.Int64
	// rttAt is when rtt was last read from ICE (Unix nanoseconds).
	rttAt atomic.Int64
	// reportSlot says in which of the RTCP loop's runs each second this
	// peer's sender and receiver reports go out (rtcploop.go).
	reportSlot int

	wg sync.WaitGroup
}

// NewPeer creates the PeerConnection of participant id. Tracks it publishes get
// id as their stream id.
func (a *API) NewPeer(id string, log *slog.Logger, handler PeerHandler) (*Peer, error) {
	if log == nil {
		log = a.log
	}
	secrets := &dtlsSecrets{}
	var index *ssrcIndex
	if a.direct {
		index = &a.sockets.index
	}
	rx := newDirectReceiver(log, index)
	budget := newPublishBudget(a.maxPublish, time.Now())
	pc, err := a.peerAPI(secrets, rx).NewPeerConnection(webrtc.Configuration{
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	a.peers.Add(1)
	p := &Peer{
		id:         id,
		pc:         pc,
		secrets:    secrets,
		rx:         rx,
		budget:     budget,
		rtcpOut:    directRTCP{ssrc: randomSSRC(0, rx.ssrc)},
		reportSlot: int(a.created.Add(1) % reportSlots),
		owner:      a,
		log:        log,
		handler:    handler,
		subs:       make(map[*Track]*DownTrack),
		published:  make(map[*Track]struct{}),
		senders:    make(map[*webrtc.RTPTransceiver]*DownTrack),
	}
	a.mu.Lock()
	a.live[p] = struct{}{}
	a.mu.Unlock()
	pc.OnTrack(p.onTrack)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if handler.OnCandidate == nil {
			return
		}
		if c == nil {
			handler.OnCandidate(nil)
			return
		}
		init := c.ToJSON()
		handler.OnCandidate(&init)
	})
	pc.OnDataChannel(p.onDataChannel)
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) {
		p.updateRoute()
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Debug("peer connection state", "state", s.String())
		p.updateRoute()
		if handler.OnStateChange != nil {
			handler.OnStateChange(s)
		}
	})
	return p, nil
}

const (
	// manyDataChannels is how many data channels a client opens before
	// the server logs it, once.
	manyDataChannels = 16
	// sctpReceiveBuffer bounds what the SCTP association buffers of data
	// the server never reads.
	sctpReceiveBuffer = 64 << 10
)

// onDataChannel takes a data channel the client opened. The server uses
// none (clients that offer no media, like the Go test client by default,
// open one so that their offer has a section), but it leaves them open,
// detached and never read (see NewAPI): pion's default closes each one,
// and a client that opened 2000 made the server reset as many SCTP streams,
// which kept its core busy for 5.6 s and took its RSS to 97 MiB (a
// separate server process, measured). Left open, 2000 cost 0.3 s and RSS
// 18 → 26 MiB; 20 000 asked for, 0.6 s and 18 → 33 MiB.
func (p *Peer) onDataChannel(*webrtc.DataChannel) {
	if p.dataChannels.Add(1) == manyDataChannels {
		p.log.Info("client opens many data channels; the server uses none and leaves them unread", "channels", manyDataChannels)
	}
}

// nackNow has the RTCP loop send p's NACKs for packets newly missing at
// once, as libwebrtc does, rather than at the loop's next run.
func (p *Peer) nackNow() {
	if !p.nackDue.CompareAndSwap(false, true) {
		return // already queued
	}
	select {
	case p.owner.nackDue <- p:
	default:
		// The queue is full: the loop's next run asks for these too.
		p.nackDue.Store(false)
	}
}

// ID is the participant id this peer belongs to.
func (p *Peer) ID() string { return p.id }

func (p *Peer) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	t := newTrack(remote, receiver, p.pc, p.id, p.log)
	t.queue = p.rx.stream(uint32(remote.SSRC()))
	t.nackNow = p.nackNow
	t.senderReported = p.refreshRTT
	t.rtcpSSRC = p.rx.ssrc
	t.budget = p.budget
	p.published[t] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()

	t.log.Info("track published")
	if p.handler.OnTrack != nil {
		p.handler.OnTrack(t)
	}
	go func() {
		defer p.wg.Done()
		t.readRTCP()
	}()
	go func() {
		defer p.wg.Done()
		t.forward()
		p.mu.Lock()
		delete(p.published, t)
		p.mu.Unlock()
		p.owner.gone.retireTrack(t)
		t.log.Info("track ended", "packets", t.Packets())
		if p.handler.OnTrackEnded != nil {
			p.handler.OnTrackEnded(t)
		}
	}()
}

// Answer applies a remote offer and returns the local answer. An offer pion
// would reject half-way (it cannot roll back) is refused before it is applied,
// so the peer stays usable.
func (p *Peer) Answer(offer string) (string, error) {
	remote, err := checkRemoteSDP(offer, true)
	if err != nil {
		return "", fmt.Errorf("check offer: %w", err)
	}
	if n := p.clientSections(remote.mids, false); n > p.owner.maxClientSections {
		return "", fmt.Errorf("check offer: %w: %d media sections of the client's own over the connection's life, at most %d", ErrBadSDP, n, p.owner.maxClientSections)
	}
	if err := p.candidates.check(remote.ufrag, remote.candidates); err != nil {
		return "", fmt.Errorf("check offer: %w", err)
	}
	answer, err := p.answer(offer)
	if err != nil {
		return "", err
	}
	p.candidates.applied(remote.ufrag, remote.candidates)
	p.clientSections(remote.mids, true)
	p.registerUfrag(answer)
	return answer, nil
}

// clientSections counts the client's own sections (those whose mids the
// server did not open) that the peer would have had over its life with an
// offer of mids, and records them when record is set (once the offer is
// applied). pion never frees a transceiver, so a client that renamed its
// sections in each offer would otherwise grow the peer without end.
func (p *Peer) clientSections(mids []string, record bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.clientMids)
	for _, mid := range mids {
		_, server := p.serverMids[mid]
		_, known := p.clientMids[mid]
		if server || known {
			continue
		}
		n++
		if record {
			if p.clientMids == nil {
				p.clientMids = make(map[string]struct{})
			}
			p.clientMids[mid] = struct{}{}
		}
	}
	return n
}

// answer is Answer without the check. Should pion still refuse a checked
// offer after taking it, the error wraps ErrPeerStuck.
func (p *Peer) answer(offer string) (string, error) {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", p.answerFailed("apply offer", err)
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", p.answerFailed("create answer", err)
	}
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return "", p.answerFailed("apply answer", err)
	}
	sdp := p.pc.LocalDescription().SDP
	if strings.Contains(offer, "a=setup:passive") {
		// The offerer insists on being the DTLS server. pion then acts as
		// the DTLS client, but with the answering role set to server (for
		// direct sending) it still writes a=setup:passive into its answer
		// (v4.2.20), and refuses a local answer edited to say otherwise:
		// tell the client what pion does, or both sides wait as DTLS
		// clients. Such a peer gets no direct route: its keys are not
		// captured, and pion's path carries its media.
		sdp = strings.ReplaceAll(sdp, "a=setup:passive", "a=setup:active")
	}
	return sdp, nil
}

// SetAnswer applies the remote answer to the server's latest offer. It
// reports whether the offer is still waiting for an answer: pion leaves some
// rejected answers applied half-way, and then only a new offer helps
// (Renegotiate).
func (p *Peer) SetAnswer(answer string) (pending bool, err error) {
	if p.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		return false, ErrNoNegotiation
	}
	remote, err := checkRemoteSDP(answer, false)
	if err != nil {
		return true, fmt.Errorf("check answer: %w", err)
	}
	if err := p.candidates.check(remote.ufrag, remote.candidates); err != nil {
		return true, fmt.Errorf("check answer: %w", err)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer, fmt.Errorf("apply answer: %w", err)
	}
	p.candidates.applied(remote.ufrag, remote.candidates)
	return false, nil
}

// answerFailed wraps the error of Answer's step, with ErrPeerStuck when the
// offer stays applied (pion cannot roll it back).
func (p *Peer) answerFailed(step string, err error) error {
	if p.pc.SignalingState() == webrtc.SignalingStateHaveRemoteOffer {
		return fmt.Errorf("%s: %w: %w", step, ErrPeerStuck, err)
	}
	return fmt.Errorf("%s: %w", step, err)
}

// Renegotiate makes NeedsOffer true, so the next offer is made even without a
// change of subscriptions.
func (p *Peer) Renegotiate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dirty = true
}

// AddCandidate adds a remote ICE candidate. Past MaxRemoteCandidates
// distinct ones in an ICE session, it refuses them with
// ErrTooManyCandidates.
func (p *Peer) AddCandidate(c webrtc.ICECandidateInit) error {
	if err := p.candidates.admit(c.Candidate); err != nil {
		return err
	}
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("add candidate: %w", err)
	}
	return nil
}

// HasRemoteDescription reports whether a remote description has been applied.
func (p *Peer) HasRemoteDescription() bool { return p.pc.RemoteDescription() != nil }

// Stable reports whether no offer is outstanding in either direction.
func (p *Peer) Stable() bool { return p.pc.SignalingState() == webrtc.SignalingStateStable }

// Subscribe makes the peer receive t from the next offer on. It reports whether
// this changed the subscriptions.
func (p *Peer) Subscribe(t *Track) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if _, ok := p.subs[t]; ok {
		return false
	}
	select {
	case <-t.Done():
		return false
	default:
	}
	d := newDownTrack(t, p.id, &p.route)
	p.subs[t] = d
	p.rx.subscribed.Store(int64(len(p.subs)))
	p.dirty = true
	t.addSubscriber(d)
	return true
}

// Unsubscribe stops forwarding t to the peer at once; the next offer removes it.
// It reports whether this changed the subscriptions.
func (p *Peer) Unsubscribe(t *Track) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.subs[t]
	if !ok {
		return false
	}
	delete(p.subs, t)
	p.rx.subscribed.Store(int64(len(p.subs)))
	t.removeSubscriber(d)
	p.owner.gone.retireDownTrack(d)
	p.dirty = true
	return true
}

// NeedsOffer reports whether the subscriptions changed since the last offer.
func (p *Peer) NeedsOffer() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dirty && !p.closed
}

// Offer brings the server's transceivers in line with the subscriptions and
// returns a new offer with the published Track each sending transceiver carries,
// by mid. Call it only when Stable.
func (p *Peer) Offer() (string, map[string]*Track, error) {
	if err := p.reconcile(); err != nil {
		return "", nil, err
	}
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", nil, fmt.Errorf("create offer: %w", err)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return "", nil, fmt.Errorf("apply offer: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tracks := make(map[string]*Track, len(p.senders))
	if p.serverMids == nil {
		p.serverMids = make(map[string]struct{}, len(p.senders))
	}
	for tr, d := range p.senders {
		if tr.Mid() != "" {
			tracks[tr.Mid()] = d.track
			p.serverMids[tr.Mid()] = struct{}{}
		}
	}
	return p.pc.LocalDescription().SDP, tracks, nil
}

// reconcile removes the senders of dropped subscriptions and adds a
// transceiver for each new one.
//
// A freed transceiver is not reused for a later track: pion, as a receiver,
// races when a stopped m-line comes back with a new SSRC and may never deliver
// the new track, so new tracks always get new m-lines. The SDP grows by an
// inactive m-line per track that has come and gone; browsers handle hundreds.
func (p *Peer) reconcile() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.dirty = false

	active := make(map[*DownTrack]bool, len(p.senders))
	for tr, d := range p.senders {
		if p.subs[d.track] == d {
			active[d] = true
			continue
		}
		if err := p.pc.RemoveTrack(tr.Sender()); err != nil {
			return fmt.Errorf("remove track %s: %w", d.track.id, err)
		}
		delete(p.senders, tr)
	}
	for _, d := range p.subs {
		if active[d] {
			continue
		}
		if err := p.addSender(d); err != nil {
			return err
		}
	}
	return nil
}

// addSender puts d on a new send-only transceiver offering only the
// publisher's codec (the server does not transcode), and starts reading the
// subscriber's RTCP for it.
func (p *Peer) addSender(d *DownTrack) error {
	tr, err := p.pc.AddTransceiverFromTrack(d, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return fmt.Errorf("add transceiver for %s: %w", d.track.id, err)
	}
	want := webrtc.RTPCodecParameters{RTPCodecCapability: d.track.codec}
	want.RTCPFeedback = feedbackFor(d.Kind())
	if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{want}); err != nil {
		p.log.Debug("codec preference", "track", d.track.id, "err", err)
	}
	p.senders[tr] = d
	sender := tr.Sender()
	for _, e := range sender.GetParameters().Encodings {
		p.rx.addOwn(uint32(e.SSRC), uint32(e.RTX.SSRC))
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.readSenderRTCP(sender, d)
	}()
	return nil
}

// readSenderRTCP reads a subscriber's RTCP for one forwarded track, so the
// interceptors (reports) see it; it turns PLI and FIR into keyframe requests
// to the publisher and answers NACKs from the track's packet cache. It ends
// when the sender stops.
func (p *Peer) readSenderRTCP(sender *webrtc.RTPSender, d *DownTrack) {
	// The buffers for retransmissions are made at the first NACK: most
	// down tracks (all audio ones) never see one.
	var (
		scratch []byte
		out     *egress
		lim     *resendLimiter
		rtt     time.Duration
	)
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				p.log.Debug("sender RTCP read ended", "track", d.track.id, "err", err)
			}
			return
		}
		ssrc := d.ssrc()
		if wantsKeyframe(pkts, ssrc) {
			d.track.RequestKeyframe()
		}
		for _, pkt := range pkts {
			var reports []rtcp.ReceptionReport
			switch pkt := pkt.(type) {
			case *rtcp.ReceiverReport:
				reports = pkt.Reports
			case *rtcp.SenderReport:
				reports = pkt.Reports
			case *rtcp.TransportLayerNack:
				if pkt.MediaSSRC != ssrc {
					continue
				}
				if scratch == nil {
					scratch, out, lim = make([]byte, maxPacketSize), new(egress), newResendLimiter()
				}
				lim.rtt = rtt
				d.retransmit(pkt, scratch, out, lim)
			}
			if r, ok := roundTrip(reports, ssrc, time.Now()); ok {
				rtt = r
			}
		}
	}
}

// wantsKeyframe reports whether pkts ask the sender of ssrc for a keyframe.
// pion hands a compound packet to every sender any of its parts is about, so
// a PLI for another track must not count.
func wantsKeyframe(pkts []rtcp.Packet, ssrc uint32) bool {
	for _, pkt := range pkts {
		switch pkt := pkt.(type) {
		case *rtcp.PictureLossIndication:
			if pkt.MediaSSRC == ssrc {
				return true
			}
		case *rtcp.FullIntraRequest:
			for _, e := range pkt.FIR {
				if e.SSRC == ssrc {
					return true
				}
			}
		}
	}
	return false
}

// Close closes the connection, stops forwarding to it, and waits for every
// goroutine the peer started. Tracks it published end; their OnTrackEnded
// callbacks run before Close returns.
func (p *Peer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for t, d := range p.subs {
		t.removeSubscriber(d)
		p.owner.gone.retireDownTrack(d)
	}
	p.subs = nil
	p.mu.Unlock()

	err := p.pc.Close()
	p.unregisterUfrag()
	// Closed, the connection gives updateRoute no route to map again.
	p.routeMu.Lock()
	p.owner.sockets.forget(p.rx)
	p.routeMu.Unlock()
	p.rx.close()
	p.wg.Wait()
	p.owner.peers.Add(-1)
	p.owner.mu.Lock()
	delete(p.owner.live, p)
	p.owner.gone.retireReceiver(p.rx)
	p.owner.mu.Unlock()
	if err != nil {
		return fmt.Errorf("close peer connection: %w", err)
	}
	return nil
}
