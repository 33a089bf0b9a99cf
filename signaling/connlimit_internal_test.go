package signaling

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/confab/confab/internal/protocol"
)

// TestClientKey: a connection counts against its IPv4 address, an
// IPv4-mapped IPv6 address against the IPv4 one, and IPv6 addresses of one
// /64 against one key.
func TestClientKey(t *testing.T) {
	tcp := func(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 40000} }
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{tcp("192.0.2.7"), "192.0.2.7"},
		{tcp("::ffff:192.0.2.7"), "192.0.2.7"},
		{tcp("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::"},
		{tcp("2001:db8:1:2::1"), "2001:db8:1:2::"},
		{tcp("2001:db8:1:3::1"), "2001:db8:1:3::"},
		{&net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 9}, "198.51.100.1"},
		{&net.UnixAddr{Name: "/run/confab.sock", Net: "unix"}, "invalid IP"},
		{nil, "invalid IP"},
	} {
		if got := clientKey(tc.addr).String(); got != tc.want {
			t.Errorf("clientKey(%v) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// TestConnLimitCounts: acquire and release keep the counts exact, both caps
// refuse with server-busy, and a key leaves the map when its last
// connection goes.
func TestConnLimitCounts(t *testing.T) {
	l := newConnLimit(3, 2, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	a := &net.TCPAddr{IP: net.ParseIP("192.0.2.1")}
	b := &net.TCPAddr{IP: net.ParseIP("192.0.2.2")}
	c := &net.TCPAddr{IP: net.ParseIP("192.0.2.3")}
	ka1, err := l.acquire(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.acquire(a); err != nil {
		t.Fatal(err)
	}
	if _, err := l.acquire(a); err == nil || err.Code != protocol.CodeServerBusy {
		t.Fatalf("third from one address: %v, want server-busy", err)
	}
	kb, err := l.acquire(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.acquire(c); err == nil || err.Code != protocol.CodeServerBusy {
		t.Fatalf("fourth in all: %v, want server-busy", err)
	}
	l.release(kb)
	if _, ok := l.perAddr[kb]; ok {
		t.Errorf("key %v kept after its last connection", kb)
	}
	kc, err := l.acquire(c)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	l.release(kc)
	l.release(ka1)
	l.release(ka1)
	if l.total != 0 || len(l.perAddr) != 0 {
		t.Errorf("after every release: total %d, per address %v", l.total, l.perAddr)
	}
	if want := netip.MustParseAddr("192.0.2.1"); ka1 != want {
		t.Errorf("key %v, want %v", ka1, want)
	}
}

// TestAddrLimitListenerTLS: behind a TLS listener the limiter's
// connections still show as TLS to the HTTP server (which looks for
// Handshake and ConnectionState), plain ones do not, and closing a
// connection, twice even, frees its one place and no other.
func TestAddrLimitListenerTLS(t *testing.T) {
	cert := selfSignedCert(t)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	for _, secure := range []bool{true, false} {
		inner := raw
		if secure {
			inner = tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}})
		}
		l := newAddrLimitListener(inner, 2, slog.New(slog.NewTextHandler(io.Discard, nil)))
		dialed := make(chan error, 2)
		for range 2 {
			go func() {
				d := &net.Dialer{Timeout: 10 * time.Second, Deadline: time.Now().Add(10 * time.Second)}
				var c net.Conn
				var err error
				if secure {
					c, err = tls.DialWithDialer(d, "tcp", raw.Addr().String(), &tls.Config{InsecureSkipVerify: true})
				} else {
					c, err = d.Dial("tcp", raw.Addr().String())
				}
				if err == nil {
					_ = c.Close()
				}
				dialed <- err
			}()
		}
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		other, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_ = other.SetDeadline(time.Now().Add(10 * time.Second))
		tc, isTLS := c.(tlsConn)
		if isTLS != secure {
			t.Fatalf("secure %v: the accepted connection shows as TLS: %v", secure, isTLS)
		}
		if secure {
			if err := tc.Handshake(); err != nil {
				t.Fatalf("handshake through the limiter: %v", err)
			}
			if !tc.ConnectionState().HandshakeComplete {
				t.Fatal("ConnectionState does not reach the TLS connection")
			}
		}
		if secure {
			if err := other.(tlsConn).Handshake(); err != nil {
				t.Fatalf("handshake through the limiter: %v", err)
			}
		}
		for range 2 {
			if err := <-dialed; err != nil {
				t.Fatalf("secure %v: dial: %v", secure, err)
			}
		}
		_ = c.Close()
		_ = c.Close()
		if got := l.open[netip.MustParseAddr("127.0.0.1")]; got != 1 {
			t.Fatalf("secure %v: one of two connections closed twice leaves %d places held, want 1", secure, got)
		}
		_ = other.Close()
		if len(l.open) != 0 {
			t.Fatalf("secure %v: after both closed, places still held: %v", secure, l.open)
		}
	}
}

// selfSignedCert makes a certificate for 127.0.0.1.
func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// scriptedListener returns errs from Accept in turn, then conn.
type scriptedListener struct {
	net.Listener
	errs []error
	conn net.Conn
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	return l.conn, nil
}

func (l *scriptedListener) Close() error { return nil }

// TestAcceptRetriesWhatPasses: running out of file descriptors is waited
// out and the next connection returned (the HTTP server would end on
// it); a closed listener ends Accept.
func TestAcceptRetriesWhatPasses(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	// The first two listed: out of file descriptors, for the process
	// and for the system, on Unix.
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", retriedAcceptErrors[0])}
	enfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", retriedAcceptErrors[1])}
	l := newAddrLimitListener(&scriptedListener{errs: []error{emfile, enfile}, conn: a}, 0, discard)
	if c, err := l.Accept(); err != nil || c != a {
		t.Fatalf("Accept after EMFILE and ENFILE = %v, %v; want the next connection", c, err)
	}
	closed := newAddrLimitListener(&scriptedListener{errs: []error{net.ErrClosed}}, 0, discard)
	if _, err := closed.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v, want net.ErrClosed", err)
	}

	// Close ends a backoff at once: the HTTP server's shutdown waits for
	// its accept loop.
	full := newAddrLimitListener(&emfileListener{emfile}, 0, discard)
	full.backoff = time.Second // the next wait is the longest
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = full.Close()
	}()
	start := time.Now()
	ended := make(chan error, 1)
	go func() {
		_, err := full.Accept()
		ended <- err
	}()
	select {
	case err := <-ended:
		if !errors.Is(err, net.ErrClosed) || time.Since(start) > 900*time.Millisecond {
			t.Fatalf("Accept closed during its backoff: %v after %v, want net.ErrClosed at once", err, time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still retrying 10 s after Close")
	}
}

// emfileListener fails every Accept with err.
type emfileListener struct{ err error }

func (l *emfileListener) Accept() (net.Conn, error) { return nil, l.err }
func (l *emfileListener) Close() error              { return nil }
func (l *emfileListener) Addr() net.Addr            { return &net.TCPAddr{} }

// TestAcceptErrorPasses: every error listed for this system is retried,
// as accept returns it (wrapped in an OpError and a SyscallError), and a
// closed listener or another error is not.
func TestAcceptErrorPasses(t *testing.T) {
	wrap := func(err error) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", err)}
	}
	for _, e := range retriedAcceptErrors {
		if !acceptErrorPasses(wrap(e)) {
			t.Errorf("%v (%d) is not retried", e, uintptr(e))
		}
	}
	for _, err := range []error{net.ErrClosed, wrap(net.ErrClosed), wrap(syscall.EINVAL), wrap(syscall.EBADF)} {
		if acceptErrorPasses(err) {
			t.Errorf("%v is retried", err)
		}
	}
}
