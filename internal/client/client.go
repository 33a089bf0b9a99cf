package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/dtls/v3"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/transport/v4"

	"github.com/confab/confab/internal/protocol"
)

const (
	// writeTimeout bounds one WebSocket write.
	writeTimeout = 5 * time.Second
	// handshakeTimeout bounds the WebSocket handshake in Dial.
	handshakeTimeout = 5 * time.Second
	// readLimit bounds one inbound frame; server offers for large rooms are big.
	readLimit = 8 << 20
	// renegotiationTimeout bounds a background renegotiation started by
	// AddTrack or RemoveTrack.
	renegotiationTimeout = 30 * time.Second
	// pollInterval is how often waits on packet counters look again.
	pollInterval = 10 * time.Millisecond
)

// EmptyOffer says what the first offer carries when the client has no local
// track: pion cannot apply an offer without any media section (it has no ICE
// credentials), so a viewer has to offer something.
type EmptyOffer int

const (
	// EmptyOfferDataChannel adds one data channel, so the offer has an
	// application section and no media section. The client never uses it.
	EmptyOfferDataChannel EmptyOffer = iota
	// EmptyOfferRecvOnly adds one recvonly audio and one recvonly video
	// transceiver, as a browser viewer might.
	EmptyOfferRecvOnly
	// EmptyOfferNone sends the offer as pion makes it: no section at all. Only
	// useful to test how the server handles such an offer.
	EmptyOfferNone
)

// Options configures a Client. The zero value is usable.
type Options struct {
	// Logger receives the client's and pion's logs; nil discards them.
	Logger *slog.Logger

	// Interceptors lets a test add interceptors to the client's registry. It is
	// called with the registry after pion's defaults (NACK generator and
	// responder, RTCP reports, stats, transport-cc) are registered, so the
	// interceptors it adds sit between the defaults and the application: an
	// incoming packet they drop has already been seen by the NACK generator and
	// is never asked for again.
	Interceptors func(*interceptor.Registry) error

	// NetworkInterceptors is like Interceptors but is called before the defaults
	// are registered, so its interceptors sit between the network and the
	// defaults: an incoming packet they drop is a loss the NACK generator sees
	// and asks the server to retransmit. Use it for NACK tests.
	NetworkInterceptors func(*interceptor.Registry) error

	// DisableReplayProtection turns SRTP replay protection off. A packet that
	// NetworkInterceptors drop has already passed SRTP, so its retransmission
	// (same SSRC and sequence number) would be discarded as a replay; NACK
	// tests that drop packets that way need this.
	DisableReplayProtection bool

	// SRTPProfiles, when set, are the only SRTP protection profiles the
	// client offers in DTLS (pion's default list otherwise).
	SRTPProfiles []dtls.SRTPProtectionProfile

	// OfferSetup, when set, replaces a=setup:actpass in the offers sent to
	// the server ("passive" makes the client the DTLS server and the server
	// the DTLS client). The local description keeps actpass, so pion follows
	// the server's answer.
	OfferSetup string

	// OnPacket, if set, is called for every RTP packet read from a remote
	// track, from that track's reading goroutine (so concurrently for different
	// tracks). The packet and its payload are only valid during the call, and
	// the call delays the reading of that track: keep it short.
	OnPacket func(rt *RemoteTrack, pkt *rtp.Packet)

	// EmptyOffer says what the first offer carries when no local track was
	// added before Join; the default adds a data channel.
	EmptyOffer EmptyOffer

	// LogLimit bounds the message log (see WaitMessage) to about the last
	// LogLimit messages; 0 keeps every message. A load generator should set it.
	LogLimit int

	// StreamID is the MediaStream id of the local tracks (the stream id of
	// their a=msid); empty picks a random one.
	StreamID string

	// LightInterceptors replaces pion's default interceptors with the few a
	// load generator needs: the NACK generator and responder, RTCP sender and
	// receiver reports, and transport-cc sequence numbers on sent packets (so
	// the server still generates transport-cc feedback, as for a browser). It
	// leaves out the stats interceptor and transport-cc feedback for received
	// packets, which cost a lock and some work per received packet; and
	// under them, each received packet's RTP header is parsed once, into
	// attributes reused for the stream, so they allocate nothing per packet.
	// NetworkInterceptors and Interceptors are placed around them as around
	// the defaults.
	LightInterceptors bool

	// CountOnly makes remote tracks count packets and bytes only: SeqCount,
	// LastSeq, LastPayloads and Keyframes are not kept (they read 0, false and
	// nothing). It saves a lock, a 64 KiB table per track and a payload copy
	// per packet, for clients that do their own accounting in OnPacket.
	CountOnly bool

	// RelayOnly sets ICETransportPolicy relay: media goes only through the
	// TURN servers handed out in joined (which must be on 127.0.0.1).
	RelayOnly bool

	// SocketReadBuffer, if positive, is the receive buffer size asked of the
	// kernel for the client's UDP socket: SO_RCVBUFFORCE where the process
	// may (root on Linux), else SO_RCVBUF, which the kernel caps at
	// net.core.rmem_max. A load generator running hundreds of clients on
	// one core uses it so that a moment's delay in reading does not overflow
	// the default buffer (about 200 KiB, some 90 full-size packets).
	SocketReadBuffer int

	// DirectReceive makes the client's socket reader take each remote
	// track's packets itself once the first has come through pion:
	// decrypt them and hand them to the track's accounting and OnPacket,
	// sparing pion's five goroutine hand-offs per packet, and ask for lost
	// ones with NACKs of its own (direct.go). OnPacket is then called from
	// the socket's reading goroutine too, and calls for one track may
	// overlap around the switch; a blocking OnPacket would hold up the
	// whole connection. Interceptors and NetworkInterceptors do not see the
	// packets taken, so tests that drop packets there must leave it off.
	DirectReceive bool

	// Net, if set, is the network pion opens its sockets on, instead of
	// the standard one; a load generator wraps it to watch packets as the
	// kernel delivers them. The client's loopback filters still apply.
	Net transport.Net
}

// Message is one server message as received.
type Message struct {
	// Type is the message's "type" field, or "" if the frame had none.
	Type string
	// Raw is the frame as received.
	Raw []byte
}

// entry is one message of the log.
type entry struct {
	seq      uint64
	typ      string
	raw      []byte
	consumed bool
}

// Client is one participant: a WebSocket to the server and, once joined, a
// PeerConnection. Its methods are safe for concurrent use.
type Client struct {
	opts     Options
	log      *slog.Logger
	conn     *websocket.Conn
	streamID string

	// ctx is cancelled by Close; background renegotiations derive from it.
	ctx    context.Context
	cancel context.CancelFunc

	writeMu sync.Mutex // serializes writes to conn

	done      chan struct{} // closed when Close begins
	wake      chan struct{} // capacity 1: the handler has work
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// trackMu serializes changes to the local tracks and their senders (Join,
	// AddTrack, RemoveTrack, Leave). It is taken before mu, never after.
	trackMu sync.Mutex

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every state change
	closed   bool
	readErr  error // why the reader stopped
	asyncErr error // first error of background work (handler, renegotiation)
	msgs     []*entry
	nextSeq  uint64
	queue    []*entry // signaling messages for the handler
	handling bool     // the handler is applying a message
	joining  bool
	self     protocol.Peer
	sess     *session
	locals   []*localTrack
	// negotiations counts completed offer/answer exchanges, both directions.
	negotiations int
	renegPending bool
	renegRunning bool
}

// Dial opens the WebSocket of the server at serverURL (http://host:port, see
// WebSocketURL) and starts the client's reader and handler goroutines. It does
// not join a room. ctx bounds the handshake only; Close releases the client.
func Dial(ctx context.Context, serverURL string, opts Options) (*Client, error) {
	wsURL, err := WebSocketURL(serverURL)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	streamID := opts.StreamID
	if streamID == "" {
		streamID = "confab-client-" + randomHex(8)
	}
	dialer := websocket.Dialer{
		HandshakeTimeout: handshakeTimeout,
		Proxy:            nil, // never through a proxy
	}
	conn, resp, err := dialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: HTTP %s: %w", wsURL, resp.Status, err)
		}
		return nil, fmt.Errorf("dial %s: %w", wsURL, err)
	}
	conn.SetReadLimit(readLimit)

	c := &Client{
		opts:     opts,
		log:      log.With("client", streamID),
		conn:     conn,
		streamID: streamID,
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		changed:  make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(2)
	go c.readLoop()
	go c.handleLoop()
	return c, nil
}

// Close leaves nothing behind: it sends a WebSocket close frame, closes the
// socket and the PeerConnection, and waits for every goroutine the client
// started. It does not send leave; the server treats the closed socket as one.
// Close is idempotent and returns the error of the PeerConnection's close.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		sess := c.sess
		c.sess = nil
		c.notifyLocked()
		c.mu.Unlock()
		close(c.done)
		c.cancel()

		// The socket first: closing it unblocks writes stuck on a server that
		// does not read, which pion's callbacks may be in (OnICECandidate).
		// WriteControl may run concurrently with a blocked write.
		_ = c.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		_ = c.conn.Close()

		if sess != nil {
			if err := sess.close(); err != nil {
				c.closeErr = fmt.Errorf("close peer connection: %w", err)
			}
		}
		c.wg.Wait()
	})
	return c.closeErr
}

// SendRaw writes frame as one text frame, as it is. Bad-input tests use it.
func (c *Client) SendRaw(frame []byte) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("send: set write deadline: %w", err)
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// SendJSON marshals v and sends it as one text frame.
func (c *Client) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("send: marshal %T: %w", v, err)
	}
	return c.SendRaw(b)
}

// WaitMessage returns the first message of the log that match accepts and that
// no earlier WaitMessage, WaitError or Join has returned, waiting for one if
// needed; the message is then consumed. The log holds every message received
// since Dial (or about the last Options.LogLimit), including those the client
// also applies itself, such as offers. match is called without any lock held
// and must not have side effects that depend on being called once per message.
// WaitMessage fails when ctx ends, or when the socket is closed and no message
// in the log matches.
func (c *Client) WaitMessage(ctx context.Context, match func(typ string, raw []byte) bool) ([]byte, error) {
	e, err := c.waitEntry(ctx, 0, match)
	if err != nil {
		return nil, err
	}
	return e.raw, nil
}

// WaitError waits, like WaitMessage, for an error message with the given code,
// consumes it and returns it decoded.
func (c *Client) WaitError(ctx context.Context, code protocol.Code) (*protocol.ErrorMessage, error) {
	var em protocol.ErrorMessage
	_, err := c.waitEntry(ctx, 0, func(typ string, raw []byte) bool {
		if typ != protocol.TypeError {
			return false
		}
		var m protocol.ErrorMessage
		if json.Unmarshal(raw, &m) != nil || m.Code != code {
			return false
		}
		em = m
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("wait for error %s: %w", code, err)
	}
	return &em, nil
}

// Messages returns a copy of the log, consumed messages included, oldest first.
func (c *Client) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Message, len(c.msgs))
	for i, e := range c.msgs {
		out[i] = Message{Type: e.typ, Raw: e.raw}
	}
	return out
}

// Err returns the first error of the client's background work: applying a
// server message, a renegotiation started by AddTrack or RemoveTrack, glare.
// Errors caused by Leave or Close are not reported.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asyncErr
}

// waitEntry waits for the first unconsumed entry with seq >= from that match
// accepts, and consumes it. Entries already rejected by match are not shown to
// it again.
func (c *Client) waitEntry(ctx context.Context, from uint64, match func(string, []byte) bool) (*entry, error) {
	cursor := from
	for {
		c.mu.Lock()
		var candidates []*entry
		for _, e := range c.msgs {
			if e.seq >= cursor && !e.consumed {
				candidates = append(candidates, e)
			}
		}
		next := c.nextSeq
		readErr, closed, ch := c.readErr, c.closed, c.changed
		c.mu.Unlock()

		for _, e := range candidates {
			if !match(e.typ, e.raw) {
				continue
			}
			c.mu.Lock()
			taken := e.consumed
			e.consumed = true
			c.mu.Unlock()
			if !taken {
				return e, nil
			}
		}
		cursor = next

		switch {
		case closed:
			return nil, ErrClosed
		case readErr != nil:
			return nil, readErr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// readLoop reads frames until the socket fails, logs each message and queues
// the signaling ones for the handler.
func (c *Client) readLoop() {
	defer c.wg.Done()
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			if c.readErr == nil {
				c.readErr = fmt.Errorf("websocket closed: %w", err)
			}
			c.notifyLocked()
			c.mu.Unlock()
			return
		}
		if kind != websocket.TextMessage {
			c.log.Warn("ignoring non-text frame", "kind", kind)
			continue
		}
		var env protocol.Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			c.log.Warn("server frame is not a JSON object", "err", err)
		}
		c.mu.Lock()
		e := &entry{seq: c.nextSeq, typ: env.Type, raw: data}
		c.nextSeq++
		c.msgs = append(c.msgs, e)
		if limit := c.opts.LogLimit; limit > 0 && len(c.msgs) >= 2*limit {
			c.msgs = append([]*entry(nil), c.msgs[len(c.msgs)-limit:]...)
		}
		if signaling(e) {
			c.queue = append(c.queue, e)
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
		c.notifyLocked()
		c.mu.Unlock()
	}
}

// signaling reports whether the handler must see e.
func signaling(e *entry) bool {
	switch e.typ {
	case protocol.TypeOffer, protocol.TypeAnswer, protocol.TypeCandidate:
		return true
	case protocol.TypeError:
		var m protocol.ErrorMessage
		return json.Unmarshal(e.raw, &m) == nil && m.Code == protocol.CodeNegotiationFailed
	}
	return false
}

// handleLoop applies queued signaling messages one at a time, in order.
func (c *Client) handleLoop() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		for len(c.queue) == 0 {
			c.mu.Unlock()
			select {
			case <-c.wake:
			case <-c.done:
				return
			}
			c.mu.Lock()
		}
		e := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.handling = true
		sess := c.sess
		c.mu.Unlock()

		if sess == nil {
			c.log.Debug("not joined: signaling message left to the log", "type", e.typ)
		} else {
			c.handle(sess, e)
		}

		c.mu.Lock()
		c.handling = false
		c.notifyLocked()
		c.mu.Unlock()
	}
}

// notifyLocked wakes every waiter. c.mu must be held.
func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// notify wakes every waiter.
func (c *Client) notify() {
	c.mu.Lock()
	c.notifyLocked()
	c.mu.Unlock()
}

// wait blocks until the state changes after ch was taken, ctx ends or the
// client closes.
func (c *Client) wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
}

// goLocked starts f as a goroutine the client owns, unless the client is
// closing. c.mu must be held, so that Close cannot be waiting yet.
func (c *Client) goLocked(f func()) bool {
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// setAsyncErrLocked records the first background error. c.mu must be held.
func (c *Client) setAsyncErrLocked(err error) {
	c.log.Error("client background error", "err", err)
	if c.asyncErr == nil {
		c.asyncErr = err
	}
}

// send marshals one protocol message and writes it.
func (c *Client) send(msg any) error {
	return c.SendJSON(msg)
}

// isShutdown reports whether err comes from the client or session closing.
func isShutdown(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, ErrNotJoined) ||
		errors.Is(err, context.Canceled) || errors.Is(err, io.ErrClosedPipe)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
