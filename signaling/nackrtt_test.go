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
// RTCP loop's runs (100 ms): NACKs closer together than 200 ms would be
// requests the publisher could not yet have answered.
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
	wait(t, ctx, "four NACKs for the lost packet", func(ctx context.Context) error {
		for ctx.Err() == nil {
			if len(lose.nackTimes()) >= 4 {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("lost %d, NACKs at %v: %w", lose.seq.Load(), lose.nackTimes(), ctx.Err())
	})
	times := lose.nackTimes()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 200*time.Millisecond {
			t.Fatalf("NACKs for packet %d %v apart (NACK %d of %d), want at least 200 ms with a 250 ms round trip",
				lose.seq.Load(), gap.Round(time.Millisecond), i+1, len(times))
		}
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
