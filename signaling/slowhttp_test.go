package signaling_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

// TestSlowHTTPClients: a client that connects and sends nothing, one that
// sends part of a request and stalls, and a kept-alive connection left
// idle are each closed by the server after its timeout, so none holds a
// socket for good; a WebSocket, past its upgrade, is not touched by those
// timeouts.
func TestSlowHTTPClients(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.HTTPReadTimeout, o.HTTPIdleTimeout = timeout, timeout
	}})
	ws := dialRaw(t, srv.URL)
	ws.join("slow", "ann")
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, tc := range []struct{ name, send string }{
		{"silent", ""},
		{"partial request", "GET /healthz HTTP/1.1\r\nHost: confab\r\n"},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: confab\r\n\r\n"},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, tc.send); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(20 * time.Second))
		got, err := io.ReadAll(c) // until the server closes
		took := time.Since(start)
		_ = c.Close()
		if err != nil {
			t.Fatalf("%s: the server kept the connection open: %v", tc.name, err)
		}
		if took < timeout {
			t.Errorf("%s: closed after %v, before the timeout (%v)", tc.name, took, timeout)
		}
		if tc.name == "idle keep-alive" && !strings.Contains(string(got), "200 OK") {
			t.Errorf("%s: the request before the idle time got %q", tc.name, got)
		}
	}

	// The WebSocket has outlived all of those timeouts, and is served.
	ws.chatRoundTrip("still here")
}
