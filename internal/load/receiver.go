package load

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/confab/confab/internal/client"
)

// socketReadBuffer sizes a client's UDP receive buffer to hold a quarter of
// a second of what it receives, at least 1 MiB (some 450 full-size
// packets; the kernel's default holds about 90) and at most 8 MiB, so that
// a receiver rides out the moments when one core serving hundreds of them
// falls behind. A datagram of a 1200-byte packet takes about 2.3 KiB of
// buffer. Without privileges the kernel caps it at net.core.rmem_max.
func socketReadBuffer(packetsPerSecond float64) int {
	return int(min(max(packetsPerSecond/4*2304, 1<<20), 8<<20))
}

// role is what a participant of the run does.
type role int

const (
	rolePublisher role = iota
	roleSubscriber
	roleStalled
	roleLossy
)

func (r role) String() string {
	return [...]string{"publisher", "subscriber", "stalled", "lossy"}[r]
}

// Phases of a run, as receivers see them.
const (
	phaseSetup  int32 = iota // joining, warming up
	phaseWindow              // measuring
	phaseDrain               // publishers stopping, grace
)

// clock is the run's shared time: nanoseconds since its start, on the
// monotonic clock, and the phase.
type clock struct {
	epoch time.Time
	phase atomic.Int32
	// release is closed when the run ends: stalled readers resume.
	release chan struct{}
}

func (c *clock) now() int64 { return int64(time.Since(c.epoch)) }

// receiver is one participant's receiving side: its client and what it
// counted. Publishers are receivers too.
type receiver struct {
	name string
	role role
	// self is the receiver's own publisher index, or -1.
	self  int
	clock *clock
	c     *client.Client

	// joinAt is when join was sent (clock time); mediaAtJoin tells whether
	// another publisher was sending then, so that join-to-first-packet
	// means something.
	joinAt      int64
	mediaAtJoin bool
	joinErr     error

	// tracks has two slots per publisher, indexed 2*publisher+kind.
	tracks []trackStats
	// arrivals holds the kernel's arrival times of recent packets, and
	// senders the publishers' departure times (shared by all receivers).
	arrivals *packetTimes
	senders  []*sender
	// bad counts packets without a valid tag, or that came on a track
	// other than the one their tag names.
	bad atomic.Uint64
}

// trackStats is what a receiver counted of one publisher's track. Only that
// track's reading goroutine writes it, but the run reads it while it runs, so
// a mutex (uncontended nearly always) guards it.
type trackStats struct {
	mu            sync.Mutex
	rt            *client.RemoteTrack
	seqs          seqSet
	packets       uint64
	windowPackets uint64
	first         int64 // clock time of the first packet, 0 before
	firstKeyframe int64
	// Latency of the packets received in the window, to the socket (the
	// kernel's arrival time; stamped counts them) and to the application.
	sock, app       *histogram
	maxSock, maxApp time.Duration
	stamped         uint64
}

// sender is what receivers need to know of a publisher to time its
// packets: when each left, and the SSRCs they left with.
type sender struct {
	departures *packetTimes
	ssrc       [2]atomic.Uint32 // by kind; 0 until the publisher has joined
}

func newSenders(publishers int) []*sender {
	s := make([]*sender, publishers)
	for i := range s {
		s[i] = &sender{departures: newPacketTimes(2)}
	}
	return s
}

func newReceiver(name string, r role, self int, senders []*sender, clk *clock) *receiver {
	return &receiver{
		name: name, role: r, self: self, clock: clk,
		tracks:   make([]trackStats, 2*len(senders)),
		arrivals: newPacketTimes(2 * len(senders)),
		senders:  senders,
	}
}

// options are the client options of a receiver.
func (r *receiver) options(cfg *Config, index int) (client.Options, error) {
	var departures *packetTimes
	if r.self >= 0 {
		departures = r.senders[r.self].departures
	}
	network, err := newTimedNet(r.arrivals, departures, cfg.GRO)
	if err != nil {
		return client.Options{}, err
	}
	opts := client.Options{
		Net:               network,
		Logger:            clientLogger(cfg.Logger).With("participant", r.name),
		OnPacket:          r.onPacket,
		EmptyOffer:        client.EmptyOfferRecvOnly,
		LogLimit:          64,
		LightInterceptors: !cfg.DefaultInterceptors,
		CountOnly:         true,
		SocketReadBuffer:  socketReadBuffer(r.expectedRate(cfg)),
		// A stalled subscriber blocks in OnPacket, which on the direct
		// path would stop its whole connection; a lossy one drops
		// packets in pion's chain, under which the direct path reads.
		DirectReceive: !cfg.PionReceive && (r.role == roleSubscriber || r.role == rolePublisher),
	}
	if r.role == roleLossy {
		drop := &randomDrop{rate: cfg.LossRate, seed: uint64(index) + 1}
		opts.NetworkInterceptors = func(reg *interceptor.Registry) error {
			reg.Add(drop)
			return nil
		}
		// The drop happens after SRTP, which has already recorded the
		// packet; its retransmission would be refused as a replay.
		opts.DisableReplayProtection = true
	}
	return opts, nil
}

// onPacket is called by the client for every RTP packet of a remote track,
// on that track's reading goroutine, or with direct receiving on the
// socket's (calls for one track may overlap at the switch: ts.mu).
func (r *receiver) onPacket(rt *client.RemoteTrack, pkt *rtp.Packet) {
	now := r.clock.now()
	wall := time.Now().UnixNano()
	t, keyframe, ok := decodePayload(pkt.Payload)
	if !ok || int(t.publisher) == r.self || int(t.publisher) >= len(r.tracks)/2 ||
		(t.kind == kindVideo) != (rt.Kind == "video") {
		r.bad.Add(1)
		return
	}
	ts := &r.tracks[2*int(t.publisher)+int(t.kind)]
	window := r.clock.phase.Load() == phaseWindow

	ts.mu.Lock()
	switch {
	case ts.rt == nil:
		ts.rt = rt
	case ts.rt != rt:
		ts.mu.Unlock()
		r.bad.Add(1) // a second track claims the same publisher and kind
		return
	}
	ts.packets++
	ts.seqs.add(t.index)
	if ts.first == 0 {
		ts.first = now
	}
	if keyframe && ts.firstKeyframe == 0 {
		ts.firstKeyframe = now
	}
	if window {
		ts.windowPackets++
		if ts.app == nil {
			ts.app, ts.sock = new(histogram), new(histogram) // once per track
		}
		d := time.Duration(wall - t.sent)
		ts.app.record(d)
		ts.maxApp = max(ts.maxApp, d)
		if d, ok := r.wireLatency(rt, pkt, t); ok {
			ts.sock.record(d)
			ts.maxSock = max(ts.maxSock, d)
			ts.stamped++
		}
	}
	ts.mu.Unlock()

	if r.role == roleStalled {
		<-r.clock.release // stop reading this track until the run ends
	}
}

// wireLatency is the time from the packet's departure from its publisher's
// socket to its arrival at the receiver's, when both are known. The
// publisher's sequence number is the low 16 bits of the packet's index.
func (r *receiver) wireLatency(rt *client.RemoteTrack, pkt *rtp.Packet, t tag) (time.Duration, bool) {
	arrived, ok := r.arrivals.lookup(rt.SSRC, pkt.SequenceNumber)
	if !ok {
		return 0, false
	}
	s := r.senders[t.publisher]
	ssrc := s.ssrc[t.kind].Load()
	if ssrc == 0 {
		return 0, false
	}
	left, ok := s.departures.lookup(ssrc, uint16(t.index))
	if !ok {
		return 0, false
	}
	return time.Duration(arrived - left), true
}

// expectedRate is the packet rate the receiver should get.
func (r *receiver) expectedRate(cfg *Config) float64 {
	plan := newVideoPlan(cfg.VideoBitrate, cfg.FPS, cfg.KeyframeInterval, cfg.KeyframeFactor, cfg.MaxPayload)
	var perPublisher float64
	if !cfg.NoVideo {
		perPublisher += plan.packetsPerSecond()
	}
	if !cfg.NoAudio {
		perPublisher += float64(time.Second / audioPacketInterval)
	}
	others := len(r.tracks) / 2
	if r.self >= 0 {
		others--
	}
	return perPublisher * float64(others)
}

// expected lists the slots of the tracks the receiver should get.
func (r *receiver) expected(video, audio bool) []int {
	var slots []int
	for p := range len(r.tracks) / 2 {
		if p == r.self {
			continue
		}
		if audio {
			slots = append(slots, 2*p+kindAudio)
		}
		if video {
			slots = append(slots, 2*p+kindVideo)
		}
	}
	return slots
}

// complete reports whether a packet arrived on every slot listed.
func (r *receiver) complete(slots []int) bool {
	for _, s := range slots {
		ts := &r.tracks[s]
		ts.mu.Lock()
		ok := ts.first != 0
		ts.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// firstTimes returns the clock times of the first packet of any track and
// of the first keyframe packet; 0 when none came.
func (r *receiver) firstTimes() (first, keyframe int64) {
	for i := range r.tracks {
		ts := &r.tracks[i]
		ts.mu.Lock()
		if ts.first != 0 && (first == 0 || ts.first < first) {
			first = ts.first
		}
		if ts.firstKeyframe != 0 && (keyframe == 0 || ts.firstKeyframe < keyframe) {
			keyframe = ts.firstKeyframe
		}
		ts.mu.Unlock()
	}
	return first, keyframe
}

// waitFirstMedia waits until a packet came on every slot listed and, if
// keyframe is set, a keyframe on some track.
func (r *receiver) waitFirstMedia(ctx context.Context, slots []int, keyframe bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		_, k := r.firstTimes()
		if r.complete(slots) && (!keyframe || k != 0) {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%s: wait for media: %w", r.name, ctx.Err())
		}
	}
}

// dial connects and joins; publishers add their tracks in between. It
// returns once the PeerConnection is connected.
func (r *receiver) dial(ctx context.Context, cfg *Config, index int, addTracks func(*client.Client) error) error {
	opts, err := r.options(cfg, index)
	if err != nil {
		return err
	}
	c, err := client.Dial(ctx, cfg.URL, opts)
	if err != nil {
		return err
	}
	r.c = c
	if addTracks != nil {
		if err := addTracks(c); err != nil {
			return err
		}
	}
	r.joinAt = r.clock.now()
	if _, err := c.Join(ctx, cfg.Room, r.name); err != nil {
		return err
	}
	if err := c.WaitConnected(ctx); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

// close closes the receiver's client, if any.
func (r *receiver) close() {
	if r.c != nil {
		_ = r.c.Close()
	}
}

// clientLogger is the logger of the run's clients: pion warns about many
// harmless things (a ping before candidates, streams closing at the end),
// which would drown the run's progress, so only errors pass unless log is
// at debug level.
func clientLogger(log *slog.Logger) *slog.Logger {
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(minLevel{Handler: log.Handler(), min: slog.LevelError})
}

// minLevel is a handler that drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}

// randomDrop is an interceptor factory whose interceptors drop a fraction
// of the incoming RTP, as a lossy link would.
type randomDrop struct {
	rate float64
	seed uint64
}

func (d *randomDrop) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropper{d: d}, nil
}

type dropper struct {
	interceptor.NoOp
	d *randomDrop
}

func (i *dropper) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	// One generator per stream: each is used by its stream's reader only.
	rng := rand.New(rand.NewPCG(i.d.seed, uint64(info.SSRC)))
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil || rng.Float64() >= i.d.rate {
				return n, attr, err
			}
		}
	})
}
