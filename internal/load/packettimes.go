package load

import (
	"encoding/binary"
	"sync"
)

// packetTimes remembers when recent RTP packets crossed a client's socket,
// keyed by SSRC and sequence number, which SRTP leaves in the clear: for a
// receiver, when the kernel delivered each one (its arrival); for a
// publisher, when it was handed to the kernel (its departure). Latency is
// measured between the two, so that neither the time a packet waits for
// the busy load process to read it, nor the time a publisher's goroutine
// waits to be scheduled between making a packet and sending it, counts as
// the server's.
//
// It is a fixed table; consecutive packets of a stream take consecutive
// slots from an offset of their own, so only a backlog of thousands of
// packets, or two streams whose windows meet, overwrites an entry before it
// is read. Such a packet just goes without a time.
type packetTimes struct {
	mu    sync.Mutex
	slots []packetTime // a power of two
}

type packetTime struct {
	key uint64 // 1<<63 | ssrc<<16 | seq; 0 for an empty slot
	at  int64  // Unix nanoseconds
}

// newPacketTimes sizes a table for the given number of streams: 4096 slots
// for up to 4, 1024 per stream beyond (a receiver of many streams is a busy
// one, with a longer backlog), at most 65536.
func newPacketTimes(streams int) *packetTimes {
	n := 4096
	for n < 1024*streams && n < 1<<16 {
		n *= 2
	}
	return &packetTimes{slots: make([]packetTime, n)}
}

func (p *packetTimes) key(ssrc uint32, seq uint16) (key uint64, slot int) {
	key = 1<<63 | uint64(ssrc)<<16 | uint64(seq)
	slot = int((uint32(seq) + ssrc*0x9E3779B1>>16) & uint32(len(p.slots)-1))
	return key, slot
}

// record notes time at (Unix ns) for datagram b, if it is an RTP packet.
// DTLS, STUN and RTCP are skipped (RFC 7983, RFC 5761). A packet seen again
// (a retransmission) takes the new time.
func (p *packetTimes) record(b []byte, at int64) {
	if len(b) < 12 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
		return
	}
	key, slot := p.key(binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint16(b[2:4]))
	p.mu.Lock()
	p.slots[slot] = packetTime{key: key, at: at}
	p.mu.Unlock()
}

// lookup returns the time of packet seq of stream ssrc, if still known.
func (p *packetTimes) lookup(ssrc uint32, seq uint16) (int64, bool) {
	key, slot := p.key(ssrc, seq)
	p.mu.Lock()
	e := p.slots[slot]
	p.mu.Unlock()
	return e.at, e.key == key
}
