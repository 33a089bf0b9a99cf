// Package turnserver runs an embedded TURN server (pion/turn) on UDP and
// TCP, and mints the time-limited credentials it accepts. The credentials
// follow coturn's REST-API scheme (use-auth-secret), so the same Credentials
// serve an external coturn configured with the same secret.
package turnserver

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"

	"github.com/confab/confab/sfu"
)

// MaxAllocationsPerUser bounds the allocations one set of credentials (one
// participant's) may hold at once, and MaxAllocationsPerIP those from one
// client IP address (credentials stay valid after their participant
// leaves, and a client may join again for new ones); past either, an
// Allocate gets 486 (Allocation Quota Reached). Each allocation holds a
// relay socket for up to its lifetime (10 minutes, refreshed), so without
// a bound one client could take every file descriptor the process has. A
// browser allocates one per TURN address and local network, a few; an ICE
// restart may hold the old ones until they expire. An office behind one
// NAT address shares MaxAllocationsPerIP.
const (
	MaxAllocationsPerUser = 32
	MaxAllocationsPerIP   = 512
)

// closeTimeout bounds how long Close waits for pion's loops to end after
// their sockets are closed; they normally end within microseconds.
const closeTimeout = 5 * time.Second

// Config configures a Server.
type Config struct {
	// Realm is the TURN realm, e.g. "confab". Empty means "confab".
	Realm string
	// Secret is the shared secret; the server accepts exactly the
	// credentials Credentials mints with it, and rejects expired ones.
	Secret string
	// ListenIP is where to listen (tests: 127.0.0.1). Relays are allocated
	// on it too. Nil means all IPv4 addresses.
	ListenIP net.IP
	// UDPPort and TCPPort are the listening ports: 0 is ephemeral, a
	// negative value disables that transport.
	UDPPort, TCPPort int
	// RelayIP is the address advertised in relayed candidates (tests:
	// 127.0.0.1). Nil means ListenIP, which must then be a specific address.
	RelayIP net.IP
	// RelayPortMin and RelayPortMax optionally bound the relay ports,
	// inclusive; both 0 means any port.
	RelayPortMin, RelayPortMax int
	// Logger receives the server's and pion's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock for expiry checks; nil means time.Now.
	Now func() time.Time
	// AllowedPeers, when set, are the only addresses relays may send to:
	// the media server's own, so credentials cannot turn the relay into an
	// open UDP proxy.
	AllowedPeers []net.IP
}

// Server is a running TURN server. Its methods are safe for concurrent use.
type Server struct {
	turn    *turn.Server
	udp     *net.UDPAddr
	tcp     *net.TCPAddr
	relayIP net.IP
	loops   *loops
	log     *slog.Logger
	quota   quota

	closeOnce sync.Once
	closeErr  error
}

// Start validates cfg, listens, and starts serving.
func Start(cfg Config) (*Server, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	s := &Server{relayIP: cfg.RelayIP, loops: newLoops(), log: cfg.Logger}
	s.quota.log = cfg.Logger
	udpNet, tcpNet := "udp4", "tcp4"
	if cfg.ListenIP.To4() == nil {
		udpNet, tcpNet = "udp6", "tcp6"
	}

	var (
		packetConns []turn.PacketConnConfig
		listeners   []turn.ListenerConfig
		closers     []io.Closer
	)
	closeAll := func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
	if cfg.UDPPort >= 0 {
		pc, err := net.ListenPacket(udpNet, hostPort(cfg.ListenIP, cfg.UDPPort))
		if err != nil {
			return nil, fmt.Errorf("turnserver: listen udp: %w", err)
		}
		closers = append(closers, pc)
		s.udp = pc.LocalAddr().(*net.UDPAddr) //nolint:forcetypeassert // a UDP socket
		packetConns = append(packetConns, turn.PacketConnConfig{
			PacketConn:            trackPacketConn(pc, s.loops, false),
			RelayAddressGenerator: s.relayGenerator(cfg),
			PermissionHandler:     permitPeer(cfg.RelayIP, cfg.AllowedPeers),
		})
	}
	if cfg.TCPPort >= 0 {
		ln, err := net.Listen(tcpNet, hostPort(cfg.ListenIP, cfg.TCPPort))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("turnserver: listen tcp: %w", err)
		}
		closers = append(closers, ln)
		s.tcp = ln.Addr().(*net.TCPAddr) //nolint:forcetypeassert // a TCP listener
		listeners = append(listeners, turn.ListenerConfig{
			Listener:              trackListener(ln, s.loops),
			RelayAddressGenerator: s.relayGenerator(cfg),
			PermissionHandler:     permitPeer(cfg.RelayIP, cfg.AllowedPeers),
		})
	}

	ts, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: packetConns,
		ListenerConfigs:   listeners,
		LoggerFactory:     sfu.LoggerFactory(cfg.Logger),
		Realm:             cfg.Realm,
		AuthHandler:       authHandler(cfg.Secret, cfg.Realm, cfg.Now, cfg.Logger),
		QuotaHandler:      s.quota.allow,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, _, user, _ string, _ net.Addr, _ int) { s.quota.add(user, src, 1) },
			OnAllocationDeleted: func(src, _ net.Addr, _, user, _ string) { s.quota.add(user, src, -1) },
		},
	})
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("turnserver: start: %w", err)
	}
	s.turn = ts
	cfg.Logger.Info("turn server started", "udp", s.udp, "tcp", s.tcp, "relayIP", cfg.RelayIP, "realm", cfg.Realm)
	return s, nil
}

// relayGenerator returns a fresh relay address generator for one listener.
func (s *Server) relayGenerator(cfg Config) turn.RelayAddressGenerator {
	var inner turn.RelayAddressGenerator = &turn.RelayAddressGeneratorStatic{
		RelayAddress: cfg.RelayIP,
		Address:      cfg.ListenIP.String(),
	}
	if cfg.RelayPortMin != 0 {
		inner = &turn.RelayAddressGeneratorPortRange{
			RelayAddress: cfg.RelayIP,
			Address:      cfg.ListenIP.String(),
			MinPort:      uint16(cfg.RelayPortMin), //nolint:gosec // range checked in normalize
			MaxPort:      uint16(cfg.RelayPortMax), //nolint:gosec // range checked in normalize
		}
	}
	return &relayGenerator{inner: inner, loops: s.loops}
}

// normalize fills in defaults and rejects what Start cannot use.
func (c *Config) normalize() error {
	if c.Realm == "" {
		c.Realm = "confab"
	}
	if c.Secret == "" {
		return fmt.Errorf("secret is empty: %w", ErrConfig)
	}
	if c.UDPPort < 0 && c.TCPPort < 0 {
		return fmt.Errorf("both UDP and TCP are disabled: %w", ErrConfig)
	}
	if c.UDPPort > 65535 || c.TCPPort > 65535 {
		return fmt.Errorf("port out of range: %w", ErrConfig)
	}
	if c.ListenIP == nil {
		c.ListenIP = net.IPv4zero
	}
	if c.RelayIP == nil {
		if c.ListenIP.IsUnspecified() {
			return fmt.Errorf("relay IP is required when listening on %v: %w", c.ListenIP, ErrConfig)
		}
		c.RelayIP = c.ListenIP
	}
	if c.RelayIP.IsUnspecified() {
		return fmt.Errorf("relay IP %v cannot be advertised: %w", c.RelayIP, ErrConfig)
	}
	if (c.RelayPortMin == 0) != (c.RelayPortMax == 0) ||
		c.RelayPortMin < 0 || c.RelayPortMax > 65535 || c.RelayPortMin > c.RelayPortMax {
		return fmt.Errorf("relay port range %d-%d: %w", c.RelayPortMin, c.RelayPortMax, ErrConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

func hostPort(ip net.IP, port int) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// UDPAddr is the address the server listens on for TURN over UDP, or nil if
// UDP is disabled.
func (s *Server) UDPAddr() *net.UDPAddr { return s.udp }

// TCPAddr is the address the server listens on for TURN over TCP, or nil if
// TCP is disabled.
func (s *Server) TCPAddr() *net.TCPAddr { return s.tcp }

// URLs returns the server's TURN URLs for clients that reach it at host,
// UDP first: "turn:HOST:PORT?transport=udp", "turn:HOST:PORT?transport=tcp".
// An empty host means the relay IP.
func (s *Server) URLs(host string) []string {
	if host == "" {
		host = s.relayIP.String()
	}
	var urls []string
	if s.udp != nil {
		urls = append(urls, "turn:"+net.JoinHostPort(host, strconv.Itoa(s.udp.Port))+"?transport=udp")
	}
	if s.tcp != nil {
		urls = append(urls, "turn:"+net.JoinHostPort(host, strconv.Itoa(s.tcp.Port))+"?transport=tcp")
	}
	return urls
}

// Close stops the server: it closes the listeners, every client connection
// and every relay, and returns once all of pion's loops on them have ended
// (or ErrCloseTimeout if some did not within a few seconds). Later calls
// return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// pion closes the UDP socket and the TCP listener; its UDP loop then
		// closes the UDP relays, and each TCP connection's loop its relay.
		// pion never closes the TCP connections it accepted: shutdown does.
		err := s.turn.Close()
		s.loops.shutdown()
		s.closeErr = errors.Join(err, s.loops.wait(closeTimeout))
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("turnserver: close: %w", s.closeErr)
		}
		s.log.Info("turn server stopped")
	})
	return s.closeErr
}

// quota counts the allocations each user, and each client IP address,
// holds, for MaxAllocationsPerUser and MaxAllocationsPerIP. pion checks the
// quota before it allocates and reports allocations made and deleted, so
// Allocates in flight at once (one per client connection) may each pass
// the check before any is counted.
type quota struct {
	mu     sync.Mutex
	byUser map[string]int
	byIP   map[string]int
	logged map[string]bool
	log    *slog.Logger
}

// ipOf is the key of a client address in byIP: the IPv4 address, or the
// IPv6 /64 (a host is usually given a whole /64).
func ipOf(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return addr.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return ip.String()
	}
	prefix, err := ip.Prefix(64)
	if err != nil {
		return ip.String()
	}
	return prefix.String()
}

// allow is pion's QuotaHandler.
func (q *quota) allow(user, _ string, src net.Addr) bool {
	ip := ipOf(src)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byUser[user] < MaxAllocationsPerUser && q.byIP[ip] < MaxAllocationsPerIP {
		return true
	}
	if !q.logged[user] && q.log != nil {
		if q.logged == nil {
			q.logged = make(map[string]bool)
		}
		q.logged[user] = true
		q.log.Warn("TURN allocation refused: quota reached", "user", user, "from", src,
			"userAllocations", q.byUser[user], "ipAllocations", q.byIP[ip])
	}
	return false
}

// add changes by n the allocations of user, from src.
func (q *quota) add(user string, src net.Addr, n int) {
	ip := ipOf(src)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byUser == nil {
		q.byUser, q.byIP = make(map[string]int), make(map[string]int)
	}
	q.byUser[user] += n
	if q.byUser[user] <= 0 {
		delete(q.byUser, user)
		delete(q.logged, user)
	}
	q.byIP[ip] += n
	if q.byIP[ip] <= 0 {
		delete(q.byIP, ip)
	}
}
