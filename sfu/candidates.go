package sfu

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// MaxRemoteCandidates bounds the distinct remote ICE candidates a peer
// takes in one ICE session (one remote ufrag): those in the remote
// descriptions and those trickled. pion pairs every remote candidate with
// every local one, checks each new one against all it has (work that grows
// with the square of their number), and starts a goroutine per trickled
// candidate; 20 000 candidates made 12 000 goroutines and 28 MiB of heap in
// one peer. Browsers send a few per network interface, rarely more than 20.
//
// The bound also covers the addresses a peer's connectivity checks come
// from: pion takes each new one as a peer-reflexive candidate. On Linux,
// where the server reads its media sockets itself, a binding request from
// an address past the bound is dropped before pion sees it.
const MaxRemoteCandidates = 64

// MaxClientSections bounds the media sections of a client's own (not
// opened by the server to send it someone's media) that its offers may
// have had over the connection's life, each distinct mid counted once.
// pion keeps a transceiver for every section it has ever seen and never
// frees one, so offers with new mids each time grew a peer without end: an
// offer of 2000 audio sections (1 MiB, the largest signaling frame) took
// 155 ms to answer and kept 6.6 MiB. A client needs one per track it
// sends; the web page adds one per track it starts publishing (a screen
// share started again gets new ones), so a long meeting stays far below.
const MaxClientSections = 256

// remoteCandidates counts the distinct remote candidates of a peer's ICE
// session, as pion tells them apart (its Candidate.Equal): by transport
// address, type and related address (candidateKey). The same candidate
// counts once however it is written: browsers add "ufrag ..." to those
// they trickle and not to the copies in their descriptions. addrs holds
// the transport addresses of the candidates counted, so that a check from
// a signaled address is that candidate rather than a new peer-reflexive
// one.
type remoteCandidates struct {
	mu    sync.Mutex
	ufrag string
	seen  map[string]struct{}
	addrs map[string]struct{}
}

// candidateKey is the key under which cand, an a=candidate value or a
// trickled candidate string, is counted ("udp 192.0.2.1 5000 srflx
// 10.0.0.1 5000"), and the key of its transport address ("udp 192.0.2.1
// 5000"). Text that does not parse counts as itself.
func candidateKey(cand string) (key, addr string) {
	f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(cand), "candidate:"))
	if len(f) < 8 {
		key = strings.Join(f, " ")
		return key, key
	}
	addr = addressKey(f[2], f[4], f[5])
	key = addr + " " + strings.ToLower(f[7])
	for i := 8; i+1 < len(f); i += 2 {
		switch f[i] {
		case "raddr":
			key += " " + canonicalIP(f[i+1])
		case "rport":
			key += " " + f[i+1]
		}
	}
	return key, addr
}

// addressKey is candidateKey's form of a transport address.
func addressKey(transport, addr, port string) string {
	return strings.ToLower(transport) + " " + canonicalIP(addr) + " " + port
}

// canonicalIP writes an IP address one way (IPv4-mapped IPv6 as IPv4);
// anything else (an mDNS name) stays as it is.
func canonicalIP(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return s
}

// check reports, before a remote description is applied, whether its
// ICE ufrag and candidates would take the session past
// MaxRemoteCandidates: pion adds every candidate of every description.
func (rc *remoteCandidates) check(ufrag string, cands []string) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	if ufrag == rc.ufrag {
		n = len(rc.seen)
	}
	counted := make(map[string]bool, len(cands))
	for _, c := range cands {
		key, _ := candidateKey(c)
		if _, ok := rc.seen[key]; (ok && ufrag == rc.ufrag) || counted[key] {
			continue
		}
		counted[key] = true
		n++
	}
	if n > MaxRemoteCandidates {
		return fmt.Errorf("%w: the description would bring the ICE session to %d candidates, at most %d", ErrBadSDP, n, MaxRemoteCandidates)
	}
	return nil
}

// applied records the remote description just applied, with its ICE ufrag
// and candidates: a new ufrag (an ICE restart) starts a new count, the same
// one adds them to it.
func (rc *remoteCandidates) applied(ufrag string, cands []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen == nil || ufrag != rc.ufrag {
		rc.ufrag, rc.seen, rc.addrs = ufrag, make(map[string]struct{}, len(cands)), make(map[string]struct{}, len(cands))
	}
	for _, c := range cands {
		key, addr := candidateKey(c)
		rc.seen[key], rc.addrs[addr] = struct{}{}, struct{}{}
	}
}

// admit counts cand, trickled, and reports whether it is within
// MaxRemoteCandidates.
func (rc *remoteCandidates) admit(cand string) error {
	key, addr := candidateKey(cand)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.admitLocked(key, addr)
}

// admitAddress counts a peer-reflexive candidate at addr, a transport
// address a connectivity check came from, unless a candidate counted has
// that address, and reports whether it is within MaxRemoteCandidates.
func (rc *remoteCandidates) admitAddress(addr string) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, ok := rc.addrs[addr]; ok {
		return nil
	}
	return rc.admitLocked(addr+" prflx", addr)
}

// admitLocked counts the candidate of key at addr; rc.mu is held.
func (rc *remoteCandidates) admitLocked(key, addr string) error {
	if rc.seen == nil {
		rc.seen, rc.addrs = make(map[string]struct{}), make(map[string]struct{})
	}
	if _, ok := rc.seen[key]; ok {
		return nil
	}
	if len(rc.seen) >= MaxRemoteCandidates {
		return fmt.Errorf("%w: at most %d per ICE session", ErrTooManyCandidates, MaxRemoteCandidates)
	}
	rc.seen[key], rc.addrs[addr] = struct{}{}, struct{}{}
	return nil
}

// ufragIndex maps the local ICE ufrags of the peers to them, for the media
// sockets' reader to find whose connectivity check a datagram is.
type ufragIndex = cowMap[string, *Peer]

// stunBindingUsername returns the USERNAME attribute of pkt when pkt is a
// STUN binding request (RFC 8489: a 20-byte header with the magic cookie,
// then type-length-value attributes padded to four bytes).
func stunBindingUsername(pkt []byte) ([]byte, bool) {
	const (
		headerSize    = 20
		bindingReq    = 0x0001
		magicCookie   = 0x2112A442
		attrUsername  = 0x0006
		attrAlignment = 4
	)
	if len(pkt) < headerSize || binary.BigEndian.Uint16(pkt) != bindingReq ||
		binary.BigEndian.Uint32(pkt[4:]) != magicCookie {
		return nil, false
	}
	end := headerSize + int(binary.BigEndian.Uint16(pkt[2:]))
	if end > len(pkt) {
		return nil, false
	}
	for off := headerSize; off+4 <= end; {
		typ, n := binary.BigEndian.Uint16(pkt[off:]), int(binary.BigEndian.Uint16(pkt[off+2:]))
		off += 4
		if off+n > end {
			return nil, false
		}
		if typ == attrUsername {
			return pkt[off : off+n], true
		}
		off += (n + attrAlignment - 1) / attrAlignment * attrAlignment
	}
	return nil, false
}

// admitCheck reports whether the socket's reader should hand pkt, a
// datagram from addr, an address with no direct route, to pion: false for
// a connectivity check to a known peer from a new address past that peer's
// MaxRemoteCandidates.
func admitCheck(ix *ufragIndex, pkt []byte, addr netip.AddrPort) bool {
	user, ok := stunBindingUsername(pkt)
	if !ok {
		return true
	}
	local, _, _ := strings.Cut(string(user), ":")
	p, _ := ix.get(local)
	return p == nil || p.admitCheckFrom(addr)
}

// admitCheckFrom counts addr, where a connectivity check to p came from,
// among p's remote candidates, and reports whether it is within the bound.
// What is over it is counted with the datagrams over the control bound,
// and logged once.
func (p *Peer) admitCheckFrom(addr netip.AddrPort) bool {
	if err := p.candidates.admitAddress(addressKey("udp", addr.Addr().String(), strconv.Itoa(int(addr.Port())))); err != nil {
		p.rx.checksDropped.drop(p.log, "connectivity checks come from more addresses than the peer may have candidates; dropping those from new ones", "err", err)
		return false
	}
	return true
}

// registerUfrag maps p's local ICE ufrag, as the local description sdp
// (the answer just applied) gives it, to p for the media sockets' reader,
// replacing the one before (an ICE restart changes it).
//
// The ufrag is read from the SDP text, not from pion's ICETransport:
// ICETransport.GetLocalParameters reads the transport's gatherer without its
// lock while pion's operations queue may be starting the transport, a data
// race the race detector reports.
func (p *Peer) registerUfrag(sdp string) {
	_, rest, ok := strings.Cut(sdp, "a=ice-ufrag:")
	if !ok {
		return
	}
	ufrag, _, _ := strings.Cut(rest, "\n")
	ufrag = strings.TrimSpace(ufrag)
	if ufrag == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || ufrag == p.localUfrag {
		return
	}
	old := p.localUfrag
	p.localUfrag = ufrag
	p.owner.sockets.ufrags.edit(func(m map[string]*Peer) {
		if m[old] == p {
			delete(m, old)
		}
		m[ufrag] = p
	})
}

// unregisterUfrag removes p from the ufrag index, when it closes.
func (p *Peer) unregisterUfrag() {
	p.mu.Lock()
	ufrag := p.localUfrag
	p.mu.Unlock()
	if ufrag == "" {
		return
	}
	p.owner.sockets.ufrags.edit(func(m map[string]*Peer) {
		if m[ufrag] == p {
			delete(m, ufrag)
		}
	})
}
