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
		d := newDownTrack(t, fmt.Sprintf("sub%d", i))
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

func TestFanOutRewritesAndDoesNotAllocate(t *testing.T) {
	track, writers := newBenchTrack(10)
	hdr, payload := benchPacket()
	allocs := testing.AllocsPerRun(100, func() { track.fanOut(hdr, payload) })
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
			hdr, payload := benchPacket()
			b.ReportAllocs()
			for b.Loop() {
				hdr.SequenceNumber++
				track.fanOut(hdr, payload)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/forward")
		})
	}
}
