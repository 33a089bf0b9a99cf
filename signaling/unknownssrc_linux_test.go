package signaling_test

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
)

// rawTrack is a local track that hands out its write stream, which writes
// RTP with whatever SSRC the header has.
type rawTrack struct {
	bound chan webrtc.TrackLocalWriter
}

func (r *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	r.bound <- ctx.WriteStream()
	return ctx.CodecParameters()[0], nil
}
func (r *rawTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (r *rawTrack) ID() string                            { return "raw" }
func (r *rawTrack) RID() string                           { return "" }
func (r *rawTrack) StreamID() string                      { return "raw" }
func (r *rawTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeAudio }

// TestUnknownSSRCsBounded: RTP on SSRCs of none of a client's streams goes
// to pion for 64 SSRCs at a time; past that it is dropped and counted.
// pion keeps a read stream (and up to 1 MB of packets) for every SSRC it
// is given until the connection closes: three packets on each of 20 000
// SSRCs grew a server's heap by 108 MiB, 3 MiB with the bound.
func TestUnknownSSRCsBounded(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	c := dialRaw(t, srv.URL)
	c.join("ssrc", "ann")
	pc := loopbackPC(t)
	trickle(c, pc)
	track := &rawTrack{bound: make(chan webrtc.TrackLocalWriter, 1)}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offerOn(t, c, pc)
	for {
		m := c.expect(protocol.TypeCandidate)
		init, _ := m["candidate"].(map[string]any)
		if init == nil {
			break // end of candidates
		}
		cand, _ := init["candidate"].(string)
		mid, _ := init["sdpMid"].(string)
		if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: cand, SDPMid: &mid}); err != nil {
			t.Fatal(err)
		}
	}
	w := <-track.bound
	waitFor(t, func() bool { return pc.ConnectionState() == webrtc.PeerConnectionStateConnected })
	next := uint32(0x5500_0000)
	send := func(n, each int) {
		for range n {
			for seq := range uint16(each) {
				hdr := &rtp.Header{Version: 2, PayloadType: 111, SSRC: next, SequenceNumber: seq}
				if _, err := w.WriteRTP(hdr, make([]byte, 100)); err != nil {
					t.Fatal(err)
				}
			}
			next++
		}
	}
	// The server reads the client's RTP itself once its route is known,
	// right after DTLS. New SSRCs until one is dropped: the route is up,
	// and 64 unknown SSRCs have gone to pion.
	waitFor(t, func() bool {
		send(65, 1)
		return srv.API.Stats().UnknownSSRCDrops > 0
	})
	// Let what is still on its way arrive before counting.
	settled := func() uint64 {
		for prev := srv.API.Stats().UnknownSSRCDrops; ; {
			time.Sleep(50 * time.Millisecond)
			cur := srv.API.Stats().UnknownSSRCDrops
			if cur == prev {
				return cur
			}
			prev = cur
		}
	}
	before := settled()
	const ssrcs, each = 100, 3
	send(ssrcs, each)
	want := before + ssrcs*each
	waitFor(t, func() bool { return srv.API.Stats().UnknownSSRCDrops >= want })
	if got := settled(); got != want {
		t.Fatalf("%d packets on new unknown SSRCs dropped, want %d", got-before, ssrcs*each)
	}
}
