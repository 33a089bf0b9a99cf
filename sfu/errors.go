package sfu

import "errors"

var (
	// ErrClosed is returned by operations on a closed Peer or Track.
	ErrClosed = errors.New("sfu: closed")
	// ErrCodecUnsupported is returned when a subscriber did not negotiate the
	// codec of the track it should receive.
	ErrCodecUnsupported = errors.New("sfu: codec not negotiated by the subscriber")
	// ErrNoNegotiation is returned by Peer.Offer when there is nothing to offer
	// and by Peer.Answer when the peer is not waiting for an answer.
	ErrNoNegotiation = errors.New("sfu: no negotiation in progress")

	errPacketTooLarge = errors.New("sfu: packet too large")
)
