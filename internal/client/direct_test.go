package client

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v4"

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/internal/netwrap"
)

// TestDirectReceive runs a session with direct receiving, with the client
// as the DTLS server (the fake server's pion answers a=setup:active, and
// the keys come from the ServerHello hook) and as the DTLS client (keys
// from the ServerHello on the wire). Most packets must be taken off the
// socket directly; a packet lost under the direct path (dropped by the
// socket) must be asked for by the direct path's own NACK and arrive, at
// most once per request (checkRepaired); every packet reaches OnPacket.
func TestDirectReceive(t *testing.T) {
	defer leaktest.VerifyNone(t)
	for _, setup := range []string{"", "active"} {
		name := "client is DTLS server"
		if setup == "active" {
			name = "client is DTLS client"
		}
		t.Run(name, func(t *testing.T) { checkDirectReceive(t, setup) })
	}
}

func checkDirectReceive(t *testing.T, setup string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := newFakeServer(t)
	defer fs.Close()

	drop := &dropLink{after: 150}
	network, err := netwrap.Wrap(nil, netwrap.Kernel(func(c *net.UDPConn) (transport.UDPConn, error) {
		return &dropConn{UDPConn: c, n: drop}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	var seen seqCounter
	opts := testOptions()
	opts.DirectReceive = true
	opts.LightInterceptors = true
	opts.CountOnly = true
	opts.OfferSetup = setup
	opts.Net = network
	opts.OnPacket = seen.onPacket
	c := dialJoined(ctx, t, fs.URL(), opts)
	defer c.Close()
	rt, seq := waitDropped(ctx, t, c, &drop.dropped, &drop.seq, seen.times)
	c.mu.Lock()
	taken := c.sess.rx.taken.Load()
	c.mu.Unlock()
	checkRepaired(t, fs.conn(0), seq, seen.times, "lost under the direct path", true)
	_, total := seen.count(seq)
	if packets := rt.Packets(); taken < packets/2 || uint64(total) > packets {
		t.Errorf("%d packets, %d taken directly, %d sequence numbers", packets, taken, total)
	}
}

// dropLink drops one incoming RTP datagram, the first after the given
// number, before anything else reads it.
type dropLink struct {
	after   int32
	seen    atomic.Int32
	dropped atomic.Bool
	seq     atomic.Uint32
}

type dropConn struct {
	*net.UDPConn
	n *dropLink
}

func (c *dropConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := c.ReadFromUDPAddrPort(b)
		if err != nil || n < 12 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
			return n, addr, err
		}
		if c.n.seen.Add(1) > c.n.after && c.n.dropped.CompareAndSwap(false, true) {
			c.n.seq.Store(uint32(binary.BigEndian.Uint16(b[2:4])))
			continue
		}
		return n, addr, err
	}
}

func (c *dropConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteToUDPAddrPort(b, addr)
}

// TestDirectTakeAllocs: taking a packet off the socket (decryption,
// parsing, NACK bookkeeping, delivery) allocates nothing.
func TestDirectTakeAllocs(t *testing.T) {
	key, salt := make([]byte, 16), make([]byte, 12)
	for i := range key {
		key[i] = byte(i)
	}
	profile := srtp.ProtectionProfileAeadAes128Gcm
	tx, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		t.Fatal(err)
	}
	rxCtx, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	rx := newDirectRx(slog.New(slog.DiscardHandler), func(*RemoteTrack, *rtp.Packet) { delivered++ })
	rx.ctx = rxCtx
	rt := &RemoteTrack{SSRC: 1234}
	rx.update(func(m map[uint32]*directStream) { m[rt.SSRC] = &directStream{rt: rt} })
	pkt := &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 7, SSRC: rt.SSRC, Extension: true, ExtensionProfile: 0xBEDE},
		Payload: make([]byte, 1100),
	}
	if err := pkt.SetExtension(4, []byte{0, 1}); err != nil {
		t.Fatal(err)
	}
	plain, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := tx.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rx.take(enc) || delivered != 1 {
		t.Fatalf("first packet not taken (delivered %d)", delivered)
	}
	if allocs := testing.AllocsPerRun(200, func() { rx.take(enc) }); allocs != 0 {
		t.Errorf("%.1f allocations per packet taken, want 0", allocs)
	}
	if delivered < 200 {
		t.Errorf("delivered %d packets", delivered)
	}
}
