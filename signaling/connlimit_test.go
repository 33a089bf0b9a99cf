package signaling_test

import (
	"net"
	"strings"
	"testing"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

// dialFrom opens a raw client whose socket is bound to the local IP from
// (any address of 127.0.0.0/8 reaches the server on loopback).
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

// expectRefused reads what a connection over a cap gets: server-busy as
// its first message, then a close with status 1013.
func (c *rawClient) expectRefused() {
	c.t.Helper()
	c.expectError(protocol.CodeServerBusy)
	if _, err := c.next(); !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
		c.t.Fatalf("after server-busy: %v, want close 1013", err)
	}
}

// chatRoundTrip checks that c, joined, is still served: its chat comes
// back to it.
func (c *rawClient) chatRoundTrip(text string) {
	c.t.Helper()
	c.sendJSON(map[string]string{"type": protocol.TypeChat, "text": text})
	for {
		if m := c.expect(protocol.TypeChat, protocol.TypeParticipantJoined, protocol.TypeParticipantLeft, protocol.TypeOffer); m.str("text") == text {
			return
		}
	}
}

// TestMaxConnections: past signaling.maxConnections, a new connection,
// joined or not, is refused with server-busy and closed with 1013, over
// and over; the connections already open carry on, and once one closes a
// new one is admitted. The gauge follows, and returns to 0 at the end.
func TestMaxConnections(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.MaxConnections = 3
	}})
	ann := dialRaw(t, srv.URL)
	ann.join("cap", "ann")
	idle1, idle2 := dialRaw(t, srv.URL), dialRaw(t, srv.URL)
	for range 20 {
		c := dialRaw(t, srv.URL)
		c.expectRefused()
		c.close()
	}
	ann.chatRoundTrip("still here")
	if got := scrape(t, srv.URL)["confab_websocket_connections"]; got != 3 {
		t.Errorf("confab_websocket_connections = %v, want 3", got)
	}
	if got := scrape(t, srv.URL)[`confab_websocket_errors_total{code="server-busy"}`]; got != 20 {
		t.Errorf(`confab_websocket_errors_total{code="server-busy"} = %v, want 20`, got)
	}

	idle1.close()
	waitFor(t, func() bool { return scrape(t, srv.URL)["confab_websocket_connections"] == 2 })
	bob := dialRaw(t, srv.URL)
	bob.join("cap", "bob")
	ann.expect(protocol.TypeParticipantJoined, protocol.TypeOffer, protocol.TypeChat)

	ann.close()
	bob.close()
	idle2.close()
	waitFor(t, func() bool { return scrape(t, srv.URL)["confab_websocket_connections"] == 0 })
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
	for range 5 {
		c := dialFrom(t, srv.URL, "127.0.0.1")
		c.expectRefused()
		c.close()
	}
	b := dialFrom(t, srv.URL, "127.0.0.2")
	b.join("ip", "b")
	b2 := dialFrom(t, srv.URL, "127.0.0.2")
	dialFrom(t, srv.URL, "127.0.0.2").expectRefused()
	a1.chatRoundTrip("a1 still here")

	a2.close()
	waitFor(t, func() bool { return scrape(t, srv.URL)["confab_websocket_connections"] == 3 })
	a3 := dialFrom(t, srv.URL, "127.0.0.1")
	a3.join("ip", "a3")
	b2.close()
}
