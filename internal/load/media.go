package load

import (
	"encoding/binary"
	"time"
)

// The media the publishers send: H.264 video packetized as RFC 6184 FU-A
// fragments (a frame is one NAL unit, an IDR slice for a keyframe), and
// Opus-sized audio. Nothing decodes the media; the packets only have to look
// and weigh like an encoder's. Every payload carries a tag right after its
// codec header, so that a subscriber knows, without any lookup, which
// publisher and packet it holds and when the packet was sent.

const (
	// tagSize is the size of the tag.
	tagSize = 24
	// tagMagic opens every tag.
	tagMagic0, tagMagic1 = 0xCF, 0x1D
	// tagVersion is the layout below.
	tagVersion = 1

	kindAudio = 0
	kindVideo = 1

	// h264 NAL unit types and header bits used here.
	nalNonIDR = 1
	nalIDR    = 5
	nalFUA    = 28
	nalRefIDC = 0x60 // nal_ref_idc 3
	fuStart   = 0x80
	fuEnd     = 0x40

	// opusTOC is an Opus TOC byte: CELT fullband, 20 ms, mono, one frame.
	opusTOC = 0xF8

	// audioPacketInterval is the Opus packet time.
	audioPacketInterval = 20 * time.Millisecond
	// audioTicksPerPacket is 20 ms of the 48 kHz Opus RTP clock.
	audioTicksPerPacket = 960
	// videoClockRate is the video RTP clock.
	videoClockRate = 90000
)

// tag is what every payload carries after its codec header:
//
//	0  magic 0xCF 0x1D
//	2  version (1)
//	3  kind (0 audio, 1 video)
//	4  publisher index, uint32 big-endian
//	8  packet index within the track, uint64 (0, 1, 2... in sending order)
//	16 send time, int64 Unix nanoseconds (the clock the kernel stamps
//	   arriving datagrams with, so latency can be measured to the socket)
type tag struct {
	kind      uint8
	publisher uint32
	index     uint64
	sent      int64
}

func (t tag) put(b []byte) {
	_ = b[tagSize-1]
	b[0], b[1], b[2], b[3] = tagMagic0, tagMagic1, tagVersion, t.kind
	binary.BigEndian.PutUint32(b[4:], t.publisher)
	binary.BigEndian.PutUint64(b[8:], t.index)
	binary.BigEndian.PutUint64(b[16:], uint64(t.sent))
}

func parseTag(b []byte) (tag, bool) {
	if len(b) < tagSize || b[0] != tagMagic0 || b[1] != tagMagic1 || b[2] != tagVersion || b[3] > kindVideo {
		return tag{}, false
	}
	return tag{
		kind:      b[3],
		publisher: binary.BigEndian.Uint32(b[4:]),
		index:     binary.BigEndian.Uint64(b[8:]),
		sent:      int64(binary.BigEndian.Uint64(b[16:])),
	}, true
}

// decodePayload finds the tag of a payload this package wrote, and reports
// whether the packet begins a keyframe.
func decodePayload(payload []byte) (t tag, keyframe, ok bool) {
	if len(payload) < 1+tagSize {
		return tag{}, false, false
	}
	off := 1 // Opus TOC byte, or a single NAL unit's header
	if payload[0]&0x1f == nalFUA {
		off = 2
		keyframe = payload[1]&fuStart != 0 && payload[1]&0x1f == nalIDR
	} else if payload[0] != opusTOC {
		keyframe = payload[0]&0x1f == nalIDR
	}
	t, ok = parseTag(payload[off:])
	if !ok {
		return tag{}, false, false
	}
	if t.kind == kindAudio {
		keyframe = false
	}
	return t, keyframe, true
}

// videoPlan says how big frames are and how they are cut into packets.
type videoPlan struct {
	// frameInterval is the time between frames.
	frameInterval time.Duration
	// ticksPerFrame is the RTP timestamp increment per frame.
	ticksPerFrame uint32
	// gop is the number of frames from one keyframe to the next.
	gop int
	// deltaBytes and keyBytes are the NAL unit sizes of frames.
	deltaBytes, keyBytes int
	// maxPayload bounds one packet's payload.
	maxPayload int
}

// newVideoPlan spreads bitrate over fps frames per second with a keyframe
// keyframeFactor times as large as the other frames every keyframeInterval,
// so that the average bitrate is the one asked for.
func newVideoPlan(bitrate, fps int, keyframeInterval time.Duration, keyframeFactor, maxPayload int) videoPlan {
	gop := max(1, int(keyframeInterval.Seconds()*float64(fps)+0.5))
	gopBytes := float64(bitrate) / 8 * float64(gop) / float64(fps)
	delta := int(gopBytes / float64(gop-1+keyframeFactor))
	delta = max(delta, tagSize) // every packet carries a tag
	return videoPlan{
		frameInterval: time.Second / time.Duration(fps),
		ticksPerFrame: uint32(videoClockRate / fps),
		gop:           gop,
		deltaBytes:    delta,
		keyBytes:      delta * keyframeFactor,
		maxPayload:    maxPayload,
	}
}

// packets is the number of packets a frame (one NAL unit) of size bytes
// takes: one single NAL unit packet if it fits, else FU-A fragments of up to
// maxPayload bytes each (2 of which are the FU indicator and header).
func (p videoPlan) packets(size int) int {
	if size <= p.maxPayload {
		return 1
	}
	per := p.maxPayload - 2
	return (size + per - 1) / per
}

// packetsPerSecond is the average video packet rate of the plan.
func (p videoPlan) packetsPerSecond() float64 {
	perGOP := float64((p.gop-1)*p.packets(p.deltaBytes) + p.packets(p.keyBytes))
	return perGOP / float64(p.gop) / p.frameInterval.Seconds()
}

// videoPacket writes packet i of n of a frame of size bytes into buf and
// returns the payload, with the tag at its place and filler after it. The
// NAL unit's bytes are split evenly over the n packets, as libwebrtc does.
func videoPacket(buf []byte, t tag, idr bool, size, i, n int) []byte {
	nalType := byte(nalNonIDR)
	if idr {
		nalType = nalIDR
	}
	var hdr int
	if n == 1 {
		buf[0] = nalRefIDC | nalType
		hdr = 1
	} else {
		buf[0] = nalRefIDC | nalFUA
		fu := nalType
		if i == 0 {
			fu |= fuStart
		}
		if i == n-1 {
			fu |= fuEnd
		}
		buf[1] = fu
		hdr = 2
	}
	// Fragment i carries bytes [size*i/n, size*(i+1)/n) of the NAL unit;
	// the NAL header byte itself travels in the FU indicator and header.
	data := size*(i+1)/n - size*i/n
	if i == 0 {
		data-- // the NAL header byte is counted in size and written above
	}
	data = max(data, tagSize)
	payload := buf[:hdr+data]
	t.put(payload[hdr:])
	fill(payload[hdr+tagSize:], byte(t.index))
	return payload
}

// audioPacket writes an Opus-sized payload of size bytes into buf.
func audioPacket(buf []byte, t tag, size int) []byte {
	size = max(size, 1+tagSize)
	payload := buf[:size]
	payload[0] = opusTOC
	t.put(payload[1:])
	fill(payload[1+tagSize:], byte(t.index))
	return payload
}

// fill writes a cheap, non-constant pattern, so that the payload is not a
// run of zeros (some paths compress or special-case those).
func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = seed + byte(i)
	}
}
