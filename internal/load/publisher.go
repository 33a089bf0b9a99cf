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

// send writes media until ctx ends: a frame burst per video tick, an audio
// packet per audio tick. Tickers, not sleeps, keep the pace: a late tick is
// followed by the next one on schedule.
func (p *publisher) send(ctx context.Context, cfg *Config, plan videoPlan) {
	var videoTick, audioTick <-chan time.Time
	if p.video != nil {
		t := time.NewTicker(plan.frameInterval)
		defer t.Stop()
		videoTick = t.C
	}
	if p.audio != nil {
		t := time.NewTicker(audioPacketInterval)
		defer t.Stop()
		audioTick = t.C
	}
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	pkt.Version = 2
	var frame uint64
	plis := 0
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
			p.sendFrame(&pkt, buf, plan, frame, key)
			frame++
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

// sendFrame writes one frame's packets back to back, as an encoder's
// packetizer hands them to the network.
func (p *publisher) sendFrame(pkt *rtp.Packet, buf []byte, plan videoPlan, frame uint64, key bool) {
	size := plan.deltaBytes
	if key {
		size = plan.keyBytes
		p.keyframes.Add(1)
	}
	n := plan.packets(size)
	pkt.Timestamp = uint32(frame) * plan.ticksPerFrame
	for i := range n {
		index := p.sent[kindVideo].Load()
		pkt.SequenceNumber = uint16(index)
		pkt.Marker = i == n-1
		t := tag{kind: kindVideo, publisher: uint32(p.index), index: index, sent: time.Now().UnixNano()}
		pkt.Payload = videoPacket(buf, t, key, size, i, n)
		p.write(p.video, pkt, kindVideo)
	}
}

func (p *publisher) write(track *webrtc.TrackLocalStaticRTP, pkt *rtp.Packet, kind int) {
	if err := track.WriteRTP(pkt); err != nil {
		p.sendErrors.Add(1)
	}
	p.sent[kind].Add(1)
}
