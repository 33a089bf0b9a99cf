package sfu

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/internal/sdptest"
)

// TestSendStreams: the streams a media section declares, counted as pion
// counts them to tell Plan B from Unified Plan.
func TestSendStreams(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs []string
		want  int
	}{
		{"none", nil, 0},
		{"one", []string{"ssrc:1 cname:a", "ssrc:1 msid:s t"}, 1},
		{"with RTX", []string{"ssrc-group:FID 1 2", "ssrc:1 cname:a", "ssrc:2 cname:a"}, 1},
		{"RTX declared before its group", []string{"ssrc:1 cname:a", "ssrc:2 cname:a", "ssrc-group:FID 1 2"}, 1},
		{"with FEC", []string{"ssrc-group:FEC-FR 1 3", "ssrc:1 cname:a", "ssrc:3 cname:a"}, 1},
		{"two", []string{"ssrc:1 cname:a", "ssrc:2 cname:a"}, 2},
		{"two with RTX each", []string{"ssrc-group:FID 1 2", "ssrc-group:FID 3 4", "ssrc:1 cname:a", "ssrc:2 cname:a", "ssrc:3 cname:a", "ssrc:4 cname:a"}, 2},
		{"a group pion ignores", []string{"ssrc-group:FID 1 2 5", "ssrc:1 cname:a", "ssrc:2 cname:a"}, 2},
		{"a bad SSRC", []string{"ssrc:1 cname:a", "ssrc:x cname:a", "ssrc:4294967296 cname:a"}, 1},
		{"simulcast", []string{"msid:s t", "rid:h send", "rid:l send", "simulcast:send h;l", "ssrc:1 cname:a", "ssrc:2 cname:a"}, 1},
		{"rids without msid", []string{"rid:h send", "rid:l send", "ssrc:1 cname:a", "ssrc:2 cname:a"}, 2},
		{"recvonly", []string{"recvonly", "ssrc:1 cname:a", "ssrc:2 cname:a"}, 0},
		{"inactive", []string{"inactive", "ssrc:1 cname:a", "ssrc:2 cname:a"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "video"}}
			m.WithValueAttribute(sdp.AttrKeyMID, "0")
			for _, a := range tc.attrs {
				key, value, _ := strings.Cut(a, ":")
				m.WithValueAttribute(key, value)
			}
			if got := sendStreams(m); got != tc.want {
				t.Fatalf("sendStreams = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestPlanBOfferRefused: an offer that sends two streams in one media
// section is refused before pion takes it (pion v4.2.20 takes it, then
// cannot answer it, and cannot roll it back), so the peer answers the next
// offer. Given to pion unchecked, the same offer leaves the peer stuck, and
// Answer says so with ErrPeerStuck.
func TestPlanBOfferRefused(t *testing.T) {
	defer leaktest.VerifyNone(t)
	api := loopbackAPI(t)
	defer api.Close()
	good := sdptest.ClientOffer(t)
	planB := sdptest.PlanB(t, good)

	peer := newTestPeer(t, api, "checked", PeerHandler{})
	defer peer.Close()
	if _, err := peer.Answer(planB); !errors.Is(err, ErrBadSDP) || !strings.Contains(err.Error(), "Plan B") {
		t.Fatalf("Answer(Plan B) = %v, want ErrBadSDP naming Plan B", err)
	}
	if _, err := peer.Answer(good); err != nil {
		t.Fatalf("after a refused Plan B offer, a good one fails: %v", err)
	}

	unchecked := newTestPeer(t, api, "unchecked", PeerHandler{})
	defer unchecked.Close()
	if _, err := unchecked.answer(planB); !errors.Is(err, ErrPeerStuck) {
		t.Fatalf("answer(Plan B) unchecked = %v, want ErrPeerStuck", err)
	}
	if state := unchecked.pc.SignalingState(); state != webrtc.SignalingStateHaveRemoteOffer {
		t.Fatalf("unchecked peer is %s, want have-remote-offer", state)
	}
}

// loopbackAPI returns an API on 127.0.0.1 for tests, to Close when done
// (before any goleak check).
func loopbackAPI(tb testing.TB) *API {
	tb.Helper()
	api, err := NewAPI(Config{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		tb.Fatal(err)
	}
	return api
}

// newTestPeer returns a peer of api for participant id, to Close when done
// (before any goleak check).
func newTestPeer(tb testing.TB, api *API, id string, handler PeerHandler) *Peer {
	tb.Helper()
	peer, err := api.NewPeer(id, nil, handler)
	if err != nil {
		tb.Fatal(err)
	}
	return peer
}
