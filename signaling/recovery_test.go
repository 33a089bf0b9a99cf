package signaling_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/sdptest"
	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

// loopbackPC is a pion peer connection limited to 127.0.0.1, for tests that
// drive negotiation by hand.
func loopbackPC(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	var se webrtc.SettingEngine
	loop := func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil }
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(loop)
	se.SetRemoteIPFilter(loop)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// trickle sends pc's candidates to the server on c. A candidate gathered
// after the socket closed is dropped.
func trickle(c *rawClient, pc *webrtc.PeerConnection) {
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		b, err := json.Marshal(map[string]any{"type": "candidate", "candidate": cand.ToJSON()})
		if err == nil {
			_ = c.trySend(string(b))
		}
	})
}

// offerOn has pc offer to the server on c and applies its answer. edits,
// if any, change the offer the server gets (not pc's own).
func offerOn(t *testing.T, c *rawClient, pc *webrtc.PeerConnection, edits ...func(string) string) {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	sent := offer.SDP
	for _, edit := range edits {
		sent = edit(sent)
	}
	c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: sent})
	answer := c.expect(protocol.TypeAnswer, protocol.TypeCandidate)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.str("sdp")}); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenOffersKeepSessionUsable: offers that do not parse, and offers that
// parse but cannot be applied (no media, no ICE credentials), get
// negotiation-failed, and a good offer afterwards is answered.
func TestBrokenOffersKeepSessionUsable(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	c := dialRaw(t, srv.URL)
	c.join("sdp", "ann")

	pc := loopbackPC(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var noUfrag []string
	for _, line := range strings.Split(offer.SDP, "\r\n") {
		if !strings.HasPrefix(line, "a=ice-ufrag") {
			noUfrag = append(noUfrag, line)
		}
	}
	for _, bad := range []string{
		"this is not SDP",
		"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
		"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
		strings.Join(noUfrag, "\r\n"),
	} {
		c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: bad})
		c.expectError(protocol.CodeNegotiationFailed)
	}
	c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: offer.SDP})
	answer := c.expect(protocol.TypeAnswer, protocol.TypeCandidate)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.str("sdp")}); err != nil {
		t.Fatalf("server's answer after broken offers: %v", err)
	}
}

// TestPlanBOfferRefused: an offer pion reads as Plan B (two streams in one
// media section, here once the RTX pairing is cut) is one pion v4.2.20 takes
// and then cannot answer, nor roll back. The server refuses it first: the
// client gets negotiation-failed naming Plan B, stays in the room, and its
// next offer, on the same peer connection, is answered.
func TestPlanBOfferRefused(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	other := dialRaw(t, srv.URL)
	other.join("planb", "other")
	c := dialRaw(t, srv.URL)
	c.join("planb", "ann")
	other.expect(protocol.TypeParticipantJoined)

	good := sdptest.ClientOffer(t) // sends VP8, with RTX
	c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: sdptest.PlanB(t, good)})
	if m := c.expectError(protocol.CodeNegotiationFailed); !strings.Contains(m.str("message"), "Plan B") {
		t.Fatalf("negotiation-failed does not name Plan B: %q", m.str("message"))
	}
	c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: good})
	c.expect(protocol.TypeAnswer, protocol.TypeCandidate)
	// The other participant saw ann stay: the next thing it hears of the
	// room (offers aside) is a third participant joining, not ann leaving.
	dialRaw(t, srv.URL).join("planb", "bob")
	other.expect(protocol.TypeParticipantJoined, protocol.TypeOffer, protocol.TypeCandidate)
}

// TestBrokenAnswerKeepsSessionUsable: a subscriber answers the server's offer
// with an answer pion cannot apply; it gets negotiation-failed, and answering
// properly (the same offer, or the new one the server sends) brings the
// publisher's media. The same holds with the description budget spent by
// the client's own offers: answers are never refused for it.
func TestBrokenAnswerKeepsSessionUsable(t *testing.T) {
	t.Run("default", func(t *testing.T) { brokenAnswer(t, nil) })
	t.Run("budget spent", func(t *testing.T) {
		brokenAnswer(t, func(o *signaling.Options) { o.DescriptionRate, o.DescriptionBurst = 1, 16<<10 })
	})
}

// brokenAnswer is TestBrokenAnswerKeepsSessionUsable with opts; with opts
// set, the viewer spends its description budget on offers first.
func brokenAnswer(t *testing.T, opts func(*signaling.Options)) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{Signaling: opts})
	c := dialRaw(t, srv.URL)
	c.join("answer", "viewer")

	pc := loopbackPC(t)
	gotTrack := make(chan string, 4)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { gotTrack <- tr.ID() })
	trickle(c, pc)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offerOn(t, c, pc)
	if opts != nil {
		// The same offer again until the budget refuses one.
		for refused := false; !refused; {
			c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: pc.LocalDescription().SDP})
			for answered := false; !answered && !refused; {
				m, err := c.next()
				if err != nil {
					t.Fatal(err)
				}
				answered = m.str("type") == protocol.TypeAnswer
				refused = m.str("code") == string(protocol.CodeNegotiationFailed)
			}
		}
	}

	// A publisher arrives: the server offers its tracks to the viewer.
	_ = newParticipant(ctx, t, srv, "answer", "ann", client.Options{})
	serverOffer := c.expect(protocol.TypeOffer, protocol.TypeCandidate, protocol.TypeParticipantJoined, protocol.TypeTrackPublished)
	if _, ok := serverOffer["tracks"].(map[string]any); !ok {
		t.Fatalf("server offer without a tracks map: %v", serverOffer)
	}
	c.sendJSON(protocol.SessionDescription{Type: protocol.TypeAnswer, SDP: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"})
	if m := c.expect(protocol.TypeError, protocol.TypeCandidate, protocol.TypeTrackPublished); m.str("code") != string(protocol.CodeNegotiationFailed) {
		t.Fatalf("broken answer: %v", m)
	}

	// Answer properly: this offer, and any offer the server makes after it.
	answerOffer := func(sdp string) {
		t.Helper()
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
			t.Fatalf("apply server offer: %v", err)
		}
		a, err := pc.CreateAnswer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.SetLocalDescription(a); err != nil {
			t.Fatal(err)
		}
		c.sendJSON(protocol.SessionDescription{Type: protocol.TypeAnswer, SDP: a.SDP})
	}
	answerOffer(serverOffer.str("sdp"))

	msgs := make(chan message)
	var readErr error // why the reader stopped, set before msgs closes
	go func() {
		defer close(msgs)
		for {
			m, err := c.next()
			if err != nil {
				readErr = err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	tracks := map[string]bool{}
	for len(tracks) < 2 {
		select {
		case id := <-gotTrack:
			tracks[id] = true
		case <-ctx.Done():
			t.Fatalf("viewer did not receive ann's tracks after a broken answer; got %v", tracks)
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("connection ended (%v); got tracks %v", readErr, tracks)
			}
			switch m.str("type") {
			case protocol.TypeOffer:
				answerOffer(m.str("sdp"))
			case protocol.TypeCandidate:
				if cand, ok := m["candidate"].(map[string]any); ok {
					_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: cand["candidate"].(string)})
				}
			case protocol.TypeError:
				t.Fatalf("error after the proper answer: %v", m)
			}
		}
	}
	cancel()
	c.close()
	for range msgs {
	}
}
