// Package signaling is Confab's front end: a Fiber app that serves the meeting
// page and the WebSocket at /ws speaking the contract of docs/protocol.md.
//
// Each connection has three goroutines, all owned by the connection's handler:
// the handler itself reads frames; a writer alone owns the socket's writes and
// drains a bounded queue (a client that cannot keep up is disconnected, never
// waited on); and a session loop owns the participant's state, its room
// membership, its peer connection and the negotiation with its client. Room
// events and pion callbacks are posted to the session's inbox; only the session
// acts on them.
package signaling
