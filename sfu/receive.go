package sfu

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"

	"github.com/confab/confab/internal/tokenbucket"
)

// Direct receiving. pion hands a publisher's packet through five
// goroutines before a track's reader sees it: the UDP mux's reader, the ICE
// candidate's, the DTLS/SRTP demultiplexer's, the SRTP session's and the
// track's, each a buffer copy and a wake-up. Once a peer's keys and address
// are known (the same moment direct sending starts), the socket's reader
// decrypts the peer's RTP itself and queues it for the track: one hand-off
// instead of five.
//
// A directReceiver is the innermost (and only) interceptor of the peer's
// chain, and the reader it gives each remote stream returns packets from
// either path. Packets pion still carries (before the route is known, for
// streams the server has not bound, or after a fallback) are moved into the
// same queue by a pump goroutine per stream.
//
// RTCP, STUN and DTLS stay on pion's path, and so does any RTP the direct
// path cannot place or decrypt.
//
// The receive-side RTCP is the server's own (reception.go, rtcploop.go).
// For transport-cc feedback, pion's interceptor hands every packet over a
// channel to a goroutine of its own, one more wake-up per packet; the
// receiver instead records the packet's transport-wide sequence number
// where it takes it (with pion's twcc.Recorder), and the server's RTCP loop
// sends the feedback every rtcpInterval.

const (
	// rxQueueVideo and rxQueueAudio are the packets a remote stream's
	// queue holds: room for a keyframe's burst while the track's reader is
	// busy.
	rxQueueVideo = 128
	rxQueueAudio = 32
	// rxFallbackFailures is how many packets of a stream may fail to
	// decrypt, before any has succeeded, until the stream goes back to
	// pion's path (whose SRTP state, started earlier, may know the stream's
	// rollover count when ours does not).
	rxFallbackFailures = 8
	// srtpReplayWindow is the replay window of the direct receive context,
	// pion's default for its sessions.
	srtpReplayWindow = 64
	// controlRate bounds the datagrams other than RTP (RTCP, STUN, DTLS) a
	// peer with a direct route may send per second, and at once, plus
	// controlPerStream for each stream it publishes or receives. A browser
	// sends transport-cc feedback every 50-100 ms, an ICE check every few
	// seconds, a report per stream a second, and NACKs per stream on loss,
	// repeated until filled: tens a second in a small room, a few hundred
	// in a room of a hundred. Each costs the server more than the sender:
	// pion hands a compound RTCP packet to every stream any of its parts
	// names, each unmarshalling it again, and answers every valid ICE check
	// through its agent. Past the bound the socket's reader drops them
	// before pion sees them.
	controlRate      = 1000
	controlPerStream = 20
)

// rxPacket is one decrypted RTP packet waiting in a stream's queue.
type rxPacket struct {
	buf [maxPacketSize]byte
	n   int
}

// rxStream is the queue of one remote stream (one SSRC), fed by the socket
// reader (direct) and by the stream's pump (pion), and read by the track's
// forwarder (through TrackRemote at first, then directly). full is closed
// when the pump has ended and no direct packet can follow.
type rxStream struct {
	ssrc uint32
	full chan *rxPacket
	free chan *rxPacket
	// poll, set by the track's forwarder, makes read return errNoPacket
	// instead of waiting when the queue is empty.
	poll atomic.Bool
	// twccID is the transport-wide sequence number's header extension id,
	// 0 when not negotiated.
	twccID uint8

	// Under directReceiver.mu:
	closed   bool      // full is closed or about to be
	viaPion  bool      // decryption failed; pion carries the stream
	received bool      // a packet was decrypted directly
	index    srtpIndex // SRTP index and replay window (AEAD_AES_128_GCM)
	failures int       // packets that failed to decrypt before the first success
}

func newRxStream(ssrc uint32, size int) *rxStream {
	s := &rxStream{ssrc: ssrc, full: make(chan *rxPacket, size), free: make(chan *rxPacket, size)}
	for range size {
		s.free <- new(rxPacket)
	}
	return s
}

// errNoPacket is what a polling read finds in an empty queue. TrackRemote
// passes errors up untouched.
var errNoPacket = errors.New("sfu: no packet queued")

// read is the innermost RTPReader of the stream's interceptor chain.
func (s *rxStream) read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	var (
		p  *rxPacket
		ok bool
	)
	if s.poll.Load() {
		select {
		case p, ok = <-s.full:
		default:
			return 0, a, errNoPacket
		}
	} else {
		p, ok = <-s.full
	}
	if !ok {
		return 0, a, io.EOF
	}
	defer func() { s.free <- p }()
	if len(b) < p.n {
		return 0, a, io.ErrShortBuffer
	}
	return copy(b, p.buf[:p.n]), a, nil
}

// directReceiver is one peer's direct receive path and the innermost
// interceptor of its chain.
type directReceiver struct {
	interceptor.NoOp
	log *slog.Logger

	mu      sync.Mutex
	streams map[uint32]*rxStream
	// gcm opens the peer's packets when the profile is AEAD_AES_128_GCM,
	// ctx (pion's) for the others; both nil until the keys are known.
	gcm *gcmSealer
	ctx *srtp.Context
	// hdr and iv are scratch for decryption.
	hdr rtp.Header
	iv  [12]byte

	// closing ends the pumps' waits for a free slot; wg joins them.
	// closed (under mu) is set when closing is closed, after which no
	// stream is bound.
	closing chan struct{}
	closed  bool
	wg      sync.WaitGroup

	// index, when not nil, finds r by its streams' SSRCs.
	index *ssrcIndex

	// ssrc is the sender SSRC of the server's RTCP to the peer; feedback
	// records the transport-wide sequence numbers for the transport-cc
	// feedback the server's RTCP loop sends.
	ssrc     uint32
	feedback *twcc.Recorder // under fbMu
	fbMu     sync.Mutex
	epoch    time.Time

	// control is the bucket of the bound on what is not RTP, under mu;
	// subscribed is the number of streams the peer receives (its bound
	// grows with them and with its own streams); clock, when set, reads the
	// time instead of time.Now (tests stop it).
	control    tokenbucket.Bucket
	subscribed atomic.Int64
	clock      func() time.Time

	// received counts packets decrypted directly; dropped, packets dropped
	// because their stream's queue was full; failed, packets that did not
	// decrypt (forged, replayed, or of an unknown rollover count);
	// controlDropped, datagrams other than RTP dropped over the bound;
	// checksDropped, connectivity checks from addresses past the peer's
	// candidates (candidates.go).
	received, dropped, failed     atomic.Uint64
	controlDropped, checksDropped dropCount

	// unbound are the SSRCs of no bound stream that RTP from the peer came
	// on and that went to pion over the connection's life, under mu, at
	// most maxUnbound; rtcpAbout, the same for the SSRCs its RTCP is about
	// (see admitRTCP), which opens it with rtcpCtx into rtcpBuf; own, the
	// SSRCs the server sends the peer on; unboundDropped counts the
	// packets dropped past those.
	unbound        ssrcSet
	rtcpAbout      ssrcSet
	own            map[uint32]struct{}
	rtcpCtx        *srtp.Context
	rtcpBuf        []byte
	unboundDropped dropCount
}

func newDirectReceiver(log *slog.Logger, index *ssrcIndex) *directReceiver {
	ssrc := randomSSRC()
	now := time.Now()
	return &directReceiver{
		log: log, index: index, streams: make(map[uint32]*rxStream), closing: make(chan struct{}),
		ssrc: ssrc, feedback: twcc.NewRecorder(ssrc), epoch: now,
		control: tokenbucket.New(controlRate, controlRate, now),
	}
}

// stream returns the queue of the remote stream ssrc, or nil.
func (r *directReceiver) stream(ssrc uint32) *rxStream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[ssrc]
}

// BindRemoteStream gives a remote stream its queue and pump, and returns the
// reader the rest of the chain reads it through.
func (r *directReceiver) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	size := rxQueueVideo
	if strings.HasPrefix(strings.ToLower(info.MimeType), "audio/") {
		size = rxQueueAudio
	}
	s := newRxStream(info.SSRC, size)
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 256 {
			s.twccID = uint8(e.ID)
		}
	}
	r.mu.Lock()
	if r.closed {
		// pion binds streams from goroutines the connection's Close does
		// not wait for (its operations queue, undeclared SSRCs); one that
		// comes after close gets no pump, which close could not join.
		r.mu.Unlock()
		return reader
	}
	r.streams[info.SSRC] = s
	r.wg.Add(1)
	if r.index != nil {
		r.index.edit(func(m map[uint32]*directReceiver) { m[info.SSRC] = r })
	}
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		r.pump(s, reader)
	}()
	return interceptor.RTPReaderFunc(s.read)
}

// record notes the arrival of a packet with header h for the transport-cc
// feedback.
func (r *directReceiver) record(s *rxStream, h *rtp.Header) {
	if s.twccID == 0 {
		return
	}
	ext := h.GetExtension(s.twccID)
	if len(ext) < 2 {
		return
	}
	at := time.Since(r.epoch).Microseconds()
	r.fbMu.Lock()
	r.feedback.Record(s.ssrc, binary.BigEndian.Uint16(ext), at)
	r.fbMu.Unlock()
}

// transportFeedback appends the transport-cc feedback of what arrived since
// the last call to pkts.
func (r *directReceiver) transportFeedback(pkts []rtcp.Packet) []rtcp.Packet {
	r.fbMu.Lock()
	defer r.fbMu.Unlock()
	return append(pkts, r.feedback.BuildFeedbackPacket()...)
}

// randomSSRC is a random sender SSRC for the server's RTCP, none of not.
func randomSSRC(not ...uint32) uint32 {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		if ssrc := binary.BigEndian.Uint32(b[:]); !slices.Contains(not, ssrc) {
			return ssrc
		}
	}
}

// pump moves the packets pion delivers for s into its queue until pion's
// stream ends (its track stops or the connection closes), then closes the
// queue.
func (r *directReceiver) pump(s *rxStream, pion interceptor.RTPReader) {
	defer func() {
		r.mu.Lock()
		if r.streams[s.ssrc] == s {
			delete(r.streams, s.ssrc)
			// The index is edited under r.mu (as BindRemoteStream does),
			// so a stream bound again for the same SSRC keeps its entry.
			if r.index != nil {
				r.index.edit(func(m map[uint32]*directReceiver) {
					if m[s.ssrc] == r {
						delete(m, s.ssrc)
					}
				})
			}
		}
		s.closed = true
		r.mu.Unlock()
		close(s.full)
	}()
	// The pump reads into a buffer of its own, so that while it waits for
	// pion it holds none of the queue's slots.
	var (
		buf [maxPacketSize]byte
		hdr rtp.Header
	)
	for {
		n, _, err := pion.Read(buf[:], nil)
		if err != nil {
			return
		}
		if _, err := hdr.Unmarshal(buf[:n]); err == nil {
			r.record(s, &hdr)
		}
		var p *rxPacket
		select {
		case p = <-s.free:
		case <-r.closing:
			return
		}
		p.n = copy(p.buf[:], buf[:n])
		s.full <- p
	}
}

// start gives r the keys it decrypts with. Calls after the first change
// nothing: one DTLS session has one set of keys.
func (r *directReceiver) start(keys *srtpKeys) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx != nil || r.gcm != nil {
		return nil
	}
	rtcpCtx, err := srtp.CreateContext(keys.recvKey, keys.recvSalt, keys.profile)
	if err != nil {
		return fmt.Errorf("srtcp receive context: %w", err)
	}
	r.rtcpCtx = rtcpCtx
	if keys.gcm != nil {
		g, err := newGCMSealer(keys.recvKey, keys.recvSalt)
		if err != nil {
			return fmt.Errorf("srtp receive keys: %w", err)
		}
		r.gcm = g
		return nil
	}
	ctx, err := srtp.CreateContext(keys.recvKey, keys.recvSalt, keys.profile,
		srtp.SRTPReplayProtection(srtpReplayWindow))
	if err != nil {
		return fmt.Errorf("srtp receive context: %w", err)
	}
	r.ctx = ctx
	return nil
}

// receive takes pkt, a datagram from the peer's address, when it is RTP of
// a bound stream: it decrypts it into the stream's queue, or drops it. It
// reports false for what pion should have (RTCP, STUN and DTLS within the
// rate bound, unknown streams, streams that fell back).
//
// With learning set, the datagram comes from an address not (yet) known
// to be the peer's: it is taken only if it decrypts, and otherwise left to
// pion without counting against the stream.
func (r *directReceiver) receive(pkt []byte, learning bool) bool {
	ssrc, ok := rtpSSRC(pkt)
	if !ok {
		return !learning && !r.admitControl(pkt)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.streams[ssrc]
	if s == nil {
		if learning || r.admitUnbound(ssrc) {
			return false
		}
		r.dropUnbound()
		return true
	}
	if s.closed || s.viaPion || (r.ctx == nil && r.gcm == nil) {
		return false
	}
	var p *rxPacket
	select {
	case p = <-s.free:
	default:
		if learning {
			return false
		}
		r.dropped.Add(1)
		return true
	}
	out, err := r.decrypt(s, p.buf[:], pkt)
	if err != nil {
		s.free <- p
		if learning {
			return false
		}
		r.failed.Add(1)
		if !s.received {
			s.failures++
			if s.failures >= rxFallbackFailures {
				s.viaPion = true
				r.log.Info("direct receiving off for a stream: it does not decrypt", "ssrc", ssrc, "err", err)
			}
		}
		return true
	}
	s.received = true
	r.record(s, &r.hdr)
	p.n = len(out)
	s.full <- p // never blocks: full has room for every slot
	r.received.Add(1)
	return true
}

// maxUnbound bounds the SSRCs a peer's RTP may come on, over its
// connection's life, that no bound stream has (and, apart, those its RTCP
// may be about that are neither its streams' nor the server's). pion opens an
// SRTP read stream for each new SSRC that decrypts, probes the first 25
// for a simulcast layer or an undeclared track (for which it then makes a
// transceiver), and keeps every one, with up to 256 KiB of buffered packets
// (streamBufferLimit; pion's default is 1 MB), until the connection
// closes: a client sending three packets on each of 20 000 SSRCs grew the
// server's heap by 108 MiB for good. Browsers
// declare their SSRCs, except simulcast layers named by rid (one per
// layer and its RTX, six for a three-layer track), and pion binds the
// declared ones before their first packet.
const maxUnbound = 64

// ssrcSet holds at most maxUnbound SSRCs.
type ssrcSet map[uint32]struct{}

// admit reports whether ssrc is in the set, adding it if there is room.
func (set *ssrcSet) admit(ssrc uint32) bool {
	if _, ok := (*set)[ssrc]; ok {
		return true
	}
	if len(*set) >= maxUnbound {
		return false
	}
	if *set == nil {
		*set = make(ssrcSet)
	}
	(*set)[ssrc] = struct{}{}
	return true
}

// admitUnbound reports whether RTP on ssrc, which no bound stream has, may
// go to pion: an SSRC that went before, or a new one within maxUnbound.
// SSRCs a description declares get no pass: pion binds those of sending
// sections before their first packet, and opens a stream it keeps (with up
// to streamBufferLimit of packets) for RTP on any other, declared or not.
// The caller holds r.mu.
func (r *directReceiver) admitUnbound(ssrc uint32) bool { return r.unbound.admit(ssrc) }

// addOwn adds the SSRCs the server sends the peer on to those the peer's
// RTCP may be about freely.
func (r *directReceiver) addOwn(ssrcs ...uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.own == nil {
		r.own = make(map[uint32]struct{})
	}
	for _, s := range ssrcs {
		if s != 0 {
			r.own[s] = struct{}{}
		}
	}
}

// admitRTCP reports whether pkt, an SRTCP packet from the peer, may go to
// pion. pion's SRTCP session opens a read stream for every SSRC a packet
// of the compound is about (its destination SSRCs: report blocks, the
// media SSRC of feedback, a sender report's sender) and keeps those it
// cannot place until the connection closes: 1000 receiver reports of 31
// made-up report blocks each grew the server's heap by 81 MiB. So the
// compound is decrypted and parsed here, with pion's own parser, and
// passes when each SSRC it is about is the peer's (a bound stream), the
// server's towards it (addOwn), or within maxUnbound others over the
// connection's life. What does not decrypt or parse goes to pion, which
// refuses it before making any stream.
// The caller holds r.mu.
func (r *directReceiver) admitRTCP(pkt []byte) bool {
	if r.rtcpCtx == nil {
		return true // before the keys: pion's path, as everything then
	}
	out, err := r.rtcpCtx.DecryptRTCP(r.rtcpBuf[:0], pkt, nil)
	if err != nil {
		return true
	}
	r.rtcpBuf = out[:0]
	pkts, err := rtcp.Unmarshal(out)
	if err != nil {
		return true
	}
	for _, p := range pkts {
		for _, ssrc := range p.DestinationSSRC() {
			if _, ok := r.own[ssrc]; ok || r.streams[ssrc] != nil || ssrc == r.ssrc {
				continue
			}
			if !r.rtcpAbout.admit(ssrc) {
				return false
			}
		}
	}
	return true
}

// dropUnbound counts a packet dropped for its unknown SSRC, and logs the
// first.
func (r *directReceiver) dropUnbound() {
	r.unboundDropped.drop(r.log, "peer sends RTP or RTCP on more SSRCs than it has streams; dropping those on new ones", "bound", maxUnbound)
}

// isRTCP tells RTCP from the rest of what is not RTP on the socket (RFC
// 5761 §4: version 2, packet type 192–223).
func isRTCP(pkt []byte) bool {
	return len(pkt) >= 8 && pkt[0]&0xc0 == 0x80 && pkt[1] >= 192 && pkt[1] <= 223
}

// decrypt decrypts pkt, a packet of s, into dst and leaves its header in
// r.hdr; the caller holds r.mu.
func (r *directReceiver) decrypt(s *rxStream, dst, pkt []byte) ([]byte, error) {
	if r.gcm == nil {
		return r.ctx.DecryptRTP(dst[:0], pkt, &r.hdr)
	}
	if len(pkt) > len(dst) {
		return nil, fmt.Errorf("srtp: packet of %d bytes", len(pkt))
	}
	hl, err := r.hdr.Unmarshal(pkt)
	if err != nil {
		return nil, fmt.Errorf("rtp header: %w", err)
	}
	index, ok := s.index.guess(r.hdr.SequenceNumber)
	if !ok {
		return nil, errSRTPReplay
	}
	out, err := r.gcm.open(dst, pkt, hl, r.hdr.SSRC, uint32(index>>16), r.hdr.SequenceNumber, &r.iv)
	if err != nil {
		return nil, err
	}
	s.index.accept(index)
	return out, nil
}

// rtpSSRC returns the SSRC of an RTP packet, and false for anything else
// on the socket: STUN, DTLS, RTCP (RFC 5761 §4), runts.
func rtpSSRC(pkt []byte) (uint32, bool) {
	if len(pkt) < 12 || pkt[0]&0xc0 != 0x80 {
		return 0, false
	}
	if pt := pkt[1] & 0x7f; pt >= 64 && pt <= 95 {
		return 0, false
	}
	return binary.BigEndian.Uint32(pkt[8:12]), true
}

// controlBound is the peer's bound on what is not RTP, per second and at
// once: controlRate, and controlPerStream for each stream it publishes
// (bound in r) or receives. The caller holds r.mu, or reads an estimate.
func (r *directReceiver) controlBound() float64 {
	return controlRate + controlPerStream*float64(len(r.streams)+int(r.subscribed.Load()))
}

// admitControl reports whether pkt, a datagram other than RTP from the
// peer's address, may go to pion: within the peer's bound on what is not
// RTP, and, for RTCP, about SSRCs it may be about (admitRTCP). What it
// refuses is counted and dropped.
func (r *directReceiver) admitControl(pkt []byte) bool {
	now := time.Now()
	if r.clock != nil {
		now = r.clock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	bound := r.controlBound()
	r.control.Rate, r.control.Burst = bound, bound
	if !r.control.Take(1, now) {
		r.controlDropped.drop(r.log, "peer sends RTCP, STUN or DTLS faster than the bound; dropping what is over it", "perSecond", bound)
		return false
	}
	if isRTCP(pkt) && !r.admitRTCP(pkt) {
		r.dropUnbound()
		return false
	}
	return true
}

// close ends the pumps' waits and joins them; pion's streams must be closed
// first (the peer connection closed), which ends their reads.
func (r *directReceiver) close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.closing)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// receiverFactory builds a peer's chain around its own directReceiver.
type receiverFactory struct{ r *directReceiver }

func (f receiverFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.r, nil }

// receivers maps the remote addresses of peers with a direct route to their
// receivers; the socket's reader consults it for every datagram. ICE lets a
// peer send on any of its valid candidate pairs, not only the selected one
// (Chromium does, with a host address of its own): RTP from an address
// not in the map is tried on the receiver whose stream has its SSRC
// (index), and if it decrypts, its address is added to the map. A peer's
// addresses stay until it loses its route or leaves (forget).
//
// Connectivity checks from addresses with no route go through the ufrag
// index, which bounds the addresses a peer's checks may come from
// (MaxRemoteCandidates).
type receivers struct {
	addrs  cowMap[netip.AddrPort, *directReceiver]
	index  *ssrcIndex
	ufrags *ufragIndex
}

// lookup finds the receiver of datagrams from addr.
func (rs *receivers) lookup(addr netip.AddrPort) *directReceiver {
	r, _ := rs.addrs.get(addr)
	return r
}

// add maps addr to r.
func (rs *receivers) add(addr netip.AddrPort, r *directReceiver) {
	rs.addrs.edit(func(m map[netip.AddrPort]*directReceiver) { m[addr] = r })
}

// take hands a datagram read from addr to its peer's direct receiver and
// reports whether it was taken.
func (rs *receivers) take(pkt []byte, addr netip.AddrPort) bool {
	if r := rs.lookup(addr); r != nil {
		return r.receive(pkt, false)
	}
	ssrc, ok := rtpSSRC(pkt)
	if !ok {
		return rs.ufrags != nil && !admitCheck(rs.ufrags, pkt, addr)
	}
	if rs.index == nil {
		return false
	}
	r, _ := rs.index.get(ssrc)
	if r == nil || !r.receive(pkt, true) {
		return false
	}
	rs.add(addr, r)
	r.log.Debug("direct receiving from another address of the peer", "from", addr)
	return true
}

// forget unmaps every address that maps to r.
func (rs *receivers) forget(r *directReceiver) {
	rs.addrs.edit(func(m map[netip.AddrPort]*directReceiver) {
		for k, v := range m {
			if v == r {
				delete(m, k)
			}
		}
	})
}

// ssrcIndex maps the SSRCs of the streams bound by peers with direct
// receiving to their receivers. Publishers pick their SSRCs; should two
// pick the same, the later one is indexed, and the other's packets from
// unknown addresses go to pion (they do not decrypt with the wrong keys).
type ssrcIndex = cowMap[uint32, *directReceiver]

// cowMap is a map read without a lock, for lookups per packet, and copied
// on every change, for changes per join or leave.
type cowMap[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

// get looks k up.
func (c *cowMap[K, V]) get(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// edit applies f to a copy of the map and makes the copy current.
func (c *cowMap[K, V]) edit(f func(map[K]V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[K]V)
	if cur := c.m.Load(); cur != nil {
		maps.Copy(next, *cur)
	}
	f(next)
	c.m.Store(&next)
}
