package signaling_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

// expectRefused sends a join at once, as the page does when its socket
// opens, and reads what a connection over a cap gets: server-busy first,
// then a close with status 1013; then the server closes the socket
// cleanly. It must read the join before it closes: a socket closed with
// data unread is reset, and a reset can discard the error before the
// client reads it (without that read, most refusals here end in a reset).
func (c *rawClient) expectRefused() {
	c.t.Helper()
	c.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "refused", Name: "refused"})
	c.expectError(protocol.CodeServerBusy)
	if _, err := c.next(); !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
		c.t.Fatalf("after server-busy: %v, want close 1013", err)
	}
	// The client library has answered the close; the server's end
	// follows, a FIN (EOF), not a reset.
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(readTimeout))
	if n, err := c.ws.NetConn().Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		c.t.Fatalf("after the close handshake: read %d bytes, %v; want EOF", n, err)
	}
}

// waitConnections waits until the server counts want open connections:
// a dial returns once the upgrade's answer is in, which can be before the
// server's handler has counted the connection.
func waitConnections(t *testing.T, srv *testserver.Server, want float64) {
	t.Helper()
	waitFor(t, func() bool { return scrape(t, srv.URL)["confab_websocket_connections"] == want })
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
	waitConnections(t, srv, 3)
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
	waitConnections(t, srv, 2)
	bob := dialRaw(t, srv.URL)
	bob.join("cap", "bob")
	ann.expect(protocol.TypeParticipantJoined, protocol.TypeOffer, protocol.TypeChat)

	ann.close()
	bob.close()
	idle2.close()
	waitConnections(t, srv, 0)
}
