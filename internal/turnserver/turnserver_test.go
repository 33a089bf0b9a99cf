package turnserver

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/sfu"
)

const testSecret = "s3cret"

// testNow is the injected clock of every test server.
var testNow = time.Unix(1_700_000_000, 0)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer starts a server on loopback with an injected clock; mutate
// adjusts its Config first.
func startServer(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Realm:    "confab",
		Secret:   testSecret,
		ListenIP: net.IPv4(127, 0, 0, 1),
		RelayIP:  net.IPv4(127, 0, 0, 1),
		Logger:   discardLogger(),
		Now:      func() time.Time { return testNow },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

// closeServer closes s and fails the test if Close reports an error: it
// does when pion's loops have not all ended within closeTimeout. Close may
// take as long as that to succeed (a loaded machine delays the loops' last
// reads); longer is a Close blocked elsewhere than in that wait.
func closeServer(t *testing.T, s *Server) {
	t.Helper()
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > closeTimeout+time.Second {
		t.Errorf("Close took %v, beyond its own %v bound on waiting for pion's loops", d, closeTimeout)
	}
}

func TestCredentials(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	user, cred := Credentials("s3cret", "alice", time.Hour, now)
	// printf '%s' 1700003600:alice | openssl dgst -sha1 -hmac s3cret -binary | base64
	if user != "1700003600:alice" || cred != "YAFdW/YDZewZsR1QSgUk2IrfbRI=" {
		t.Fatalf("Credentials = %q, %q", user, cred)
	}
	user2, cred2 := Credentials("s3cret", "alice", time.Hour, now)
	if user2 != user || cred2 != cred {
		t.Fatalf("not deterministic: %q %q then %q %q", user, cred, user2, cred2)
	}
	if _, other := Credentials("other", "alice", time.Hour, now); other == cred {
		t.Fatal("credential does not depend on the secret")
	}
}

func TestAuthHandler(t *testing.T) {
	now := testNow
	handler := authHandler(testSecret, "confab", func() time.Time { return now }, discardLogger())
	valid, validPass := Credentials(testSecret, "p:1", time.Minute, now)
	atExpiry, atExpiryPass := Credentials(testSecret, "p", 0, now)
	expired, _ := Credentials(testSecret, "p", -time.Second, now)
	tests := []struct {
		name, user, realm string
		ok                bool
		wantID, password  string
	}{
		{name: "valid", user: valid, realm: "confab", ok: true, wantID: "p:1", password: validPass},
		{name: "expires this second", user: atExpiry, realm: "confab", ok: true, wantID: "p", password: atExpiryPass},
		{name: "expired", user: expired, realm: "confab"},
		{name: "wrong realm", user: valid, realm: "other"},
		{name: "no participant", user: strconv.FormatInt(now.Unix()+60, 10), realm: "confab"},
		{name: "bad expiry", user: "soon:p", realm: "confab"},
		{name: "empty", user: "", realm: "confab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, key, ok := handler(&turn.RequestAttributes{Username: tt.user, Realm: tt.realm})
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if id != tt.wantID {
				t.Errorf("user ID = %q, want %q", id, tt.wantID)
			}
			if want := turn.GenerateAuthKey(tt.user, "confab", tt.password); string(key) != string(want) {
				t.Errorf("key %x, want %x", key, want)
			}
		})
	}
}

func TestPermitPeer(t *testing.T) {
	public := permitPeer(net.IPv4(203, 0, 113, 7), nil)
	loop := permitPeer(net.IPv4(127, 0, 0, 1), nil)
	onlySFU := permitPeer(net.IPv4(203, 0, 113, 7), []net.IP{net.IPv4(198, 51, 100, 1)})
	tests := []struct {
		peer                  string
		public, loop, onlySFU bool
	}{
		{"198.51.100.1", true, true, true},
		{"10.0.0.5", true, true, false},
		{"127.0.0.1", false, true, false},
		{"::1", false, true, false},
		{"0.0.0.0", false, false, false},
		{"224.0.0.251", false, false, false},
	}
	for _, tt := range tests {
		ip := net.ParseIP(tt.peer)
		if got := onlySFU(nil, ip); got != tt.onlySFU {
			t.Errorf("relay limited to the SFU, peer %s: %v, want %v", tt.peer, got, tt.onlySFU)
		}
		if got := public(nil, ip); got != tt.public {
			t.Errorf("public relay, peer %s: %v, want %v", tt.peer, got, tt.public)
		}
		if got := loop(nil, ip); got != tt.loop {
			t.Errorf("loopback relay, peer %s: %v, want %v", tt.peer, got, tt.loop)
		}
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	defer leaktest.VerifyNone(t)
	base := func() Config {
		return Config{Secret: "x", ListenIP: net.IPv4(127, 0, 0, 1), UDPPort: -1, TCPPort: -1}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no secret", func(c *Config) { c.Secret = ""; c.UDPPort = 0 }},
		{"no transport", func(*Config) {}},
		{"relay IP unknown", func(c *Config) { c.ListenIP = nil; c.UDPPort = 0 }},
		{"relay IP unspecified", func(c *Config) { c.RelayIP = net.IPv4zero; c.UDPPort = 0 }},
		{"half a range", func(c *Config) { c.RelayPortMin = 50000; c.UDPPort = 0 }},
		{"inverted range", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 50010, 50000; c.UDPPort = 0 }},
		{"port too large", func(c *Config) { c.TCPPort = 70000 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mutate(&cfg)
			s, err := Start(cfg)
			if !errors.Is(err, ErrConfig) {
				if s != nil {
					_ = s.Close()
				}
				t.Fatalf("Start = %v, want ErrConfig", err)
			}
		})
	}
}

func TestAddrsAndURLs(t *testing.T) {
	defer leaktest.VerifyNone(t)
	s := startServer(t, nil)
	udp, tcp := s.UDPAddr(), s.TCPAddr()
	if udp == nil || tcp == nil || !udp.IP.IsLoopback() || !tcp.IP.IsLoopback() || udp.Port == 0 || tcp.Port == 0 {
		t.Fatalf("UDPAddr %v, TCPAddr %v", udp, tcp)
	}
	want := []string{
		"turn:turn.example:" + strconv.Itoa(udp.Port) + "?transport=udp",
		"turn:turn.example:" + strconv.Itoa(tcp.Port) + "?transport=tcp",
	}
	if got := s.URLs("turn.example"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("URLs = %q, want %q", got, want)
	}
	if got := s.URLs(""); len(got) != 2 || !strings.HasPrefix(got[0], "turn:127.0.0.1:") {
		t.Errorf("URLs(\"\") = %q", got)
	}
	closeServer(t, s)

	s = startServer(t, func(c *Config) { c.UDPPort = -1 })
	if s.UDPAddr() != nil {
		t.Errorf("UDP disabled, UDPAddr = %v", s.UDPAddr())
	}
	if got := s.URLs("::1"); len(got) != 1 || !strings.HasPrefix(got[0], "turn:[::1]:") || !strings.HasSuffix(got[0], "?transport=tcp") {
		t.Errorf("URLs = %q", got)
	}
	closeServer(t, s)
}

// turnClient is a pion TURN client connected to the server over network
// ("udp" or "tcp").
type turnClient struct {
	*turn.Client
	conn net.PacketConn
}

func dialTURN(t *testing.T, s *Server, network, user, pass string) *turnClient {
	t.Helper()
	var (
		conn   net.PacketConn
		server string
	)
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn, server = pc, s.UDPAddr().String()
	case "tcp":
		c, err := net.DialTimeout("tcp4", s.TCPAddr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn, server = turn.NewSTUNConn(c), s.TCPAddr().String()
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: server,
		Conn:           conn,
		Username:       user,
		Password:       pass,
		LoggerFactory:  sfu.LoggerFactory(discardLogger()),
	})
	if err != nil {
		_ = conn.Close()
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		client.Close()
		_ = conn.Close()
		t.Fatal(err)
	}
	return &turnClient{Client: client, conn: conn}
}

func (c *turnClient) close() {
	c.Close()
	_ = c.conn.Close()
}

func TestAllocate(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			defer leaktest.VerifyNone(t)
			s := startServer(t, nil)
			defer closeServer(t, s)

			user, pass := Credentials(testSecret, "alice", time.Hour, testNow)
			expiredUser, expiredPass := Credentials(testSecret, "alice", time.Hour, testNow.Add(-2*time.Hour))
			tests := []struct {
				name, user, pass string
				ok               bool
			}{
				{"minted", user, pass, true},
				{"wrong credential", user, "d3JvbmcgY3JlZGVudGlhbA==", false},
				{"someone else's name", strings.Replace(user, "alice", "bob", 1), pass, false},
				{"expired", expiredUser, expiredPass, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := dialTURN(t, s, network, tt.user, tt.pass)
					defer c.close()
					relay, err := c.Allocate()
					if !tt.ok {
						if err == nil {
							_ = relay.Close()
							t.Fatal("Allocate succeeded")
						}
						return
					}
					if err != nil {
						t.Fatalf("Allocate: %v", err)
					}
					defer func() { _ = relay.Close() }()
					addr, _ := relay.LocalAddr().(*net.UDPAddr)
					if addr == nil || !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) || addr.Port == 0 {
						t.Fatalf("relayed address %v", relay.LocalAddr())
					}
				})
			}
		})
	}
}

func TestTCPRelayRefused(t *testing.T) {
	defer leaktest.VerifyNone(t)
	s := startServer(t, nil)
	defer closeServer(t, s)
	user, pass := Credentials(testSecret, "alice", time.Hour, testNow)
	c := dialTURN(t, s, "tcp", user, pass)
	defer c.close()
	if alloc, err := c.AllocateTCP(); err == nil {
		_ = alloc.Close()
		t.Fatal("AllocateTCP succeeded")
	}
}

// TestRelayPortRange: the relay is allocated in the configured range, here
// a single port, one that was free a moment ago. Other packages' tests bind
// ephemeral ports meanwhile, so the port is chosen outside the kernel's
// ephemeral range when there is room (where only an explicit bind can take
// it); if the port was taken all the same, as the failed Allocate and a
// failed bind of it show, the test tries another.
func TestRelayPortRange(t *testing.T) {
	defer leaktest.VerifyNone(t)
	const attempts = 3
	for attempt := 1; ; attempt++ {
		port := freeRelayPort(t)
		err := allocateOnPort(t, port)
		if err == nil {
			return
		}
		if attempt == attempts || !portInUse(port) {
			t.Fatalf("Allocate with relay ports %d-%[1]d: %v", port, err)
		}
		t.Logf("attempt %d: Allocate: %v; port %d was taken meanwhile, trying another", attempt, err, port)
	}
}

// allocateOnPort starts a server whose relay range is the one port, and
// allocates a relay; the relay must be on that port. It returns Allocate's
// error.
func allocateOnPort(t *testing.T, port int) error {
	t.Helper()
	s := startServer(t, func(c *Config) { c.TCPPort = -1; c.RelayPortMin, c.RelayPortMax = port, port })
	defer closeServer(t, s)
	user, pass := Credentials(testSecret, "alice", time.Hour, testNow)
	c := dialTURN(t, s, "udp", user, pass)
	defer c.close()
	relay, err := c.Allocate()
	if err != nil {
		return err
	}
	defer func() { _ = relay.Close() }()
	if got := relay.LocalAddr().(*net.UDPAddr).Port; got != port { //nolint:forcetypeassert // a UDP relay
		t.Fatalf("relay port %d, want %d", got, port)
	}
	return nil
}

// freeRelayPort returns a UDP port of 127.0.0.1 that is free now: outside
// the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range) if it can,
// else one the kernel hands out for port 0.
func freeRelayPort(t *testing.T) int {
	t.Helper()
	var candidates [][2]int // inclusive ranges of ports outside the ephemeral one
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil {
			if lo-1 >= 10000 {
				candidates = append(candidates, [2]int{10000, lo - 1})
			}
			if hi+1 <= 65535 {
				candidates = append(candidates, [2]int{hi + 1, 65535})
			}
		}
	}
	for range 20 * len(candidates) {
		r := candidates[rand.IntN(len(candidates))]
		port := r[0] + rand.IntN(r[1]-r[0]+1)
		if pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			_ = pc.Close()
			return port
		}
	}
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = probe.Close() }()
	return probe.LocalAddr().(*net.UDPAddr).Port //nolint:forcetypeassert // a UDP socket
}

// portInUse reports whether binding UDP port on 127.0.0.1 fails because
// another socket holds it.
func portInUse(port int) bool {
	pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	_ = pc.Close()
	return false
}

// TestCloseWithLiveClients closes the server under clients that still hold
// allocations: pion would leave the TCP connection and its goroutine behind.
func TestCloseWithLiveClients(t *testing.T) {
	defer leaktest.VerifyNone(t)
	s := startServer(t, nil)
	user, pass := Credentials(testSecret, "alice", time.Hour, testNow)
	var (
		clients []*turnClient
		relays  []net.PacketConn
	)
	defer func() {
		for _, r := range relays {
			_ = r.Close()
		}
		for _, c := range clients {
			c.close()
		}
	}()
	for _, network := range []string{"udp", "tcp", "tcp"} {
		c := dialTURN(t, s, network, user, pass)
		clients = append(clients, c)
		relay, err := c.Allocate()
		if err != nil {
			closeServer(t, s)
			t.Fatalf("Allocate over %s: %v", network, err)
		}
		relays = append(relays, relay)
	}
	closeServer(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestAllocationQuota: one participant's credentials hold at most
// MaxAllocationsPerUser allocations at once; the next Allocate is refused,
// another participant's is not, and one freed makes room again.
func TestAllocationQuota(t *testing.T) {
	defer leaktest.VerifyNone(t)
	s := startServer(t, nil)
	defer closeServer(t, s)
	user, pass := Credentials(testSecret, "alice", time.Hour, testNow)
	var relays []net.PacketConn
	defer func() {
		for _, r := range relays {
			_ = r.Close()
		}
	}()
	var clients []*turnClient
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	allocate := func(user, pass string) (net.PacketConn, error) {
		c := dialTURN(t, s, "udp", user, pass)
		clients = append(clients, c)
		return c.Allocate()
	}
	for i := range MaxAllocationsPerUser {
		relay, err := allocate(user, pass)
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		relays = append(relays, relay)
	}
	if relay, err := allocate(user, pass); err == nil {
		_ = relay.Close()
		t.Fatalf("allocation %d of one participant succeeded", MaxAllocationsPerUser+1)
	}
	bob, bobPass := Credentials(testSecret, "bob", time.Hour, testNow)
	relay, err := allocate(bob, bobPass)
	if err != nil {
		t.Fatalf("another participant's allocation: %v", err)
	}
	relays = append(relays, relay)

	// Closing a relay deletes its allocation (a refresh with lifetime 0).
	if err := relays[0].Close(); err != nil {
		t.Fatal(err)
	}
	relays = relays[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		relay, err := allocate(user, pass)
		if err == nil {
			relays = append(relays, relay)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after an allocation was freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestQuotaPerIP: allocations from one client address are bounded however
// many credentials it has (a client may join again for new ones), and
// freeing one makes room.
func TestQuotaPerIP(t *testing.T) {
	var q quota
	from := func(ip string, port int) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: port} }
	for i := range MaxAllocationsPerIP {
		user := fmt.Sprint("user", i/MaxAllocationsPerUser)
		if !q.allow(user, "confab", from("192.0.2.1", 1000+i)) {
			t.Fatalf("allocation %d from one address refused", i+1)
		}
		q.add(user, from("192.0.2.1", 1000+i), 1)
	}
	if q.allow("fresh", "confab", from("192.0.2.1", 9999)) {
		t.Fatalf("allocation %d from one address allowed with fresh credentials", MaxAllocationsPerIP+1)
	}
	if !q.allow("fresh", "confab", from("192.0.2.2", 9999)) {
		t.Fatal("an allocation from another address refused")
	}
	q.add("user0", from("192.0.2.1", 1000), -1)
	if !q.allow("fresh", "confab", from("192.0.2.1", 9999)) {
		t.Fatal("no room after an allocation from the address was deleted")
	}
	// IPv6 addresses count by /64, which a host usually has whole.
	if ipOf(from("2001:db8:1:2::1", 1)) != ipOf(from("2001:db8:1:2:ffff::9", 2)) || ipOf(from("2001:db8:1:2::1", 1)) == ipOf(from("2001:db8:1:3::1", 1)) {
		t.Fatalf("IPv6 keys: %s, %s, %s", ipOf(from("2001:db8:1:2::1", 1)), ipOf(from("2001:db8:1:2:ffff::9", 2)), ipOf(from("2001:db8:1:3::1", 1)))
	}
}
