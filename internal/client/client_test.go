package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/internal/protocol"
)

// testOptions logs to stderr when CLIENT_TEST_LOG is set.
func testOptions() Options {
	var opts Options
	if os.Getenv("CLIENT_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return opts
}

func TestWebSocketURL(t *testing.T) {
	tests := []struct {
		in, want string
		fails    bool
	}{
		{in: "http://127.0.0.1:1234", want: "ws://127.0.0.1:1234/ws"},
		{in: "http://127.0.0.1:1234/", want: "ws://127.0.0.1:1234/ws"},
		{in: "https://example.test", want: "wss://example.test/ws"},
		{in: "http://127.0.0.1:1234/confab", want: "ws://127.0.0.1:1234/confab/ws"},
		{in: "ws://127.0.0.1:1234", want: "ws://127.0.0.1:1234/ws"},
		{in: "ws://127.0.0.1:1234/signal", want: "ws://127.0.0.1:1234/signal"},
		{in: "http://127.0.0.1:1234?x=1#f", want: "ws://127.0.0.1:1234/ws"},
		{in: "ftp://127.0.0.1", fails: true},
		{in: "127.0.0.1:1234", fails: true},
		{in: "http://", fails: true},
	}
	for _, tt := range tests {
		got, err := WebSocketURL(tt.in)
		if tt.fails {
			if err == nil {
				t.Errorf("WebSocketURL(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("WebSocketURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestLoopbackCandidate(t *testing.T) {
	tests := []struct {
		cand string
		want bool
	}{
		{"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", true},
		{"1 1 udp 2130706431 127.0.0.1 50000 typ host", true},
		{"candidate:1 1 udp 2130706431 127.1.2.3 50000 typ host", true},
		{"candidate:1 1 udp 2130706431 192.168.1.2 50000 typ host", false},
		{"candidate:1 1 udp 2130706431 ::1 50000 typ host", false},
		{"candidate:1 1 udp 2130706431 abcd.local 50000 typ host", false},
		{"candidate:1 1 udp 1694498815 203.0.113.9 50000 typ srflx raddr 127.0.0.1 rport 50000", false},
		{"candidate:1 1 tcp 1 127.0.0.1 9 typ host tcptype active", true},
		{"", false},
		{"candidate:", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		if got := loopbackCandidate(tt.cand); got != tt.want {
			t.Errorf("loopbackCandidate(%q) = %v, want %v", tt.cand, got, tt.want)
		}
	}
}

func TestLoopbackICEServers(t *testing.T) {
	kept, dropped := loopbackICEServers([]protocol.ICEServer{
		{URLs: []string{"stun:127.0.0.1:3478", "stun:stun.example.org:3478"}},
		{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "u", Credential: "p"},
		{URLs: []string{"turn:192.0.2.1:3478"}, Username: "u", Credential: "p"},
		{URLs: []string{"not a url"}},
	})
	if len(kept) != 2 || len(kept[0].URLs) != 1 || kept[0].URLs[0] != "stun:127.0.0.1:3478" ||
		kept[1].Username != "u" || kept[1].Credential != "p" {
		t.Errorf("kept = %+v", kept)
	}
	if len(dropped) != 3 {
		t.Errorf("dropped = %v, want 3 URLs", dropped)
	}
}

func TestIsKeyframeStart(t *testing.T) {
	tests := []struct {
		name    string
		mime    string
		payload []byte
		want    bool
	}{
		{"vp8 key", webrtc.MimeTypeVP8, []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}, true},
		{"vp8 delta", webrtc.MimeTypeVP8, []byte{0x10, 0x01, 0x00}, false},
		{"vp8 continuation", webrtc.MimeTypeVP8, []byte{0x00, 0x00, 0x00}, false},
		{"vp8 extended key", webrtc.MimeTypeVP8, []byte{0x90, 0x80, 0x05, 0x00, 0x9d}, true},
		{"vp8 empty", webrtc.MimeTypeVP8, nil, false},
		{"h264 idr", webrtc.MimeTypeH264, []byte{0x65, 0x88}, true},
		{"h264 non-idr", webrtc.MimeTypeH264, []byte{0x41, 0x9a}, false},
		{"h264 stap-a sps pps idr", webrtc.MimeTypeH264,
			[]byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88}, true},
		{"h264 stap-a sps pps", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, false},
		{"h264 stap-a truncated", webrtc.MimeTypeH264, []byte{0x78, 0x00, 0x09, 0x67}, false},
		{"h264 fu-a idr start", webrtc.MimeTypeH264, []byte{0x7c, 0x85, 0x88}, true},
		{"h264 fu-a idr middle", webrtc.MimeTypeH264, []byte{0x7c, 0x05, 0x88}, false},
		{"opus", webrtc.MimeTypeOpus, []byte{0x00}, false},
	}
	for _, tt := range tests {
		if got := isKeyframeStart(tt.mime, tt.payload); got != tt.want {
			t.Errorf("%s: isKeyframeStart = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRemoteTrackRecord(t *testing.T) {
	rt := &RemoteTrack{MimeType: webrtc.MimeTypeVP8, done: make(chan struct{})}
	for i := 0; i < 20; i++ {
		rt.record(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: []byte{0x10, byte(i) | 1}})
	}
	rt.record(&rtp.Packet{Header: rtp.Header{SequenceNumber: 7}, Payload: []byte{0x10, 0x00, 0x9d}})
	if rt.Packets() != 21 || rt.Bytes() != 43 || rt.Keyframes() != 1 {
		t.Errorf("packets %d bytes %d keyframes %d", rt.Packets(), rt.Bytes(), rt.Keyframes())
	}
	if rt.SeqCount(7) != 2 || rt.SeqCount(3) != 1 || rt.SeqCount(100) != 0 {
		t.Errorf("seq counts 7:%d 3:%d 100:%d", rt.SeqCount(7), rt.SeqCount(3), rt.SeqCount(100))
	}
	if seq, ok := rt.LastSeq(); !ok || seq != 7 {
		t.Errorf("LastSeq = %d, %v", seq, ok)
	}
	payloads := rt.LastPayloads()
	if len(payloads) != keptPayloads || !bytes.Equal(payloads[len(payloads)-1], []byte{0x10, 0x00, 0x9d}) ||
		!bytes.Equal(payloads[0], []byte{0x10, 13}) {
		t.Errorf("LastPayloads = %v", payloads)
	}
}

// TestSession runs the client against the fake signaling server: join, media
// both ways, keyframe requests, the message log, errors, renegotiation, leave
// and join again, and Close without leaks.
func TestSession(t *testing.T) {
	for _, tc := range []struct {
		name      string
		publish   bool
		emptyMode EmptyOffer
	}{
		{name: "publisher", publish: true},
		{name: "viewer-datachannel", emptyMode: EmptyOfferDataChannel},
		{name: "viewer-recvonly", emptyMode: EmptyOfferRecvOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer leaktest.VerifyNone(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			fs := newFakeServer(t)
			defer fs.Close()

			opts := testOptions()
			opts.EmptyOffer = tc.emptyMode
			c, err := Dial(ctx, fs.URL(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			var cam *webrtc.TrackLocalStaticRTP
			if tc.publish {
				if cam, err = c.AddTrack(webrtc.MimeTypeVP8, "cam", ""); err != nil {
					t.Fatal(err)
				}
			}

			// A failed join leaves the socket usable.
			_, err = c.Join(ctx, "room", "taken")
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Code != protocol.CodeNameTaken {
				t.Fatalf("join as taken: %v, want name-taken", err)
			}
			joined, err := c.Join(ctx, "room", "alice")
			if err != nil {
				t.Fatal(err)
			}
			if joined.Self.ID != "p-alice" || c.Self().ID != "p-alice" {
				t.Errorf("self = %+v / %+v", joined.Self, c.Self())
			}
			if _, err := c.Join(ctx, "room", "bob"); !errors.Is(err, ErrAlreadyJoined) {
				t.Errorf("second Join: %v, want ErrAlreadyJoined", err)
			}

			if err := c.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			checkRemoteTrack(ctx, t, c)
			if err := c.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			if n := c.Negotiations(); n != 2 {
				t.Errorf("negotiations = %d, want 2", n)
			}
			fc := fs.conn(0)

			if tc.publish {
				stop := writeVideo(t, cam)
				defer stop()
				waitFor(ctx, t, "server receives cam", func() bool { return fc.received("cam") >= 10 })
				waitFor(ctx, t, "keyframe request for cam", func() bool { return c.KeyframeRequests("cam") >= 1 })

				// Renegotiation: add, then remove, a microphone.
				if _, err := c.AddTrack(webrtc.MimeTypeOpus, "mic", ""); err != nil {
					t.Fatal(err)
				}
				if err := c.WaitIdle(ctx); err != nil {
					t.Fatal(err)
				}
				if offers, mlines := fc.offers(); offers != 2 || mlines != 2 {
					t.Errorf("server saw %d offers, last with %d media sections; want 2, 2", offers, mlines)
				}
				if err := c.RemoveTrack("mic"); err != nil {
					t.Fatal(err)
				}
				if err := c.WaitNegotiations(ctx, 4); err != nil {
					t.Fatal(err)
				}
				if err := c.RemoveTrack("mic"); !errors.Is(err, ErrUnknownTrack) {
					t.Errorf("second RemoveTrack: %v", err)
				}
			}
			if err := c.Offer(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.RestartICE(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}

			// The log keeps every message, offers included.
			raw, err := c.WaitMessage(ctx, func(typ string, _ []byte) bool { return typ == protocol.TypeOffer })
			if err != nil || !strings.Contains(string(raw), `"remote-cam"`) {
				t.Errorf("server offer from the log: %s, %v", raw, err)
			}
			if err := c.SendJSON(map[string]string{"type": "bogus"}); err != nil {
				t.Fatal(err)
			}
			em, err := c.WaitError(ctx, protocol.CodeUnknownType)
			if err != nil || em.Code != protocol.CodeUnknownType {
				t.Errorf("WaitError: %+v, %v", em, err)
			}
			if err := c.Err(); err != nil {
				t.Errorf("background error: %v", err)
			}

			// Leave and join again on the same socket.
			rt := c.RemoteTracks()[0]
			if err := c.Leave(); err != nil {
				t.Fatal(err)
			}
			<-rt.Done()
			if c.PC() != nil || len(c.RemoteTracks()) != 0 {
				t.Error("session state left after Leave")
			}
			if _, err := c.Join(ctx, "room", "alice"); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			checkRemoteTrack(ctx, t, c)
			if tc.publish {
				waitFor(ctx, t, "server receives cam after rejoin", func() bool { return fc.received("cam") >= 10 })
			}

			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := c.SendRaw([]byte(`{}`)); !errors.Is(err, ErrClosed) {
				t.Errorf("SendRaw after Close: %v", err)
			}
		})
	}
}

// checkRemoteTrack waits for the fake server's track and checks what the
// client knows of it.
// dialJoined dials url with opts and joins "room" as alice. The caller
// closes the client (before its goroutine-leak check).
func dialJoined(ctx context.Context, t *testing.T, url string, opts Options) *Client {
	t.Helper()
	c, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, "room", "alice"); err != nil {
		_ = c.Close()
		t.Fatal(err)
	}
	return c
}

func checkRemoteTrack(ctx context.Context, t *testing.T, c *Client) {
	t.Helper()
	err := c.WaitRemoteTracks(ctx, func(ts []*RemoteTrack) bool {
		return len(ts) == 1 && ts[0].Packets() >= 40 && ts[0].Keyframes() >= 1
	})
	if err != nil {
		t.Fatal(err)
	}
	rt := c.RemoteTracks()[0]
	want := protocol.ForwardedTrack{ParticipantID: "p-other", TrackID: "remote-cam", Kind: "video", Source: "camera"}
	if rt.StreamID != "p-other" || rt.TrackID != "remote-cam" || rt.Kind != "video" ||
		rt.MimeType != webrtc.MimeTypeVP8 || rt.Info != want || rt.Mid == "" {
		t.Errorf("remote track %+v, info %+v", rt, rt.Info)
	}
	if seq, ok := rt.LastSeq(); !ok || rt.SeqCount(seq) == 0 || len(rt.LastPayloads()) == 0 {
		t.Errorf("remote track history: last seq %d %v, payloads %d", seq, ok, len(rt.LastPayloads()))
	}
}

// writeVideo writes VP8 packets on track every 10 ms until stopped.
func writeVideo(t *testing.T, track *webrtc.TrackLocalStaticRTP) (stop func()) {
	t.Helper()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			_ = track.WriteRTP(&rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, Marker: true},
				Payload: []byte{0x10, 0x01, 0x02},
			})
		}
	}()
	return func() { close(quit); <-done }
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestAddTrackValidation(t *testing.T) {
	defer leaktest.VerifyNone(t)
	fs := newFakeServer(t)
	defer fs.Close()
	c, err := Dial(context.Background(), fs.URL(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AddTrack("video/nope", "x", ""); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("unsupported codec: %v", err)
	}
	if _, err := c.AddTrack(webrtc.MimeTypeVP8, "x", "webcam"); !errors.Is(err, ErrInvalidSource) {
		t.Errorf("invalid source: %v", err)
	}
	if _, err := c.AddTrack(webrtc.MimeTypeVP8, "x", protocol.SourceScreen); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTrack(webrtc.MimeTypeOpus, "x", ""); !errors.Is(err, ErrDuplicateTrack) {
		t.Errorf("duplicate: %v", err)
	}
	if c.LocalTrack("x") == nil || c.KeyframeRequests("x") != 0 {
		t.Error("local track x")
	}
	if err := c.Offer(context.Background()); !errors.Is(err, ErrNotJoined) {
		t.Errorf("Offer before Join: %v", err)
	}
	if err := c.RemoveTrack("x"); err != nil {
		t.Errorf("RemoveTrack before Join: %v", err)
	}
}

// TestGlare checks that a server offer colliding with the client's offer
// breaks the session visibly instead of hanging.
func TestGlare(t *testing.T) {
	defer leaktest.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := newFakeServer(t)
	defer fs.Close()
	c := dialJoined(ctx, t, fs.URL(), testOptions())
	defer c.Close()
	checkRemoteTrack(ctx, t, c)
	if err := c.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	fs.conn(0).glare.Store(true)
	if err := c.Offer(ctx); !errors.Is(err, ErrGlare) {
		t.Fatalf("Offer during glare: %v, want ErrGlare", err)
	}
	if err := c.Err(); !errors.Is(err, ErrGlare) {
		t.Errorf("Err = %v, want ErrGlare", err)
	}
	if err := c.WaitIdle(ctx); !errors.Is(err, ErrBroken) || !errors.Is(err, ErrGlare) {
		t.Errorf("WaitIdle = %v, want ErrBroken and ErrGlare", err)
	}
	if err := c.Offer(ctx); !errors.Is(err, ErrBroken) {
		t.Errorf("Offer after glare = %v, want ErrBroken", err)
	}
	// Leave and join again recovers.
	if err := c.Leave(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, "room", "alice"); err != nil {
		t.Fatal(err)
	}
	checkRemoteTrack(ctx, t, c)
}

// dropOnce drops, once, the first incoming VP8 packet with a sequence number
// of at least 100.
type dropOnce struct {
	dropped atomic.Bool
	seq     atomic.Uint32
}

func (d *dropOnce) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropInterceptor{d: d}, nil
}

type dropInterceptor struct {
	interceptor.NoOp
	d *dropOnce
}

func (i *dropInterceptor) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if !strings.EqualFold(info.MimeType, webrtc.MimeTypeVP8) {
		return reader
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			var h rtp.Header
			if _, err := h.Unmarshal(b[:n]); err == nil && h.SequenceNumber >= 100 && i.d.dropped.CompareAndSwap(false, true) {
				i.d.seq.Store(uint32(h.SequenceNumber))
				continue
			}
			return n, attr, nil
		}
	})
}

// TestInterceptorPlacement checks what the Options doc says: a packet dropped
// by a network interceptor is asked for again and retransmitted; one dropped by
// an application-side interceptor is not.
func TestInterceptorPlacement(t *testing.T) {
	for _, network := range []bool{true, false} {
		t.Run(map[bool]string{true: "network", false: "application"}[network], func(t *testing.T) {
			defer leaktest.VerifyNone(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			fs := newFakeServer(t)
			defer fs.Close()
			drop := &dropOnce{}
			add := func(r *interceptor.Registry) error { r.Add(drop); return nil }
			opts := testOptions()
			if network {
				opts.NetworkInterceptors = add
			} else {
				opts.Interceptors = add
			}
			c := dialJoined(ctx, t, fs.URL(), opts)
			defer c.Close()
			checkRemoteTrack(ctx, t, c)
			rt := c.RemoteTracks()[0]
			if network {
				_, seq := waitDropped(ctx, t, c, &drop.dropped, &drop.seq, rt.SeqCount)
				checkRepaired(t, fs.conn(0), seq, rt.SeqCount, "dropped before the NACK generator", false)
				return
			}
			// What never comes can only be waited for so long: 50
			// packets, several NACK intervals.
			waitFor(ctx, t, "a dropped packet", drop.dropped.Load)
			seq := uint16(drop.seq.Load())
			if err := rt.WaitPackets(ctx, rt.Packets()+50); err != nil {
				t.Fatal(err)
			}
			if got, asked := rt.SeqCount(seq), fs.conn(0).nacked(seq); got != 0 || asked != 0 {
				t.Errorf("packet %d dropped after the NACK generator: asked for %d times, received %d times, want neither", seq, asked, got)
			}
		})
	}
}

// TestServerOfferAfterAnswerKeepsICE: a server that sends its first offer
// right after its first answer, as Confab's does, does not make the client
// restart ICE. (pion starts ICE for an applied answer asynchronously; an
// offer applied before then looks like changed credentials to it and
// restarts ICE with new ones, which the server learns only from the
// client's answer, discarding the client's checks until then.)
func TestServerOfferAfterAnswerKeepsICE(t *testing.T) {
	defer leaktest.VerifyNone(t)
	// On one P the client's read loop applies the offer before pion's
	// operations goroutine has run, as on a busy machine.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := newFakeServer(t)
	defer fs.Close()
	const clients = 8
	for i := range clients {
		c, err := Dial(ctx, fs.URL(), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Join(ctx, "room", fmt.Sprintf("c%d", i)); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitNegotiations(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		ufrags := fs.conn(i).clientUfrags()
		for deadline := time.Now().Add(5 * time.Second); len(ufrags) < 2 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond) // the answer is on its way to the server
			ufrags = fs.conn(i).clientUfrags()
		}
		if len(ufrags) != 2 || ufrags[0] != ufrags[1] {
			t.Errorf("client %d: ICE username fragments %v in its offer and answer, want one", i, ufrags)
		}
	}
}
