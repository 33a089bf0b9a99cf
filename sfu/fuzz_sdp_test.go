package sfu

import (
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/internal/sdptest"
)

// FuzzPeerAnswer: a peer that is offered a session description it cannot
// take stays usable. pion v4.2.20 cannot roll a remote offer back, so an
// offer it refuses only after changing its signaling state would leave the
// peer stuck in have-remote-offer. checkRemoteSDP refuses such offers first
// (most of its checks are what this target found). Whenever Answer fails,
// the peer must be stable and answer a good offer; a stuck peer (which
// Answer would report with ErrPeerStuck) fails the target.
func FuzzPeerAnswer(f *testing.F) {
	defer leaktest.VerifyNone(f)
	api := loopbackAPI(f)
	defer api.Close()
	good := sdptest.ClientOffer(f)
	f.Add(good)
	for _, cut := range []string{"a=ice-ufrag", "a=fingerprint", "a=mid", "a=rtpmap", "m=video", "a=group"} {
		var kept []string
		for _, line := range strings.Split(good, "\r\n") {
			if !strings.HasPrefix(line, cut) {
				kept = append(kept, line)
			}
		}
		f.Add(strings.Join(kept, "\r\n"))
	}
	f.Add(strings.ReplaceAll(good, "UDP/TLS/RTP/SAVPF", "RTP/AVP"))
	f.Add(strings.ReplaceAll(good, "a=setup:actpass", "a=setup:passive"))
	f.Add(strings.ReplaceAll(good, "sha-256", "md5"))
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
	f.Add(sdptest.PlanB(f, good))
	f.Fuzz(func(t *testing.T, offer string) {
		peer := newTestPeer(t, api, "p", PeerHandler{})
		defer peer.Close()
		_, refused := peer.Answer(offer)
		if refused == nil {
			return
		}
		if state := peer.pc.SignalingState(); state != webrtc.SignalingStateStable {
			t.Fatalf("a refused offer (%v) left the peer %s:\n%q", refused, state, offer)
		}
		if _, err := peer.Answer(sdptest.ClientOffer(t)); err != nil {
			t.Fatalf("after a refused offer, a good one fails: %v\nthe refused offer:\n%s", err, offer)
		}
	})
}
