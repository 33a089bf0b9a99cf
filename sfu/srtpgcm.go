package sfu

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// SRTP with AEAD_AES_128_GCM (RFC 7714) for the server's direct sending.
// pion/srtp's Context does the same job for any profile, but per packet it
// parses the header it was just given, looks the SSRC up in a map and keeps
// state the forwarding path does not need; for the one profile browsers
// pick, the server seals packets itself. Other profiles use pion's Context
// (direct.go). Tests compare both byte for byte.

// Key derivation labels of RFC 3711 section 4.3.1.
const (
	labelSRTPEncryption = 0x00
	labelSRTPSalt       = 0x02
)

// gcmTagSize is the AEAD_AES_128_GCM authentication tag length.
const gcmTagSize = 16

// gcmSealer holds one session direction's SRTP encryption key and salt:
// the server's, to seal what it sends, or a peer's, to open what it
// receives. It is safe for concurrent use: the AEAD keeps no per-packet
// state.
type gcmSealer struct {
	aead cipher.AEAD
	salt [12]byte
}

func newGCMSealer(masterKey, masterSalt []byte) (*gcmSealer, error) {
	if len(masterSalt) != 12 {
		return nil, fmt.Errorf("srtp gcm: master salt of %d bytes, want 12", len(masterSalt))
	}
	key, err := deriveSessionKey(labelSRTPEncryption, masterKey, masterSalt, len(masterKey))
	if err != nil {
		return nil, err
	}
	salt, err := deriveSessionKey(labelSRTPSalt, masterKey, masterSalt, 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("srtp gcm: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("srtp gcm: %w", err)
	}
	g := &gcmSealer{aead: aead}
	copy(g.salt[:], salt)
	return g, nil
}

// deriveSessionKey is the AES-CM key derivation of RFC 3711 section 4.3.3
// with a key derivation rate of 0: the master salt, left-aligned in a block,
// has the label XORed into its eighth byte, and the key stream of AES in
// counter mode from that block is the session key.
func deriveSessionKey(label byte, masterKey, masterSalt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("srtp key derivation: %w", err)
	}
	var in [aes.BlockSize]byte
	copy(in[:], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	for i := 0; i*aes.BlockSize < n; i++ {
		binary.BigEndian.PutUint16(in[aes.BlockSize-2:], uint16(i))
		block.Encrypt(out[i*aes.BlockSize:], in[:])
	}
	return out[:n], nil
}

// seal encrypts the RTP packet in buf[:n], whose header is buf[:hl], in
// place: the payload is encrypted and the tag appended (buf needs
// gcmTagSize bytes of room). iv is the caller's scratch, so nothing escapes
// to the heap per packet.
func (g *gcmSealer) seal(buf []byte, hl, n int, ssrc, roc uint32, seq uint16, iv *[12]byte) []byte {
	g.rtpIV(iv, ssrc, roc, seq)
	out := g.aead.Seal(buf[hl:hl], iv[:], buf[hl:n], buf[:hl])
	return buf[:hl+len(out)]
}

// rtpIV sets iv to an SRTP packet's IV (RFC 7714 section 8.1):
// (0x0000 || SSRC || ROC || SEQ) XOR salt.
func (g *gcmSealer) rtpIV(iv *[12]byte, ssrc, roc uint32, seq uint16) {
	*iv = [12]byte{}
	binary.BigEndian.PutUint32(iv[2:], ssrc)
	binary.BigEndian.PutUint32(iv[6:], roc)
	binary.BigEndian.PutUint16(iv[10:], seq)
	for i := range iv {
		iv[i] ^= g.salt[i]
	}
}

// rolloverCounter tracks a sending stream's SRTP rollover counter (RFC 3711
// section 3.3.1): how often its sequence number has wrapped.
type rolloverCounter struct {
	started bool
	roc     uint32
	highest uint16
}

// forSeq returns the rollover counter of a packet with sequence number seq,
// counting a wrap when seq moves forward past 65535. A packet older than the
// highest (a retransmission) gets the counter of its own cycle.
func (c *rolloverCounter) forSeq(seq uint16) uint32 {
	if !c.started {
		c.started, c.highest = true, seq
		return 0
	}
	if d := int16(seq - c.highest); d > 0 {
		if seq < c.highest {
			c.roc++
		}
		c.highest = seq
		return c.roc
	}
	if seq > c.highest && c.roc > 0 {
		return c.roc - 1 // from before the latest wrap
	}
	return c.roc
}

// errSRTPReplay is an SRTP packet whose index was seen already, or is too
// old to tell.
var errSRTPReplay = errors.New("srtp: replayed or too old")

// open decrypts the SRTP packet pkt, whose header is pkt[:hl], into dst
// (the header copied, the payload decrypted, the tag dropped) and returns
// it; dst needs room for len(pkt) bytes. roc is the packet's rollover
// counter; iv is the caller's scratch.
func (g *gcmSealer) open(dst, pkt []byte, hl int, ssrc, roc uint32, seq uint16, iv *[12]byte) ([]byte, error) {
	if len(pkt) < hl+gcmTagSize {
		return nil, fmt.Errorf("srtp gcm: packet of %d bytes, header of %d", len(pkt), hl)
	}
	g.rtpIV(iv, ssrc, roc, seq)
	copy(dst, pkt[:hl])
	out, err := g.aead.Open(dst[hl:hl], iv[:], pkt[hl:], pkt[:hl])
	if err != nil {
		return nil, fmt.Errorf("srtp gcm: %w", err)
	}
	return dst[:hl+len(out)], nil
}

// srtpIndex is a received stream's SRTP packet index (RFC 3711 section
// 3.3.1: the rollover counter above the 16-bit sequence number) and replay
// window: the highest index authenticated, and which of the
// srtpReplayWindow before it were.
type srtpIndex struct {
	started bool
	highest uint64
	seen    uint64 // bit i: highest-i was authenticated
}

// guess returns the index of a packet with sequence number seq: the one
// closest to the highest (RFC 3711 appendix A), or ok false when the
// packet is a replay or older than the window. The first packet of a
// stream is taken to be of rollover counter 0, and a packet that would be
// closest in the cycle before it is taken to be ahead, in the first cycle,
// as pion's srtp.Context takes it: no packet can come from before the
// first.
func (x *srtpIndex) guess(seq uint16) (index uint64, ok bool) {
	if !x.started {
		return uint64(seq), true
	}
	index = extendSeq(x.highest, seq)
	if index > x.highest {
		return index, true
	}
	d := x.highest - index
	return index, d < srtpReplayWindow && x.seen&(1<<d) == 0
}

// accept notes an authenticated packet of index.
func (x *srtpIndex) accept(index uint64) {
	switch {
	case !x.started:
		x.started, x.highest, x.seen = true, index, 1
	case index > x.highest:
		if d := index - x.highest; d < srtpReplayWindow {
			x.seen = x.seen<<d | 1
		} else {
			x.seen = 1
		}
		x.highest = index
	default:
		x.seen |= 1 << (x.highest - index)
	}
}
