package client

import (
	"context"
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
	rt, seq := waitDropped(ctx, t, c, &drop.dropped, &drop.seq)
	got, total := seen.count(seq)
	if got != 1 {
		t.Errorf("packet %d dropped on the network: received %d times, want 1 (retransmitted)", seq, got)
	}
	if total < 90 || rt.SeqCount(seq) != 0 || rt.Keyframes() != 0 {
		t.Errorf("OnPacket saw %d sequence numbers; count-only track: seq count %d, keyframes %d",
			total, rt.SeqCount(seq), rt.Keyframes())
	}
}

// waitDropped waits for the client's one track, for a packet of it to
// be dropped (dropped set, its sequence number in seq), and for 50 more
// packets, time enough for its retransmission.
func waitDropped(ctx context.Context, t *testing.T, c *Client, dropped *atomic.Bool, seq *atomic.Uint32) (*RemoteTrack, uint16) {
	t.Helper()
	if err := c.WaitRemoteTracks(ctx, func(ts []*RemoteTrack) bool { return len(ts) == 1 }); err != nil {
		t.Fatal(err)
	}
	rt := c.RemoteTracks()[0]
	waitFor(ctx, t, "a dropped packet", dropped.Load)
	if err := rt.WaitPackets(ctx, rt.Packets()+50); err != nil {
		t.Fatal(err)
	}
	return rt, uint16(seq.Load())
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

// count returns how many times seq was seen, and how many sequence
// numbers were.
func (s *seqCounter) count(seq uint16) (times, distinct int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[seq], len(s.seen)
}
