package sfu

import (
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/internal/sdptest"
)

// TestCheckAddressBound: connectivity checks with the right credentials
// from more addresses than a peer may have remote candidates get answers
// from MaxRemoteCandidates of them only. pion would take each new address
// as a peer-reflexive candidate; the media socket's reader drops the checks
// from addresses past the bound and counts them.
func TestCheckAddressBound(t *testing.T) {
	defer leaktest.VerifyNone(t)
	api := loopbackAPI(t)
	defer api.Close()
	local := make(chan string, 8)
	peer := newTestPeer(t, api, "p", PeerHandler{OnCandidate: func(c *webrtc.ICECandidateInit) {
		if c != nil {
			local <- c.Candidate
		}
	}})
	defer peer.Close()
	offer := sdptest.ClientOffer(t)
	answer, err := peer.Answer(offer)
	if err != nil {
		t.Fatal(err)
	}
	attr := func(sdp, name string) string {
		m := regexp.MustCompile(`a=` + name + `:(\S+)`).FindStringSubmatch(sdp)
		if m == nil {
			t.Fatalf("no a=%s in %q", name, sdp)
		}
		return m[1]
	}
	username := attr(answer, "ice-ufrag") + ":" + attr(offer, "ice-ufrag")
	integrity := stun.NewShortTermIntegrity(attr(answer, "ice-pwd"))
	var server *net.UDPAddr
	select {
	case c := <-local:
		cand, err := ice.UnmarshalCandidate(c)
		if err != nil {
			t.Fatal(err)
		}
		server = &net.UDPAddr{IP: net.ParseIP(cand.Address()), Port: cand.Port()}
	case <-time.After(5 * time.Second):
		t.Fatal("no local candidate")
	}

	const checks = MaxRemoteCandidates + 16
	socks := make([]*net.UDPConn, checks)
	for i := range socks {
		socks[i] = listenLoopback(t, "udp4", "127.0.0.1")
		req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(username),
			ice.PriorityAttr(1853817087), ice.AttrControlling(uint64(i)+1), integrity, stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := socks[i].WriteToUDP(req.Raw, server); err != nil {
			t.Fatal(err)
		}
	}
	answered := 0
	deadline := time.Now().Add(2 * time.Second)
	buf := make([]byte, 1500)
	for _, s := range socks {
		_ = s.SetReadDeadline(deadline)
		n, _, err := s.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		resp := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if resp.Decode() == nil && resp.Type == stun.BindingSuccess {
			answered++
		}
	}
	if answered != MaxRemoteCandidates {
		t.Fatalf("%d of %d addresses' checks answered, want %d", answered, checks, MaxRemoteCandidates)
	}
	if dropped := api.Stats().ControlRateDrops; dropped != checks-MaxRemoteCandidates {
		t.Fatalf("%d checks counted as dropped, want %d", dropped, checks-MaxRemoteCandidates)
	}
}
