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
	// ErrPeerStuck wraps the error of a Peer.Answer that pion refused only
	// after taking the offer: the peer is left in have-remote-offer, which
	// pion v4.2.20 cannot roll back, and can negotiate no more. checkRemoteSDP
	// refuses the offers known to do this before they are applied; the
	// peer's owner should replace a stuck peer.
	ErrPeerStuck = errors.New("sfu: the offer left the peer unable to negotiate")

	// ErrTooManyCandidates is returned by Peer.AddCandidate for a candidate
	// past MaxRemoteCandidates.
	ErrTooManyCandidates = errors.New("sfu: too many ICE candidates")

	errPacketTooLarge = errors.New("sfu: packet too large")
)
