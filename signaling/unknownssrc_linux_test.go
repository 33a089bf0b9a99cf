package signaling_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
)

// rawTrack is a local track that hands out its write stream, which writes
// RTP with whatever SSRC the header has.
type rawTrack struct {
	bound chan webrtc.TrackLocalWriter
	ssrc  uint32 // set before bound is sent on
}

func (r *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	r.ssrc = uint32(ctx.SSRC())
	r.bound <- ctx.WriteStream()
	return ctx.CodecParameters()[0], nil
}
func (r *rawTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (r *rawTrack) ID() string                            { return "raw" }
func (r *rawTrack) RID() string                           { return "" }
func (r *rawTrack) StreamID() string                      { return "raw" }
func (r *rawTrack) Kind() webrtc.RTPCodecType             { return webrtc.RTPCodecTypeAudio }

// rawPublisher joins room as name with a client that sends one audio
// track and receives one (its section without a=ssrc), connects it, and
// returns the peer connection, the track and the track's write stream.
func rawPublisher(t *testing.T, srv *testserver.Server, room, name string) (*webrtc.PeerConnection, *rawTrack, webrtc.TrackLocalWriter) {
	t.Helper()
	c := dialRaw(t, srv.URL)
	c.join(room, name)
	pc := loopbackPC(t)
	trickle(c, pc)
	// A receive-only audio section first, without a=ssrc: pion takes RTP
	// on an undeclared SSRC with its payload type as a new track of that
	// section, and binds it, which must not free its place in the bound.
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	track := &rawTrack{bound: make(chan webrtc.TrackLocalWriter, 1)}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
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
	return pc, track, w
}

// TestUnknownSSRCsBounded: RTP on SSRCs of no stream of a client's, and
// RTCP about such SSRCs, go to pion for 64 SSRCs over the connection's
// life, each; past that they are dropped and counted. pion keeps a read stream (and up to 1 MB of
// packets) for every SSRC it is given until the connection closes: three
// packets on each of 20 000 SSRCs grew a server's heap by 108 MiB, 3 MiB
// with the bound.
func TestUnknownSSRCsBounded(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	pc, track, w := rawPublisher(t, srv, "ssrc", "ann")
	// Let what is still on its way arrive before counting: the count is
	// settled once it has not moved for 5 samples 100 ms apart (a loaded
	// machine may leave the server's socket reader unscheduled for a good
	// part of that, and exact counts below depend on nothing being left).
	settled := func() uint64 {
		return settle(t, "unknown-SSRC drops", 100*time.Millisecond, 5, func() uint64 { return srv.API.Stats().UnknownSSRCDrops })
	}
	// bounded has send(n) send on n new SSRCs until one is dropped (the
	// server reads the client's packets itself once its route is known,
	// right after DTLS, and 64 unknown SSRCs have then gone to pion), then
	// on 100 more: each packet on them must be dropped and counted. Each
	// batch is counted out in full before the next is sent, so the count
	// the 100 start from holds no drop still on its way.
	bounded := func(what string, perSSRC uint64, send func(n int)) {
		t.Helper()
		before := settled()
		for start, deadline := before, time.Now().Add(20*time.Second); before == start; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: nothing on new unknown SSRCs dropped", what)
			}
			send(65)
			before = settled()
		}
		send(100)
		want := before + 100*perSSRC
		waitFor(t, func() bool { return srv.API.Stats().UnknownSSRCDrops >= want })
		if got := settled(); got != want {
			t.Fatalf("%s: %d packets on new unknown SSRCs dropped, want %d", what, got-before, 100*perSSRC)
		}
	}

	next := uint32(0x5500_0000)
	bounded("RTP", 3, func(n int) {
		for range n {
			for seq := range uint16(3) {
				hdr := &rtp.Header{Version: 2, PayloadType: 111, SSRC: next, SequenceNumber: seq}
				if _, err := w.WriteRTP(hdr, make([]byte, 100)); err != nil {
					t.Fatal(err)
				}
			}
			next++
		}
	})
	// RTCP about SSRCs of no stream: pion's SRTCP session keeps a stream
	// for each SSRC a packet is about (1000 receiver reports of 31 made-up
	// report blocks each grew the heap by 81 MiB).
	bounded("RTCP", 1, func(n int) {
		for range n {
			rr := &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: next}}}
			if err := pc.WriteRTCP([]rtcp.Packet{rr}); err != nil {
				t.Fatal(err)
			}
			next++
		}
	})
	// RTCP about the client's own stream passes, the bound full or not.
	before := settled()
	for range 10 {
		if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: track.ssrc}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := settled(); got != before {
		t.Fatalf("%d sender reports about the client's own stream dropped", got-before)
	}
}

// TestUnknownSSRCBuffersBounded: pion keeps an SRTP read stream for each
// SSRC of no stream that it is given (within the bound above), and nobody
// reads it, so what arrives on it stays buffered until the connection
// closes: 1 MB per SSRC with pion's buffers, 64 MB for one client. The
// server's hold at most 256 KiB of RTP each (sfu's streamBufferLimit): a
// client that sends 1.1 MB or more on each of 4 unknown SSRCs (of a
// payload type pion cannot place) grows the server's heap by about
// 1.1 MiB, where pion's own buffers kept 3.9 MiB.
func TestUnknownSSRCBuffersBounded(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	_, _, w := rawPublisher(t, srv, "buffers", "ann")
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// settled samples the heap until it has stopped moving by more than
	// 128 KiB, 3 samples in a row: before, while what earlier tests left
	// is still being freed; after, while the packets sent are still on
	// their way through the server's socket reader and pion's goroutines.
	settled := func() uint64 {
		last, same := heap(), 0
		for deadline := time.Now().Add(15 * time.Second); same < 3 && time.Now().Before(deadline); {
			time.Sleep(300 * time.Millisecond)
			n := heap()
			if n > last+128<<10 || last > n+128<<10 {
				same = 0
			} else {
				same++
			}
			last = n
		}
		return last
	}
	const ssrcs = 4
	payload := make([]byte, 1100)
	var seq uint16
	// send sends rounds of one packet on each SSRC, a round a
	// millisecond (so that the socket's buffer holds what a loaded
	// machine leaves unread for a while). Payload type 35 is not
	// negotiated: pion finds no codec for it and leaves the stream unread.
	send := func(rounds int) {
		for range rounds {
			for i := range ssrcs {
				hdr := &rtp.Header{Version: 2, PayloadType: 35, SSRC: 0x6600_0000 + uint32(i), SequenceNumber: seq}
				if _, err := w.WriteRTP(hdr, payload); err != nil {
					t.Fatal(err)
				}
			}
			seq++
			time.Sleep(time.Millisecond)
		}
	}
	before := settled()
	growth := func() uint64 { after := settled(); return after - min(before, after) }
	send(1000) // 1.1 MB on each SSRC
	grew := growth()
	// Packets the kernel dropped on a loaded machine leave the buffers
	// short: send more until they have filled to half the server's bound
	// at least, which shows the packets reach them.
	floor := uint64(ssrcs) * 128 << 10
	for extra := 0; grew < floor && extra < 8; extra++ {
		send(250)
		grew = growth()
	}
	t.Logf("heap grew by %.1f MiB for %d unknown SSRCs", float64(grew)/(1<<20), ssrcs)
	if grew < floor {
		t.Fatalf("heap grew by %.1f MiB, less than %.1f MiB: the packets do not reach pion's buffers", float64(grew)/(1<<20), float64(floor)/(1<<20))
	}
	if limit := uint64(5 << 19); grew > limit {
		t.Errorf("heap grew by %.1f MiB, want at most %.1f MiB", float64(grew)/(1<<20), float64(limit)/(1<<20))
	}
}
