package sfu

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
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
	// queue is the remote stream's queue under pion's chain, which the
	// forwarder polls to take batches; nil reads one packet at a time.
	queue *rxStream
	// queueOnly, the forwarder's own, is set once a read through pion's
	// TrackRemote found the queue empty: pion has then handed out the
	// packets it read ahead of OnTrack, and the forwarder reads the queue
	// itself, around TrackRemote's lock, receiver lookup and payload-type
	// check (the peer's interceptor chain is the queue's reader alone).
	queueOnly bool
	// readErr ends forwarding; only the forwarder touches it.
	readErr error
	pc      *webrtc.PeerConnection
	log     *slog.Logger

	// subs is the copy-on-write list of subscribers; the forwarding goroutine
	// loads it without a lock. mu serializes writers.
	subs atomic.Pointer[[]*DownTrack]
	mu   sync.Mutex

	// cache keeps recent video packets for retransmission; nil for audio,
	// which is not NACKed.
	cache *packetCache

	// paused stops forwarding (a moderator muted the track); the reader
	// keeps reading so the publisher's transport stays healthy.
	paused atomic.Bool
	// reception is what the server reports to the publisher (receiver
	// reports, NACKs) and Lost. nack says whether the publisher takes
	// NACKs for the track.
	reception *reception
	nack      bool
	// nackNow asks the RTCP loop to NACK this track's new gaps at once;
	// gapSeen, the forwarder's own, says a batch opened one.
	nackNow func()
	gapSeen bool
	// senderReported is called on the track's RTCP goroutine after each
	// sender report from the publisher.
	senderReported func()
	// rtcpSSRC is the sender SSRC of the server's RTCP to the publisher
	// through pion (PLIs; the RTCP loop's before the direct route).
	rtcpSSRC uint32
	started  time.Time

	rateMu    sync.Mutex
	rateBytes uint64
	rateAt    time.Time
	rate      float64

	// clock maps RTP timestamps to arrival times for sender reports.
	clock mediaClock
	// out is the forwarding goroutine's egress.
	out egress
	// pool shards the fan-out of many subscribers over several cores
	// (fanout.go); nil keeps it serial.
	pool *fanOutPool

	// budget is the publishing peer's cap (publishlimit.go; nil: none);
	// overLimit counts the packets dropped over it.
	budget    *publishBudget
	overLimit dropCount

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
		started:   time.Now(),
		pool:      newFanOutPool(),
	}
	t.reception = newReception(t.codec.ClockRate)
	t.nack = t.kind == webrtc.RTPCodecTypeVideo && negotiatedNACK(remote.Codec().RTCPFeedback)
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

// SetPaused stops (true) or resumes forwarding of the track to every
// subscriber. A resumed video track asks for a keyframe.
func (t *Track) SetPaused(paused bool) {
	if t.paused.Swap(paused) && !paused {
		t.RequestKeyframe()
	}
}

// Paused reports whether forwarding is stopped.
func (t *Track) Paused() bool { return t.paused.Load() }

// Bytes is the number of RTP bytes read from the publisher.
func (t *Track) Bytes() uint64 { return t.bytes.Load() }

// Lost estimates the packets the publisher sent that never arrived, from
// gaps in sequence numbers (retransmissions that filled a gap count as
// arrived).
func (t *Track) Lost() uint64 { return t.reception.lost() }

// Bitrate is the publisher's bitrate in bits per second, measured since the
// previous call (at least a second ago), or since the track began.
func (t *Track) Bitrate() float64 {
	t.rateMu.Lock()
	defer t.rateMu.Unlock()
	now, bytes := time.Now(), t.bytes.Load()
	since, base := t.rateAt, t.rateBytes
	if since.IsZero() {
		since, base = t.started, 0
	}
	if dt := now.Sub(since).Seconds(); dt >= 1 || t.rateAt.IsZero() {
		if dt > 0 {
			t.rate = float64(bytes-base) * 8 / dt
		}
		t.rateAt, t.rateBytes = now, bytes
	}
	return t.rate
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
	err := t.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: t.rtcpSSRC, MediaSSRC: t.ssrc}})
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.log.Debug("send PLI", "err", err)
	}
}

// readRTCP reads the publisher's RTCP for the track and notes its sender
// reports, which the receiver reports answer. It ends when the receiver
// stops.
func (t *Track) readRTCP() {
	buf := make([]byte, maxPacketSize)
	for {
		n, _, err := t.receiver.Read(buf)
		if err != nil {
			return
		}
		if ntp, ok := findSenderReport(buf[:n], t.ssrc); ok {
			t.reception.senderReport(ntp, time.Now())
			if t.senderReported != nil {
				t.senderReported()
			}
		}
	}
}
