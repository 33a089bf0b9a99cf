package signaling_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

// healthzRequest is a whole HTTP/1.1 request for /healthz.
const healthzRequest = "GET /healthz HTTP/1.1\r\nHost: confab\r\n\r\n"

// TestSlowHTTPClients: a client that connects and sends nothing, one that
// sends part of a request and stalls, and a kept-alive connection left
// idle are each closed by the server after its timeout, so none holds a
// socket for good; a WebSocket, past its upgrade, is not touched by those
// timeouts.
func TestSlowHTTPClients(t *testing.T) {
	// Unequal, to tell which one closed a connection.
	const httpRead, httpIdle = 300 * time.Millisecond, time.Second
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.HTTPReadTimeout, o.HTTPIdleTimeout = httpRead, httpIdle
	}})
	ws := dialRaw(t, srv.URL)
	ws.join("slow", "ann")

	for _, tc := range []struct {
		name, send string
		timeout    time.Duration
	}{
		{"silent", "", httpRead},
		{"partial request", strings.TrimSuffix(healthzRequest, "\r\n"), httpRead},
		{"idle keep-alive", healthzRequest, httpIdle},
	} {
		// Timed from before the dial: the server's deadline cannot start
		// earlier.
		start := time.Now()
		c, err := net.Dial("tcp", hostPort(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, tc.send); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_ = c.SetReadDeadline(start.Add(20 * time.Second))
		got, err := io.ReadAll(c) // until the server closes
		took := time.Since(start)
		_ = c.Close()
		if err != nil {
			t.Fatalf("%s: the connection did not end with the server's close: %v", tc.name, err)
		}
		if took < tc.timeout {
			t.Errorf("%s: closed after %v, before its timeout (%v)", tc.name, took, tc.timeout)
		}
		if tc.name == "idle keep-alive" && !strings.Contains(string(got), "200 OK") {
			t.Errorf("%s: the request before the idle time got %q", tc.name, got)
		}
	}

	// The WebSocket has outlived all of those timeouts, and is served.
	ws.chatRoundTrip("still here")
}

// TestShutdownWithUnfinishedRequest: an HTTP request left unfinished at
// the drain deadline (here half a request on a kept-alive connection)
// does not make Shutdown fail once every participant is closed: the HTTP
// server would wait for it until its read timeout, and nothing is lost
// by dropping it.
func TestShutdownWithUnfinishedRequest(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.HTTPReadTimeout = time.Minute
	}})
	ann := dialRaw(t, srv.URL)
	ann.join("unfinished", "ann")
	c, err := net.Dial("tcp", hostPort(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A whole request first, so the server has surely taken the
	// connection, then half of the next one.
	if _, err := io.WriteString(c, healthzRequest); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(readTimeout))
	if _, err := c.Read(make([]byte, 512)); err != nil {
		t.Fatalf("first request: %v", err)
	}
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // for the server to begin reading it

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Signaling.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	ann.expectError(protocol.CodeShuttingDown)
	if _, err := ann.next(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("ann's socket ended with %v, want close 1001", err)
	}
}
