package sfu

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/confab/confab/internal/sdptest"
)

// hostCandidate is the i-th of a set of distinct host candidates on
// loopback.
func hostCandidate(i int) string {
	return fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 20000+i)
}

// TestCandidateBound: a peer takes MaxRemoteCandidates distinct remote
// candidates in an ICE session, from its remote descriptions and trickled,
// and refuses the rest with ErrTooManyCandidates; one sent again does not
// count twice; an offer carrying more is refused whole; an ICE restart (a
// new ufrag) starts a new count.
func TestCandidateBound(t *testing.T) {
	defer goleak.VerifyNone(t)
	api := loopbackAPI(t)
	defer api.Close()
	peer, err := api.NewPeer("p", nil, PeerHandler{})
	if err != nil {
		t.Fatal(err)
	}
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

	// An ICE restart: the same offer with a new ufrag starts a new count.
	ufrag := regexp.MustCompile(`a=ice-ufrag:(\S+)`).FindStringSubmatch(offer)[1]
	restart := strings.ReplaceAll(offer, "a=ice-ufrag:"+ufrag, "a=ice-ufrag:restartedUfrag1")
	if _, err := peer.Answer(restart); err != nil {
		t.Fatalf("restart offer: %v", err)
	}
	if err := add(MaxRemoteCandidates); err != nil {
		t.Fatalf("after an ICE restart: %v", err)
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
