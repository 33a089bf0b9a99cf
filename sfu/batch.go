package sfu

import (
	"errors"
	"io"
	"runtime"
	"time"

	"github.com/pion/rtp"
)

// Batched forwarding. A video encoder sends each frame as a burst of
// packets, and by the time the forwarding goroutine has fanned out the
// first packet of a burst the others are waiting. A track's forwarder
// therefore reads the publisher's packets in batches: the first as long as
// it takes, then every packet already queued for the track (never waiting
// for more), and forwards them together. It reads the track's stream queue
// (receive.go): through pion's TrackRemote until pion has handed out the
// packets it read ahead, then directly (Track.queueOnly); polling tells the
// queue's reader not to wait.
// A subscriber on the direct route gets its copies of a batch in one
// segmented send (UDP GSO, rawio_linux.go) instead of one system call per
// packet: the kernel's routing, IP and UDP output then run once for the
// whole batch.
//
// A segmented send needs every datagram but the last to be of one size.
// Packetizers split a frame about evenly (libwebrtc's packets differ by a
// byte or two), so the forwarder plans runs of packets once per batch and
// pads a run's shorter packets to its size with RTP padding (RFC 3550
// §5.1), at most maxPad bytes each, which receivers strip.

const (
	// maxBatch is the most packets forwarded together: a keyframe's burst
	// at a few Mbit/s.
	maxBatch = 32
	// maxRun is the most packets sealed and sent together.
	maxRun = maxBatch
	// maxPad is the most padding added to a packet to make a run.
	maxPad = 16
)

// inPacket is one packet read from the publisher, parsed.
type inPacket struct {
	buf [maxPacketSize]byte
	n   int
	pkt rtp.Packet
	// payload is the payload with the publisher's padding, as forwarded.
	payload []byte
	// pad is the padding added when the packet is not last in its run.
	pad int
}

// wireSize is the size of the packet as forwarded: the rewritten header
// (no extensions) and the payload with its padding.
func (p *inPacket) wireSize() int {
	return 12 + 4*len(p.pkt.CSRC) + len(p.payload)
}

// run is a stretch of a batch sent together: pkts[start:end], every one but
// the last padded to one wire size; bytes is their payload bytes before
// padding.
type run struct {
	start, end int
	bytes      int
}

// batch is packets forwarded together, and their runs. slots are the
// forwarder's packet buffers, made as batches first need them.
type batch struct {
	slots []*inPacket
	pkts  []*inPacket
	runs  []run
}

// take reads a batch of t's publisher's packets: the first waiting as long
// as it takes, then those already queued, up to maxBatch. It reports false
// when reading has ended (the track ended, or a read failed) and nothing
// was read.
func (b *batch) take(t *Track) bool {
	b.pkts, b.runs = b.pkts[:0], b.runs[:0]
	for len(b.pkts) < maxBatch {
		if len(b.slots) == len(b.pkts) {
			b.slots = append(b.slots, new(inPacket))
		}
		p := b.slots[len(b.pkts)]
		first := len(b.pkts) == 0
		if !first && t.queue == nil {
			break // no queue to poll: batches of one
		}
		if t.queue != nil {
			t.queue.poll.Store(!first)
		}
		var (
			n   int
			err error
		)
		if t.queueOnly {
			n, _, err = t.queue.read(p.buf[:], nil)
		} else {
			n, _, err = t.remote.Read(p.buf[:])
		}
		if errors.Is(err, errNoPacket) {
			// pion has handed out the packets it read ahead (see
			// queueOnly): the queue is all there is from now on.
			t.queueOnly = true
			break
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.log.Debug("track read ended", "err", err)
			}
			t.readErr = err
			break
		}
		p.n = n
		b.pkts = append(b.pkts, p)
		if first {
			// Let the goroutines that queue packets for the track (the
			// socket's reader, a pion stream's pump) bring up what has
			// already arrived.
			runtime.Gosched()
		}
	}
	return len(b.pkts) > 0
}

// plan splits b into runs and sets each packet's padding. A run grows while
// its next packet is of the run's size, or can be padded to it, or can
// become its size with every packet before it padded; a shorter packet
// that cannot be padded ends a run as its last. Packets that carry the
// publisher's padding are not padded again.
func (b *batch) plan() {
	b.runs = b.runs[:0]
	for i := 0; i < len(b.pkts); {
		size, least := b.pkts[i].wireSize(), b.pkts[i].wireSize()
		paddable := !b.pkts[i].pkt.Padding
		j := i + 1
		for ; j < len(b.pkts) && j-i < maxRun; j++ {
			p := b.pkts[j]
			w := p.wireSize()
			if w <= size {
				if w < size && (p.pkt.Padding || size-w > maxPad) {
					j++ // the last of the run, unpadded
					break
				}
				least = min(least, w)
				paddable = paddable && !p.pkt.Padding
				continue
			}
			// Longer: the run takes its size if every packet so far can be
			// padded up to it.
			if w-least > maxPad || !paddable {
				break
			}
			size = w
			paddable = paddable && !p.pkt.Padding
		}
		r := run{start: i, end: j}
		for k := i; k < j; k++ {
			p := b.pkts[k]
			p.pad = 0
			if k < j-1 {
				p.pad = size - p.wireSize()
			}
			r.bytes += len(p.payload)
		}
		b.runs = append(b.runs, r)
		i = j
	}
}

// forward reads the publisher's RTP until the track ends and fans it out in
// batches. It is run by the owning Peer, which waits for it.
func (t *Track) forward() {
	defer close(t.done)
	defer t.pool.stop()
	var b batch
	for t.readErr == nil && b.take(t) {
		now := time.Now()
		keep := b.pkts[:0]
		for _, p := range b.pkts {
			if t.admit(p, now) {
				keep = append(keep, p)
			}
		}
		b.pkts = keep
		if t.gapSeen {
			t.gapSeen = false
			t.nackNow()
		}
		if len(b.pkts) > 0 {
			b.plan()
			t.fanOut(&b)
		}
		if t.kfPending.Load() && t.keyframes.due(time.Now()) {
			t.kfPending.Store(false)
			t.sendPLI()
		}
	}
}

// admit does the bookkeeping of one packet from the publisher that arrived
// at now (counters, reception for the publisher's reports and NACKs, media
// clock, retransmission cache) and sets its payload. It reports false for a
// packet not to forward: malformed, over the publisher's cap, or the track
// paused.
func (t *Track) admit(p *inPacket, now time.Time) bool {
	if err := p.pkt.Unmarshal(p.buf[:p.n]); err != nil {
		t.log.Debug("drop malformed RTP", "err", err)
		return false
	}
	t.packets.Add(1)
	t.bytes.Add(uint64(p.n))
	if t.reception.add(p.pkt.SequenceNumber, p.pkt.Timestamp, now) && t.nack && t.nackNow != nil {
		t.gapSeen = true
	}
	t.clock.advance(p.pkt.Timestamp, now)
	if !t.budget.allow(p.n, now) {
		t.overLimit.drop(t.log, "publisher over its bitrate cap: dropping what is over it (rooms.maxPublishBitrate)")
		return false
	}
	if t.paused.Load() {
		return false
	}
	if t.cache != nil {
		t.cache.add(p.pkt.SequenceNumber, p.buf[:p.n])
	}
	// The payload handed on keeps the padding, so padding-only probes are
	// forwarded too: dropping them would leave sequence-number gaps that
	// subscribers NACK in vain.
	p.payload = p.buf[p.n-len(p.pkt.Payload)-int(p.pkt.PaddingSize) : p.n]
	return true
}
