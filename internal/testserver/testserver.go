// Package testserver starts a real Confab server for tests: the real signaling
// server on 127.0.0.1 with an ephemeral port, and the real media core limited
// to loopback ICE. Nothing it starts sends traffic anywhere but 127.0.0.1.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/confab/confab/internal/auth"
	"github.com/confab/confab/internal/metrics"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/turnserver"
	"github.com/confab/confab/rooms"
	"github.com/confab/confab/sfu"
	"github.com/confab/confab/signaling"
)

// Server is a running test server.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	// Rooms and API are the server's own, for assertions.
	Rooms *rooms.Manager
	API   *sfu.API
	// Signaling is the server itself, for tests of draining and shutdown.
	Signaling *signaling.Server
}

// Options adjust a test server.
type Options struct {
	// MaxParticipants is the room capacity; 0 means no limit.
	MaxParticipants int
	// AuthKeys, when set, require access tokens signed with one of them.
	AuthKeys []string
	// ResumeGrace keeps participants whose connection dropped this long,
	// waiting for a resume; 0 (the default here) removes them at once.
	ResumeGrace time.Duration
	// TURN starts an embedded TURN server on 127.0.0.1 (UDP) and hands every
	// participant credentials for it.
	TURN bool
	// Signaling lets a test change signaling options (ping interval, rate limit).
	Signaling func(*signaling.Options)
	// NoDirectSend keeps every forwarded packet on pion's write path.
	NoDirectSend bool
	// RTCPInterval is the media core's RTCP interval; 0 keeps its default.
	RTCPInterval time.Duration
	// MaxPublishBitrate caps each participant's media (bit/s); 0: no cap.
	MaxPublishBitrate int64
}

// Logger returns a logger for tests: silent unless CONFAB_TEST_LOG is set
// (to "debug" for everything).
func Logger() *slog.Logger {
	switch os.Getenv("CONFAB_TEST_LOG") {
	case "":
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	case "debug":
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	default:
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
}

// Start starts a server and stops it when the test ends, waiting for every
// session and goroutine it started.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	log := Logger()
	api, err := sfu.NewAPI(sfu.Config{UDPPort: 0, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Logger: log, NoDirectSend: opts.NoDirectSend, RTCPInterval: opts.RTCPInterval, MaxPublishBitrate: opts.MaxPublishBitrate})
	if err != nil {
		t.Fatalf("start media: %v", err)
	}
	mgr := rooms.NewManager(rooms.Options{MaxParticipants: opts.MaxParticipants, Logger: log})
	so := signaling.Options{
		API:         api,
		Rooms:       mgr,
		Logger:      log,
		OfferDelay:  20 * time.Millisecond,
		ResumeGrace: opts.ResumeGrace,
		Auth:        auth.NewVerifier(opts.AuthKeys, nil),
		Metrics:     metrics.New(signaling.MetricsSource(api, mgr)),
	}
	if opts.TURN {
		turn, err := turnserver.Start(turnserver.Config{
			Secret: "test-turn-secret", ListenIP: net.IPv4(127, 0, 0, 1), RelayIP: net.IPv4(127, 0, 0, 1),
			AllowedPeers: []net.IP{net.IPv4(127, 0, 0, 1)}, TCPPort: -1, Logger: log,
		})
		if err != nil {
			t.Fatalf("start TURN: %v", err)
		}
		t.Cleanup(func() { _ = turn.Close() })
		so.ICEServersFor = func(id, _ string) []protocol.ICEServer {
			user, cred := turnserver.Credentials("test-turn-secret", id, time.Hour, time.Now())
			return []protocol.ICEServer{{URLs: turn.URLs("127.0.0.1"), Username: user, Credential: cred}}
		}
	}
	if opts.Signaling != nil {
		opts.Signaling(&so)
	}
	srv, err := signaling.New(so)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
		if err := api.Close(); err != nil {
			t.Errorf("close media: %v", err)
		}
	})
	return &Server{URL: "http://" + ln.Addr().String(), Rooms: mgr, API: api, Signaling: srv}
}
