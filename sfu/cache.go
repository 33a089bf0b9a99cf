package sfu

import "sync"

// cacheSize is how many recent packets of a video track are kept for
// retransmission: about 2.5 s at 1.5 Mbit/s, more than any NACK asks back.
// A power of two, so a sequence number maps to its slot with a mask.
const cacheSize = 512

// packetCache keeps the last packets a publisher sent, as received (header,
// payload and padding), for retransmission to any subscriber that NACKs them.
// Subscribers share it: forwarded packets keep the publisher's sequence
// numbers, so one copy per packet serves them all, where a per-subscriber
// cache (pion's NACK responder) copies every packet once per subscriber.
//
// One goroutine (the track's reader) adds; NACK handlers read concurrently.
type packetCache struct {
	mu    sync.RWMutex
	slots [cacheSize]cacheSlot
}

type cacheSlot struct {
	seq   uint16
	valid bool
	n     int
	buf   [maxPacketSize]byte
}

// add stores one raw packet with sequence number seq.
func (c *packetCache) add(seq uint16, raw []byte) {
	if len(raw) > maxPacketSize {
		return
	}
	c.mu.Lock()
	s := &c.slots[seq&(cacheSize-1)]
	s.seq, s.valid, s.n = seq, true, copy(s.buf[:], raw)
	c.mu.Unlock()
}

// get copies the packet with sequence number seq into dst and returns it, or
// returns nil if it is no longer (or was never) cached.
func (c *packetCache) get(seq uint16, dst []byte) []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &c.slots[seq&(cacheSize-1)]
	if !s.valid || s.seq != seq {
		return nil
	}
	return dst[:copy(dst[:cap(dst)], s.buf[:s.n])]
}
