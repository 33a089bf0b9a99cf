package load

import (
	"encoding/binary"
	"sync"
)

// arrivals remembers when the kernel delivered each recent RTP packet to a
// receiver's socket, keyed by SSRC and sequence number, which SRTP leaves in
// the clear. The receiver looks a packet up once pion has decrypted it and
// handed it over, so its latency can be measured to the moment it reached
// the machine's receiving end rather than to the moment the busy load
// process got round to it.
//
// It is a fixed table; consecutive packets of a stream take consecutive
// slots from an offset of their own, so only a backlog of thousands of
// packets, or two streams whose windows meet, overwrites an entry before it
// is read. Such a packet just goes without a socket timestamp.
type arrivals struct {
	mu    sync.Mutex
	slots []arrival // a power of two
}

// newArrivals sizes the table for a receiver of the given number of
// streams: 4096 slots for up to 8, 1024 per stream beyond (a receiver of
// many streams is a busy one, with a longer backlog), at most 65536.
func newArrivals(streams int) *arrivals {
	n := 4096
	for n < 1024*streams && n < 1<<16 {
		n *= 2
	}
	return &arrivals{slots: make([]arrival, n)}
}

type arrival struct {
	key uint64 // 1<<63 | ssrc<<16 | seq; 0 for an empty slot
	at  int64  // Unix nanoseconds
}

func (a *arrivals) key(ssrc uint32, seq uint16) (key uint64, slot int) {
	key = 1<<63 | uint64(ssrc)<<16 | uint64(seq)
	slot = int((uint32(seq) + ssrc*0x9E3779B1>>16) & uint32(len(a.slots)-1))
	return key, slot
}

// record notes the arrival at time at (Unix ns) of datagram b, if it is an
// RTP packet. DTLS, STUN and RTCP are skipped (RFC 7983, RFC 5761).
func (a *arrivals) record(b []byte, at int64) {
	if len(b) < 12 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
		return
	}
	key, slot := a.key(binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint16(b[2:4]))
	a.mu.Lock()
	a.slots[slot] = arrival{key: key, at: at}
	a.mu.Unlock()
}

// lookup returns when packet seq of stream ssrc arrived, if still known.
func (a *arrivals) lookup(ssrc uint32, seq uint16) (int64, bool) {
	key, slot := a.key(ssrc, seq)
	a.mu.Lock()
	e := a.slots[slot]
	a.mu.Unlock()
	return e.at, e.key == key
}
