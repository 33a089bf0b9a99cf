package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/leaktest"
)

func TestRemoteTrackCountOnly(t *testing.T) {
	rt := &RemoteTrack{MimeType: webrtc.MimeTypeVP8, done: make(chan struct{})}
	rt.count(&rtp.Packet{Header: rtp.Header{SequenceNumber: 7}, Payload: []byte{0x10, 0x00, 0x9d}})
	rt.count(&rtp.Packet{Header: rtp.Header{SequenceNumber: 8}, Payload: []byte{0x10, 0x01}})
	if rt.Packets() != 2 || rt.Bytes() != 5 {
		t.Errorf("packets %d bytes %d, want 2 and 5", rt.Packets(), rt.Bytes())
	}
	if rt.Keyframes() != 0 || rt.SeqCount(7) != 0 || len(rt.LastPayloads()) != 0 {
		t.Errorf("count-only track kept history: keyframes %d, seq 7 seen %d times, %d payloads",
			rt.Keyframes(), rt.SeqCount(7), len(rt.LastPayloads()))
	}
	allocs := testing.AllocsPerRun(100, func() {
		rt.count(&rtp.Packet{Payload: []byte{0x10, 0x01}})
	})
	if allocs != 0 {
		t.Errorf("count allocates %.1f times per packet", allocs)
	}
}

func TestIsKeyframeStartDoesNotAllocate(t *testing.T) {
	payload := []byte{0x7c, 0x85, 0x88}
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeH264, webrtc.MimeTypeOpus} {
		if allocs := testing.AllocsPerRun(100, func() { isKeyframeStart(mime, payload) }); allocs != 0 {
			t.Errorf("isKeyframeStart(%s) allocates %.1f times", mime, allocs)
		}
	}
}

// TestLightInterceptors runs a session with the load generator's options: the
// light interceptor set still asks for a packet lost on the network and gets
// it retransmitted, and a count-only client hands every packet to OnPacket.
func TestLightInterceptors(t *testing.T) {
	defer leaktest.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := newFakeServer(t)
	defer fs.Close()

	var seen seqCounter
	drop := &dropOnce{}
	opts := testOptions()
	opts.LightInterceptors = true
	opts.CountOnly = true
	opts.NetworkInterceptors = func(r *interceptor.Registry) error { r.Add(drop); return nil }
	opts.OnPacket = seen.onPacket
	c := dialJoined(ctx, t, fs.URL(), opts)
	defer c.Close()
	rt, seq := waitDropped(ctx, t, c, &drop.dropped, &drop.seq, seen.times)
	checkRepaired(t, fs.conn(0), seq, seen.times, "dropped on the network", false)
	if _, total := seen.count(seq); total < 90 || rt.SeqCount(seq) != 0 || rt.Keyframes() != 0 {
		t.Errorf("OnPacket saw %d sequence numbers; count-only track: seq count %d, keyframes %d",
			total, rt.SeqCount(seq), rt.Keyframes())
	}
}

// waitDropped waits for the client's one track, for a packet of it to be
// dropped (dropped set, its sequence number in seq), for that packet to
// arrive again (times counts its arrivals), however long the request and
// the retransmission take on a busy machine, and then for 50 more packets,
// time for a superfluous copy to show.
func waitDropped(ctx context.Context, t *testing.T, c *Client, dropped *atomic.Bool, seq *atomic.Uint32, times func(uint16) int) (*RemoteTrack, uint16) {
	t.Helper()
	if err := c.WaitRemoteTracks(ctx, func(ts []*RemoteTrack) bool { return len(ts) == 1 }); err != nil {
		t.Fatal(err)
	}
	rt := c.RemoteTracks()[0]
	waitFor(ctx, t, "a dropped packet", dropped.Load)
	s := uint16(seq.Load())
	waitFor(ctx, t, fmt.Sprintf("the retransmission of packet %d", s), func() bool { return times(s) > 0 })
	if err := rt.WaitPackets(ctx, rt.Packets()+50); err != nil {
		t.Fatal(err)
	}
	return rt, s
}

// checkRepaired checks that packet seq, lost once, arrived again (times
// counts its arrivals): exactly once through pion's receive path, and at
// least once but no more often than the client asked the server fc for it
// through the direct path (direct). A request unanswered after the retry
// interval (100 ms, less than a round trip can take on a busy machine) is
// sent again, and the server answers each with a copy. The copies are
// identical, RTX sequence number included (pion's NACK responder numbers
// a packet's RTX once, when it stores it), so pion's SRTP replay
// protection drops all but the first; the direct path's SRTP context has
// none, and hands on each. A copy nobody asked for is a fault either way.
func checkRepaired(t *testing.T, fc *fakeConn, seq uint16, times func(uint16) int, how string, direct bool) {
	t.Helper()
	got, asked := times(seq), fc.nacked(seq)
	// The server counts a request once pion's NACK responder has handled
	// it, which sends the copy: the count may lag the copy's arrival.
	for deadline := time.Now().Add(5 * time.Second); got > asked && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		got, asked = times(seq), fc.nacked(seq)
	}
	t.Logf("packet %d %s: asked for %d times, received %d times", seq, how, asked, got)
	switch {
	case got > asked:
		t.Errorf("packet %d %s: received %d times, but asked for only %d times", seq, how, got, asked)
	case direct && got < 1:
		t.Errorf("packet %d %s: received %d times, want at least once (retransmitted)", seq, how, got)
	case !direct && got != 1:
		t.Errorf("packet %d %s: received %d times (asked for %d times), want once (retransmitted)", seq, how, got, asked)
	}
}

// seqCounter counts, by sequence number, the packets OnPacket sees.
type seqCounter struct {
	mu   sync.Mutex
	seen map[uint16]int
}

func (s *seqCounter) onPacket(_ *RemoteTrack, pkt *rtp.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = make(map[uint16]int)
	}
	s.seen[pkt.SequenceNumber]++
}

// times returns how many times seq was seen.
func (s *seqCounter) times(seq uint16) int {
	n, _ := s.count(seq)
	return n
}

// count returns how many times seq was seen, and how many sequence
// numbers were.
func (s *seqCounter) count(seq uint16) (times, distinct int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[seq], len(s.seen)
}
