package sfu

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/dtlssrtp"
)

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// listenLoopback opens a UDP socket on ip (a loopback address) for network,
// closed when the test ends; it skips the test if the machine has no such
// loopback.
func listenLoopback(tb testing.TB, network, ip string) *net.UDPConn {
	tb.Helper()
	u, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		tb.Skipf("no %s loopback: %v", network, err)
	}
	tb.Cleanup(func() { _ = u.Close() })
	return u
}

// readDatagram reads one datagram from u into buf, waiting at most 5 s,
// and fails the test if none comes. It returns the datagram and its
// source.
func readDatagram(tb testing.TB, u *net.UDPConn, buf []byte) ([]byte, netip.AddrPort) {
	tb.Helper()
	_ = u.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := u.ReadFromUDPAddrPort(buf)
	if err != nil {
		tb.Fatalf("read a datagram on %v: %v", u.LocalAddr(), err)
	}
	return buf[:n], from
}

// mediaSocketOf is u as the direct path holds it.
func mediaSocketOf(tb testing.TB, u *net.UDPConn) *mediaSocket {
	tb.Helper()
	raw, err := u.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	return &mediaSocket{conn: u, raw: raw}
}

// randomKeys makes SRTP keys of profile for direct sending, with the GCM
// sealer where the profile is AES-GCM.
func randomKeys(t testing.TB, profile srtp.ProtectionProfile) *srtpKeys {
	t.Helper()
	keyLen, _ := profile.KeyLen()
	saltLen, _ := profile.SaltLen()
	keys := &srtpKeys{profile: profile, key: randomBytes(t, keyLen), salt: randomBytes(t, saltLen)}
	if profile == srtp.ProtectionProfileAeadAes128Gcm {
		g, err := newGCMSealer(keys.key, keys.salt)
		if err != nil {
			t.Fatal(err)
		}
		keys.gcm = g
	}
	return keys
}

// drain reads and drops u's datagrams until u is closed.
func drain(u *net.UDPConn) {
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := u.Read(buf); err != nil {
				return
			}
		}
	}()
}

// TestGCMSealerMatchesPion: our AEAD_AES_128_GCM sealing and rollover
// counting give the same bytes as pion's srtp.Context, across a sequence
// number wrap and with retransmissions from either side of it.
func TestGCMSealerMatchesPion(t *testing.T) {
	key, salt := randomBytes(t, 16), randomBytes(t, 12)
	g, err := newGCMSealer(key, salt)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	var roc rolloverCounter
	var iv [12]byte
	buf := make([]byte, maxPacketSize+srtpOverhead)
	for i, seq := range []uint16{65530, 65531, 65533, 65532, 65535, 0, 1, 65534, 3, 2, 40000, 7} {
		hdr := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i) * 3000, SSRC: 0xdecafbad, Marker: i%3 == 0}
		payload := randomBytes(t, 50+i*97)
		plain, err := (&rtp.Packet{Header: hdr, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.EncryptRTP(nil, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		hl, _ := hdr.MarshalTo(buf)
		n := hl + copy(buf[hl:], payload)
		got := g.seal(buf, hl, n, hdr.SSRC, roc.forSeq(seq), seq, &iv)
		if !bytes.Equal(got, want) {
			t.Fatalf("packet %d (seq %d): sealed bytes differ from pion's", i, seq)
		}
	}
}

// TestGCMOpenMatchesPion: opening with our AEAD_AES_128_GCM state takes
// and refuses the same packets as pion's srtp.Context with its replay
// protection, and gives the same bytes: across a sequence number wrap,
// with reordering, duplicates, packets older than the replay window, a
// forged packet and one from before the first rollover counter.
func TestGCMOpenMatchesPion(t *testing.T) {
	key, salt := randomBytes(t, 16), randomBytes(t, 12)
	sender, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	// The sender's packets in sending order, from 65440 past the wrap.
	sealed := map[uint16][]byte{}
	plain := map[uint16][]byte{}
	for i := range 200 {
		seq := uint16(65440 + i)
		hdr := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i) * 3000, SSRC: 0xdecafbad}
		if i%5 == 0 {
			if err := hdr.SetExtension(3, []byte{byte(i), 1}); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := (&rtp.Packet{Header: hdr, Payload: randomBytes(t, 100+i)}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		plain[seq] = raw
		if sealed[seq], err = sender.EncryptRTP(nil, raw, nil); err != nil {
			t.Fatal(err)
		}
	}
	forged := bytes.Clone(sealed[65500])
	forged[len(forged)-1] ^= 1
	// Arrival order: in order, reordered, duplicated, too old, forged.
	type arrival struct {
		seq    uint16
		packet []byte
	}
	var order []arrival
	add := func(seqs ...uint16) {
		for _, s := range seqs {
			order = append(order, arrival{s, sealed[s]})
		}
	}
	add(65450, 65451, 65453, 65452, 65452, 65455)
	order = append(order, arrival{65500, forged})
	add(65500, 65499, 65535, 2, 1, 65534, 0, 0, 40, 65500, 39)
	add(65470)            // more than a window behind 40 across the wrap
	add(45, 65533, 65454) // 65533 still in the window; 65454 is not
	ref, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTPReplayProtection(srtpReplayWindow))
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGCMSealer(key, salt)
	if err != nil {
		t.Fatal(err)
	}
	var x srtpIndex
	var iv [12]byte
	var hdr rtp.Header
	buf := make([]byte, maxPacketSize)
	for i, a := range order {
		want, refErr := ref.DecryptRTP(nil, a.packet, nil)
		got, err := func() ([]byte, error) {
			hl, err := hdr.Unmarshal(a.packet)
			if err != nil {
				return nil, err
			}
			index, ok := x.guess(hdr.SequenceNumber)
			if !ok {
				return nil, errSRTPReplay
			}
			out, err := g.open(buf, a.packet, hl, hdr.SSRC, uint32(index>>16), hdr.SequenceNumber, &iv)
			if err == nil {
				x.accept(index)
			}
			return out, err
		}()
		if (err == nil) != (refErr == nil) {
			t.Fatalf("arrival %d (seq %d): our error %v, pion's %v", i, a.seq, err, refErr)
		}
		if err == nil && (!bytes.Equal(got, want) || !bytes.Equal(got, plain[a.seq])) {
			t.Fatalf("arrival %d (seq %d): opened bytes differ", i, a.seq)
		}
	}
	// A stream whose first packet is 100 cannot have one of the cycle
	// before: a packet of sequence number 65530 is taken to be ahead, in
	// the first cycle, as pion takes it (FuzzDirectReceive found that we
	// refused it).
	var fresh srtpIndex
	fresh.accept(100)
	if index, ok := fresh.guess(65530); !ok || index != 65530 {
		t.Fatalf("a packet of sequence number 65530 after 100: index %d, %v; want 65530, true", index, ok)
	}
}

func TestRolloverCounter(t *testing.T) {
	var c rolloverCounter
	for _, step := range []struct {
		seq uint16
		roc uint32
	}{{65000, 0}, {65535, 0}, {10, 1}, {65530, 0}, {20, 1}, {30000, 1}, {60000, 1}, {65535, 1}, {0, 2}, {65535, 1}, {40000, 1}} {
		if got := c.forSeq(step.seq); got != step.roc {
			t.Fatalf("seq %d: roc %d, want %d", step.seq, got, step.roc)
		}
	}
	var fresh rolloverCounter
	fresh.forSeq(5)
	if got := fresh.forSeq(65530); got != 0 {
		t.Fatalf("a packet from before the first one: roc %d, want 0", got)
	}
}

// TestDTLSSecretsServerKeys: the server's keys are the session's local
// (sending) keys, with a GCM sealer for AEAD_AES_128_GCM only, made once.
// (package dtlssrtp checks the derivation against real handshakes.)
func TestDTLSSecretsServerKeys(t *testing.T) {
	for _, profile := range []extension.SRTPProtectionProfile{extension.SRTP_AEAD_AES_128_GCM, extension.SRTP_AES128_CM_HMAC_SHA1_80} {
		var s dtlsSecrets
		if _, err := s.serverKeys(); !errors.Is(err, dtlssrtp.ErrNoKeys) {
			t.Fatalf("keys before the handshake: %v", err)
		}
		suite := uint16(dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
		hello := handshake.MessageServerHello{
			CipherSuiteID: &suite,
			Extensions:    []extension.Extension{&extension.UseSRTP{ProtectionProfiles: []extension.SRTPProtectionProfile{profile}}},
		}
		if err := hello.Random.Populate(); err != nil {
			t.Fatal(err)
		}
		s.ServerHello(hello)
		fmt.Fprintf(&s, "CLIENT_RANDOM %x %x\n", randomBytes(t, 32), randomBytes(t, 48))
		keys, err := s.serverKeys()
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Keys()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(keys.key, want.LocalKey) || !bytes.Equal(keys.salt, want.LocalSalt) ||
			!bytes.Equal(keys.recvKey, want.RemoteKey) || !bytes.Equal(keys.recvSalt, want.RemoteSalt) {
			t.Fatalf("%v: server keys are not the session's local ones", profile)
		}
		if (keys.gcm != nil) != (profile == extension.SRTP_AEAD_AES_128_GCM) {
			t.Fatalf("gcm sealer %v for %v", keys.gcm != nil, profile)
		}
		if again, _ := s.serverKeys(); again != keys {
			t.Fatal("keys derived again")
		}
	}
}

// TestDirectSenderDecrypts: what directSender seals, pion's receiving
// context decrypts, for both profiles, forwarded and retransmitted packets.
func TestDirectSenderDecrypts(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		keys := randomKeys(t, profile)
		rx, err := srtp.CreateContext(keys.key, keys.salt, profile)
		if err != nil {
			t.Fatal(err)
		}
		var s directSender
		buf := make([]byte, maxPacketSize+srtpOverhead)
		for i, seq := range []uint16{65534, 65535, 0, 1, 65535, 2} {
			hdr := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: 960 * uint32(i), SSRC: 42}
			payload := randomBytes(t, 1100)
			pkt, err := s.seal(keys, &hdr, payload, 0, buf)
			if err != nil {
				t.Fatal(err)
			}
			if seq == 65535 && i == 4 {
				continue // a retransmission: pion's replay protection drops it, rightly
			}
			plain, err := rx.DecryptRTP(nil, pkt, nil)
			if err != nil {
				t.Fatalf("%v, seq %d: %v", profile, seq, err)
			}
			var got rtp.Packet
			if err := got.Unmarshal(plain); err != nil || !bytes.Equal(got.Payload, payload) || got.SequenceNumber != seq {
				t.Fatalf("%v, seq %d: decrypted packet differs (%v)", profile, seq, err)
			}
		}
	}
	keys := randomKeys(t, srtp.ProtectionProfileAeadAes128Gcm)
	if _, err := (&directSender{}).seal(keys, &rtp.Header{Version: 2}, make([]byte, maxPacketSize), 0, make([]byte, maxPacketSize)); !errors.Is(err, errPacketTooLarge) {
		t.Fatalf("an oversized packet: %v, want errPacketTooLarge", err)
	}
}

// TestDatagramWriter: the direct path's socket writes reach the destination
// intact, over IPv4 and (where the machine has it) IPv6 loopback, and
// allocate nothing.
func TestDatagramWriter(t *testing.T) {
	for _, network := range []struct{ name, ip string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(network.name, func(t *testing.T) {
			rx := listenLoopback(t, network.name, network.ip)
			tx := listenLoopback(t, network.name, network.ip)
			to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
			r := &route{sock: mediaSocketOf(t, tx), to: to, dst: newSockaddr(to)}
			var w datagramWriter
			want := randomBytes(t, 1200)
			if err := w.writeTo(r, want); err != nil {
				t.Fatal(err)
			}
			got, from := readDatagram(t, rx, make([]byte, 2000))
			if !bytes.Equal(got, want) || from != tx.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("received %d bytes from %v, want %d from %v", len(got), from, len(want), tx.LocalAddr())
			}
			if allocs := testing.AllocsPerRun(100, func() { _ = w.writeTo(r, want[:100]) }); allocs != 0 {
				t.Fatalf("%v allocations per write", allocs)
			}
		})
	}
}

// BenchmarkSocketWrite compares one datagram written through net.UDPConn
// with the direct path's raw write, to a loopback socket drained by another
// goroutine.
func BenchmarkSocketWrite(b *testing.B) {
	rx := listenLoopback(b, "udp4", "127.0.0.1")
	_ = rx.SetReadBuffer(4 << 20)
	drain(rx)
	tx := listenLoopback(b, "udp4", "127.0.0.1")
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	r := &route{sock: mediaSocketOf(b, tx), to: to, dst: newSockaddr(to)}
	pkt := make([]byte, 1200)
	b.Run("UDPConn", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = tx.WriteToUDPAddrPort(pkt, to)
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		var w datagramWriter
		for b.Loop() {
			_ = w.writeTo(r, pkt)
		}
	})
}

// BenchmarkDirectFanOut measures the whole direct path per forwarded packet:
// a batch of publisher packets (one packet, or a 6-packet video frame split
// about evenly) fanned out to n subscribers, each sealed with its own
// AES-GCM keys and written to its own loopback socket (drained by the
// benchmark). ns/op is per packet per subscriber. Run it on one core to see
// the cost per core: taskset -c 0 go test -run '^$' -bench DirectFanOut ./sfu
func BenchmarkDirectFanOut(b *testing.B) {
	for _, frame := range []int{1, 6} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("packets=%d/subscribers=%d", frame, n), func(b *testing.B) {
				tx := listenLoopback(b, "udp4", "127.0.0.1")
				_ = tx.SetWriteBuffer(4 << 20)
				sock := mediaSocketOf(b, tx)
				track := &Track{id: "video", streamID: "pub", kind: webrtc.RTPCodecTypeVideo}
				empty := []*DownTrack{}
				track.subs.Store(&empty)
				for i := range n {
					rx := listenLoopback(b, "udp4", "127.0.0.1")
					drain(rx)
					g, err := newGCMSealer(randomBytes(b, 16), randomBytes(b, 12))
					if err != nil {
						b.Fatal(err)
					}
					to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
					r := &atomic.Pointer[route]{}
					r.Store(&route{sock: sock, to: to, dst: newSockaddr(to), keys: &srtpKeys{profile: srtp.ProtectionProfileAeadAes128Gcm, gcm: g}})
					d := newDownTrack(track, fmt.Sprintf("sub%d", i), r)
					d.binding.Store(&binding{ssrc: uint32(1000 + i), pt: 96})
					d.started.Store(true)
					track.addSubscriber(d)
				}
				bt := &batch{}
				for i := range frame {
					hdr, _ := benchPacket()
					// 6 250 bytes split as libwebrtc does: 1 041 or 1 042 each.
					p := &inPacket{payload: make([]byte, 6250*(i+1)/6-6250*i/6)}
					p.pkt.Header = *hdr
					bt.pkts = append(bt.pkts, p)
				}
				bt.plan()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i += n * frame {
					for _, p := range bt.pkts {
						p.pkt.SequenceNumber += uint16(frame)
					}
					track.fanOut(bt)
				}
			})
		}
	}
}

// TestRawReadConn: the media socket pion's mux reads gives datagrams with
// their source over IPv4 and IPv6, honours read deadlines as timeouts, and
// reports a closed socket as net.ErrClosed.
func TestRawReadConn(t *testing.T) {
	for _, network := range []struct{ name, ip string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(network.name, func(t *testing.T) {
			sock := mediaSocketOf(t, listenLoopback(t, network.name, network.ip))
			c, ok := wrapMediaConn(sock.conn, sock.raw, nil).(interface {
				ReadFromAddrPort([]byte) (int, netip.AddrPort, error)
				SetReadDeadline(time.Time) error
				Close() error
			})
			if !ok {
				t.Skip("reads are not raw here")
			}
			tx := listenLoopback(t, network.name, network.ip)
			want := randomBytes(t, 900)
			if _, err := tx.WriteToUDP(want, sock.conn.LocalAddr().(*net.UDPAddr)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := c.ReadFromAddrPort(buf)
			if err != nil || !bytes.Equal(buf[:n], want) || from != tx.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("read %d bytes from %v (%v), want %d from %v", n, from, err, len(want), tx.LocalAddr())
			}
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, _, err := c.ReadFromAddrPort(buf); !os.IsTimeout(err) {
				t.Fatalf("read past the deadline: %v, want a timeout", err)
			}
			_ = c.SetReadDeadline(time.Time{})
			go func() {
				time.Sleep(20 * time.Millisecond)
				_ = c.Close()
			}()
			if _, _, err := c.ReadFromAddrPort(buf); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read on a closed socket: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestRawConnWrites: pion's own writes through the wrapped socket arrive,
// without allocating.
func TestRawConnWrites(t *testing.T) {
	sock := mediaSocketOf(t, listenLoopback(t, "udp4", "127.0.0.1"))
	c, ok := wrapMediaConn(sock.conn, sock.raw, nil).(interface {
		WriteToAddrPort([]byte, netip.AddrPort) (int, error)
	})
	if !ok {
		t.Skip("writes are not raw here")
	}
	rx := listenLoopback(t, "udp4", "127.0.0.1")
	want := randomBytes(t, 300)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	if n, err := c.WriteToAddrPort(want, to); err != nil || n != len(want) {
		t.Fatalf("wrote %d: %v", n, err)
	}
	if got, _ := readDatagram(t, rx, make([]byte, 1500)); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d", len(got), len(want))
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = c.WriteToAddrPort(want[:20], to) }); allocs != 0 {
		t.Fatalf("%v allocations per write", allocs)
	}
}

// TestBatchedRunsDecrypt: a batch forwarded on the direct route arrives as
// one datagram per packet, in order, each decrypting with pion to the
// publisher's payload (the added padding stripped), for both profiles,
// with the socket segmenting and without; and forwarding a batch allocates
// nothing.
func TestBatchedRunsDecrypt(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		for _, gso := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/gso=%v", profile, gso), func(t *testing.T) {
				keys := randomKeys(t, profile)
				rx := listenLoopback(t, "udp4", "127.0.0.1")
				_ = rx.SetReadBuffer(1 << 20)
				sock := mediaSocketOf(t, listenLoopback(t, "udp4", "127.0.0.1"))
				sock.noGSO.Store(!gso)
				to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
				r := &atomic.Pointer[route]{}
				r.Store(&route{sock: sock, to: to, dst: newSockaddr(to), keys: keys})
				track := &Track{id: "video", streamID: "pub", kind: webrtc.RTPCodecTypeVideo}
				empty := []*DownTrack{}
				track.subs.Store(&empty)
				d := newDownTrack(track, "sub", r)
				d.binding.Store(&binding{ssrc: 777, pt: 102})
				d.started.Store(true)
				track.addSubscriber(d)

				// A keyframe split about evenly, a short last packet, then a
				// packet with the publisher's own 4 bytes of padding.
				sizes := []int{1040, 1042, 1042, 1041, 1042, 1042, 1041, 1042, 1042, 1040, 1042, 400}
				b := &batch{}
				var want [][]byte
				for i, n := range sizes {
					p := &inPacket{payload: randomBytes(t, n)}
					p.pkt.Header = rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(100 + i), Timestamp: 3000, SSRC: 42, Marker: i == len(sizes)-1}
					b.pkts = append(b.pkts, p)
					want = append(want, p.payload)
				}
				padded := &inPacket{payload: append(randomBytes(t, 500), 0, 0, 0, 4)}
				padded.pkt.Header = rtp.Header{Version: 2, Padding: true, PayloadType: 96, SequenceNumber: uint16(100 + len(sizes)), Timestamp: 6000, SSRC: 42}
				b.pkts = append(b.pkts, padded)
				want = append(want, padded.payload[:500])
				b.plan()
				if len(b.runs) != 2 {
					t.Fatalf("planned runs %+v, want 2", b.runs)
				}

				track.fanOut(b)
				ctx, err := srtp.CreateContext(keys.key, keys.salt, profile)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 2048)
				for i := range want {
					sealed, _ := readDatagram(t, rx, buf)
					plain, err := ctx.DecryptRTP(nil, sealed, nil)
					if err != nil {
						t.Fatalf("datagram %d (%d bytes): %v", i, len(sealed), err)
					}
					var got rtp.Packet
					if err := got.Unmarshal(plain); err != nil {
						t.Fatal(err)
					}
					if got.SequenceNumber != uint16(100+i) || got.SSRC != 777 || got.PayloadType != 102 || !bytes.Equal(got.Payload, want[i]) {
						t.Fatalf("datagram %d: seq %d ssrc %d pt %d, %d payload bytes (padding %d); want seq %d, %d bytes",
							i, got.SequenceNumber, got.SSRC, got.PayloadType, len(got.Payload), got.PaddingSize, 100+i, len(want[i]))
					}
				}
				if st := d.Stats(); st.Sent != uint64(len(want)) || st.Dropped != 0 {
					t.Fatalf("down track counted %d sent, %d dropped; want %d, 0", st.Sent, st.Dropped, len(want))
				}
				if segmented := track.out.w.segmented; gso && gsoSupported && segmented == 0 {
					t.Fatal("no segmented send was made")
				} else if !gso && segmented != 0 {
					t.Fatalf("%d segmented sends with segmentation off", segmented)
				}
				// pion's AES-CM context pools its buffers, which the race
				// detector empties at random.
				if allocs := testing.AllocsPerRun(20, func() { track.fanOut(b) }); allocs != 0 && (keys.gcm != nil || !raceEnabled) {
					t.Fatalf("%v allocations per batch", allocs)
				}
			})
		}
	}
}
