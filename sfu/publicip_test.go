package sfu

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/leaktest"
)

// TestPublicIPsReplaceHostCandidates checks Config.PublicIPs: a server behind
// a 1:1 NAT offers its public address in place of the local one, in every
// host candidate it trickles.
func TestPublicIPsReplaceHostCandidates(t *testing.T) {
	defer leaktest.VerifyNone(t)
	const public = "203.0.113.7"
	api, err := NewAPI(Config{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, PublicIPs: []string{public}})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()

	candidates := make(chan *webrtc.ICECandidateInit, 16)
	peer := newTestPeer(t, api, "p", PeerHandler{
		OnCandidate: func(c *webrtc.ICECandidateInit) { candidates <- c },
	})
	defer peer.Close()

	client, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Answer(offer.SDP); err != nil {
		t.Fatal(err)
	}

	var got []string
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case c := <-candidates:
			if c == nil {
				done = true
				break
			}
			got = append(got, c.Candidate)
		case <-timeout:
			t.Fatalf("gathering did not complete; candidates so far: %q", got)
		}
	}
	if len(got) == 0 {
		t.Fatal("no candidates")
	}
	for _, c := range got {
		// candidate:<foundation> <component> udp <priority> <address> <port> typ host
		f := strings.Fields(c)
		if len(f) < 8 || f[4] != public || f[7] != "host" {
			t.Errorf("candidate %q, want a host candidate at %s", c, public)
		}
	}
}
