package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// countingWriter stands in for pion's SRTP write stream: it counts packets
// and checks the rewritten header.
type countingWriter struct {
	packets int
	ssrc    uint32
	pt      uint8
	bad     int
}

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.packets++
	if h.SSRC != w.ssrc || h.PayloadType != w.pt || h.Extension {
		w.bad++
	}
	return h.MarshalSize() + len(payload), nil
}

func (w *countingWriter) Write(b []byte) (int, error) { return len(b), nil }

// newBenchTrack returns a video track with n bound, started subscribers.
func newBenchTrack(n int) (*Track, []*countingWriter) {
	t := &Track{id: "video", streamID: "pub", kind: webrtc.RTPCodecTypeVideo}
	empty := []*DownTrack{}
	t.subs.Store(&empty)
	writers := make([]*countingWriter, n)
	for i := range writers {
		d := newDownTrack(t, fmt.Sprintf("sub%d", i), nil)
		writers[i] = &countingWriter{ssrc: uint32(1000 + i), pt: uint8(96 + i%4)}
		d.binding.Store(&binding{ssrc: writers[i].ssrc, pt: writers[i].pt, writer: writers[i]})
		d.started.Store(true)
		t.addSubscriber(d)
	}
	return t, writers
}

func benchPacket() (*rtp.Header, []byte) {
	hdr := &rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 90000, SSRC: 42, Marker: true}
	if err := hdr.SetExtension(3, []byte{1, 2}); err != nil {
		panic(err)
	}
	return hdr, make([]byte, 1200)
}

// batchOf is a planned batch of one packet, hdr and payload, as the
// forwarding goroutine makes them.
func batchOf(hdr *rtp.Header, payload []byte) *batch {
	p := &inPacket{payload: payload}
	p.pkt.Header = *hdr
	b := &batch{pkts: []*inPacket{p}}
	b.plan()
	return b
}

func TestFanOutRewritesAndDoesNotAllocate(t *testing.T) {
	track, writers := newBenchTrack(10)
	b := batchOf(benchPacket())
	hdr := &b.pkts[0].pkt.Header
	allocs := testing.AllocsPerRun(100, func() { track.fanOut(b) })
	if allocs != 0 {
		t.Errorf("fan-out allocates %.1f times per packet, want 0", allocs)
	}
	for i, w := range writers {
		if w.packets == 0 || w.bad != 0 {
			t.Errorf("subscriber %d: %d packets, %d with a wrong header", i, w.packets, w.bad)
		}
	}
	if hdr.SSRC != 42 || !hdr.Extension {
		t.Errorf("the publisher's header was modified: %+v", hdr)
	}
}

// BenchmarkFanOut measures the server's own work per forwarded packet: one
// publisher packet handed to 1, 10 and 100 subscribers, each with its own
// SSRC and payload type. SRTP and the socket are not included.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			track, _ := newBenchTrack(n)
			bt := batchOf(benchPacket())
			hdr := &bt.pkts[0].pkt.Header
			b.ReportAllocs()
			for b.Loop() {
				hdr.SequenceNumber++
				track.fanOut(bt)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/forward")
		})
	}
}

func TestPacketCache(t *testing.T) {
	var c packetCache
	scratch := make([]byte, maxPacketSize)
	if got := c.get(7, scratch); got != nil {
		t.Fatalf("empty cache returned %v", got)
	}
	c.add(7, []byte{1, 2, 3})
	if got := c.get(7, scratch); string(got) != "\x01\x02\x03" {
		t.Fatalf("get(7) = %v", got)
	}
	// A later packet in the same slot replaces it; the old one is gone.
	c.add(7+cacheSize, []byte{4})
	if got := c.get(7, scratch); got != nil {
		t.Fatalf("evicted packet returned %v", got)
	}
	if got := c.get(7+cacheSize, scratch); string(got) != "\x04" {
		t.Fatalf("get(7+cacheSize) = %v", got)
	}
	// Sequence numbers wrap.
	c.add(65535, []byte{9})
	c.add(0, []byte{8})
	if a, b := c.get(65535, scratch), c.get(0, make([]byte, maxPacketSize)); string(a) != "\x09" || string(b) != "\x08" {
		t.Fatalf("around the wrap: %v %v", a, b)
	}
	if allocs := testing.AllocsPerRun(100, func() { c.add(5, scratch[:1200]) }); allocs != 0 {
		t.Errorf("add allocates %.1f times", allocs)
	}
}

// TestParallelFanOut: with workers, every subscriber still gets every packet
// exactly once, rewritten, without allocation, and the workers stop.
func TestParallelFanOut(t *testing.T) {
	for _, n := range []int{63, 64, 200, 301} {
		track, writers := newBenchTrack(n)
		track.pool = newFanOutPoolOf(3)
		b := batchOf(benchPacket())
		const packets = 50
		allocs := testing.AllocsPerRun(packets-1, func() { track.fanOut(b) })
		started := len(track.pool.workers)
		track.pool.stop()
		if want := min(4, max(1, n/fanOutShard)) - 1; started != want || track.pool.workers != nil {
			t.Errorf("%d subscribers: %d workers, want %d; %d left after stop", n, started, want, len(track.pool.workers))
		}
		if allocs != 0 {
			t.Errorf("%d subscribers: %.1f allocations per packet", n, allocs)
		}
		for i, w := range writers {
			if w.packets != packets || w.bad != 0 {
				t.Fatalf("%d subscribers: subscriber %d got %d packets (%d wrong), want %d", n, i, w.packets, w.bad, packets)
			}
		}
	}
}

// TestBatchPlan: a batch splits into runs whose packets but the last share
// one wire size, padding packets by at most maxPad and never those that
// carry the publisher's padding.
func TestBatchPlan(t *testing.T) {
	type pkt struct {
		size    int // payload bytes
		padded  bool
		csrc    int
		wantPad int
	}
	cases := []struct {
		name string
		pkts []pkt
		runs [][2]int
	}{
		{"one packet", []pkt{{size: 1000}}, [][2]int{{0, 1}}},
		{"equal sizes", []pkt{{size: 1000}, {size: 1000}, {size: 1000}}, [][2]int{{0, 3}}},
		{"shorter last", []pkt{{size: 1000}, {size: 1000}, {size: 300}}, [][2]int{{0, 3}}},
		{"libwebrtc's even split", []pkt{
			{size: 1040, wantPad: 2}, {size: 1042}, {size: 1042}, {size: 1041, wantPad: 1}, {size: 1042}, {size: 1042},
		}, [][2]int{{0, 6}}},
		{"longer later packet raises the run", []pkt{{size: 1000, wantPad: 10}, {size: 1010}, {size: 1005}}, [][2]int{{0, 3}}},
		{"too much longer starts a new run", []pkt{{size: 1000}, {size: 1000 + maxPad + 1}, {size: 1000 + maxPad + 1}}, [][2]int{{0, 1}, {1, 3}}},
		{"shorter beyond maxPad ends the run", []pkt{{size: 1000}, {size: 900}, {size: 1000}}, [][2]int{{0, 2}, {2, 3}}},
		{"publisher's padding is not padded again", []pkt{{size: 1000}, {size: 998, padded: true}, {size: 1000}}, [][2]int{{0, 2}, {2, 3}}},
		{"a padded packet cannot be raised", []pkt{{size: 1000, padded: true}, {size: 1002}}, [][2]int{{0, 1}, {1, 2}}},
		{"CSRCs count in the size", []pkt{{size: 1004}, {size: 1000, csrc: 1}, {size: 1004}}, [][2]int{{0, 3}}},
		{"audio", []pkt{{size: 160}}, [][2]int{{0, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &batch{}
			for _, p := range tc.pkts {
				ip := &inPacket{payload: make([]byte, p.size)}
				ip.pkt.Padding = p.padded
				ip.pkt.CSRC = make([]uint32, p.csrc)
				b.pkts = append(b.pkts, ip)
			}
			b.plan()
			checkPlan(t, b)
			var got [][2]int
			for _, r := range b.runs {
				got = append(got, [2]int{r.start, r.end})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.runs) {
				t.Errorf("runs %v, want %v", got, tc.runs)
			}
			for i, p := range tc.pkts {
				if p.wantPad != 0 && b.pkts[i].pad != p.wantPad {
					t.Errorf("packet %d padded by %d, want %d", i, b.pkts[i].pad, p.wantPad)
				}
			}
		})
	}
}
