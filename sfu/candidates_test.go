package sfu

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/internal/sdptest"
)

// hostCandidate is the i-th of a set of distinct host candidates on
// loopback.
func hostCandidate(i int) string {
	return fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 20000+i)
}

// TestCandidateBound: a peer takes MaxRemoteCandidates distinct remote
// candidates in an ICE session, from its remote descriptions and trickled,
// and refuses the rest with ErrTooManyCandidates; one sent again, or
// written otherwise (as browsers trickle them, with "ufrag ..."), does not
// count twice; a description that would take the session past the bound
// is refused whole, alone or with what came before; an ICE restart (a new
// ufrag) starts a new count.
func TestCandidateBound(t *testing.T) {
	defer leaktest.VerifyNone(t)
	api := loopbackAPI(t)
	defer api.Close()
	peer := newTestPeer(t, api, "p", PeerHandler{})
	defer peer.Close()

	offer := sdptest.ClientOffer(t)
	// Two candidates in the offer, one of them trickled again below.
	withCandidates := strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\na="+hostCandidate(0)+"\r\na="+hostCandidate(1)+"\r\n", 1)
	if _, err := peer.Answer(withCandidates); err != nil {
		t.Fatal(err)
	}
	mid := "0"
	add := func(i int) error {
		return peer.AddCandidate(webrtc.ICECandidateInit{Candidate: hostCandidate(i), SDPMid: &mid})
	}
	for i := 1; i < MaxRemoteCandidates; i++ {
		if err := add(i); err != nil {
			t.Fatalf("candidate %d: %v", i, err)
		}
	}
	if err := add(MaxRemoteCandidates); !errors.Is(err, ErrTooManyCandidates) {
		t.Fatalf("candidate %d: %v, want ErrTooManyCandidates", MaxRemoteCandidates, err)
	}
	if err := add(5); err != nil {
		t.Fatalf("a candidate sent again: %v", err)
	}
	rewritten := strings.Replace(hostCandidate(7), "candidate:7 ", "candidate:99 ", 1) + " generation 0 ufrag abcd network-id 1"
	if err := peer.AddCandidate(webrtc.ICECandidateInit{Candidate: rewritten, SDPMid: &mid}); err != nil {
		t.Fatalf("a candidate sent again, written otherwise: %v", err)
	}

	// An ICE restart: the same offer with a new ufrag starts a new count.
	ufrag := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(offer)[1]
	restart := strings.ReplaceAll(offer, "a=ice-ufrag:"+ufrag, "a=ice-ufrag:restartedUfrag1")
	if _, err := peer.Answer(restart); err != nil {
		t.Fatalf("restart offer: %v", err)
	}
	if err := add(MaxRemoteCandidates); err != nil {
		t.Fatalf("after an ICE restart: %v", err)
	}
	// Descriptions add up: 60 trickled, then the same offer again with 4
	// new candidates is taken (64), with 5 refused.
	for i := 1; i < 60; i++ {
		if err := add(MaxRemoteCandidates + i); err != nil {
			t.Fatalf("candidate %d after the restart: %v", i+1, err)
		}
	}
	withNew := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString("a=" + hostCandidate(1000+i) + "\r\n")
		}
		return strings.Replace(restart, "a=mid:0\r\n", "a=mid:0\r\n"+b.String(), 1)
	}
	if _, err := peer.Answer(withNew(5)); !errors.Is(err, ErrBadSDP) || !strings.Contains(err.Error(), "65 candidates") {
		t.Fatalf("an offer bringing the session to 65 candidates: %v, want ErrBadSDP", err)
	}
	if _, err := peer.Answer(withNew(4)); err != nil {
		t.Fatalf("an offer bringing the session to 64 candidates: %v", err)
	}

	// An offer with more candidates than the bound is refused before pion
	// sees it, and the peer stays usable.
	var many strings.Builder
	for i := 0; i <= MaxRemoteCandidates; i++ {
		many.WriteString("a=" + hostCandidate(100+i) + "\r\n")
	}
	stuffed := strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+many.String(), 1)
	if _, err := peer.Answer(stuffed); !errors.Is(err, ErrBadSDP) || !strings.Contains(err.Error(), "candidates") {
		t.Fatalf("offer with %d candidates: %v, want ErrBadSDP", MaxRemoteCandidates+1, err)
	}
	if state := peer.pc.SignalingState(); state != webrtc.SignalingStateStable {
		t.Fatalf("after the refused offer the peer is %s", state)
	}
}

// TestClientSectionsBound: a client's offers may have had at most
// maxClientSections media sections of its own over the connection's life;
// the sections the server opened to send it media do not count, and a
// section renamed counts as a new one (pion keeps both).
func TestClientSectionsBound(t *testing.T) {
	defer leaktest.VerifyNone(t)
	api := loopbackAPI(t)
	defer api.Close()
	api.maxClientSections = 6
	peer := newTestPeer(t, api, "p", PeerHandler{})
	defer peer.Close()
	client, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	addSections := func(n int) {
		for range n {
			if _, err := client.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var last string
	offer := func() error {
		o, err := client.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.SetLocalDescription(o); err != nil {
			t.Fatal(err)
		}
		last = o.SDP
		a, err := peer.Answer(o.SDP)
		if err != nil {
			return err // the last step: pion's client cannot roll back
		}
		if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a}); err != nil {
			t.Fatal(err)
		}
		return nil
	}

	addSections(2)
	if err := offer(); err != nil {
		t.Fatal(err)
	}
	// The server opens three sections to send the client three tracks.
	for i := range 3 {
		tr := &Track{
			id: fmt.Sprint("audio", i), streamID: "other", kind: webrtc.RTPCodecTypeAudio,
			codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
			done:  make(chan struct{}),
		}
		empty := []*DownTrack{}
		tr.subs.Store(&empty)
		if !peer.Subscribe(tr) {
			t.Fatal("not subscribed")
		}
	}
	serverOffer, _, err := peer.Offer()
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: serverOffer}); err != nil {
		t.Fatal(err)
	}
	clientAnswer, err := client.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetLocalDescription(clientAnswer); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.SetAnswer(clientAnswer.SDP); err != nil {
		t.Fatal(err)
	}

	// 9 sections, 6 of them the client's: taken.
	addSections(4)
	if err := offer(); err != nil {
		t.Fatalf("an offer with 6 sections of the client's own and 3 of the server's: %v", err)
	}
	// The same offer with one of the client's sections renamed: refused.
	renamed := strings.Replace(last, "a=mid:0\r\n", "a=mid:renamed\r\n", 1)
	renamed = strings.Replace(renamed, "a=group:BUNDLE 0 ", "a=group:BUNDLE renamed ", 1)
	if renamed == last {
		t.Fatal("no mid 0 to rename")
	}
	if _, err := peer.Answer(renamed); !errors.Is(err, ErrBadSDP) || !strings.Contains(err.Error(), "7 media sections of the client's own") {
		t.Fatalf("an offer renaming a section of the client's own: %v, want ErrBadSDP", err)
	}
	// One more of the client's: refused, and the peer stays usable.
	addSections(1)
	if err := offer(); !errors.Is(err, ErrBadSDP) || !strings.Contains(err.Error(), "7 media sections of the client's own") {
		t.Fatalf("an offer with 7 sections of the client's own: %v, want ErrBadSDP", err)
	}
	if state := peer.pc.SignalingState(); state != webrtc.SignalingStateStable {
		t.Fatalf("after the refused offer the peer is %s", state)
	}
}

// TestCandidateKey: candidates are told apart as pion tells them apart (its
// Candidate.Equal: transport address, type, related address), whatever
// else their text has.
func TestCandidateKey(t *testing.T) {
	const host = "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host"
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"trickled with ufrag, and the SDP copy", host + " generation 0 ufrag abcd network-id 1", host + " generation 0 network-id 1", true},
		{"another foundation and priority", host, "candidate:9 1 udp 1 192.0.2.1 5000 typ host", true},
		{"transport in capitals (Firefox)", host, "candidate:1 1 UDP 2122260223 192.0.2.1 5000 typ host", true},
		{"IPv4-mapped IPv6", host, "candidate:1 1 udp 2122260223 ::ffff:192.0.2.1 5000 typ host", true},
		{"another port", host, "candidate:1 1 udp 2122260223 192.0.2.1 5001 typ host", false},
		{"another type", host, "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ srflx raddr 0.0.0.0 rport 0", false},
		{"srflx from another base", "candidate:1 1 udp 1 192.0.2.1 5000 typ srflx raddr 10.0.0.1 rport 1", "candidate:1 1 udp 1 192.0.2.1 5000 typ srflx raddr 10.0.0.1 rport 2", false},
		{"tcp", host, "candidate:1 1 tcp 2122260223 192.0.2.1 5000 typ host tcptype passive", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ka, aa := candidateKey(tc.a)
			kb, ab := candidateKey(tc.b)
			if (ka == kb) != tc.same {
				t.Fatalf("keys %q and %q, want same=%v", ka, kb, tc.same)
			}
			if tc.same && aa != ab {
				t.Fatalf("addresses %q and %q differ", aa, ab)
			}
		})
	}
	// A check from a signaled candidate's address is that candidate; from
	// another address, a new (peer-reflexive) one.
	var rc remoteCandidates
	rc.applied("u", []string{host})
	if err := rc.admitAddress(addressKey("udp", "192.0.2.1", "5000")); err != nil || len(rc.seen) != 1 {
		t.Fatalf("a check from a signaled address: %v, %d candidates counted", err, len(rc.seen))
	}
	if err := rc.admitAddress(addressKey("udp", "192.0.2.1", "5002")); err != nil || len(rc.seen) != 2 {
		t.Fatalf("a check from a new address: %v, %d candidates counted", err, len(rc.seen))
	}
}
