package signaling_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/protocol"
)

// rawClient speaks the protocol by hand over a real WebSocket, for tests of
// the wire rules. It reads only when asked.
type rawClient struct {
	t  *testing.T
	ws *websocket.Conn
	mu sync.Mutex // serializes writes (pion callbacks send too)

	// closeMu orders close against readerExit: a reader goroutine logs
	// its end only while the test has not closed the socket (and so
	// before the test can have ended, since its cleanup closes it).
	closeMu sync.Mutex
	closed  bool
}

// readTimeout is how long next waits for a message: a generous bound on a
// stalled machine, for reads that expect a message. No test asserts
// silence with it.
const readTimeout = 30 * time.Second

// dialRaw opens a raw client to the server at baseURL.
func dialRaw(t *testing.T, baseURL string) *rawClient {
	t.Helper()
	return dialRawWith(t, baseURL, websocket.DefaultDialer)
}

// dialRawWith opens a raw client to the server at baseURL through d.
func dialRawWith(t *testing.T, baseURL string, d *websocket.Dialer) *rawClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/ws"
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &rawClient{t: t, ws: ws}
	t.Cleanup(c.close)
	return c
}

// hostPort is the host:port of the server at baseURL, for plain TCP.
func hostPort(baseURL string) string { return strings.TrimPrefix(baseURL, "http://") }

// close closes the socket; a reader goroutine that then ends says nothing.
func (c *rawClient) close() {
	c.closeMu.Lock()
	c.closed = true
	c.closeMu.Unlock()
	_ = c.ws.Close()
}

// readerExit logs why a goroutine reading c stopped, unless the test
// closed c: a reader that quits early otherwise shows only as a wait
// elsewhere running out.
func (c *rawClient) readerExit(who string, err error) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if !c.closed {
		c.t.Logf("%s: reading the socket ended: %v", who, err)
	}
}

func (c *rawClient) send(frame string) {
	c.t.Helper()
	if err := c.trySend(frame); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// trySend sends frame and returns what went wrong, for pion's callbacks:
// they run on pion's goroutines, possibly after the test has ended, where
// Fatal must not be called.
func (c *rawClient) trySend(frame string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, []byte(frame))
}

func (c *rawClient) sendJSON(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(string(b))
}

// message is a decoded server message.
type message map[string]any

func (m message) str(key string) string { s, _ := m[key].(string); return s }

// next reads the next server message, waiting up to readTimeout.
func (c *rawClient) next() (message, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	kind, data, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	if kind != websocket.TextMessage {
		c.t.Fatalf("server sent a non-text frame")
	}
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", data, err)
	}
	return m, nil
}

// expect reads messages until one of type typ arrives, skipping the types
// listed in skip; any other message fails the test.
func (c *rawClient) expect(typ string, skip ...string) message {
	c.t.Helper()
	for {
		m, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %q: %v", typ, err)
		}
		if m.str("type") == typ {
			return m
		}
		skipped := false
		for _, s := range skip {
			skipped = skipped || m.str("type") == s
		}
		if !skipped {
			c.t.Fatalf("waiting for %q, got %v", typ, m)
		}
	}
}

func (c *rawClient) expectError(code protocol.Code) message {
	c.t.Helper()
	m := c.expect(protocol.TypeError)
	if m.str("code") != string(code) {
		c.t.Fatalf("error code = %q (%s), want %q", m.str("code"), m.str("message"), code)
	}
	if m.str("message") == "" {
		c.t.Fatalf("error %q without a message", code)
	}
	return m
}

func (c *rawClient) join(room, name string) message {
	c.t.Helper()
	c.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: room, Name: name})
	return c.expect(protocol.TypeJoined)
}
