package load

import (
	"testing"
	"time"
)

func TestTagRoundTrip(t *testing.T) {
	want := tag{kind: kindVideo, publisher: 7, index: 1<<40 + 3, sent: 123456789}
	b := make([]byte, tagSize)
	want.put(b)
	got, ok := parseTag(b)
	if !ok || got != want {
		t.Fatalf("parseTag = %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range [][]byte{b[:tagSize-1], append([]byte{0}, b[1:]...), nil} {
		if _, ok := parseTag(bad); ok {
			t.Errorf("parseTag(%x) accepted", bad)
		}
	}
}

func TestVideoPlan(t *testing.T) {
	p := newVideoPlan(1_500_000, 30, 3*time.Second, 4, 1200)
	if p.gop != 90 || p.frameInterval != time.Second/30 || p.ticksPerFrame != 3000 {
		t.Fatalf("plan %+v", p)
	}
	// The average bitrate over a GOP is the one asked for, within a frame's
	// rounding.
	gopBits := float64(8 * ((p.gop-1)*p.deltaBytes + p.keyBytes))
	if rate := gopBits / 3; rate < 1_499_000 || rate > 1_500_000 {
		t.Errorf("average bitrate %.0f bit/s", rate)
	}
	if p.keyBytes != 4*p.deltaBytes {
		t.Errorf("keyframe %d bytes, delta %d", p.keyBytes, p.deltaBytes)
	}
	// 6048-byte frames take 6 packets, keyframes 21: about 185 packets/s.
	if n := p.packets(p.deltaBytes); n != 6 {
		t.Errorf("delta frame of %d bytes: %d packets", p.deltaBytes, n)
	}
	if n := p.packets(p.keyBytes); n != 21 {
		t.Errorf("keyframe of %d bytes: %d packets", p.keyBytes, n)
	}
	if pps := p.packetsPerSecond(); pps < 180 || pps > 190 {
		t.Errorf("%.1f packets/s", pps)
	}
	// A tiny bitrate still leaves room for the tag.
	if tiny := newVideoPlan(8_000, 30, time.Second, 4, 1200); tiny.deltaBytes < tagSize || tiny.packets(tiny.deltaBytes) != 1 {
		t.Errorf("tiny plan %+v", tiny)
	}
}

func TestVideoPacketsOfAFrame(t *testing.T) {
	const maxPayload = 1200
	p := videoPlan{maxPayload: maxPayload}
	buf := make([]byte, 1500)
	for _, tc := range []struct {
		size int
		idr  bool
	}{{6048, false}, {24192, true}, {500, true}, {500, false}, {1199, false}, {1200, true}} {
		n := p.packets(tc.size)
		data := 0
		for i := range n {
			want := tag{kind: kindVideo, publisher: 2, index: uint64(100 + i), sent: int64(i)}
			payload := videoPacket(buf, want, tc.idr, tc.size, i, n)
			if len(payload) > maxPayload {
				t.Errorf("size %d packet %d/%d: %d bytes", tc.size, i, n, len(payload))
			}
			got, key, ok := decodePayload(payload)
			if !ok || got != want {
				t.Fatalf("size %d packet %d/%d: tag %+v %v, want %+v", tc.size, i, n, got, ok, want)
			}
			if wantKey := tc.idr && i == 0; key != wantKey {
				t.Errorf("size %d packet %d/%d (idr %v): keyframe %v", tc.size, i, n, tc.idr, key)
			}
			if n == 1 {
				if payload[0]&0x1f == nalFUA {
					t.Errorf("single packet sent as FU-A")
				}
				data += len(payload) // the NAL unit itself
				continue
			}
			fu := payload[1]
			if payload[0]&0x1f != nalFUA || (fu&fuStart != 0) != (i == 0) || (fu&fuEnd != 0) != (i == n-1) {
				t.Errorf("size %d packet %d/%d: FU indicator %#x header %#x", tc.size, i, n, payload[0], fu)
			}
			data += len(payload) - 2
			if i == 0 {
				data++ // the NAL header travels in the FU bytes
			}
		}
		if data != tc.size {
			t.Errorf("frame of %d bytes sent as %d bytes of NAL unit", tc.size, data)
		}
	}
}

func TestAudioPacket(t *testing.T) {
	buf := make([]byte, 1500)
	want := tag{kind: kindAudio, publisher: 1, index: 9, sent: 42}
	payload := audioPacket(buf, want, 100)
	if len(payload) != 100 || payload[0] != opusTOC {
		t.Fatalf("payload %d bytes, TOC %#x", len(payload), payload[0])
	}
	got, key, ok := decodePayload(payload)
	if !ok || key || got != want {
		t.Errorf("decode = %+v %v %v", got, key, ok)
	}
	if _, _, ok := decodePayload(payload[:10]); ok {
		t.Error("short payload decoded")
	}
}

func TestPayloadDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(100, func() {
		p := videoPacket(buf, tag{kind: kindVideo}, true, 6000, 0, 6)
		_, _, _ = decodePayload(p)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet", allocs)
	}
}

// TestPacer: at libwebrtc's 2.5 × 1.5 Mbit/s, a slot of 5 ms sends two
// 1200-byte packets; a 21-packet keyframe and the delta frame queued behind
// it go out in order over 14 slots, never more than two packets a slot; and
// slots with nothing to send leave no credit for a burst later.
func TestPacer(t *testing.T) {
	pc := pacer{slotBytes: int(2.5 * 1_500_000 / 8 * PaceSlot.Seconds())}
	var order []uint32
	send := func(f *videoFrame) int {
		order = append(order, f.timestamp+uint32(f.next))
		f.next++
		return 12 + 1200
	}
	pc.queue = append(pc.queue, videoFrame{timestamp: 1000, n: 21}, videoFrame{timestamp: 2000, n: 6})
	slots := 0
	for len(pc.queue) > 0 {
		before := len(order)
		pc.slot(send)
		slots++
		if sent := len(order) - before; sent > 2 || sent == 0 {
			t.Fatalf("slot %d sent %d packets, want 1 or 2", slots, sent)
		}
		if slots > 100 {
			t.Fatal("the pacer does not drain")
		}
	}
	if slots != 14 || len(order) != 27 {
		t.Fatalf("%d packets in %d slots, want 27 in 14", len(order), slots)
	}
	for i, v := range order {
		want := uint32(1000 + i)
		if i >= 21 {
			want = uint32(2000 + i - 21)
		}
		if v != want {
			t.Fatalf("packet %d is %d, want %d", i, v, want)
		}
	}
	for range 10 {
		pc.slot(send) // idle
	}
	pc.queue = append(pc.queue, videoFrame{timestamp: 3000, n: 6})
	before := len(order)
	pc.slot(send)
	if sent := len(order) - before; sent != 2 {
		t.Fatalf("after idle slots, the first slot sent %d packets, want 2", sent)
	}
}
