package sfu

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// maxPacketSize bounds one RTP packet read from a publisher.
const maxPacketSize = 1500

// Track is a track published by one participant. One goroutine reads its RTP
// and forwards each packet to every subscribed DownTrack.
type Track struct {
	id       string
	streamID string
	kind     webrtc.RTPCodecType
	codec    webrtc.RTPCodecCapability
	ssrc     uint32
	remote   *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
	pc       *webrtc.PeerConnection
	log      *slog.Logger

	// subs is the copy-on-write list of subscribers; the forwarding goroutine
	// loads it without a lock. mu serializes writers.
	subs atomic.Pointer[[]*DownTrack]
	mu   sync.Mutex

	// cache keeps recent video packets for retransmission; nil for audio,
	// which is not NACKed.
	cache *packetCache

	keyframes    keyframeThrottle
	kfPending    atomic.Bool
	packets      atomic.Uint64
	bytes        atomic.Uint64
	keyframeReqs atomic.Uint64

	done chan struct{}
}

func newTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver, pc *webrtc.PeerConnection, streamID string, log *slog.Logger) *Track {
	t := &Track{
		id:        remote.ID(),
		streamID:  streamID,
		kind:      remote.Kind(),
		codec:     remote.Codec().RTPCodecCapability,
		ssrc:      uint32(remote.SSRC()),
		remote:    remote,
		receiver:  receiver,
		pc:        pc,
		keyframes: keyframeThrottle{interval: DefaultKeyframeInterval},
		done:      make(chan struct{}),
	}
	t.log = log.With("track", t.id, "kind", t.kind.String(), "codec", t.codec.MimeType)
	if t.kind == webrtc.RTPCodecTypeVideo {
		t.cache = &packetCache{}
	}
	empty := []*DownTrack{}
	t.subs.Store(&empty)
	return t
}

// ID is the publisher's track id (from its a=msid).
func (t *Track) ID() string { return t.id }

// StreamID is the publisher's participant id.
func (t *Track) StreamID() string { return t.streamID }

// Kind tells audio from video.
func (t *Track) Kind() webrtc.RTPCodecType { return t.kind }

// Codec is the codec the publisher sends.
func (t *Track) Codec() webrtc.RTPCodecCapability { return t.codec }

// Done is closed when the publisher's track has ended.
func (t *Track) Done() <-chan struct{} { return t.done }

// Packets is the number of RTP packets read from the publisher.
func (t *Track) Packets() uint64 { return t.packets.Load() }

// KeyframeRequests is the number of PLIs sent to the publisher.
func (t *Track) KeyframeRequests() uint64 { return t.keyframeReqs.Load() }

// DownTracks returns the counters of every subscriber's copy of t.
func (t *Track) DownTracks() []DownTrackStats {
	subs := *t.subs.Load()
	out := make([]DownTrackStats, 0, len(subs))
	for _, d := range subs {
		out = append(out, d.Stats())
	}
	return out
}

// Subscribers is the number of DownTracks currently fed by t.
func (t *Track) Subscribers() int { return len(*t.subs.Load()) }

func (t *Track) addSubscriber(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	next := make([]*DownTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	t.subs.Store(&next)
}

func (t *Track) removeSubscriber(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	next := make([]*DownTrack, 0, len(old))
	for _, s := range old {
		if s != d {
			next = append(next, s)
		}
	}
	t.subs.Store(&next)
}

// RequestKeyframe asks the publisher for a keyframe, at most once per
// DefaultKeyframeInterval; a request inside the interval is sent when the
// interval has passed. Audio tracks ignore it.
func (t *Track) RequestKeyframe() {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	if t.keyframes.request(time.Now()) {
		t.sendPLI()
		return
	}
	t.kfPending.Store(true)
}

func (t *Track) sendPLI() {
	t.keyframeReqs.Add(1)
	err := t.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: t.ssrc}})
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.log.Debug("send PLI", "err", err)
	}
}

// forward reads the publisher's RTP until the track ends and fans every packet
// out. It is run by the owning Peer, which waits for it.
func (t *Track) forward() {
	defer close(t.done)
	buf := make([]byte, maxPacketSize)
	var pkt rtp.Packet
	for {
		n, _, err := t.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.log.Debug("track read ended", "err", err)
			}
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			t.log.Debug("drop malformed RTP", "err", err)
			continue
		}
		t.packets.Add(1)
		t.bytes.Add(uint64(n))
		if t.cache != nil {
			t.cache.add(pkt.SequenceNumber, buf[:n])
		}
		// The payload handed on keeps the padding, so padding-only probes
		// are forwarded too: dropping them would leave sequence-number gaps
		// that subscribers NACK in vain.
		t.fanOut(&pkt.Header, buf[n-len(pkt.Payload)-int(pkt.PaddingSize):n])
		if t.kfPending.Load() && t.keyframes.due(time.Now()) {
			t.kfPending.Store(false)
			t.sendPLI()
		}
	}
}

// fanOut hands one packet to every subscriber. It takes no lock and, in
// steady state, allocates nothing.
func (t *Track) fanOut(hdr *rtp.Header, payload []byte) {
	for _, d := range *t.subs.Load() {
		d.writeRTP(hdr, payload)
	}
}

// readRTCP drains the publisher-side receiver's RTCP so the interceptors (receiver
// reports, NACK generation) see it. It ends when the receiver stops.
func (t *Track) readRTCP() {
	buf := make([]byte, maxPacketSize)
	for {
		if _, _, err := t.receiver.Read(buf); err != nil {
			return
		}
	}
}
