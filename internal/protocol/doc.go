// Package protocol holds the Confab signaling messages: one Go type per message of
// the wire contract (docs/protocol.md), their validation, and the error codes.
//
// It is shared by the server (package signaling), the Go test client and the load
// generator, so every party encodes and checks messages the same way. It performs
// no I/O.
package protocol
