package signaling_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
)

// manualPeer is a subscriber whose signaling the test drives over raw
// WebSockets, so that it can lose its socket and resume on a new one while
// its PeerConnection lives on.
type manualPeer struct {
	t       *testing.T
	pc      *webrtc.PeerConnection
	packets atomic.Int64
	mu      sync.Mutex
	c       *rawClient
	tracks  map[string]bool
	events  chan message // messages other than signaling
}

func newManualPeer(t *testing.T) *manualPeer {
	m := &manualPeer{t: t, pc: loopbackPC(t), tracks: map[string]bool{}, events: make(chan message, 256)}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := m.pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	m.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		m.mu.Lock()
		m.tracks[tr.ID()] = true
		m.mu.Unlock()
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := tr.Read(buf); err != nil {
					return
				}
				m.packets.Add(1)
			}
		}()
	})
	m.pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		m.mu.Lock()
		c := m.c
		m.mu.Unlock()
		if c != nil {
			c.sendJSON(map[string]any{"type": "candidate", "candidate": cand.ToJSON()})
		}
	})
	return m
}

// use makes c the peer's signaling socket and starts answering on it.
func (m *manualPeer) use(c *rawClient) {
	m.mu.Lock()
	m.c = c
	m.mu.Unlock()
	go func() {
		for {
			msg, err := c.next()
			if err != nil {
				c.readerExit("manual peer", err)
				return
			}
			switch msg.str("type") {
			case protocol.TypeOffer:
				if err := m.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: msg.str("sdp")}); err != nil {
					m.t.Errorf("apply offer: %v", err)
					return
				}
				a, _ := m.pc.CreateAnswer(nil)
				_ = m.pc.SetLocalDescription(a)
				c.sendJSON(protocol.SessionDescription{Type: protocol.TypeAnswer, SDP: a.SDP})
			case protocol.TypeAnswer:
				_ = m.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: msg.str("sdp")})
			case protocol.TypeCandidate:
				if cand, ok := msg["candidate"].(map[string]any); ok {
					_ = m.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: cand["candidate"].(string)})
				}
			default:
				select {
				case m.events <- msg:
				default:
				}
			}
		}
	}()
}

func (m *manualPeer) offer() {
	o, err := m.pc.CreateOffer(nil)
	if err != nil {
		m.t.Fatal(err)
	}
	if err := m.pc.SetLocalDescription(o); err != nil {
		m.t.Fatal(err)
	}
	m.c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: o.SDP})
}

func (m *manualPeer) hasTracks(n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tracks) == n
}

// TestResumeAfterSocketCut: a subscriber's WebSocket is cut mid-call. Its
// media keeps flowing meanwhile; it resumes on a new socket with the same
// participant id, receives the offer it missed, and the others never saw it
// leave or join again.
func TestResumeAfterSocketCut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{ResumeGrace: 10 * time.Second})
	ann := newParticipant(ctx, t, srv, "resume", "ann", client.Options{})
	wait(t, ctx, "ann connected", ann.WaitConnected)

	bob := newManualPeer(t)
	c1 := dialRaw(t, srv.URL)
	joined := c1.join("resume", "bob")
	self := joined["self"].(map[string]any)["id"].(string)
	token := joined.str("resumeToken")
	if token == "" {
		t.Fatal("joined has no resumeToken")
	}
	bob.use(c1)
	bob.offer()
	waitFor(t, func() bool { return bob.hasTracks(2) && bob.packets.Load() > 50 })

	// Cut bob's socket. Media goes on; meanwhile ann publishes another track,
	// whose offer bob cannot receive yet.
	c1.close()
	waitFor(t, func() bool {
		n := bob.packets.Load()
		time.Sleep(300 * time.Millisecond)
		return bob.packets.Load() > n
	})
	screen, err := ann.AddTrack(webrtc.MimeTypeVP8, "screen-ann", "screen")
	if err != nil {
		t.Fatal(err)
	}
	go sendVideo(ctx, screen)
	time.Sleep(500 * time.Millisecond)

	c2 := dialRaw(t, srv.URL)
	c2.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "resume", Name: "bob", Resume: token})
	again := c2.expect(protocol.TypeJoined)
	if got := again["self"].(map[string]any)["id"]; got != self {
		t.Fatalf("resumed as %v, want the same id %s", got, self)
	}
	if ps, _ := again["participants"].([]any); len(ps) != 1 {
		t.Fatalf("joined after resume lists %v", again["participants"])
	}
	bob.use(c2)
	waitFor(t, func() bool { return bob.hasTracks(3) })

	for _, m := range ann.Messages() {
		if m.Type == protocol.TypeParticipantLeft {
			t.Fatalf("ann saw %s during the resume", m.Raw)
		}
	}
	if n := countJoins(ann, self); n != 1 {
		t.Fatalf("ann saw bob join %d times", n)
	}
}

func countJoins(c *participant, id string) int {
	n := 0
	for _, m := range c.Messages() {
		if m.Type == protocol.TypeParticipantJoined && bytes.Contains(m.Raw, []byte(id)) {
			n++
		}
	}
	return n
}

// TestResumeExpires: a participant that does not come back within the grace
// period is removed as if it had left; a late resume joins afresh.
func TestResumeExpires(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{ResumeGrace: 300 * time.Millisecond})
	ann := dialRaw(t, srv.URL)
	ann.join("expire", "ann")
	bob := dialRaw(t, srv.URL)
	joined := bob.join("expire", "bob")
	ann.expect(protocol.TypeParticipantJoined)
	bob.close()
	start := time.Now()
	left := ann.expect(protocol.TypeParticipantLeft)
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("bob left after %v, before the grace period", waited)
	}
	if left.str("participantId") != joined["self"].(map[string]any)["id"] {
		t.Fatalf("participant-left = %v", left)
	}
	late := dialRaw(t, srv.URL)
	late.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "expire", Name: "bob", Resume: joined.str("resumeToken")})
	again := late.expect(protocol.TypeJoined)
	if again["self"].(map[string]any)["id"] == joined["self"].(map[string]any)["id"] {
		t.Fatal("a late resume got the old id back")
	}
}

// TestICERestart: a client offer with new ICE credentials moves media to a
// new network path (new local port) without a new join.
func TestICERestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	ann := newParticipant(ctx, t, srv, "ice", "ann", client.Options{})
	bob := newParticipant(ctx, t, srv, "ice", "bob", client.Options{})
	wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
		return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
	})
	wait(t, ctx, "bob idle", bob.WaitIdle)
	before, err := bob.PC().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || before == nil {
		t.Fatalf("no selected pair: %v", err)
	}
	if err := bob.RestartICE(ctx); err != nil {
		t.Fatalf("ICE restart: %v", err)
	}
	var after *webrtc.ICECandidatePair
	waitFor(t, func() bool {
		after, _ = bob.PC().SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		return after != nil && after.Local.Port != before.Local.Port
	})
	var video *client.RemoteTrack
	for _, rt := range bob.RemoteTracks() {
		if rt.Kind == "video" {
			video = rt
		}
	}
	n := video.Packets()
	waitFor(t, func() bool { return video.Packets() > n+30 })
	t.Logf("media moved from local port %d to %d", before.Local.Port, after.Local.Port)
}

// TestResumeNeedsSameRoomAndName: a resume token is only honoured by a join
// for the same room and name; anything else is an ordinary new join.
func TestResumeNeedsSameRoomAndName(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{ResumeGrace: 10 * time.Second})
	bob := dialRaw(t, srv.URL)
	joined := bob.join("same", "bob")
	bob.close()
	other := dialRaw(t, srv.URL)
	other.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "same", Name: "mallory", Resume: joined.str("resumeToken")})
	got := other.expect(protocol.TypeJoined)
	if got["self"].(map[string]any)["id"] == joined["self"].(map[string]any)["id"] {
		t.Fatal("a join under another name took over bob")
	}
	back := dialRaw(t, srv.URL)
	back.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "same", Name: "bob", Resume: joined.str("resumeToken")})
	if again := back.expect(protocol.TypeJoined); again["self"].(map[string]any)["id"] != joined["self"].(map[string]any)["id"] {
		t.Fatalf("bob could not resume: %v", again)
	}
}
