package client

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/dtlssrtp"
)

// Direct receiving (Options.DirectReceive).
//
// pion hands each received RTP packet through five goroutines before a
// track's reader sees it (the ICE candidate's socket reader, the DTLS/SRTP
// demultiplexer's, the SRTP session's, the track's buffer, the reader),
// with a copy and a wake-up at each. A load generator running hundreds of
// receivers on one core spends most of its time there. With direct
// receiving, once a track's first packet has come through pion, the
// session's socket reader takes that track's later packets itself: it
// decrypts them with the session's keys (learnt as in package dtlssrtp:
// the key log and the ServerHello that crosses the socket in the clear)
// and hands them to the track's accounting and Options.OnPacket. pion
// keeps ICE, DTLS, RTCP, and every packet the direct path does not take.
//
// The packets taken no longer reach pion's NACK generator, so the direct
// path asks for what is missing itself: at once when a gap opens, then
// again every nackRetry, at most nackAsks times, as libwebrtc does. A
// track's RTX stream (RFC 4588), when it has one, is taken too and
// unwrapped into the track: pion would otherwise hold the repairs until
// its reader's next packet from the track, which the direct path took.

const (
	// nackRetry is the least time between two requests for one packet.
	nackRetry = 100 * time.Millisecond
	// nackAsks is how many times a packet is asked for.
	nackAsks = 10
	// nackWindow bounds the packets remembered missing, per track; a
	// larger gap is taken as a jump, not asked for.
	nackWindow = 256
)

// directRx is one session's direct receive path.
type directRx struct {
	secrets    dtlssrtp.Secrets
	helloSeen  atomic.Bool
	log        *slog.Logger
	deliver    func(*RemoteTrack, *rtp.Packet)
	senderSSRC uint32
	pc         atomic.Pointer[webrtc.PeerConnection]

	// streams maps the SSRCs of bound tracks to them; copied on write,
	// under mu.
	mu      sync.Mutex
	streams atomic.Pointer[map[uint32]*directStream]

	// The read side, under readMu (pion reads each socket from one
	// goroutine, but a session may have more than one socket).
	readMu sync.Mutex
	ctx    *srtp.Context
	buf    []byte
	pkt    rtp.Packet
	due    []uint16

	taken atomic.Uint64
}

// directStream is a bound track and, under directRx.readMu, what its
// NACKs need.
type directStream struct {
	rt *RemoteTrack
	// rtxOf is, for a track's RTX stream, the track's own stream; pt is
	// then the track's payload type.
	rtxOf *directStream
	pt    uint8

	started bool
	highest uint16
	missing []missingPacket
}

// missingPacket is a sequence number not received, and when it was last
// asked for (Unix ns; 0: not yet).
type missingPacket struct {
	seq   uint16
	asks  int
	asked int64
}

func newDirectRx(log *slog.Logger, deliver func(*RemoteTrack, *rtp.Packet)) *directRx {
	return &directRx{log: log, deliver: deliver, senderSSRC: rand.Uint32(), buf: make([]byte, rtpBufferSize)}
}

// bind makes the socket reader take rt's packets from now on.
func (rx *directRx) bind(rt *RemoteTrack) {
	rx.update(func(m map[uint32]*directStream) {
		st := &directStream{rt: rt}
		m[rt.SSRC] = st
		if rt.track.HasRTX() {
			m[uint32(rt.track.RtxSSRC())] = &directStream{rt: rt, rtxOf: st, pt: uint8(rt.track.PayloadType())}
		}
	})
}

// unbind gives rt's packets back to pion.
func (rx *directRx) unbind(rt *RemoteTrack) {
	rx.update(func(m map[uint32]*directStream) {
		for ssrc, s := range m {
			if s.rt == rt {
				delete(m, ssrc)
			}
		}
	})
}

func (rx *directRx) update(f func(map[uint32]*directStream)) {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	m := make(map[uint32]*directStream)
	if old := rx.streams.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	f(m)
	rx.streams.Store(&m)
}

// take looks at a datagram the session's socket received, before pion: it
// notes a ServerHello, and takes the RTP of bound tracks. It reports
// whether it took the datagram (pion must not see it).
func (rx *directRx) take(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	switch {
	case b[0] >= 20 && b[0] <= 63: // DTLS (RFC 7983)
		if !rx.helloSeen.Load() && rx.secrets.ObserveDatagram(b) {
			rx.helloSeen.Store(true)
		}
		return false
	case b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223): // not RTP, or RTCP
		return false
	}
	m := rx.streams.Load()
	if m == nil {
		return false
	}
	st := (*m)[binary.BigEndian.Uint32(b[8:12])]
	if st == nil {
		return false
	}
	rx.readMu.Lock()
	defer rx.readMu.Unlock()
	if rx.ctx == nil {
		keys, err := rx.secrets.Keys()
		if err != nil {
			return false
		}
		ctx, err := srtp.CreateContext(keys.RemoteKey, keys.RemoteSalt, keys.Profile)
		if err != nil {
			rx.log.Warn("direct receiving off", "err", fmt.Errorf("srtp context: %w", err))
			rx.update(func(m map[uint32]*directStream) { clear(m) })
			return false
		}
		rx.ctx = ctx
	}
	// The packet's own header, reused: pion parses into a new one when
	// given none.
	out, err := rx.ctx.DecryptRTP(rx.buf[:0], b, &rx.pkt.Header)
	if err != nil {
		// Keys or rollover counter not what the sender uses: leave the
		// track to pion.
		rx.log.Debug("direct receiving off for a track", "ssrc", st.rt.SSRC, "err", err)
		rx.unbind(st.rt)
		return false
	}
	if err := rx.pkt.Unmarshal(out); err != nil {
		return true
	}
	if st.rtxOf != nil {
		// RTX: the original sequence number, then the original payload.
		// Padding alone (a bandwidth probe) repairs nothing.
		if len(rx.pkt.Payload) < 2 {
			return true
		}
		rx.pkt.SequenceNumber = binary.BigEndian.Uint16(rx.pkt.Payload)
		rx.pkt.Payload = rx.pkt.Payload[2:]
		rx.pkt.SSRC, rx.pkt.PayloadType = st.rt.SSRC, st.pt
		st = st.rtxOf
	}
	rx.taken.Add(1)
	rx.nack(st, rx.pkt.SequenceNumber)
	rx.deliver(st.rt, &rx.pkt)
	return true
}

// nack notes seq's arrival on st and asks the server for the packets
// missing that are due. Callers hold readMu.
func (rx *directRx) nack(st *directStream, seq uint16) {
	if !st.started {
		st.started, st.highest = true, seq
		return
	}
	switch d := int16(seq - st.highest); {
	case d > 0:
		if d > 1 && int(d) <= nackWindow {
			for q := st.highest + 1; q != seq; q++ {
				st.missing = append(st.missing, missingPacket{seq: q})
			}
			if n := len(st.missing) - nackWindow; n > 0 {
				st.missing = append(st.missing[:0], st.missing[n:]...)
			}
		}
		st.highest = seq
	case d < 0:
		for i, m := range st.missing {
			if m.seq == seq {
				st.missing = append(st.missing[:i], st.missing[i+1:]...)
				break
			}
		}
	}
	if len(st.missing) == 0 {
		return
	}
	now := time.Now().UnixNano() // only with packets missing
	rx.due = rx.due[:0]
	kept := st.missing[:0]
	for _, m := range st.missing {
		if m.asks == 0 || now-m.asked >= int64(nackRetry) {
			rx.due = append(rx.due, m.seq)
			m.asks++
			m.asked = now
		}
		if m.asks < nackAsks {
			kept = append(kept, m)
		}
	}
	st.missing = kept
	if len(rx.due) == 0 {
		return
	}
	pc := rx.pc.Load()
	if pc == nil {
		return
	}
	err := pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{
		SenderSSRC: rx.senderSSRC,
		MediaSSRC:  st.rt.SSRC,
		Nacks:      rtcp.NackPairsFromSequenceNumbers(rx.due),
	}})
	if err != nil {
		rx.log.Debug("direct receiving: NACK not sent", "ssrc", st.rt.SSRC, "err", err)
	}
}

// addrPortConn is the allocation-free read and write of a UDP socket,
// under either of its names (ice.AddrPortReaderWriter, net.UDPConn's).
type addrPortConn struct {
	read  func([]byte) (int, netip.AddrPort, error)
	write func([]byte, netip.AddrPort) (int, error)
}

// directConn is a socket whose datagrams a directRx sees before pion.
type directConn struct {
	transport.UDPConn
	rx *directRx
	addrPortConn
}

// wrap puts a socket under rx (a netwrap.Func). A socket that offers
// neither allocation-free read is left as it is, and rx never sees its
// datagrams: pion reads them all.
func (rx *directRx) wrap(conn transport.UDPConn) (transport.UDPConn, error) {
	c := &directConn{UDPConn: conn, rx: rx}
	switch u := conn.(type) {
	case interface {
		ReadFromAddrPort([]byte) (int, netip.AddrPort, error)
		WriteToAddrPort([]byte, netip.AddrPort) (int, error)
	}:
		c.read, c.write = u.ReadFromAddrPort, u.WriteToAddrPort
	case *net.UDPConn:
		c.read, c.write = u.ReadFromUDPAddrPort, u.WriteToUDPAddrPort
	default:
		rx.log.Warn("direct receiving off: socket type not supported", "type", fmt.Sprintf("%T", conn))
		return conn, nil
	}
	return c, nil
}

// ReadFromAddrPort returns the next datagram the directRx does not take.
func (c *directConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.read(b)
		if err != nil || !c.rx.take(b[:n]) {
			return n, addr, err
		}
	}
}

// WriteToAddrPort writes a datagram.
func (c *directConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.write(b, addr)
}

// ReadFrom serves callers that do not use ReadFromAddrPort.
func (c *directConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}
