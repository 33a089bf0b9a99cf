package signaling

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/metrics"
	"github.com/confab/confab/internal/protocol"
)

const (
	// writeTimeout bounds one write to a client socket.
	writeTimeout = 10 * time.Second
	// drainTimeout and drainLimit bound how long and how much of an oversized
	// frame is read after "too-large" before the connection is closed.
	drainTimeout = 5 * time.Second
	drainLimit   = 64 << 20
	// closeGrace is how long the reader waits for the writer to flush a close
	// frame before the socket is closed.
	closeGrace = 2 * time.Second
	// refuseDrainLimit bounds what is read and dropped from a refused
	// connection while it closes (see refuse).
	refuseDrainLimit = 64 << 10
)

// outbound is one queued write: a text frame, or a close frame when closeCode
// is set. The queue holds pointers: a queue of values would cost every
// connection SendQueue × 48 bytes while idle (2.8 MiB of the server's heap
// with 200 participants), pointers a sixth of that.
type outbound struct {
	data      []byte
	closeCode int
	closeText string
}

// wsConn is one client socket. The handler's goroutine reads; writeLoop alone
// writes. Everything else hands frames to send, which never blocks.
type wsConn struct {
	ws           *websocket.Conn
	log          *slog.Logger
	queue        chan *outbound
	pingInterval time.Duration
	pongTimeout  time.Duration
	metrics      *metrics.Metrics

	stop       chan struct{} // closed to end writeLoop
	stopOnce   sync.Once
	writerDone chan struct{}
	killOnce   sync.Once
	killed     atomic.Bool
}

func newWSConn(ws *websocket.Conn, log *slog.Logger, opts *Options) *wsConn {
	return &wsConn{
		ws:           ws,
		log:          log,
		queue:        make(chan *outbound, opts.SendQueue),
		pingInterval: opts.PingInterval,
		pongTimeout:  opts.PongTimeout,
		metrics:      opts.Metrics,
		stop:         make(chan struct{}),
		writerDone:   make(chan struct{}),
	}
}

// send queues a message. A client whose queue is full cannot keep up: it is
// disconnected rather than waited for.
func (c *wsConn) send(msg any) {
	c.enqueue(&outbound{data: protocol.Encode(msg)})
}

// sendError queues an "error" message and counts it.
func (c *wsConn) sendError(e *protocol.Error) {
	c.metrics.WebSocketError(string(e.Code))
	if e.Code == protocol.CodeNegotiationFailed {
		c.metrics.NegotiationFailed()
	}
	c.send(e.Wire())
}

func (c *wsConn) enqueue(o *outbound) {
	select {
	case c.queue <- o:
	default:
		c.log.Warn("client too slow: send queue full, disconnecting", "queue", cap(c.queue))
		c.kill()
	}
}

// kill ends the connection at once: the reader and writer fail and end.
//
// Closing the socket is not enough: fasthttp's hijacked connection ignores
// Close (it closes the socket itself once the handler returns), so kill sets
// deadlines in the past. The flag keeps the reader from re-arming its
// deadline afterwards (see armReadDeadline).
func (c *wsConn) kill() {
	c.killOnce.Do(func() {
		c.killed.Store(true)
		// On the socket itself: the websocket's own write deadline belongs
		// to the writer goroutine.
		past := time.Unix(1, 0)
		_ = c.ws.NetConn().SetReadDeadline(past)
		_ = c.ws.NetConn().SetWriteDeadline(past)
		_ = c.ws.Close()
	})
}

// armReadDeadline gives the peer pongTimeout more to say something, unless
// the connection was killed. kill sets the flag before its deadline, and this
// checks the flag after setting its own, so one of the two always wins
// with the past deadline.
func (c *wsConn) armReadDeadline() error {
	_ = c.ws.SetReadDeadline(time.Now().Add(c.pongTimeout))
	if c.killed.Load() {
		_ = c.ws.SetReadDeadline(time.Unix(1, 0))
		return errKilled
	}
	return nil
}

var errKilled = errors.New("connection killed")

// stopWriter ends writeLoop and waits for it.
func (c *wsConn) stopWriter() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.writerDone
}

// writeLoop owns the socket's writes: queued frames in order, and a ping every
// pingInterval. After a close frame it writes nothing more.
func (c *wsConn) writeLoop() {
	defer close(c.writerDone)
	ping := time.NewTicker(c.pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.stop:
			return
		case o := <-c.queue:
			if c.killed.Load() {
				return
			}
			if o.closeCode != 0 {
				msg := websocket.FormatCloseMessage(o.closeCode, o.closeText)
				if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout)); err != nil {
					c.log.Debug("write close frame", "err", err)
				}
				return
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, o.data); err != nil {
				c.log.Debug("write failed, disconnecting", "err", err)
				c.kill()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				c.log.Debug("ping failed, disconnecting", "err", err)
				c.kill()
				return
			}
		}
	}
}

// readFrame reads the next text frame, at most protocol.MaxFrameSize bytes. An
// oversized frame is answered with "too-large" and a 1009 close, the rest of it
// is read so the client sees the error, and errTooLarge is returned.
func (c *wsConn) readFrame() (int, []byte, error) {
	if err := c.armReadDeadline(); err != nil {
		return 0, nil, err
	}
	kind, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, protocol.MaxFrameSize+1))
	if err != nil {
		return 0, nil, err
	}
	if len(data) > protocol.MaxFrameSize {
		c.tooLarge(r)
		return 0, nil, errTooLarge
	}
	return kind, data, nil
}

var errTooLarge = errors.New("frame too large")

// queueClose queues a close frame after what is queued; the writer ends
// once it has sent it.
func (c *wsConn) queueClose(code int, text string) {
	c.enqueue(&outbound{closeCode: code, closeText: text})
}

// awaitWriter waits up to d for the writer to end (after the close frame
// queueClose queued).
func (c *wsConn) awaitWriter(d time.Duration) {
	select {
	case <-c.writerDone:
	case <-time.After(d):
	}
}

// closeGracefully queues a close frame after what is queued, waits a little
// for the writer to send it, then closes the socket, which ends the reader.
func (c *wsConn) closeGracefully(code int, text string) {
	c.queueClose(code, text)
	c.awaitWriter(closeGrace)
	c.kill()
}

// refuse answers a connection the server will not serve: the error e, a
// close frame with code and text, then what the client sends meanwhile
// (its join, say) read and dropped until its own close frame, within
// closeGrace and refuseDrainLimit, before the socket closes. Closed with
// those bytes unread, the socket would be reset, and a reset can discard
// the error before the client reads it. writeLoop must be running.
func (c *wsConn) refuse(e *protocol.Error, code int, text string) {
	c.sendError(e)
	c.queueClose(code, text)
	deadline := time.Now().Add(closeGrace)
	_ = c.ws.SetReadDeadline(deadline)
	for budget := int64(refuseDrainLimit); budget > 0; {
		_, r, err := c.ws.NextReader()
		if err != nil {
			break // the client's close frame, the deadline, or a failed socket
		}
		n, err := io.CopyN(io.Discard, r, budget)
		budget -= n
		if err != nil && !errors.Is(err, io.EOF) {
			break
		}
	}
	c.awaitWriter(time.Until(deadline))
	c.kill()
}

func (c *wsConn) tooLarge(rest io.Reader) {
	c.log.Warn("inbound frame over the limit, closing", "limit", protocol.MaxFrameSize)
	c.sendError(protocol.Errorf(protocol.CodeTooLarge, "frames are limited to %d bytes", protocol.MaxFrameSize))
	c.queueClose(websocket.CloseMessageTooBig, "frame too large")
	_ = c.ws.SetReadDeadline(time.Now().Add(drainTimeout))
	_, _ = io.CopyN(io.Discard, rest, drainLimit)
	c.awaitWriter(closeGrace)
}
