package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/auth"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/tokenbucket"
	"github.com/confab/confab/rooms"
	"github.com/confab/confab/sfu"
)

// maxPendingCandidates bounds the client candidates kept until its first
// offer: as many as its peer takes in an ICE session.
const maxPendingCandidates = sfu.MaxRemoteCandidates

// session is one client's participant: its room membership, its peer
// connection and the negotiation with its client. Only run touches its fields;
// everything else posts to in or box.
type session struct {
	srv *Server
	// conn is the client's connection; nil while a joined participant waits
	// for its client to resume.
	conn *wsConn
	log  *slog.Logger
	host string   // the Host the client reached the server by
	in   chan any // validated requests from the reader
	box  *inbox   // room events and peer callbacks
	done chan struct{}

	// attach hands a new connection to a session waiting to be resumed;
	// lost tells the session its connection ended.
	attach chan attachment
	lost   chan lostConn
	// resumeToken identifies the participant for a resume; graceDue fires
	// when a detached participant has waited long enough.
	resumeToken string
	graceTimer  *time.Timer
	graceDue    <-chan time.Time
	// lastOffer is the server offer outstanding, sent again on resume.
	lastOffer *protocol.ServerOffer
	// handedTo is the session this one gave its connection to (a resume);
	// read by the reader only after done is closed.
	handedTo *session

	// Set while joined.
	member    *membership
	room      *rooms.Room
	id, name  string
	peer      *sfu.Peer
	neg       negotiation
	forwarded map[*sfu.Track]protocol.ForwardedTrack
	pending   []webrtc.ICECandidateInit
	grants    grants

	offerTimer *time.Timer
	offerDue   <-chan time.Time

	// descriptions is the budget of offer bytes (Options.DescriptionRate);
	// roomEvents, of what is passed on to the whole room
	// (Options.RoomEventRate). The gates space out the errors and logs
	// their refusals make.
	descriptions, roomEvents                                tokenbucket.Bucket
	descriptionsLogged, roomEventsRefused, roomEventsLogged gate
}

// grants are what a participant may do: everything in open mode, what its
// token says otherwise.
type grants struct {
	publish, subscribe, admin bool
}

// membership is the rooms.Member of one join. Events for an old membership
// (delivered after a leave) are told apart and dropped.
type membership struct{ s *session }

// Deliver implements rooms.Member.
func (m *membership) Deliver(ev rooms.Event) { m.s.box.post(roomEvent{m: m, ev: ev}) }

type roomEvent struct {
	m  *membership
	ev rooms.Event
}

// peerEvent is a pion callback, tagged with the membership whose peer made it.
type peerEvent struct {
	m  *membership
	ev any
}

type (
	trackStarted struct{ t *sfu.Track }
	trackEnded   struct{ t *sfu.Track }
	localCand    struct{ c *webrtc.ICECandidateInit }
	peerState    struct{ s webrtc.PeerConnectionState }
)

// attachment is a connection handed to a session by a resume.
type attachment struct {
	conn       *wsConn
	room, name string    // what the resuming join asked for
	ok         chan bool // whether the session took it
}

// lostConn reports that conn ended; the session acknowledges on ack once it
// no longer uses conn.
type lostConn struct {
	conn *wsConn
	ack  chan struct{}
}

func newSession(srv *Server, conn *wsConn, log *slog.Logger) *session {
	now := time.Now()
	return &session{
		srv:          srv,
		conn:         conn,
		log:          log,
		in:           make(chan any),
		box:          newInbox(),
		done:         make(chan struct{}),
		attach:       make(chan attachment),
		lost:         make(chan lostConn),
		descriptions: tokenbucket.New(srv.opts.DescriptionRate, srv.opts.DescriptionBurst, now),
		roomEvents:   tokenbucket.New(srv.opts.RoomEventRate, srv.opts.RoomEventBurst, now),
	}
}

// admitRoomEvent takes a token for what the room passes on to every
// member (a join, which also costs a peer connection; chat, mute,
// publish), or drops it and reports false. The client hears
// of it at most once a second: the answer to a flood must not be one.
func (s *session) admitRoomEvent() bool {
	now := time.Now()
	opts := &s.srv.opts
	if s.roomEvents.Take(1, now) {
		return true
	}
	if s.roomEventsRefused.due(now, time.Second) {
		s.sendError(protocol.Errorf(protocol.CodeRateLimited,
			"too many room events (joins, tracks, chat, mute, publish): at most %.0f a second, %.0f at once; some were dropped", opts.RoomEventRate, opts.RoomEventBurst))
	}
	if s.roomEventsLogged.due(now, time.Minute) {
		s.log.Warn("client makes room events (joins, tracks, chat, mute, publish) faster than the bound; dropping them", "perSecond", opts.RoomEventRate)
	}
	return false
}

// admitDescription spends n bytes of the session's description budget on
// an offer, or tells the client it has run out and reports false. Answers
// do not spend it: they come only as often as the server offers, and one
// refused would never come again (the web client does not resend), leaving
// the server's offer waiting for ever; the read budget bounds their cost.
func (s *session) admitDescription(n int) bool {
	now := time.Now()
	opts := &s.srv.opts
	if s.descriptions.Take(float64(n), now) {
		return true
	}
	if s.descriptionsLogged.due(now, time.Minute) {
		s.log.Warn("client sends session descriptions faster than the bound; refusing them", "bytesPerSecond", opts.DescriptionRate, "burst", opts.DescriptionBurst)
	}
	s.sendError(protocol.Errorf(protocol.CodeNegotiationFailed,
		"session descriptions come too fast: at most %.0f KiB a second, %.0f KiB at once; send it again later",
		opts.DescriptionRate/1024, opts.DescriptionBurst/1024))
	return false
}

// send queues a message for the client, if it is connected.
func (s *session) send(msg any) {
	if s.conn != nil {
		s.conn.send(msg)
	}
}

// sendError queues an error for the client, if it is connected.
func (s *session) sendError(e *protocol.Error) {
	if s.conn != nil {
		s.conn.sendError(e)
	}
}

// run is the session's loop. It ends when ctx is cancelled, leaving the room;
// when the server is shutting down it tells the client and closes the socket.
//
// A joined participant outlives its connection for session.resumeGrace: when
// the connection is lost the session detaches and waits for a resume (a new
// connection whose join names its resumeToken) or for the grace period to end.
func (s *session) run(ctx context.Context) {
	defer close(s.done)
	defer s.leave()
	for {
		select {
		case <-ctx.Done():
			if s.srv.draining.Load() && s.conn != nil {
				s.leave()
				s.sendError(protocol.Errorf(protocol.CodeShuttingDown, "the server is shutting down"))
				s.conn.closeGracefully(websocket.CloseGoingAway, "server shutting down")
			}
			return
		case l := <-s.lost:
			keep := l.conn == s.conn && s.detach()
			close(l.ack)
			if !keep && l.conn == s.conn {
				s.conn = nil
				return
			}
		case a := <-s.attach:
			a.ok <- s.resume(a)
		case <-s.graceDue:
			s.log.Info("resume grace period over: leaving")
			return
		case req := <-s.in:
			s.handle(req)
			if s.handedTo != nil {
				return
			}
		case <-s.box.notify:
			for _, item := range s.box.drain() {
				s.handleEvent(item)
			}
		case <-s.offerDue:
			s.offerDue = nil
			s.sendOffer()
		}
	}
}

// successor is the session this one handed its connection to, if any. Call
// it only after submit failed (the session has ended).
func (s *session) successor() *session {
	<-s.done
	return s.handedTo
}

// connLost tells the session its connection c ended and waits until the
// session no longer uses it. A session that handed c to another (a resume
// the reader has not followed yet) passes the news on.
func (s *session) connLost(c *wsConn) {
	l := lostConn{conn: c, ack: make(chan struct{})}
	select {
	case s.lost <- l:
		<-l.ack
	case <-s.done:
		if next := s.handedTo; next != nil {
			next.connLost(c)
		}
	}
}

// submit hands a request from the reader to the loop; false if the session ended.
func (s *session) submit(req any) bool {
	select {
	case s.in <- req:
		return true
	case <-s.done:
		return false
	}
}

// rejected is a known request that failed validation. The session answers it,
// because before joining the answer is not-joined whatever the fields were.
type rejected struct{ err *protocol.Error }

func (s *session) handle(req any) {
	if join, ok := req.(*protocol.Join); ok {
		s.join(join)
		return
	}
	if s.peer == nil {
		s.sendError(protocol.Errorf(protocol.CodeNotJoined, "join a room first"))
		return
	}
	var err error
	switch m := req.(type) {
	case rejected:
		err = m.err
	case *protocol.SessionDescription:
		if m.Type == protocol.TypeOffer {
			s.handleOffer(m.SDP)
		} else {
			s.handleAnswer(m.SDP)
		}
	case *protocol.Candidate:
		s.handleCandidate(m.Candidate)
	case *protocol.Publish:
		sources := make(map[string]string, len(m.Tracks))
		for _, t := range m.Tracks {
			if t.Source != "" {
				sources[t.TrackID] = t.Source
			}
		}
		if s.admitRoomEvent() {
			err = s.room.Describe(s.id, sources)
		}
	case *protocol.Mute:
		if s.admitRoomEvent() {
			err = s.room.SetMuted(s.id, m.TrackID, m.Muted)
		}
	case *protocol.ChatRequest:
		if s.admitRoomEvent() {
			err = s.room.Chat(s.id, m.Text)
		}
	case *protocol.Leave:
		s.leave()
	default:
		err = fmt.Errorf("unhandled request %T", req)
	}
	if err != nil {
		s.fail(err)
	}
}

// fail reports err to the client: a user error with its code, anything else as
// "internal", logged.
func (s *session) fail(err error) {
	s.sendError(s.srv.errorFor(s.log, err))
}

func (s *session) join(m *protocol.Join) {
	if m.Resume != "" && s.peer == nil && s.handOver(m) {
		return
	}
	if s.srv.draining.Load() {
		s.sendError(protocol.Errorf(protocol.CodeShuttingDown, "the server is shutting down; try again later"))
		return
	}
	if s.peer != nil {
		s.sendError(protocol.Errorf(protocol.CodeAlreadyJoined, "this connection has joined room %q already; send leave first", s.room.Name()))
		return
	}
	if !s.admitRoomEvent() {
		return // a join is announced to the room, and costs a peer connection
	}
	started := time.Now()
	g, err := s.srv.authorize(m)
	if err != nil {
		s.log.Info("join refused", "room", m.Room, "name", m.Name, "reason", err)
		s.fail(err)
		return
	}
	member := &membership{s: s}
	joined, err := s.srv.opts.Rooms.Join(m.Room, m.Name, member)
	if err != nil {
		s.fail(err)
		return
	}
	log := s.log.With("room", m.Room, "participant", joined.ID)
	post := func(ev any) { s.box.post(peerEvent{m: member, ev: ev}) }
	peer, err := s.srv.opts.API.NewPeer(joined.ID, log, sfu.PeerHandler{
		OnTrack:       func(t *sfu.Track) { post(trackStarted{t}) },
		OnTrackEnded:  func(t *sfu.Track) { post(trackEnded{t}) },
		OnCandidate:   func(c *webrtc.ICECandidateInit) { post(localCand{c}) },
		OnStateChange: func(st webrtc.PeerConnectionState) { post(peerState{st}) },
	})
	if err != nil {
		joined.Room.Leave(joined.ID)
		s.fail(fmt.Errorf("join room %q: %w", m.Room, err))
		return
	}
	s.member, s.room, s.id, s.name, s.peer, s.log = member, joined.Room, joined.ID, m.Name, peer, log
	s.grants = g
	s.resumeToken = s.srv.rememberResumable(s)
	s.neg = negotiation{}
	s.forwarded = make(map[*sfu.Track]protocol.ForwardedTrack)
	s.pending = nil

	others := make([]protocol.Participant, 0, len(joined.Others))
	for _, p := range joined.Others {
		others = append(others, participantWire(p))
	}
	s.send(protocol.Joined{
		Type:         protocol.TypeJoined,
		Room:         m.Room,
		Self:         protocol.Peer{ID: joined.ID, Name: m.Name},
		Participants: others,
		ICEServers:   s.srv.iceServers(joined.ID, s.host),
		ResumeToken:  s.resumeToken,
	})
	for _, p := range joined.Others {
		for _, t := range p.Tracks {
			s.subscribe(p.ID, t)
		}
	}
	s.srv.opts.Metrics.ObserveJoin(time.Since(started))
	log.Debug("joined", "others", len(others))
}

// leave leaves the room and closes the peer connection; the socket stays open.
func (s *session) leave() {
	if s.peer == nil {
		return
	}
	s.room.Leave(s.id)
	if err := s.peer.Close(); err != nil {
		s.log.Debug("close peer", "err", err)
	}
	if s.offerTimer != nil {
		s.offerTimer.Stop()
	}
	if s.graceTimer != nil {
		s.graceTimer.Stop()
	}
	s.srv.forgetResumable(s.resumeToken, s)
	s.resumeToken, s.graceTimer, s.graceDue, s.lastOffer = "", nil, nil, nil
	s.member, s.room, s.peer, s.offerTimer, s.offerDue = nil, nil, nil, nil, nil
	s.forwarded, s.pending = nil, nil
	s.log = s.srv.log
}

func (s *session) handleEvent(item any) {
	switch e := item.(type) {
	case roomEvent:
		if e.m == s.member {
			s.handleRoomEvent(e.ev)
		}
	case peerEvent:
		if e.m == s.member {
			s.handlePeerEvent(e.ev)
		}
	}
}

func (s *session) handleRoomEvent(ev rooms.Event) {
	switch e := ev.(type) {
	case rooms.ParticipantJoined:
		s.send(protocol.ParticipantJoined{Type: protocol.TypeParticipantJoined, Participant: participantWire(e.Participant)})
	case rooms.ParticipantLeft:
		s.send(protocol.ParticipantLeft{Type: protocol.TypeParticipantLeft, ParticipantID: e.ParticipantID})
		for _, t := range e.Tracks {
			s.unsubscribe(t)
		}
	case rooms.TrackPublished:
		s.send(protocol.TrackPublished{Type: protocol.TypeTrackPublished, ParticipantID: e.ParticipantID, Track: trackWire(e.Track)})
		s.subscribe(e.ParticipantID, e.Track)
	case rooms.TrackUnpublished:
		s.send(protocol.TrackUnpublished{Type: protocol.TypeTrackUnpublished, ParticipantID: e.ParticipantID, TrackID: e.Track.ID})
		s.unsubscribe(e.Track)
	case rooms.TrackMuted:
		s.send(protocol.TrackMuted{Type: protocol.TypeTrackMuted, ParticipantID: e.ParticipantID, TrackID: e.TrackID, Muted: e.Muted})
	case rooms.Removed:
		s.log.Info("removed from the room", "reason", e.Reason)
		s.leave()
		s.sendError(protocol.Errorf(protocol.CodeRemoved, "%s", e.Reason))
	case rooms.Chat:
		s.send(protocol.Chat{
			Type: protocol.TypeChat,
			From: protocol.Peer{ID: e.FromID, Name: e.FromName},
			Text: e.Text,
			TS:   e.Time.UnixMilli(),
		})
	}
}

func (s *session) handlePeerEvent(ev any) {
	switch e := ev.(type) {
	case trackStarted:
		if !s.grants.publish {
			// The track reaches the server but goes nowhere.
			s.log.Info("track refused: no publish right", "track", e.t.ID())
			s.sendError(protocol.Errorf(protocol.CodeUnauthorized, "your token does not allow publishing: track %q is not forwarded", e.t.ID()))
			return
		}
		// Each track opens a media section at every member, which stays
		// for the connection's life. It is never refused (a share would
		// be lost for a burst of chat before it), but it spends the
		// room-event budget, into debt: joins, chat and mute wait.
		s.roomEvents.Spend(1, time.Now())
		if _, err := s.room.Publish(s.id, e.t); err != nil {
			s.fail(err)
		}
	case trackEnded:
		s.room.Unpublish(s.id, e.t)
	case localCand:
		s.send(protocol.Candidate{Type: protocol.TypeCandidate, Candidate: candidateWire(e.c)})
	case peerState:
		if e.s == webrtc.PeerConnectionStateFailed {
			s.log.Warn("media connection failed; waiting for the client to restart ICE or leave")
		}
	}
}

// subscribe starts forwarding a published track to this client.
func (s *session) subscribe(participantID string, t rooms.TrackInfo) {
	if t.Media == nil || !s.grants.subscribe {
		return
	}
	s.forwarded[t.Media] = protocol.ForwardedTrack{ParticipantID: participantID, TrackID: t.ID, Kind: t.Kind, Source: t.Source}
	if s.peer.Subscribe(t.Media) {
		s.scheduleOffer()
	}
}

func (s *session) unsubscribe(t rooms.TrackInfo) {
	if t.Media == nil {
		return
	}
	delete(s.forwarded, t.Media)
	if s.peer.Unsubscribe(t.Media) {
		s.scheduleOffer()
	}
}

func participantWire(p rooms.Participant) protocol.Participant {
	out := protocol.Participant{ID: p.ID, Name: p.Name, Tracks: make([]protocol.Track, 0, len(p.Tracks))}
	for _, t := range p.Tracks {
		out.Tracks = append(out.Tracks, trackWire(t))
	}
	return out
}

func trackWire(t rooms.TrackInfo) protocol.Track {
	return protocol.Track{TrackID: t.ID, Kind: t.Kind, Source: t.Source, Muted: t.Muted}
}

func candidateWire(c *webrtc.ICECandidateInit) *protocol.ICECandidate {
	if c == nil {
		return nil
	}
	return &protocol.ICECandidate{
		Candidate:        c.Candidate,
		SDPMid:           c.SDPMid,
		SDPMLineIndex:    c.SDPMLineIndex,
		UsernameFragment: c.UsernameFragment,
	}
}

// errorFor maps an error to what the client is told: the one place where
// failures become protocol codes.
func (srv *Server) errorFor(log *slog.Logger, err error) *protocol.Error {
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr):
		return perr
	case errors.Is(err, rooms.ErrNameTaken):
		return protocol.Errorf(protocol.CodeNameTaken, "that name is already taken in this room")
	case errors.Is(err, rooms.ErrRoomFull):
		return protocol.Errorf(protocol.CodeRoomFull, "this room is full")
	case errors.Is(err, auth.ErrUnauthorized):
		return protocol.Errorf(protocol.CodeUnauthorized, "%v", err)
	case errors.Is(err, rooms.ErrModeratorMuted):
		return protocol.Errorf(protocol.CodeBadRequest, "a moderator muted this track")
	case errors.Is(err, rooms.ErrTooManyTracks):
		return protocol.Errorf(protocol.CodeBadRequest, "too many tracks (at most %d)", rooms.MaxTracks)
	}
	log.Error("request failed", "err", err)
	return protocol.Errorf(protocol.CodeInternal, "internal server error")
}

// authorize checks a join against the access tokens, when they are required,
// and returns what the participant may do.
func (srv *Server) authorize(m *protocol.Join) (grants, error) {
	v := srv.opts.Auth
	if !v.Enabled() {
		return grants{publish: true, subscribe: true}, nil
	}
	if m.Token == "" {
		return grants{}, fmt.Errorf("a token is required: %w", auth.ErrUnauthorized)
	}
	claims, err := v.Verify(m.Token)
	if err != nil {
		return grants{}, err
	}
	if !claims.AllowsRoom(m.Room) {
		return grants{}, fmt.Errorf("the token is not for room %q: %w", m.Room, auth.ErrUnauthorized)
	}
	if !claims.AllowsName(m.Name) {
		return grants{}, fmt.Errorf("the token is for another name: %w", auth.ErrUnauthorized)
	}
	return grants{publish: claims.CanPublish, subscribe: claims.CanSubscribe, admin: claims.Admin}, nil
}

// iceServers are the servers handed to one participant in joined.
func (srv *Server) iceServers(participantID, host string) []protocol.ICEServer {
	if srv.opts.ICEServersFor == nil {
		return srv.opts.ICEServers
	}
	servers := append([]protocol.ICEServer{}, srv.opts.ICEServers...)
	return append(servers, srv.opts.ICEServersFor(participantID, host)...)
}

// detach keeps a joined participant after its connection was lost, for the
// resume grace period. It reports false when the session should end instead.
func (s *session) detach() bool {
	grace := s.srv.opts.ResumeGrace
	if s.peer == nil || grace <= 0 || s.srv.draining.Load() {
		return false
	}
	s.conn = nil
	s.graceTimer = time.NewTimer(grace)
	s.graceDue = s.graceTimer.C
	s.log.Info("connection lost: waiting for the client to resume", "grace", grace)
	return true
}

// resume attaches a new connection to this participant: the client gets
// joined again (same id, the room as it is now) and the outstanding server
// offer, if any. The others notice nothing.
func (s *session) resume(a attachment) bool {
	if s.peer == nil || a.room != s.room.Name() || a.name != s.name {
		return false
	}
	conn := a.conn
	if s.conn != nil && s.conn != conn {
		// The old connection is half-open; the new one wins.
		s.conn.kill()
	}
	if s.graceTimer != nil {
		s.graceTimer.Stop()
	}
	s.graceTimer, s.graceDue = nil, nil
	s.conn = conn
	others := []protocol.Participant{}
	for _, p := range s.room.Participants() {
		if p.ID != s.id {
			others = append(others, participantWire(p))
		}
	}
	s.send(protocol.Joined{
		Type:         protocol.TypeJoined,
		Room:         s.room.Name(),
		Self:         protocol.Peer{ID: s.id, Name: s.name},
		Participants: others,
		ICEServers:   s.srv.iceServers(s.id, s.host),
		ResumeToken:  s.resumeToken,
	})
	if s.neg.outstanding && s.lastOffer != nil {
		s.send(*s.lastOffer)
	}
	s.log.Info("resumed")
	return true
}

// handOver gives this (not yet joined) connection to the participant the
// resume token names, if it is still there and the join names the same room
// and name (and, when tokens are required, carries a valid one). On success
// this session ends and the reader follows the connection to its new session.
func (s *session) handOver(m *protocol.Join) bool {
	target := s.srv.lookupResumable(m.Resume)
	if target == nil || target == s || s.srv.draining.Load() {
		s.log.Info("resume: unknown or expired token; joining afresh")
		return false
	}
	if _, err := s.srv.authorize(m); err != nil {
		s.log.Info("resume refused", "reason", err)
		return false
	}
	a := attachment{conn: s.conn, room: m.Room, name: m.Name, ok: make(chan bool, 1)}
	select {
	case target.attach <- a:
	case <-target.done:
		return false
	}
	if !<-a.ok {
		return false
	}
	s.conn, s.handedTo = nil, target
	return true
}
