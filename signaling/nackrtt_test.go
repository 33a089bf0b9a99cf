package signaling_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/netwrap"
	"github.com/confab/confab/internal/testserver"
)

// TestNACKRetriesFollowRTT: a publisher 250 ms away (every datagram it
// sends is held that long) loses a video packet for good. The server asks
// for it again a round trip apart, as libwebrtc does, not at each of its
// RTCP loop's runs (100 ms): NACKs closer together than that would be
// requests the publisher could not yet have answered.
//
// The NACKs are timed where the publisher's RTCP reader takes them, a few
// goroutines past its socket, so on a loaded machine one read late makes
// the gap before it look shorter (and the next longer) by as much. The
// server asks 3 runs (300 ms) apart; retries at every run would be 100 ms
// apart. So each gap must be over 150 ms, which leaves that much for a
// late read, and the gaps must average at least 200 ms, which a late read
// only moves at the first or last NACK, spread over all the gaps.
func TestNACKRetriesFollowRTT(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	slow, err := netwrap.Wrap(nil, netwrap.Kernel(func(c *net.UDPConn) (transport.UDPConn, error) {
		return newDelayConn(c, 250*time.Millisecond), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	lose := &loseForGood{n: 300}
	lose.seq.Store(-1)
	ann := newParticipant(ctx, t, srv, "far", "ann", client.Options{
		Net: slow,
		NetworkInterceptors: func(r *interceptor.Registry) error {
			r.Add(lose)
			return nil
		},
	})
	wait(t, ctx, "ann connected", ann.WaitConnected)
	const nacks = 6 // the server asks up to 10 times
	wait(t, ctx, "six NACKs for the lost packet", func(ctx context.Context) error {
		for ctx.Err() == nil {
			if len(lose.nackTimes()) >= nacks {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("lost %d, NACKs at %v: %w", lose.seq.Load(), lose.nackTimes(), ctx.Err())
	})
	times := lose.nackTimes()[:nacks]
	gaps := make([]time.Duration, 0, nacks-1)
	for i := 1; i < len(times); i++ {
		gaps = append(gaps, times[i].Sub(times[i-1]).Round(time.Millisecond))
	}
	t.Logf("NACKs for packet %d: gaps %v", lose.seq.Load(), gaps)
	for i, gap := range gaps {
		if gap <= 150*time.Millisecond {
			t.Fatalf("NACKs for packet %d %v apart (NACKs %d and %d; gaps %v), want them a round trip (250 ms) apart, not a run of the RTCP loop (100 ms)",
				lose.seq.Load(), gap, i+1, i+2, gaps)
		}
	}
	if mean := times[len(times)-1].Sub(times[0]) / time.Duration(len(gaps)); mean < 200*time.Millisecond {
		t.Fatalf("NACKs for packet %d %v apart on average (gaps %v), want at least 200 ms with a 250 ms round trip",
			lose.seq.Load(), mean.Round(time.Millisecond), gaps)
	}
}

// loseForGood drops the n-th VP8 packet a client sends and every resend of
// it, and notes when NACKs asking for it arrive.
type loseForGood struct {
	interceptor.NoOp
	n    int64
	sent atomic.Int64
	seq  atomic.Int64 // -1 until the drop

	mu    sync.Mutex
	nacks []time.Time
}

func (l *loseForGood) NewInterceptor(string) (interceptor.Interceptor, error) { return l, nil }

func (l *loseForGood) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if info.MimeType != webrtc.MimeTypeVP8 {
		return writer
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if l.sent.Add(1) == l.n {
			l.seq.Store(int64(h.SequenceNumber))
		}
		if l.seq.Load() == int64(h.SequenceNumber) {
			return len(payload), nil
		}
		return writer.Write(h, payload, a)
	})
}

func (l *loseForGood) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := reader.Read(b, a)
		if err != nil {
			return n, a, err
		}
		seq := l.seq.Load()
		if seq < 0 {
			return n, a, nil
		}
		pkts, perr := rtcp.Unmarshal(b[:n])
		if perr != nil {
			return n, a, nil
		}
		for _, p := range pkts {
			nack, ok := p.(*rtcp.TransportLayerNack)
			if !ok {
				continue
			}
			for _, pair := range nack.Nacks {
				if slices.Contains(pair.PacketList(), uint16(seq)) {
					l.mu.Lock()
					l.nacks = append(l.nacks, time.Now())
					l.mu.Unlock()
				}
			}
		}
		return n, a, nil
	})
}

func (l *loseForGood) nackTimes() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.nacks)
}

// newDelayConn holds every datagram c sends for delay: a link with that
// round trip. Its goroutine ends when it is closed.
func newDelayConn(c *net.UDPConn, delay time.Duration) *delayConn {
	d := &delayConn{UDPConn: c, delay: delay, queue: make(chan delayed, 4096), done: make(chan struct{})}
	go d.send()
	return d
}

type delayed struct {
	b  []byte
	to netip.AddrPort
	at time.Time
}

// delayConn sends each datagram delay after it is written, from a
// goroutine of its own that Close stops.
type delayConn struct {
	*net.UDPConn
	delay     time.Duration
	queue     chan delayed
	done      chan struct{}
	closeOnce sync.Once
}

func (c *delayConn) send() {
	for {
		select {
		case <-c.done:
			return
		case d := <-c.queue:
			if wait := time.Until(d.at); wait > 0 {
				select {
				case <-c.done:
					return
				case <-time.After(wait):
				}
			}
			_, _ = c.WriteToUDPAddrPort(d.b, d.to)
		}
	}
}

func (c *delayConn) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	select {
	case c.queue <- delayed{b: append([]byte(nil), b...), to: to, at: time.Now().Add(c.delay)}:
	default: // a full link drops
	}
	return len(b), nil
}

func (c *delayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	udp, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("delay: address %v is not UDP", addr)
	}
	return c.WriteToAddrPort(b, udp.AddrPort())
}

func (c *delayConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

func (c *delayConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return c.UDPConn.Close()
}
