package signaling

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"github.com/confab/confab/internal/auth"
	"github.com/confab/confab/internal/metrics"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/tokenbucket"
	"github.com/confab/confab/rooms"
	"github.com/confab/confab/sfu"
	"github.com/confab/confab/web"
)

// Options configure a Server. API and Rooms are required; zero durations and
// sizes take the documented defaults.
type Options struct {
	API   *sfu.API
	Rooms *rooms.Manager
	// ICEServers are handed to clients in "joined".
	ICEServers []protocol.ICEServer
	// ICEServersFor, when set, adds servers with credentials minted for one
	// participant (TURN); host is the host the client reached the server by.
	ICEServersFor func(participantID, host string) []protocol.ICEServer
	// Auth verifies access tokens; nil or without keys means open mode.
	Auth *auth.Verifier
	// Metrics, when set, counts signaling events and is served at /metrics.
	Metrics *metrics.Metrics
	Logger  *slog.Logger

	// RateLimit and RateBurst bound the messages one connection may send.
	RateLimit float64
	RateBurst int
	// ReadRate and ReadBurst bound the bytes the server reads from one
	// connection, per second and at once: past them it stops reading that
	// socket for a while, and TCP holds the client back. Reading costs
	// the server in proportion to the bytes (unmasking, copying, decoding),
	// and a client writing 1 MiB frames as fast as it could kept a core
	// busy before (frames over the message rate are read, then dropped).
	// Defaults 1 MiB and 4 MiB.
	ReadRate  float64
	ReadBurst float64
	// RoomEventRate and RoomEventBurst bound what one connection may make
	// the server pass on to everyone in its room (joins, tracks it starts
	// sending, chat, mute, publish), per second and at once: each costs a
	// message per member (a join, a peer connection too; a track, a media
	// section at every member for the rest of its connection), and a
	// flood of them filled the send queues of members on slow links, which
	// are disconnected when full. Requests over it are dropped; tracks are
	// never refused, but spend it into debt. Defaults 5 and 20.
	RoomEventRate  float64
	RoomEventBurst float64
	// DescriptionRate and DescriptionBurst bound the bytes of session
	// descriptions one participant may send, per second and at once: the
	// server's cost of applying one grows with its size (a 1 MiB offer
	// takes pion about 150 ms). It counts offers, and refuses those over
	// it; answers come only as often as the server offers, and are bounded
	// by the read budget. Defaults 256 KiB and 4 MiB.
	DescriptionRate  float64
	DescriptionBurst float64
	// SendQueue is how many messages may wait for a slow client before it is
	// disconnected.
	SendQueue int
	// PingInterval and PongTimeout keep connections honest: a ping every
	// interval, and a connection silent for PongTimeout is closed.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// OfferDelay gathers a burst of changes into one server offer.
	OfferDelay time.Duration
	// ResumeGrace is how long a joined participant whose connection dropped
	// waits for its client to resume; 0 removes it at once.
	ResumeGrace time.Duration
	// HTTPReadTimeout bounds the time a client may take to send a whole
	// HTTP request (a WebSocket upgrade included), from the moment it
	// connects or, on a kept-alive connection, from the request's first
	// byte; HTTPIdleTimeout, how long a kept-alive connection may wait for
	// its next request. Without them a client could hold sockets, and
	// the goroutines serving them, without ever finishing a request. They
	// do not apply to a WebSocket once upgraded (it has its pings). With
	// TLS, the handshake has its own HTTPReadTimeout before the request's.
	// Defaults 10 s and 2 min (longer than the 60 s idle timeout of
	// common load balancers and proxies, which then close first).
	HTTPReadTimeout, HTTPIdleTimeout time.Duration
	// MaxConnections caps the signaling connections open at once, joined
	// or not, and MaxConnectionsPerIP those from one client address (an
	// IPv4 address, or an IPv6 /64). A connection over a cap gets the error
	// server-busy and is closed with WebSocket status 1013. 0 means no cap.
	// MaxConnectionsPerIP also bounds the TCP connections Serve accepts
	// from one address (see Serve).
	MaxConnections, MaxConnectionsPerIP int
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	positive(&o.RateLimit, 50)
	positive(&o.RateBurst, 200)
	positive(&o.ReadRate, 1<<20)
	positive(&o.ReadBurst, 4<<20)
	positive(&o.RoomEventRate, 5)
	positive(&o.RoomEventBurst, 20)
	positive(&o.DescriptionRate, 256<<10)
	positive(&o.DescriptionBurst, 4<<20)
	positive(&o.SendQueue, 256)
	positive(&o.PingInterval, 15*time.Second)
	positive(&o.PongTimeout, 45*time.Second)
	positive(&o.HTTPReadTimeout, 10*time.Second)
	positive(&o.HTTPIdleTimeout, 2*time.Minute)
	if o.OfferDelay < 0 {
		o.OfferDelay = 0
	}
	if o.ICEServers == nil {
		o.ICEServers = []protocol.ICEServer{}
	}
}

// httpWriteTimeout bounds the writing of one HTTP response, so that a
// client that does not read cannot hold its connection. WebSockets bound
// each write themselves (writeTimeout).
const httpWriteTimeout = 30 * time.Second

// httpPerIPSlack is how many TCP connections one address may hold beyond
// MaxConnectionsPerIP: the page's own requests, and one WebSocket more to
// be told server-busy.
const httpPerIPSlack = 16

// gate lets something through at most once per interval: the errors and
// logs that refusals make, so that the answer to a flood is not one.
type gate struct{ last time.Time }

// due reports whether interval has passed since the last time it said so.
func (g *gate) due(now time.Time, interval time.Duration) bool {
	if !g.last.IsZero() && now.Sub(g.last) < interval {
		return false
	}
	g.last = now
	return true
}

// positive sets *v to def unless it is already above zero.
func positive[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Server serves the meeting page and the signaling WebSocket.
type Server struct {
	opts   Options
	log    *slog.Logger
	app    *fiber.App
	ctx    context.Context
	cancel context.CancelFunc

	// draining is set when shutdown begins: /readyz fails and joins are
	// refused.
	draining atomic.Bool

	limit *connLimit

	mu        sync.Mutex
	closed    bool
	conns     sync.WaitGroup // connection handlers
	sessions  sync.WaitGroup // session loops, which may outlive a connection
	resumable map[string]*session
}

// New returns a Server ready to Serve.
func New(opts Options) (*Server, error) {
	if opts.API == nil || opts.Rooms == nil {
		return nil, errors.New("signaling: Options.API and Options.Rooms are required")
	}
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel, resumable: make(map[string]*session),
		limit: newConnLimit(opts.MaxConnections, opts.MaxConnectionsPerIP, opts.Logger, opts.Metrics)}
	// fasthttp's Concurrency stays at its default (262 144): past it, its
	// accept loop writes a 503 itself, without a deadline, and on a TLS
	// socket that waits for the client's handshake, so one silent client
	// could stop every accept. Serve bounds connections per address.
	s.app = fiber.New(fiber.Config{
		DisableStartupMessage: true,
		AppName:               "confab",
		ReadTimeout:           opts.HTTPReadTimeout,
		IdleTimeout:           opts.HTTPIdleTimeout,
		WriteTimeout:          httpWriteTimeout,
	})
	s.app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.SendString("ok\n")
	})
	s.app.Get("/readyz", func(c *fiber.Ctx) error {
		if s.draining.Load() {
			return c.Status(fiber.StatusServiceUnavailable).SendString("draining\n")
		}
		return c.SendString("ready\n")
	})
	if opts.Metrics != nil {
		s.app.Get("/metrics", adaptor.HTTPHandler(opts.Metrics.Handler()))
	}
	s.adminRoutes()
	s.app.Get("/ws", func(c *fiber.Ctx) error {
		if !websocket.IsWebSocketUpgrade(c) {
			return fiber.ErrUpgradeRequired
		}
		return c.Next()
	}, websocket.New(s.serveConn))
	s.app.Use("/", filesystem.New(filesystem.Config{
		Root:   http.FS(web.FS()),
		Browse: false,
		Index:  "index.html",
	}))
	return s, nil
}

// Serve accepts connections on ln until Shutdown. With MaxConnectionsPerIP
// set, it also bounds the TCP connections from one address, WebSockets
// and plain HTTP alike, to that cap plus httpPerIPSlack; one past that is
// closed with nothing written. When accepting fails in a way that may
// pass (out of file descriptors or memory, a connection that failed
// before it was taken), it waits and tries again rather than ending.
func (s *Server) Serve(ln net.Listener) error {
	perAddr := 0
	if s.opts.MaxConnectionsPerIP > 0 {
		perAddr = s.opts.MaxConnectionsPerIP + httpPerIPSlack
	}
	ln = newAddrLimitListener(ln, perAddr, s.log)
	if err := s.app.Listener(ln); err != nil {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// Drain begins a shutdown: /readyz turns false and joins are refused with
// shutting-down, while the participants already in rooms carry on.
func (s *Server) Drain() {
	if !s.draining.Swap(true) {
		s.log.Info("draining: refusing new joins")
	}
}

// Shutdown drains the server and ends it: every connection is told
// shutting-down and closed (its participant leaves, its peer connection
// closes), and Shutdown waits for all of them, or for ctx. Then the HTTP
// server stops.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.log.Info("closing every connection")
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		s.sessions.Wait()
		close(done)
	}()
	err := s.app.ShutdownWithContext(ctx)
	select {
	case <-done:
	default:
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("shutdown: %w", ctx.Err())
		}
	}
	if err != nil {
		if errors.Is(err, ctx.Err()) {
			// Every participant is closed. What the HTTP server still
			// waited for are plain HTTP connections: most likely a
			// request never finished (a socket that sent nothing, or
			// part of a request), which it would serve until
			// HTTPReadTimeout; at worst a response still being written
			// to a slow reader, or an admin request still running.
			s.log.Warn("drain deadline reached with plain HTTP connections unfinished; dropping them", "err", err)
			return nil
		}
		return fmt.Errorf("shutdown http: %w", err)
	}
	return nil
}

// serveConn runs one WebSocket connection. It reads frames itself and owns the
// writer and session goroutines, which have ended when it returns.
func (s *Server) serveConn(c *websocket.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns.Add(1)
	s.mu.Unlock()
	defer s.conns.Done()

	log := s.log.With("remote", c.RemoteAddr().String())
	conn := newWSConn(c.Conn, log, &s.opts)
	key, refusal := s.limit.acquire(c.RemoteAddr())
	if refusal != nil {
		go conn.writeLoop()
		conn.refuse(refusal, websocket.CloseTryAgainLater, "server busy")
		conn.stopWriter()
		return
	}
	defer s.limit.release(key)
	sess := newSession(s, conn, log)
	sess.host = c.Headers("Host")
	s.mu.Lock()
	s.sessions.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.sessions.Done()
		sess.run(s.ctx)
	}()
	go conn.writeLoop()

	c.SetPongHandler(func(string) error { return conn.armReadDeadline() })
	current := s.readLoop(conn, sess)

	// The session (the one this connection was handed to, after a resume)
	// stops using the connection, or keeps the participant waiting for a
	// resume; then the writer can go.
	current.connLost(conn)
	conn.stopWriter()
	log.Debug("connection closed")
}

// readLoop reads and validates frames and hands requests to the session until
// the socket fails or closes. It returns the session the connection belongs
// to at the end: a resume hands the connection to another session.
func (s *Server) readLoop(conn *wsConn, sess *session) *session {
	limiter := tokenbucket.New(s.opts.RateLimit, float64(s.opts.RateBurst), time.Now())
	readBudget := tokenbucket.New(s.opts.ReadRate, s.opts.ReadBurst, time.Now())
	var limited, throttled gate
	var wait time.Duration
	for {
		if wait > 0 {
			// Over the read budget: leave the socket alone until it is
			// paid, so the client's writes back up in TCP.
			if throttled.due(time.Now(), time.Minute) {
				conn.log.Warn("client sends faster than the read budget; reading it slower", "bytesPerSecond", s.opts.ReadRate)
			}
			select {
			case <-time.After(wait):
			case <-s.ctx.Done():
			}
		}
		kind, data, err := conn.readFrame()
		if err != nil {
			if !errors.Is(err, errTooLarge) && !errors.Is(err, errKilled) && !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				conn.log.Debug("read ended", "err", err)
			}
			return sess
		}
		now := time.Now()
		wait = readBudget.Spend(float64(len(data)), now)
		if !limiter.Take(1, now) {
			// One error per second at most: the answer to a flood must not
			// become a flood.
			if limited.due(now, time.Second) {
				conn.log.Warn("client rate limited", "limit", s.opts.RateLimit)
				conn.sendError(protocol.Errorf(protocol.CodeRateLimited, "too many messages: at most %.0f per second", s.opts.RateLimit))
			}
			continue
		}
		if kind != websocket.TextMessage {
			conn.sendError(protocol.Errorf(protocol.CodeBadRequest, "frames must be text frames holding JSON"))
			continue
		}
		req, perr := protocol.DecodeRequest(data)
		if perr != nil {
			conn.log.Debug("bad request", "code", perr.Code, "err", perr.Message)
			if perr.Request != "" && perr.Request != protocol.TypeJoin {
				// A known request: before joined, not-joined comes first.
				req = rejected{perr}
			} else {
				conn.sendError(perr)
				continue
			}
		}
		for !sess.submit(req) {
			next := sess.successor()
			if next == nil {
				return sess
			}
			sess = next
		}
	}
}

// rememberResumable registers a joined session and returns its resume token.
func (s *Server) rememberResumable(sess *session) string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "" // no resume for this participant
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	s.mu.Lock()
	s.resumable[token] = sess
	s.mu.Unlock()
	return token
}

// forgetResumable unregisters a session that left.
func (s *Server) forgetResumable(token string, sess *session) {
	if token == "" {
		return
	}
	s.mu.Lock()
	if s.resumable[token] == sess {
		delete(s.resumable, token)
	}
	s.mu.Unlock()
}

// lookupResumable returns the session a resume token names, or nil.
func (s *Server) lookupResumable(token string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resumable[token]
}
