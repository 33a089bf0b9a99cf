package turnserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/sfu"
)

// TestRelayedMedia connects two pion PeerConnections that may use only
// relayed candidates from the server, over TURN/UDP and TURN/TCP, and sends
// RTP both ways. The other transport is disabled on the server, so the
// media can only have gone through the one under test.
func TestRelayedMedia(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			defer leaktest.VerifyNone(t)
			s := startServer(t, func(c *Config) {
				c.Now = nil // the peers' credentials are minted now
				if transport == "udp" {
					c.TCPPort = -1
				} else {
					c.UDPPort = -1
				}
			})
			defer closeServer(t, s)
			urls := s.URLs("127.0.0.1")
			if len(urls) != 1 || !strings.HasSuffix(urls[0], "?transport="+transport) {
				t.Fatalf("URLs = %q", urls)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			a := newRelayPeer(t, s, "alice", transport == "tcp")
			defer a.close(t)
			b := newRelayPeer(t, s, "bob", transport == "tcp")
			defer b.close(t)

			signal(ctx, t, a.pc, b.pc)
			var writers sync.WaitGroup
			writeCtx, stopWriting := context.WithCancel(ctx)
			defer func() { stopWriting(); writers.Wait() }()
			for _, p := range []*relayPeer{a, b} {
				writers.Go(func() { p.write(writeCtx) })
			}

			for _, p := range []*relayPeer{a, b} {
				select {
				case <-p.received:
				case <-ctx.Done():
					t.Fatalf("%s: no media from its peer: %v", p.name, ctx.Err())
				}
			}
			for _, p := range []*relayPeer{a, b} {
				pair, err := p.pc.GetSenders()[0].Transport().ICETransport().GetSelectedCandidatePair()
				if err != nil || pair == nil {
					t.Fatalf("%s: selected pair %v, %v", p.name, pair, err)
				}
				if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
					t.Errorf("%s: selected pair %s", p.name, pair)
				}
			}
		})
	}
}

// relayPeer is a PeerConnection that sends one audio track and records
// when it has received a few packets of its peer's.
type relayPeer struct {
	name     string
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	received chan struct{} // closed after minPackets of the peer's media
}

const minPackets = 5

func newRelayPeer(t *testing.T, s *Server, name string, tcp bool) *relayPeer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	loopback := func(ip net.IP) bool { return ip.IsLoopback() }
	se.SetIPFilter(loopback)
	se.SetRemoteIPFilter(loopback)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4} // relays are UDP
	if tcp {
		networks = append(networks, webrtc.NetworkTypeTCP4) // to reach the server
	}
	se.SetNetworkTypes(networks)
	se.LoggerFactory = sfu.LoggerFactory(discardLogger())
	// pion waits 2s before nominating a relayed pair, even when relays are
	// all there is; nothing better will turn up here.
	se.SetRelayAcceptanceMinWait(0)
	var me webrtc.MediaEngine
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(&me), webrtc.WithSettingEngine(se))

	user, pass := Credentials(testSecret, name, time.Hour, time.Now())
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         []webrtc.ICEServer{{URLs: s.URLs("127.0.0.1"), Username: user, Credential: pass}},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &relayPeer{name: name, pc: pc, received: make(chan struct{})}
	p.track, err = webrtc.NewTrackLocalStaticRTP(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(p.track); err != nil {
		t.Fatal(err)
	}
	// pion runs OnTrack in a goroutine of its own; it reads until the
	// PeerConnection closes.
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := 0
		for {
			pkt, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			if bytes.HasPrefix(pkt.Payload, []byte("from ")) && !bytes.Equal(pkt.Payload, []byte("from "+name)) {
				n++
			}
			if n == minPackets {
				close(p.received)
			}
		}
	})
	return p
}

// write sends a packet every 10ms until ctx ends.
func (p *relayPeer) write(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	pkt := &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 111, SSRC: 1},
		Payload: []byte("from " + p.name),
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 480
		if err := p.track.WriteRTP(pkt); err != nil {
			return
		}
	}
}

func (p *relayPeer) close(t *testing.T) {
	if err := p.pc.Close(); err != nil {
		t.Errorf("%s: close: %v", p.name, err)
	}
}

// signal runs one offer/answer exchange with complete gathering and checks
// that each side offers relayed candidates only.
func signal(ctx context.Context, t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := setLocal(ctx, offerer, offer); err != nil {
		t.Fatalf("offerer: %v", err)
	}
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := setLocal(ctx, answerer, answer); err != nil {
		t.Fatalf("answerer: %v", err)
	}
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}

func setLocal(ctx context.Context, pc *webrtc.PeerConnection, desc webrtc.SessionDescription) error {
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fmt.Errorf("gathering: %w", ctx.Err())
	}
	sdp := pc.LocalDescription().SDP
	if !strings.Contains(sdp, " typ relay") {
		return fmt.Errorf("no relayed candidate in\n%s", sdp)
	}
	if strings.Contains(sdp, " typ host") || strings.Contains(sdp, " typ srflx") {
		return fmt.Errorf("a candidate that is not relayed in\n%s", sdp)
	}
	return nil
}
