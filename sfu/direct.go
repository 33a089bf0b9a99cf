package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"github.com/pion/webrtc/v4"
)

// Direct sending. pion writes every outgoing RTP packet through a stack of
// layers: the interceptor chain, the SRTP session (a lock, a buffer copy),
// the DTLS/SRTP demultiplexer, the ICE connection and candidate pair, and
// the UDP mux, before the socket write. For a packet fanned out to hundreds
// of subscribers that stack costs more than the encryption. Once a
// subscriber's connection is up, its down tracks instead encrypt with their
// own SRTP context (keys from the DTLS handshake, dtlskeys.go) and write
// straight to the shared media socket, to the address ICE selected. RTCP,
// ICE and DTLS stay with pion. Until the route is known, and whenever it is
// not (ICE over another socket, keys not captured), pion's path is used.

// srtpOverhead is the most SRTP adds to an RTP packet (a 16-byte AEAD tag;
// HMAC-SHA1-80 adds 10).
const srtpOverhead = 16

// route is where a subscriber's packets go: the media socket ICE selected
// and the remote address, with the session's SRTP keys.
type route struct {
	sock *mediaSocket
	to   netip.AddrPort
	dst  sockaddr // to, as the system call wants it
	keys *srtpKeys
}

// mediaSocket is one of the UDP sockets pion's mux reads.
type mediaSocket struct {
	conn *net.UDPConn
	raw  syscall.RawConn
	log  *slog.Logger
	// noGSO is set once a segmented send failed in a way that says the
	// socket cannot segment; its datagrams then go one by one.
	noGSO atomic.Bool
	// rx are the direct receivers of the peers this socket talks to.
	rx receivers
}

const (
	// maxGSOSegment is the largest datagram sent segmented: what fits the
	// smallest IPv6 MTU (1280 less the IPv6 and UDP headers), so a
	// segmented send never fails for the path's MTU. Browsers' RTP packets
	// are at most 1200 bytes, 1216 sealed.
	maxGSOSegment = 1232
	// maxGSOSegments is the most datagrams in one segmented send (the
	// kernel's UDP_MAX_SEGMENTS is 64 before Linux 6.9).
	maxGSOSegments = 64
)

// gsoAllowed tells whether a segmented send of total bytes in seg-byte
// datagrams may be tried on the socket.
func (m *mediaSocket) gsoAllowed(seg, total int) bool {
	return gsoSupported && seg <= maxGSOSegment && (total+seg-1)/seg <= maxGSOSegments && !m.noGSO.Load()
}

// disableGSO turns segmented sends off for the socket after err.
func (m *mediaSocket) disableGSO(err error) {
	if !m.noGSO.Swap(true) && m.log != nil {
		m.log.Info("media socket cannot segment datagrams (UDP GSO); sending them one by one",
			"socket", m.conn.LocalAddr().String(), "err", err)
	}
}

// mediaSockets wraps the standard network for pion's UDP mux and keeps the
// sockets it opens, so direct sending can write to them.
type mediaSockets struct {
	transport.Net
	log   *slog.Logger
	mu    sync.Mutex
	conns []*mediaSocket
	// index finds direct receivers by SSRC for every socket (receive.go).
	index ssrcIndex
	// ufrags finds peers by local ICE ufrag for every socket
	// (candidates.go).
	ufrags ufragIndex
}

func newMediaSockets(log *slog.Logger) (*mediaSockets, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	return &mediaSockets{Net: n, log: log}, nil
}

// ListenUDP opens a socket and remembers it.
func (m *mediaSockets) ListenUDP(network string, addr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := m.Net.ListenUDP(network, addr)
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	raw, err := u.SyscallConn()
	if err != nil {
		return c, nil
	}
	sock := &mediaSocket{conn: u, raw: raw, log: m.log}
	sock.rx.index = &m.index
	sock.rx.ufrags = &m.ufrags
	m.mu.Lock()
	m.conns = append(m.conns, sock)
	m.mu.Unlock()
	return wrapMediaConn(u, raw, &sock.rx), nil
}

// forget unmaps every address of r on every socket: when its peer loses
// its route or leaves.
func (m *mediaSockets) forget(r *directReceiver) {
	m.mu.Lock()
	conns := append([]*mediaSocket(nil), m.conns...)
	m.mu.Unlock()
	for _, c := range conns {
		c.rx.forget(r)
	}
}

// socketFor finds the media socket a local ICE candidate stands for: the one
// bound to its address and port, or, when the address was rewritten (1:1
// NAT), the only socket of that family on that port.
func (m *mediaSockets) socketFor(local netip.AddrPort) *mediaSocket {
	m.mu.Lock()
	defer m.mu.Unlock()
	var byPort *mediaSocket
	n := 0
	for _, c := range m.conns {
		la, ok := c.conn.LocalAddr().(*net.UDPAddr)
		if !ok {
			continue
		}
		ap := la.AddrPort()
		if ap.Addr().Unmap() == local.Addr().Unmap() && ap.Port() == local.Port() {
			return c
		}
		if ap.Port() == local.Port() && ap.Addr().Unmap().Is4() == local.Addr().Unmap().Is4() {
			byPort = c
			n++
		}
	}
	if n == 1 {
		return byPort
	}
	return nil
}

// writeEach sends buf to r's destination as datagrams of seg bytes, the
// last possibly shorter, one system call each. It stops at the first
// error.
func (w *datagramWriter) writeEach(r *route, buf []byte, seg int) error {
	for off := 0; off < len(buf); off += seg {
		if err := w.writeTo(r, buf[off:min(off+seg, len(buf))]); err != nil {
			return err
		}
	}
	return nil
}

// candidateAddr is an ICE candidate's transport address.
func candidateAddr(c *webrtc.ICECandidate) (netip.AddrPort, bool) {
	if c == nil || c.Protocol != webrtc.ICEProtocolUDP {
		return netip.AddrPort{}, false
	}
	ip, err := netip.ParseAddr(c.Address)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), c.Port), true
}

// updateRoute works out the peer's direct route from the connection state,
// the selected candidate pair and the captured keys, and maps the route's
// address to the peer's direct receiver. It runs on pion's callbacks,
// serialized by routeMu.
func (p *Peer) updateRoute() {
	if !p.owner.direct {
		return
	}
	p.routeMu.Lock()
	defer p.routeMu.Unlock()
	r, keep := p.findRoute()
	if keep {
		return
	}
	p.route.Store(r)
	if r == nil {
		p.owner.sockets.forget(p.rx)
		return
	}
	if err := p.rx.start(r.keys); err != nil {
		p.log.Warn("direct receiving off", "err", err)
		p.owner.sockets.forget(p.rx)
		return
	}
	r.sock.rx.add(r.to, p.rx)
}

// findRoute returns the route the peer should have now, or keep when the
// current one stands.
func (p *Peer) findRoute() (r *route, keep bool) {
	switch p.pc.ConnectionState() {
	case webrtc.PeerConnectionStateConnected:
	case webrtc.PeerConnectionStateDisconnected:
		return nil, true // ICE may come back on the same pair; keep the route
	default:
		return nil, false
	}
	keys, err := p.secrets.serverKeys()
	if err != nil {
		p.log.Debug("direct sending off", "err", err)
		return nil, false
	}
	pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return nil, true
	}
	local, ok1 := candidateAddr(pair.Local)
	remote, ok2 := candidateAddr(pair.Remote)
	if !ok1 || !ok2 {
		return nil, false
	}
	sock := p.owner.sockets.socketFor(local)
	if sock == nil {
		p.log.Debug("direct sending off: no media socket for the local candidate", "local", local)
		return nil, false
	}
	if cur := p.route.Load(); cur != nil && cur.sock == sock && cur.to == remote {
		return nil, true
	}
	p.log.Debug("direct sending on", "via", local, "to", remote, "profile", keys.profile.String())
	return &route{sock: sock, to: remote, dst: newSockaddr(remote), keys: keys}, false
}

// directSender is one down track's SRTP state for direct sending. The
// forwarding goroutine and the retransmissions (the subscriber's RTCP
// goroutine) share it; mu covers encryption only, never the socket write.
type directSender struct {
	mu   sync.Mutex
	keys *srtpKeys // the session the state belongs to
	// AEAD_AES_128_GCM: the rollover counter and IV scratch.
	roc rolloverCounter
	iv  [12]byte
	// Other profiles: pion's context, with scratch for its header parsing.
	ctx *srtp.Context
	hdr rtp.Header
}

// use makes keys the session s seals with, starting its SRTP state afresh
// when they change. The caller holds s.mu.
func (s *directSender) use(keys *srtpKeys) error {
	if s.keys == keys {
		return nil
	}
	s.keys, s.roc, s.ctx = keys, rolloverCounter{}, nil
	if keys.gcm == nil {
		ctx, err := keys.newContext()
		if err != nil {
			return err
		}
		s.ctx = ctx
	}
	return nil
}

// seal writes hdr and payload, with pad bytes of RTP padding after it (the
// P bit then set), into buf as an SRTP packet with keys and returns it.
// buf needs room for the packet and srtpOverhead.
func (s *directSender) seal(keys *srtpKeys, hdr *rtp.Header, payload []byte, pad int, buf []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.use(keys); err != nil {
		return nil, err
	}
	return s.sealLocked(hdr, payload, pad, buf)
}

// sealLocked is seal with the keys in use; the caller holds s.mu.
func (s *directSender) sealLocked(hdr *rtp.Header, payload []byte, pad int, buf []byte) ([]byte, error) {
	if pad > 0 {
		hdr.Padding = true
	}
	n, err := hdr.MarshalTo(buf)
	if err != nil {
		return nil, fmt.Errorf("marshal RTP header: %w", err)
	}
	if n+len(payload)+pad+srtpOverhead > len(buf) {
		return nil, errPacketTooLarge
	}
	hl := n
	n += copy(buf[n:], payload)
	if pad > 0 {
		// RFC 3550 §5.1: the last padding byte counts the padding.
		clear(buf[n : n+pad-1])
		buf[n+pad-1] = byte(pad)
		n += pad
	}
	if gcm := s.keys.gcm; gcm != nil {
		roc := s.roc.forSeq(hdr.SequenceNumber)
		return gcm.seal(buf, hl, n, hdr.SSRC, roc, hdr.SequenceNumber, &s.iv), nil
	}
	out, err := s.ctx.EncryptRTP(buf[:n], buf[:n], &s.hdr)
	if err != nil {
		return nil, fmt.Errorf("srtp encrypt: %w", err)
	}
	return out, nil
}

// send seals one packet for r in e's run buffer and writes it to the socket
// with e's writer. It returns false when the packet was not sent.
func (s *directSender) send(r *route, hdr *rtp.Header, payload []byte, e *egress) bool {
	pkt, err := s.seal(r.keys, hdr, payload, 0, e.runBuffer(1))
	if err != nil {
		return false
	}
	return e.w.writeTo(r, pkt) == nil
}

// sendRun seals one run of a batch (batch.go) for r, with b's SSRC and
// payload type, end to end in e's run buffer, and writes it in one
// segmented send. Every packet but the last is padded to the run's size,
// so every sealed packet but the last has one length. The lock is taken
// once for the run and released before the write. It returns false when
// the run was not sent.
func (s *directSender) sendRun(r *route, b *binding, pkts []*inPacket, e *egress) bool {
	buf := e.runBuffer(len(pkts))
	off, seg := 0, 0
	s.mu.Lock()
	err := s.use(r.keys)
	for i, p := range pkts {
		if err != nil {
			break
		}
		pad := p.pad
		if i == len(pkts)-1 {
			pad = 0
		}
		var out []byte
		out, err = s.sealLocked(e.rewrite(b, &p.pkt.Header), p.payload, pad, buf[off:])
		if i == 0 {
			seg = len(out)
		}
		off += len(out)
	}
	s.mu.Unlock()
	if err != nil {
		return false
	}
	return e.w.writeSegments(r, buf[:off], seg) == nil
}
