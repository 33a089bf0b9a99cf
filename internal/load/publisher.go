package load

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
)

// publisher is a participant that sends a camera and a microphone, and
// receives the other publishers like any receiver.
type publisher struct {
	*receiver
	index            int
	videoID, audioID string
	video, audio     *webrtc.TrackLocalStaticRTP

	// sent counts the packets written per kind; it is also the index of the
	// next one.
	sent [2]atomic.Uint64
	// keyframes counts keyframes sent, and pliKeyframes those of them sent
	// because the server asked.
	keyframes, pliKeyframes atomic.Uint64
	sendErrors              atomic.Uint64
}

func newPublisher(index int, senders []*sender, name string, clk *clock) *publisher {
	return &publisher{
		receiver: newReceiver(name, rolePublisher, index, senders, clk),
		index:    index,
		videoID:  fmt.Sprintf("video-%d", index),
		audioID:  fmt.Sprintf("audio-%d", index),
	}
}

// addTracks adds the publisher's tracks to its client before it joins.
func (p *publisher) addTracks(cfg *Config) func(*client.Client) error {
	return func(c *client.Client) error {
		var err error
		if !cfg.NoVideo {
			if p.video, err = c.AddTrack(webrtc.MimeTypeH264, p.videoID, "camera"); err != nil {
				return err
			}
		}
		if !cfg.NoAudio {
			if p.audio, err = c.AddTrack(webrtc.MimeTypeOpus, p.audioID, "microphone"); err != nil {
				return err
			}
		}
		return nil
	}
}

// learnSSRCs tells receivers the SSRCs the publisher's tracks are sent
// with, once it has joined, so that they can find the packets' departures.
func (p *publisher) learnSSRCs() {
	s := p.senders[p.index]
	for _, snd := range p.c.PC().GetSenders() {
		tr, enc := snd.Track(), snd.GetParameters().Encodings
		if tr == nil || len(enc) == 0 {
			continue
		}
		switch tr.ID() {
		case p.videoID:
			s.ssrc[kindVideo].Store(uint32(enc[0].SSRC))
		case p.audioID:
			s.ssrc[kindAudio].Store(uint32(enc[0].SSRC))
		}
	}
}

// send writes media until ctx ends: a frame per video tick, an audio packet
// per audio tick. Tickers, not sleeps, keep the pace: a late tick is
// followed by the next one on schedule. A frame goes out as one burst, or,
// with cfg.Pace, through the pacer: every PaceSlot, packets worth that
// slot's sending time at cfg.Pace × the bitrate, the frames in order.
func (p *publisher) send(ctx context.Context, cfg *Config, plan videoPlan) {
	var videoTick, audioTick, paceTick <-chan time.Time
	if p.video != nil {
		t := time.NewTicker(plan.frameInterval)
		defer t.Stop()
		videoTick = t.C
		if cfg.Pace > 0 {
			t := time.NewTicker(PaceSlot)
			defer t.Stop()
			paceTick = t.C
		}
	}
	if p.audio != nil {
		t := time.NewTicker(audioPacketInterval)
		defer t.Stop()
		audioTick = t.C
	}
	pace := pacer{slotBytes: int(cfg.Pace * float64(cfg.VideoBitrate) / 8 * PaceSlot.Seconds())}
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	pkt.Version = 2
	sendNext := func(f *videoFrame) int { return p.sendVideo(&pkt, buf, f) }
	var (
		frame uint64
		plis  int
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-videoTick:
			key := frame%uint64(plan.gop) == 0
			if n := p.c.KeyframeRequests(p.videoID); n > plis {
				plis = n
				if !key {
					key = true
					p.pliKeyframes.Add(1)
				}
			}
			f := p.newFrame(plan, frame, key)
			frame++
			if paceTick == nil {
				for f.next < f.n {
					sendNext(&f)
				}
				continue
			}
			pace.queue = append(pace.queue, f)
		case <-paceTick:
			pace.slot(sendNext)
		case <-audioTick:
			index := p.sent[kindAudio].Load()
			pkt.Marker = false
			pkt.SequenceNumber = uint16(index)
			pkt.Timestamp = uint32(index) * audioTicksPerPacket
			t := tag{kind: kindAudio, publisher: uint32(p.index), index: index, sent: time.Now().UnixNano()}
			pkt.Payload = audioPacket(buf, t, cfg.AudioPayload)
			p.write(p.audio, &pkt, kindAudio)
		}
	}
}

// pacer spreads video frames over time as a browser's pacer does: each
// slot may send slotBytes, frames in order, a packet at a time while the
// slot has budget left (the last packet may overdraw it, and the next slot
// makes up for it). Unused budget does not build up: a pacer with nothing
// to send starts its next slot afresh, as libwebrtc's does.
type pacer struct {
	slotBytes int
	budget    int
	queue     []videoFrame
}

// slot sends what one slot allows with send, which sends a frame's next
// packet and returns its size.
func (pc *pacer) slot(send func(*videoFrame) int) {
	pc.budget = min(pc.budget+pc.slotBytes, pc.slotBytes)
	for len(pc.queue) > 0 && pc.budget > 0 {
		f := &pc.queue[0]
		pc.budget -= send(f)
		if f.next == f.n {
			pc.queue = pc.queue[1:]
		}
	}
	if len(pc.queue) == 0 {
		pc.budget = min(pc.budget, 0)
		pc.queue = nil // let the drained array go
	}
}

// videoFrame is a frame being sent: its RTP timestamp, size and packet
// count, and the next packet to send.
type videoFrame struct {
	timestamp uint32
	key       bool
	size, n   int
	next      int
}

// newFrame plans frame number frame, a keyframe if key.
func (p *publisher) newFrame(plan videoPlan, frame uint64, key bool) videoFrame {
	size := plan.deltaBytes
	if key {
		size = plan.keyBytes
		p.keyframes.Add(1)
	}
	return videoFrame{timestamp: uint32(frame) * plan.ticksPerFrame, key: key, size: size, n: plan.packets(size)}
}

// sendVideo writes f's next packet, as an encoder's packetizer hands it to
// the network, and returns its size.
func (p *publisher) sendVideo(pkt *rtp.Packet, buf []byte, f *videoFrame) int {
	index := p.sent[kindVideo].Load()
	pkt.Timestamp = f.timestamp
	pkt.SequenceNumber = uint16(index)
	pkt.Marker = f.next == f.n-1
	t := tag{kind: kindVideo, publisher: uint32(p.index), index: index, sent: time.Now().UnixNano()}
	pkt.Payload = videoPacket(buf, t, f.key, f.size, f.next, f.n)
	f.next++
	p.write(p.video, pkt, kindVideo)
	return 12 + len(pkt.Payload)
}

func (p *publisher) write(track *webrtc.TrackLocalStaticRTP, pkt *rtp.Packet, kind int) {
	if err := track.WriteRTP(pkt); err != nil {
		p.sendErrors.Add(1)
	}
	p.sent[kind].Add(1)
}
