// Package config loads Confab's configuration: the embedded default
// (configs/confab.yaml), then an optional YAML file on top of it, then
// environment variables, and validates the result. Every error names the key it
// is about by its dotted path, such as "ice.udpPort".
package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/confab/confab/configs"
)

// minPublishBitrate is the lowest publishing cap allowed. The cap drops
// what is over it and does not ask the sender to slow down, so a cap near
// what browsers send (a camera about 2.5 Mbit/s, a screen share a few)
// would break honest video: it is a guard against floods, not a shaper.
const minPublishBitrate = 5_000_000

// Config is the whole server configuration. Its layout and YAML names match
// configs/confab.yaml, which documents every key.
type Config struct {
	HTTP      HTTP      `yaml:"http"`
	ICE       ICE       `yaml:"ice"`
	Rooms     Rooms     `yaml:"rooms"`
	Signaling Signaling `yaml:"signaling"`
	Session   Session   `yaml:"session"`
	Auth      Auth      `yaml:"auth"`
	Log       Log       `yaml:"log"`
}

// HTTP configures the HTTP server (web client and WebSocket signaling).
type HTTP struct {
	// Addr is the "host:port" the server listens on.
	Addr string `yaml:"addr"`
	// TLS, when its certificate and key are set, makes the server speak
	// HTTPS and WSS on Addr.
	TLS TLS `yaml:"tls"`
	// RedirectAddr, when set with TLS, is a plain-HTTP "host:port" that
	// redirects every request to HTTPS.
	RedirectAddr string `yaml:"redirectAddr"`
	// DrainTimeout is how long a shutdown waits for participants to be told
	// and closed before the process exits.
	DrainTimeout time.Duration `yaml:"drainTimeout"`
}

// TLS names a PEM certificate chain and its private key.
type TLS struct {
	// Cert is the path of the PEM certificate chain.
	Cert string `yaml:"cert"`
	// Key is the path of the PEM private key.
	Key string `yaml:"key"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// ICE configures how media reaches the server.
type ICE struct {
	// UDPPort is the single UDP port that carries all WebRTC media; 0 picks an
	// ephemeral port.
	UDPPort int `yaml:"udpPort"`
	// IPs, when non-empty, are the only local addresses offered as host
	// candidates (loopback included if listed). Empty means every address of
	// every non-loopback interface.
	IPs []string `yaml:"ips"`
	// PublicIPs are 1:1 NAT addresses advertised in place of the local ones.
	PublicIPs []string `yaml:"publicIPs"`
	// Servers are the STUN and TURN servers handed to clients.
	Servers []ICEServer `yaml:"servers"`
	// TURN configures relayed media: the embedded TURN server, or an external
	// coturn sharing Secret.
	TURN TURN `yaml:"turn"`
	// DirectSend lets the server encrypt and send forwarded packets itself
	// instead of through pion's per-packet write path, and (on Linux)
	// decrypt publishers' packets as the socket reads them (see
	// docs/benchmarks.md); false keeps pion's path for every packet.
	DirectSend bool `yaml:"directSend"`
}

// TURN configures TURN relays for clients that cannot reach the media port
// directly. Credentials follow coturn's use-auth-secret REST scheme: a
// time-limited username "expiry:participantId" and an HMAC of it.
type TURN struct {
	// Embedded starts Confab's own TURN server.
	Embedded bool `yaml:"embedded"`
	// UDPPort and TCPPort are the embedded server's ports; -1 disables one.
	UDPPort int `yaml:"udpPort"`
	TCPPort int `yaml:"tcpPort"`
	// Host is the address clients use to reach the TURN server; empty means
	// the first of ice.publicIPs, else the first of ice.ips, else the host the
	// client used to reach the HTTP server.
	Host string `yaml:"host"`
	// Realm is the TURN realm.
	Realm string `yaml:"realm"`
	// Secret is the shared secret credentials are minted with. Required for
	// an external server; the embedded one generates one when empty.
	Secret string `yaml:"secret"`
	// URLs are an external TURN server's URLs (turn: or turns:), handed to
	// clients with credentials minted from Secret.
	URLs []string `yaml:"urls"`
	// TTL is how long minted credentials stay valid.
	TTL time.Duration `yaml:"ttl"`
}

// Session configures what happens to a participant whose connection drops.
type Session struct {
	// ResumeGrace is how long a participant whose WebSocket dropped stays in
	// its room, media paths kept, waiting to resume.
	ResumeGrace time.Duration `yaml:"resumeGrace"`
}

// Auth configures access tokens.
type Auth struct {
	// Keys are the HS256 secrets tokens may be signed with. When empty the
	// server is open: anyone may join any room, and the admin API is off.
	Keys []string `yaml:"keys"`
}

// ICEServer is one STUN or TURN server handed to clients, as an RTCIceServer.
type ICEServer struct {
	// URLs are stun:, stuns:, turn: or turns: URLs of the same server.
	URLs []string `yaml:"urls"`
	// Username authenticates to a TURN server.
	Username string `yaml:"username"`
	// Credential is the TURN password.
	Credential string `yaml:"credential"`
}

// Rooms configures conference rooms.
type Rooms struct {
	// MaxParticipants is the most participants one room admits.
	MaxParticipants int `yaml:"maxParticipants"`
	// MaxPublishBitrate caps the media each participant sends, all its
	// tracks together, in bits per second; what is over it is dropped.
	// 0 means no cap.
	MaxPublishBitrate int `yaml:"maxPublishBitrate"`
}

// Signaling configures the WebSocket signaling connections.
type Signaling struct {
	// RateLimit is the sustained number of inbound messages allowed per second
	// per connection.
	RateLimit float64 `yaml:"rateLimit"`
	// RateBurst is the number of messages a connection may send at once.
	RateBurst int `yaml:"rateBurst"`
	// SendQueue is the number of outbound messages queued per connection before
	// the client is disconnected as too slow.
	SendQueue int `yaml:"sendQueue"`
	// PingInterval is how often the server pings each connection.
	PingInterval time.Duration `yaml:"pingInterval"`
	// PongTimeout is how long a connection may go without a pong before it is
	// closed; it is longer than PingInterval.
	PongTimeout time.Duration `yaml:"pongTimeout"`
	// OfferDelay is the debounce before the server sends an offer.
	OfferDelay time.Duration `yaml:"offerDelay"`
	// MaxConnections caps the WebSocket connections open at once, joined or
	// not; 0 means no cap.
	MaxConnections int `yaml:"maxConnections"`
	// MaxConnectionsPerIP caps those from one client address (an IPv4
	// address, or an IPv6 /64); 0 means no cap.
	MaxConnectionsPerIP int `yaml:"maxConnectionsPerIP"`
}

// Log configures logging.
type Log struct {
	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
	// Format is "text" or "json".
	Format string `yaml:"format"`
}

// maxOfferDelay bounds Signaling.OfferDelay: a longer debounce would only make
// renegotiation feel stuck.
const maxOfferDelay = 5 * time.Second

// Load returns the configuration: the embedded default, then the YAML file at
// path applied on top of it (skipped when path is ""; it may set only some
// keys), then the environment variables read through getenv (os.Getenv in main;
// nil reads none), validated. Unknown keys are errors.
func Load(path string, getenv func(string) string) (*Config, error) {
	c := new(Config)
	if err := decodeYAML(c, configs.Default(), "embedded default"); err != nil {
		return nil, err
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: read file: %w", err)
		}
		if err := decodeYAML(c, data, path); err != nil {
			return nil, err
		}
	}
	if getenv != nil {
		if err := applyEnv(c, getenv); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate reports the first value out of its allowed range, naming its key.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		return fmt.Errorf("config: http.addr: %q is not host:port: %w", c.HTTP.Addr, err)
	}
	if c.HTTP.TLS.Enabled() && (c.HTTP.TLS.Cert == "" || c.HTTP.TLS.Key == "") {
		return fmt.Errorf("config: http.tls: cert and key go together")
	}
	if c.HTTP.RedirectAddr != "" {
		if !c.HTTP.TLS.Enabled() {
			return fmt.Errorf("config: http.redirectAddr: needs http.tls")
		}
		if _, _, err := net.SplitHostPort(c.HTTP.RedirectAddr); err != nil {
			return fmt.Errorf("config: http.redirectAddr: %q is not host:port: %w", c.HTTP.RedirectAddr, err)
		}
	}
	if c.HTTP.DrainTimeout <= 0 || c.HTTP.DrainTimeout > 10*time.Minute {
		return fmt.Errorf("config: http.drainTimeout: %v is out of range (0, 10m]", c.HTTP.DrainTimeout)
	}
	if err := c.ICE.TURN.validate(); err != nil {
		return err
	}
	if g := c.Session.ResumeGrace; g < 0 || g > time.Hour {
		return fmt.Errorf("config: session.resumeGrace: %v is out of range 0–1h", g)
	}
	for i, k := range c.Auth.Keys {
		if len(k) < 16 {
			return fmt.Errorf("config: auth.keys[%d]: a key needs at least 16 characters", i)
		}
	}
	if p := c.ICE.UDPPort; p < 0 || p > 65535 {
		return fmt.Errorf("config: ice.udpPort: %d is out of range 0–65535", p)
	}
	if err := validateIPs("ice.ips", c.ICE.IPs); err != nil {
		return err
	}
	if err := validateIPs("ice.publicIPs", c.ICE.PublicIPs); err != nil {
		return err
	}
	for i, s := range c.ICE.Servers {
		if err := s.validate(fmt.Sprintf("ice.servers[%d]", i)); err != nil {
			return err
		}
	}
	if n := c.Rooms.MaxParticipants; n < 1 {
		return fmt.Errorf("config: rooms.maxParticipants: %d is less than 1", n)
	}
	if n := c.Rooms.MaxPublishBitrate; n != 0 && n < minPublishBitrate {
		return fmt.Errorf("config: rooms.maxPublishBitrate: %d is below %d bit/s (0 means no cap)", n, minPublishBitrate)
	}
	s := c.Signaling
	if r := s.RateLimit; !(r > 0) || math.IsInf(r, 1) {
		return fmt.Errorf("config: signaling.rateLimit: %v is not a number greater than 0", r)
	}
	if s.RateBurst < 1 {
		return fmt.Errorf("config: signaling.rateBurst: %d is less than 1", s.RateBurst)
	}
	if s.MaxConnections < 0 {
		return fmt.Errorf("config: signaling.maxConnections: %d is less than 0", s.MaxConnections)
	}
	if s.MaxConnectionsPerIP < 0 {
		return fmt.Errorf("config: signaling.maxConnectionsPerIP: %d is less than 0", s.MaxConnectionsPerIP)
	}
	if s.SendQueue < 8 {
		return fmt.Errorf("config: signaling.sendQueue: %d is less than 8", s.SendQueue)
	}
	if s.PingInterval <= 0 {
		return fmt.Errorf("config: signaling.pingInterval: %v is not greater than 0", s.PingInterval)
	}
	if s.PongTimeout <= s.PingInterval {
		return fmt.Errorf("config: signaling.pongTimeout: %v is not greater than signaling.pingInterval (%v)", s.PongTimeout, s.PingInterval)
	}
	if d := s.OfferDelay; d < 0 || d > maxOfferDelay {
		return fmt.Errorf("config: signaling.offerDelay: %v is out of range 0–%v", d, maxOfferDelay)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format: %q is not one of text, json", c.Log.Format)
	}
	return nil
}

// validateIPs checks that every entry of the list at key is a plain unicast IP
// address.
func (t TURN) validate() error {
	for _, p := range []struct {
		key  string
		port int
	}{{"ice.turn.udpPort", t.UDPPort}, {"ice.turn.tcpPort", t.TCPPort}} {
		if p.port < -1 || p.port > 65535 {
			return fmt.Errorf("config: %s: %d is out of range -1–65535", p.key, p.port)
		}
	}
	if t.Embedded && len(t.URLs) > 0 {
		return fmt.Errorf("config: ice.turn: embedded and urls exclude each other")
	}
	if len(t.URLs) > 0 && t.Secret == "" {
		return fmt.Errorf("config: ice.turn.secret: required with ice.turn.urls")
	}
	for i, u := range t.URLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return fmt.Errorf("config: ice.turn.urls[%d]: %q is not a turn: or turns: URL", i, u)
		}
	}
	if t.TTL < time.Minute || t.TTL > 30*24*time.Hour {
		return fmt.Errorf("config: ice.turn.ttl: %v is out of range 1m–720h", t.TTL)
	}
	if t.Realm == "" {
		return fmt.Errorf("config: ice.turn.realm: must not be empty")
	}
	return nil
}

func validateIPs(key string, ips []string) error {
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("config: %s: %q is not an IP address", key, s)
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return fmt.Errorf("config: %s: %q is not a unicast address", key, s)
		}
	}
	return nil
}

// validate checks one ICE server entry, found at key.
func (s ICEServer) validate(key string) error {
	if len(s.URLs) == 0 {
		return fmt.Errorf("config: %s.urls: no URL given", key)
	}
	for i, u := range s.URLs {
		scheme, _, _ := strings.Cut(u, ":")
		switch scheme {
		case "stun", "stuns":
		case "turn", "turns":
			if s.Username == "" || s.Credential == "" {
				return fmt.Errorf("config: %s: TURN URL %q needs a username and a credential", key, u)
			}
		default:
			return fmt.Errorf("config: %s.urls[%d]: %q: the scheme must be stun, stuns, turn or turns", key, i, u)
		}
	}
	return nil
}
