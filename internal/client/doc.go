// Package client is a Go WebRTC client for Confab: it speaks the signaling
// contract (docs/protocol.md) over a real WebSocket and carries media over a real
// pion PeerConnection. The server's integration tests drive it, and so does the
// load generator.
//
// # Life cycle
//
// Dial opens the WebSocket and starts two goroutines: a reader, which appends
// every server message to a log and queues the signaling ones (offer, answer,
// candidate, and error negotiation-failed), and a handler, which applies the
// queued messages to the PeerConnection one at a time, in order. Join sends join,
// waits for joined, creates the PeerConnection, adds the local tracks recorded
// by AddTrack, sends publish and the first offer. Close closes the
// PeerConnection and the socket and joins every goroutine the client started.
//
// Tests that drive the protocol by hand use SendRaw, SendJSON, WaitMessage and
// WaitError; the log holds every message received since Dial, whether or not
// the client was joined with Join. Signaling messages are also applied to the
// PeerConnection, but only while a session created by Join exists.
//
// # Negotiation
//
// The server is the impolite peer and the contract asks the client to be
// polite: to roll back its own offer when the server's offer collides with it.
// pion v4.2 cannot roll back a local offer, so this client cannot recover from
// glare. It avoids glare instead: it makes its own offer only when it has no
// server offer to handle (none being applied, none queued) and signaling is
// stable, and it keeps one offer of its own in flight. If a server offer arrives
// while the client's offer is outstanding, the session is broken: Offer and Err
// report ErrGlare. Tests avoid this by adding every track before Join (the
// first offer carries them all) and by renegotiating only while the server is
// quiet (see WaitIdle).
//
// # Network
//
// Media goes to 127.0.0.1 only: the client gathers IPv4 loopback host
// candidates over UDP, never uses mDNS, drops every remote candidate whose
// address is not IPv4 loopback, and uses only the loopback STUN/TURN servers of
// joined. The WebSocket goes to the URL given to Dial, without any proxy.
package client
