package client

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/protocol"
)

// rtcpBufferSize is larger than pion's receive MTU (1460).
const rtcpBufferSize = 1500

// localTrack is a track the client publishes.
type localTrack struct {
	track  *webrtc.TrackLocalStaticRTP
	id     string
	source string

	// sender is the track's sender in the current session, or nil. Guarded by
	// Client.mu; changed only with Client.trackMu held.
	sender *webrtc.RTPSender

	// RTCP counted from the sender's ReadRTCP loop, across sessions.
	pli, fir, nack, rr, twcc, noSender atomic.Uint64
}

// SenderStats counts the RTCP feedback the server sent for one local track.
type SenderStats struct {
	// PLI and FIR count keyframe requests (Picture Loss Indication, Full Intra
	// Request) for the track's SSRC.
	PLI, FIR uint64
	// NACK counts Generic NACK packets for the track's SSRC (each may ask for
	// several packets).
	NACK uint64
	// ReceiverReports counts receiver reports with a block for the track.
	ReceiverReports uint64
	// TransportFeedback counts transport-cc feedback packets naming the
	// track's SSRC as their media SSRC (the feedback covers every stream
	// of the connection; its media SSRC is one of them).
	TransportFeedback uint64
	// NoSender counts the PLIs and NACKs among them whose sender SSRC is
	// 0, which RFC 4585 §6.1 does not provide for (it names the sender).
	NoSender uint64
}

// codecCapability is what AddTrack publishes for a MIME type. The fmtp lines
// match pion's default codecs, so the first offer lists exactly those.
func codecCapability(mime string) (webrtc.RTPCodecCapability, error) {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeOpus):
		return webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1",
		}, nil
	case strings.ToLower(webrtc.MimeTypeVP8):
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, nil
	case strings.ToLower(webrtc.MimeTypeVP9):
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}, nil
	case strings.ToLower(webrtc.MimeTypeH264):
		return webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		}, nil
	}
	return webrtc.RTPCodecCapability{}, fmt.Errorf("%w: %q", ErrUnsupportedCodec, mime)
}

// AddTrack creates a local track with the given codec MIME type
// (webrtc.MimeTypeVP8, MimeTypeVP9, MimeTypeH264 or MimeTypeOpus), track id and
// source ("" means camera for video and microphone for audio). Before Join the
// track is only recorded; Join publishes it with the first offer. After Join
// it is added to the PeerConnection, publish is sent, and a renegotiation is
// started in the background (see WaitIdle, Err). Write media with the returned
// track's WriteRTP; writes before the track is negotiated are dropped.
func (c *Client) AddTrack(mime, trackID, source string) (*webrtc.TrackLocalStaticRTP, error) {
	capability, err := codecCapability(mime)
	if err != nil {
		return nil, fmt.Errorf("add track %q: %w", trackID, err)
	}
	if trackID == "" {
		return nil, errors.New("add track: empty track id")
	}
	if source == "" {
		source = protocol.SourceCamera
		if strings.HasPrefix(capability.MimeType, "audio/") {
			source = protocol.SourceMicrophone
		}
	}
	if !protocol.ValidSource(source) {
		return nil, fmt.Errorf("add track %q: %w: %q", trackID, ErrInvalidSource, source)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(capability, trackID, c.streamID)
	if err != nil {
		return nil, fmt.Errorf("add track %q: %w", trackID, err)
	}
	lt := &localTrack{track: track, id: trackID, source: source}

	c.trackMu.Lock()
	defer c.trackMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	for _, other := range c.locals {
		if other.id == trackID {
			c.mu.Unlock()
			return nil, fmt.Errorf("add track %q: %w", trackID, ErrDuplicateTrack)
		}
	}
	c.locals = append(c.locals, lt)
	sess := c.sess
	locals := append([]*localTrack(nil), c.locals...)
	c.mu.Unlock()

	if sess == nil {
		return track, nil
	}
	if err := c.attach(sess, lt); err != nil {
		return nil, fmt.Errorf("add track %q: %w", trackID, err)
	}
	if err := c.sendPublish(locals); err != nil {
		return nil, fmt.Errorf("add track %q: %w", trackID, err)
	}
	c.scheduleRenegotiation()
	return track, nil
}

// RemoveTrack stops publishing a local track: it is removed from the
// PeerConnection and a renegotiation is started in the background (see
// WaitIdle). Before Join it is only forgotten.
func (c *Client) RemoveTrack(trackID string) error {
	c.trackMu.Lock()
	defer c.trackMu.Unlock()
	c.mu.Lock()
	var lt *localTrack
	for i, other := range c.locals {
		if other.id == trackID {
			lt = other
			c.locals = append(c.locals[:i:i], c.locals[i+1:]...)
			break
		}
	}
	sess := c.sess
	var sender *webrtc.RTPSender
	if lt != nil {
		sender, lt.sender = lt.sender, nil
	}
	c.mu.Unlock()

	if lt == nil {
		return fmt.Errorf("remove track %q: %w", trackID, ErrUnknownTrack)
	}
	if sess == nil || sender == nil {
		return nil
	}
	if err := sess.pc.RemoveTrack(sender); err != nil {
		return fmt.Errorf("remove track %q: %w", trackID, err)
	}
	c.scheduleRenegotiation()
	return nil
}

// attach adds lt to the session's PeerConnection and starts reading the
// sender's RTCP. c.trackMu must be held.
func (c *Client) attach(sess *session, lt *localTrack) error {
	sender, err := sess.pc.AddTrack(lt.track)
	if err != nil {
		return fmt.Errorf("add track %q to peer connection: %w", lt.id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == sess {
		lt.sender = sender
	}
	c.goLocked(func() { c.readSenderRTCP(lt, sender) })
	return nil
}

// readSenderRTCP reads the sender's RTCP until it stops, counting keyframe
// requests and NACKs. Reading also drives pion's interceptors (the NACK
// responder answers from here), so it must run for every sender.
func (c *Client) readSenderRTCP(lt *localTrack, sender *webrtc.RTPSender) {
	buf := make([]byte, rtcpBufferSize)
	ssrc := senderSSRC(sender) // pion picks it when creating the sender
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
				c.log.Debug("sender RTCP read ended", "track", lt.id, "err", err)
			}
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			c.log.Debug("bad RTCP from server", "track", lt.id, "err", err)
			continue
		}
		for _, p := range pkts {
			lt.count(p, ssrc)
		}
	}
}

// senderSSRC is the SSRC the sender sends with.
func senderSSRC(sender *webrtc.RTPSender) uint32 {
	if enc := sender.GetParameters().Encodings; len(enc) > 0 {
		return uint32(enc[0].SSRC)
	}
	return 0
}

// count tallies one RTCP packet addressed to the track. pion hands a compound
// packet to every sender one of its parts is for, so parts for another SSRC
// are skipped.
func (lt *localTrack) count(p rtcp.Packet, ssrc uint32) {
	switch p := p.(type) {
	case *rtcp.PictureLossIndication:
		if p.MediaSSRC == ssrc {
			lt.pli.Add(1)
			lt.countSender(p.SenderSSRC)
		}
	case *rtcp.FullIntraRequest:
		for _, e := range p.FIR {
			if e.SSRC == ssrc {
				lt.fir.Add(1)
				break
			}
		}
	case *rtcp.TransportLayerNack:
		if p.MediaSSRC == ssrc {
			lt.nack.Add(1)
			lt.countSender(p.SenderSSRC)
		}
	case *rtcp.TransportLayerCC:
		if p.MediaSSRC == ssrc {
			lt.twcc.Add(1)
		}
	case *rtcp.ReceiverReport:
		for _, r := range p.Reports {
			if r.SSRC == ssrc {
				lt.rr.Add(1)
				break
			}
		}
	}
}

func (lt *localTrack) countSender(ssrc uint32) {
	if ssrc == 0 {
		lt.noSender.Add(1)
	}
}

// KeyframeRequests is the number of PLI and FIR the server sent for the local
// track trackID since AddTrack; 0 for an unknown track.
func (c *Client) KeyframeRequests(trackID string) int {
	s, err := c.SenderStats(trackID)
	if err != nil {
		return 0
	}
	return int(s.PLI + s.FIR)
}

// SenderStats returns the RTCP feedback counted for the local track trackID.
func (c *Client) SenderStats(trackID string) (SenderStats, error) {
	lt := c.local(trackID)
	if lt == nil {
		return SenderStats{}, fmt.Errorf("sender stats %q: %w", trackID, ErrUnknownTrack)
	}
	return SenderStats{
		PLI: lt.pli.Load(), FIR: lt.fir.Load(), NACK: lt.nack.Load(), ReceiverReports: lt.rr.Load(),
		TransportFeedback: lt.twcc.Load(), NoSender: lt.noSender.Load(),
	}, nil
}

// LocalTrack returns the local track trackID, or nil.
func (c *Client) LocalTrack(trackID string) *webrtc.TrackLocalStaticRTP {
	if lt := c.local(trackID); lt != nil {
		return lt.track
	}
	return nil
}

func (c *Client) local(trackID string) *localTrack {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, lt := range c.locals {
		if lt.id == trackID {
			return lt
		}
	}
	return nil
}
