package signaling_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

// localDialer dials from the local IP from (on Linux any address of
// 127.0.0.0/8 reaches the server on loopback).
func localDialer(from string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
}

// dialFrom opens a raw client whose socket is bound to the local IP from.
func dialFrom(t *testing.T, baseURL, from string) *rawClient {
	t.Helper()
	return dialRawWith(t, baseURL, &websocket.Dialer{NetDial: localDialer(from).Dial})
}

// TestMaxConnectionsPerIP: signaling.maxConnectionsPerIP counts each
// client address on its own: one address at its cap is refused while
// another is admitted, and the cap frees as its connections close.
func TestMaxConnectionsPerIP(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.MaxConnectionsPerIP = 2
	}})
	a1 := dialFrom(t, srv.URL, "127.0.0.1")
	a1.join("ip", "a1")
	a2 := dialFrom(t, srv.URL, "127.0.0.1")
	waitConnections(t, srv, 2)
	for range 5 {
		c := dialFrom(t, srv.URL, "127.0.0.1")
		c.expectRefused()
		c.close()
	}
	b := dialFrom(t, srv.URL, "127.0.0.2")
	b.join("ip", "b")
	b2 := dialFrom(t, srv.URL, "127.0.0.2")
	waitConnections(t, srv, 4)
	dialFrom(t, srv.URL, "127.0.0.2").expectRefused()
	a1.chatRoundTrip("a1 still here")

	a2.close()
	waitConnections(t, srv, 3)
	a3 := dialFrom(t, srv.URL, "127.0.0.1")
	a3.join("ip", "a3")
	b2.close()
}

// TestMaxConnectionsPerIPBeforeUpgrade: with signaling.maxConnectionsPerIP
// set, TCP connections from one address are also bounded before any
// upgrade (the WebSocket cap counts upgraded connections only): at the
// cap plus 16, a further connection from that address is closed at once,
// where a silent socket would otherwise be held until the read timeout.
// Another address is not affected, and closed sockets free their places.
func TestMaxConnectionsPerIPBeforeUpgrade(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.MaxConnectionsPerIP = 1
		o.HTTPReadTimeout = time.Minute
	}})
	ws := dialFrom(t, srv.URL, "127.0.0.1")
	ws.join("ip", "ws")
	dial := func(from string) net.Conn {
		t.Helper()
		c, err := localDialer(from).Dial("tcp", hostPort(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var silent []net.Conn
	for range 16 {
		silent = append(silent, dial("127.0.0.1"))
	}
	over := dial("127.0.0.1")
	_ = over.SetReadDeadline(time.Now().Add(readTimeout))
	start := time.Now()
	if got, err := io.ReadAll(over); err != nil || len(got) > 0 || time.Since(start) > 10*time.Second {
		t.Fatalf("a connection over the bound got %q, %v after %v; want a close at once", got, err, time.Since(start))
	}
	// Another address still gets in, up to its own cap.
	other := dialFrom(t, srv.URL, "127.0.0.2")
	other.join("ip", "other")
	// Freed sockets free the address's places.
	for _, c := range silent {
		_ = c.Close()
	}
	waitFor(t, func() bool {
		c := dial("127.0.0.1")
		_, err := io.WriteString(c, strings.TrimSuffix(healthzRequest, "\r\n")+"Connection: close\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(readTimeout))
		got, _ := io.ReadAll(c)
		return err == nil && strings.Contains(string(got), "200 OK")
	})
	ws.chatRoundTrip("still here")
}
