package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/protocol"
)

const (
	// rtpBufferSize is larger than pion's receive MTU (1460).
	rtpBufferSize = 1500
	// keptPayloads is how many of the last payloads a RemoteTrack keeps.
	keptPayloads = 8
)

// RemoteTrack is a track the server forwards to the client. Its exported
// fields are fixed when the track arrives; its methods are safe for concurrent
// use.
type RemoteTrack struct {
	// StreamID is the MediaStream id of the track's a=msid: the publisher's
	// participant id.
	StreamID string
	// TrackID is the track id of the a=msid: the publisher's track id.
	TrackID string
	// Kind is "audio" or "video".
	Kind string
	// MimeType is the negotiated codec, such as webrtc.MimeTypeVP8.
	MimeType string
	// Mid is the mid of the transceiver that carries the track.
	Mid string
	// SSRC is the server's SSRC for the track.
	SSRC uint32
	// Info is the entry of the server offer's tracks map for Mid when the track
	// arrived (zero if the map had none; the client logs a warning).
	Info protocol.ForwardedTrack

	track    *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
	pc       *webrtc.PeerConnection
	done     chan struct{}

	packets   atomic.Uint64
	bytes     atomic.Uint64
	keyframes atomic.Uint64

	mu       sync.Mutex
	seqs     []uint8 // times each sequence number was received, saturating; 64 KiB once used
	lastSeq  uint16
	payloads [][]byte // ring of the last keptPayloads payloads
	next     int      // next slot of the ring

	senderReports int
	lastSR        rtcp.SenderReport
}

// String describes the track for test failures.
func (rt *RemoteTrack) String() string {
	return fmt.Sprintf("%s/%s (%s %s, mid %s, %d packets)",
		rt.StreamID, rt.TrackID, rt.Kind, rt.MimeType, rt.Mid, rt.Packets())
}

// Packets is the number of RTP packets read from the track.
func (rt *RemoteTrack) Packets() uint64 { return rt.packets.Load() }

// Bytes is the number of payload bytes read from the track.
func (rt *RemoteTrack) Bytes() uint64 { return rt.bytes.Load() }

// Keyframes counts packets that begin a keyframe: for VP8 the first packet of
// a key frame, for H.264 an IDR slice (alone, first in an FU-A, or in a
// STAP-A). Other codecs are not inspected and count 0.
func (rt *RemoteTrack) Keyframes() uint64 { return rt.keyframes.Load() }

// SeqCount is how many times the packet with sequence number seq was read
// (more than once when retransmitted), up to 255. Sequence numbers wrap: over
// 65536 packets, counts of different packets add up.
func (rt *RemoteTrack) SeqCount(seq uint16) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.seqs == nil {
		return 0
	}
	return int(rt.seqs[seq])
}

// LastSeq is the sequence number of the last packet read; ok is false before
// the first.
func (rt *RemoteTrack) LastSeq() (seq uint16, ok bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.lastSeq, rt.packets.Load() > 0
}

// LastPayloads returns copies of the payloads of the last packets read (at
// most 8), oldest first.
func (rt *RemoteTrack) LastPayloads() [][]byte {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([][]byte, 0, len(rt.payloads))
	for i := range rt.payloads {
		p := rt.payloads[(rt.next+i)%len(rt.payloads)]
		out = append(out, append([]byte(nil), p...))
	}
	return out
}

// Done is closed when reading the track has ended: the server stopped the
// track, the session ended, or the client closed.
func (rt *RemoteTrack) Done() <-chan struct{} { return rt.done }

// Receiver is pion's receiver of the track.
func (rt *RemoteTrack) Receiver() *webrtc.RTPReceiver { return rt.receiver }

// RequestKeyframe sends a Picture Loss Indication for the track to the server.
func (rt *RemoteTrack) RequestKeyframe() error {
	err := rt.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: rt.SSRC}})
	if err != nil {
		return fmt.Errorf("request keyframe for %s: %w", rt.TrackID, err)
	}
	return nil
}

// WaitPackets waits until at least n packets were read from the track.
func (rt *RemoteTrack) WaitPackets(ctx context.Context, n uint64) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for rt.packets.Load() < n {
		select {
		case <-tick.C:
		case <-rt.done:
			if rt.packets.Load() >= n {
				return nil
			}
			return fmt.Errorf("wait for %d packets on %s: track ended", n, rt)
		case <-ctx.Done():
			return fmt.Errorf("wait for %d packets on %s: %w", n, rt, ctx.Err())
		}
	}
	return nil
}

// record accounts for one packet.
func (rt *RemoteTrack) record(pkt *rtp.Packet) {
	rt.mu.Lock()
	if rt.seqs == nil {
		rt.seqs = make([]uint8, 1<<16)
	}
	if rt.seqs[pkt.SequenceNumber] < 255 {
		rt.seqs[pkt.SequenceNumber]++
	}
	rt.lastSeq = pkt.SequenceNumber
	if len(rt.payloads) < keptPayloads {
		rt.payloads = append(rt.payloads, append([]byte(nil), pkt.Payload...))
	} else {
		rt.payloads[rt.next] = append(rt.payloads[rt.next][:0], pkt.Payload...)
		rt.next = (rt.next + 1) % keptPayloads
	}
	rt.mu.Unlock()
	rt.bytes.Add(uint64(len(pkt.Payload)))
	if isKeyframeStart(rt.MimeType, pkt.Payload) {
		rt.keyframes.Add(1)
	}
	rt.packets.Add(1) // last: a waiter that sees the count sees the rest
}

// count accounts for one packet when Options.CountOnly is set.
func (rt *RemoteTrack) count(pkt *rtp.Packet) {
	rt.bytes.Add(uint64(len(pkt.Payload)))
	rt.packets.Add(1)
}

// DirectPackets returns how many RTP packets the current session's direct
// receive path (Options.DirectReceive) has taken off the socket; 0
// without it.
func (c *Client) DirectPackets() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil || c.sess.rx == nil {
		return 0
	}
	return c.sess.rx.taken.Load()
}

// RemoteTracks returns the tracks currently forwarded to the client, in order
// of arrival. A track leaves the list when its reading ends or when a server
// offer no longer lists its mid.
func (c *Client) RemoteTracks() []*RemoteTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil
	}
	return slices.Clone(c.sess.remotes)
}

// WaitRemoteTracks waits until pred accepts the current remote tracks. pred is
// called without any lock held, whenever the list changes and every 10 ms (so
// it may look at packet counters).
func (c *Client) WaitRemoteTracks(ctx context.Context, pred func([]*RemoteTrack) bool) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		tracks := c.RemoteTracks()
		if pred(tracks) {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for remote tracks (have %v): %w", tracks, ctx.Err())
		case <-c.done:
			return ErrClosed
		}
	}
}

// onTrack starts reading a track the server began sending. It runs on a
// goroutine pion starts for the callback.
func (c *Client) onTrack(sess *session, track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	mid := ""
	for _, t := range sess.pc.GetTransceivers() {
		if t.Receiver() == receiver {
			mid = t.Mid()
			break
		}
	}
	rt := &RemoteTrack{
		StreamID: track.StreamID(),
		TrackID:  track.ID(),
		Kind:     track.Kind().String(),
		MimeType: track.Codec().MimeType,
		Mid:      mid,
		SSRC:     uint32(track.SSRC()),
		track:    track,
		receiver: receiver,
		pc:       sess.pc,
		done:     make(chan struct{}),
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.sess != sess {
		return // the session ended; closing its PeerConnection stops the track
	}
	info, ok := sess.byMid[mid]
	if !ok {
		c.log.Warn("remote track on a mid the server's tracks map does not list",
			"mid", mid, "stream", rt.StreamID, "track", rt.TrackID)
	}
	rt.Info = info
	if !c.goLocked(func() { c.readRemoteRTP(sess, rt) }) {
		return
	}
	c.goLocked(func() { c.readReceiverRTCP(rt) })
	sess.remotes = append(sess.remotes, rt)
	c.log.Debug("remote track", "track", rt.String())
	c.notifyLocked()
}

// readRemoteRTP reads the track's RTP until it ends. With direct
// receiving, the track is bound to the session's socket reader after its
// first packet, and this goroutine only sees what pion had queued before.
func (c *Client) readRemoteRTP(sess *session, rt *RemoteTrack) {
	bound := false
	defer func() {
		if bound {
			sess.rx.unbind(rt)
		}
		close(rt.done)
		c.mu.Lock()
		sess.remotes = slices.DeleteFunc(sess.remotes, func(o *RemoteTrack) bool { return o == rt })
		c.notifyLocked()
		c.mu.Unlock()
	}()
	buf := make([]byte, rtpBufferSize)
	var pkt rtp.Packet
	for {
		n, _, err := rt.track.Read(buf)
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				continue
			}
			c.log.Debug("remote track ended", "track", rt.TrackID, "err", err)
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			c.log.Debug("bad RTP from server", "track", rt.TrackID, "err", err)
			continue
		}
		c.deliver(rt, &pkt)
		if !bound && sess.rx != nil {
			sess.rx.bind(rt)
			bound = true
		}
	}
}

// deliver accounts for one packet of rt and hands it to OnPacket.
func (c *Client) deliver(rt *RemoteTrack, pkt *rtp.Packet) {
	if c.opts.CountOnly {
		rt.count(pkt)
	} else {
		rt.record(pkt)
	}
	if f := c.opts.OnPacket; f != nil {
		f(rt, pkt)
	}
}

// readReceiverRTCP reads the receiver's RTCP (sender reports) until it stops,
// which drives pion's interceptors, and keeps the latest sender report for
// the track's SSRC.
func (c *Client) readReceiverRTCP(rt *RemoteTrack) {
	buf := make([]byte, rtcpBufferSize)
	for {
		n, _, err := rt.receiver.Read(buf)
		if err != nil {
			if !errors.Is(err, io.ErrShortBuffer) {
				return
			}
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == rt.SSRC {
				rt.mu.Lock()
				rt.lastSR, rt.senderReports = *sr, rt.senderReports+1
				rt.mu.Unlock()
			}
		}
	}
}

// SenderReports returns how many RTCP sender reports arrived for the track
// and the latest one.
func (rt *RemoteTrack) SenderReports() (int, rtcp.SenderReport) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.senderReports, rt.lastSR
}

// pruneLocked drops the remote tracks whose mid the latest server offer no
// longer lists. c.mu must be held.
func (s *session) pruneLocked() {
	s.remotes = slices.DeleteFunc(s.remotes, func(rt *RemoteTrack) bool {
		_, ok := s.byMid[rt.Mid]
		return !ok
	})
}

// isKeyframeStart reports whether an RTP payload begins a keyframe.
func isKeyframeStart(mime string, payload []byte) bool {
	// EqualFold, not ToLower: this runs for every packet and must not allocate.
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		var vp8 codecs.VP8Packet
		frame, err := vp8.Unmarshal(payload)
		// The P bit of the VP8 frame header is 0 for a key frame (RFC 6386 9.1).
		return err == nil && vp8.S == 1 && vp8.PID == 0 && len(frame) > 0 && frame[0]&0x01 == 0
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return h264HasIDR(payload)
	}
	return false
}

// h264HasIDR reports whether an H.264 RTP payload (RFC 6184) starts an IDR
// slice: a single IDR NAL unit, an aggregation packet (STAP-A) holding one, or
// the first fragment (FU-A) of one.
func h264HasIDR(payload []byte) bool {
	const (
		naluIDR   = 5
		naluSTAPA = 24
		naluFUA   = 28
	)
	if len(payload) < 1 {
		return false
	}
	switch payload[0] & 0x1f {
	case naluIDR:
		return true
	case naluSTAPA:
		for rest := payload[1:]; len(rest) > 2; {
			size := int(rest[0])<<8 | int(rest[1])
			rest = rest[2:]
			if size == 0 || size > len(rest) {
				return false
			}
			if rest[0]&0x1f == naluIDR {
				return true
			}
			rest = rest[size:]
		}
	case naluFUA:
		return len(payload) > 1 && payload[1]&0x80 != 0 && payload[1]&0x1f == naluIDR
	}
	return false
}
