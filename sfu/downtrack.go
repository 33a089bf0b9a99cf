package sfu

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// DownTrack is one subscriber's copy of a published Track: a pion TrackLocal
// with the subscriber's own SSRC and payload type. It keeps the publisher's track
// id, and its stream id is the publisher's participant id, so the subscriber's
// a=msid names the publisher.
type DownTrack struct {
	track      *Track
	subscriber string

	// sent and dropped count packets written to the subscriber's transport and
	// packets dropped because the down track was not bound or not connected;
	// resent and missed count retransmissions made and NACKed packets no
	// longer cached; limited, NACKed packets not resent because of the
	// retransmission limits (resend.go).
	sent, dropped, resent, missed, limited atomic.Uint64
	// bytes counts payload bytes sent; nacks, NACK packets received;
	// directSent, the packets of sent that went around pion's write path.
	bytes, nacks, directSent atomic.Uint64

	// binding is set by Bind and cleared by Unbind; the forwarding goroutine
	// reads it without a lock.
	binding atomic.Pointer[binding]

	// started is set once the first packet has gone out on a connected
	// transport; that moment asks the publisher for a keyframe.
	started atomic.Bool

	// route is the subscriber's direct route (nil: always pion's path);
	// direct holds the SRTP state for it.
	route  *atomic.Pointer[route]
	direct directSender
}

// egress is what one goroutine needs to send subscribers their copies: the
// header it rewrites per subscriber (one on the stack would escape through
// pion's interface call), the buffer the direct path seals in, and a socket
// writer. Each forwarding goroutine, fan-out worker and RTCP reader has its
// own, reused for every copy, so nothing is shared or allocated per packet.
type egress struct {
	hdr rtp.Header
	w   datagramWriter
	// run holds the packets of one run of a batch sealed end to end
	// (batch.go), or one retransmission; it grows to the longest run the
	// goroutine has sent.
	run []byte
}

// runBuffer is e's buffer for a sealed run of n packets.
func (e *egress) runBuffer(n int) []byte {
	if need := n * (maxPacketSize + maxPad + srtpOverhead); len(e.run) < need {
		e.run = make([]byte, need)
	}
	return e.run
}

// rewrite copies src into e's header with b's SSRC and payload type.
// Header extensions are dropped: their ids follow the publisher's
// negotiation, not the subscriber's, and the ones that matter
// (transport-cc) are per hop. The P bit stays as it was: the payload
// handed on includes the padding.
func (e *egress) rewrite(b *binding, src *rtp.Header) *rtp.Header {
	hdr := &e.hdr
	*hdr = *src
	hdr.SSRC, hdr.PayloadType = b.ssrc, b.pt
	hdr.Extension, hdr.Extensions, hdr.PaddingSize = false, nil, 0
	return hdr
}

type binding struct {
	ssrc   uint32
	pt     uint8
	writer webrtc.TrackLocalWriter
}

func newDownTrack(t *Track, subscriber string, r *atomic.Pointer[route]) *DownTrack {
	return &DownTrack{track: t, subscriber: subscriber, route: r}
}

// directRoute is the subscriber's direct route, or nil.
func (d *DownTrack) directRoute() *route {
	if d.route == nil {
		return nil
	}
	return d.route.Load()
}

// DownTrackStats describes one subscriber's copy of a track.
type DownTrackStats struct {
	// Subscriber is the receiving peer's id.
	Subscriber string
	// Bound tells whether pion has bound the track to a negotiated sender.
	Bound bool
	// Sent and Dropped count packets written to the transport and packets
	// not written (unbound, or the transport not up yet).
	Sent, Dropped uint64
	// Resent counts retransmissions after NACKs; Missed, NACKed packets that
	// were no longer cached; Limited, NACKed packets not resent because
	// they were resent less than a round trip before, or the subscriber's
	// retransmission budget was spent.
	Resent, Missed, Limited uint64
}

// Stats returns the down track's counters.
func (d *DownTrack) Stats() DownTrackStats {
	return DownTrackStats{
		Subscriber: d.subscriber, Bound: d.binding.Load() != nil,
		Sent: d.sent.Load(), Dropped: d.dropped.Load(),
		Resent: d.resent.Load(), Missed: d.missed.Load(), Limited: d.limited.Load(),
	}
}

// Track returns the published track this DownTrack forwards.
func (d *DownTrack) Track() *Track { return d.track }

// ID is the publisher's track id.
func (d *DownTrack) ID() string { return d.track.id }

// RID is empty: Confab forwards one encoding per track.
func (d *DownTrack) RID() string { return "" }

// StreamID is the publisher's participant id.
func (d *DownTrack) StreamID() string { return d.track.streamID }

// Kind is the kind of the published track.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.track.kind }

// Bind is called by pion when the subscriber's negotiation completes. It picks
// the subscriber's payload type for the publisher's codec.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, ok := matchCodec(d.track.codec, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("bind %s %s: %w", d.track.id, d.track.codec.MimeType, ErrCodecUnsupported)
	}
	d.binding.Store(&binding{
		ssrc:   uint32(ctx.SSRC()),
		pt:     uint8(codec.PayloadType),
		writer: ctx.WriteStream(),
	})
	return codec, nil
}

// ssrc is the SSRC the down track sends with, or 0 before it is bound.
func (d *DownTrack) ssrc() uint32 {
	if b := d.binding.Load(); b != nil {
		return b.ssrc
	}
	return 0
}

// Unbind is called by pion when the sender stops.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.binding.Store(nil)
	return nil
}

// writeBatch forwards a batch of the publisher's packets with the
// subscriber's SSRC and payload type, sending with e, the calling
// goroutine's egress. On the direct route each run of the batch goes out in
// one segmented send; through pion, packet by packet.
func (d *DownTrack) writeBatch(bt *batch, e *egress) {
	b := d.binding.Load()
	if b == nil {
		d.dropped.Add(uint64(len(bt.pkts)))
		return
	}
	// A failed write concerns this subscriber only (its transport is closing);
	// the others go on. Before the transport is up pion drops the packet and
	// reports 0 bytes.
	var sent, bytes, dropped uint64
	r := d.directRoute()
	if r != nil {
		for _, run := range bt.runs {
			pkts := bt.pkts[run.start:run.end]
			if !d.direct.sendRun(r, b, pkts, e) {
				dropped += uint64(len(pkts))
				continue
			}
			sent += uint64(len(pkts))
			bytes += uint64(run.bytes)
		}
	} else {
		for _, p := range bt.pkts {
			n, err := b.writer.WriteRTP(e.rewrite(b, &p.pkt.Header), p.payload)
			if err != nil || n == 0 {
				dropped++
				continue
			}
			sent++
			bytes += uint64(len(p.payload))
		}
	}
	if dropped > 0 {
		d.dropped.Add(dropped)
	}
	if sent == 0 {
		return
	}
	if r != nil {
		d.directSent.Add(sent)
	}
	d.sent.Add(sent)
	d.bytes.Add(bytes)
	if !d.started.Load() && d.started.CompareAndSwap(false, true) {
		d.track.RequestKeyframe()
	}
}

// send writes one packet with b's SSRC and payload type: on the direct route
// when there is one, else through pion. payload includes the padding, if
// any. It reports whether the packet went out, and whether it went
// directly.
func (d *DownTrack) send(b *binding, src *rtp.Header, payload []byte, e *egress) (sent, direct bool) {
	hdr := e.rewrite(b, src)
	if r := d.directRoute(); r != nil {
		return d.direct.send(r, hdr, payload, e), true
	}
	n, err := b.writer.WriteRTP(hdr, payload)
	return err == nil && n > 0, false
}

// retransmit resends the cached packets a subscriber NACKed, within lim
// (resend.go). It runs on the subscriber's RTCP goroutine, concurrently with
// forwarding; pion's SRTP stream, or the direct sender, serializes the
// encryption. scratch (maxPacketSize bytes) receives cached packets; e is
// the goroutine's egress.
func (d *DownTrack) retransmit(nack *rtcp.TransportLayerNack, scratch []byte, e *egress, lim *resendLimiter) {
	d.nacks.Add(1)
	cache := d.track.cache
	b := d.binding.Load()
	if cache == nil || b == nil {
		return
	}
	now := lim.now()
	lim.earn(now, d.track.bytes.Load())
	var (
		pkt     rtp.Packet
		limited uint64
	)
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			if lim.spent() || lim.recent(seq, now) {
				limited++
				return true
			}
			raw := cache.get(seq, scratch)
			if raw == nil || pkt.Unmarshal(raw) != nil {
				d.missed.Add(1)
				return true
			}
			lim.take(seq, len(raw), now)
			payload := raw[len(raw)-len(pkt.Payload)-int(pkt.PaddingSize):]
			if sent, _ := d.send(b, &pkt.Header, payload, e); sent {
				d.resent.Add(1)
			}
			return true
		})
	}
	if limited > 0 {
		d.limited.Add(limited)
	}
}

// matchCodec finds the subscriber's negotiated codec that carries want: the same
// MIME type and, where the format parameters tell incompatible streams apart
// (VP9 profile, H.264 profile and packetization mode), the same parameters.
func matchCodec(want webrtc.RTPCodecCapability, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var fallback *webrtc.RTPCodecParameters
	for i := range have {
		c := &have[i]
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if fmtpCompatible(want.MimeType, want.SDPFmtpLine, c.SDPFmtpLine) {
			return *c, true
		}
		if fallback == nil && !strings.EqualFold(want.MimeType, webrtc.MimeTypeH264) && !strings.EqualFold(want.MimeType, webrtc.MimeTypeVP9) {
			fallback = c
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// fmtpCompatible compares the format parameters that make two streams of one
// codec different.
func fmtpCompatible(mime, a, b string) bool {
	pa, pb := parseFmtp(a), parseFmtp(b)
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeH264):
		if pa["packetization-mode"] != pb["packetization-mode"] {
			return false
		}
		// profile_idc and the constraint flags (first four hex digits) must
		// agree; the level may differ.
		return len(pa["profile-level-id"]) >= 4 && len(pb["profile-level-id"]) >= 4 &&
			strings.EqualFold(pa["profile-level-id"][:4], pb["profile-level-id"][:4])
	case strings.ToLower(webrtc.MimeTypeVP9):
		return profileID(pa) == profileID(pb)
	}
	return true
}

func profileID(p map[string]string) string {
	if v, ok := p["profile-id"]; ok {
		return v
	}
	return "0"
}

func parseFmtp(line string) map[string]string {
	out := make(map[string]string)
	for _, kv := range strings.Split(line, ";") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		out[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return out
}
