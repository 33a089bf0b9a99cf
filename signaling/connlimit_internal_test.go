package signaling

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"

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
