package signaling_test

import (
	"net"
	"strings"
	"testing"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

// dialFrom opens a raw client whose socket is bound to the local IP from
// (on Linux any address of 127.0.0.0/8 reaches the server on loopback).
func dialFrom(t *testing.T, baseURL, from string) *rawClient {
	t.Helper()
	d := websocket.Dialer{NetDial: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).Dial}
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/ws"
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", url, from, err)
	}
	c := &rawClient{t: t, ws: ws}
	t.Cleanup(c.close)
	return c
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
