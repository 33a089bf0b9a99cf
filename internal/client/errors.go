package client

import "errors"

var (
	// ErrClosed is returned by the methods of a Client after Close.
	ErrClosed = errors.New("client closed")

	// ErrNotJoined is returned by methods that need a session (Offer, WaitIdle,
	// WaitConnected...) when Join has not succeeded, or after Leave.
	ErrNotJoined = errors.New("client not joined")

	// ErrAlreadyJoined is returned by Join while a session exists or another
	// Join is in progress. To test the server's already-joined error, send a
	// second join with SendJSON.
	ErrAlreadyJoined = errors.New("client already joined")

	// ErrGlare means the server sent an offer while the client's own offer was
	// outstanding. pion v4.2 cannot roll back a local offer, so the session
	// cannot continue; Leave or Close it.
	ErrGlare = errors.New("glare: server offer collided with the client's outstanding offer")

	// ErrBroken wraps the cause of an earlier negotiation failure after which
	// the PeerConnection is left in a state the client cannot negotiate from.
	ErrBroken = errors.New("negotiation broken")

	// ErrConnectionFailed is returned by WaitConnected when the PeerConnection
	// reaches the failed or closed state.
	ErrConnectionFailed = errors.New("peer connection failed")

	// ErrUnknownTrack is returned by RemoveTrack and SenderStats for a track id
	// the client does not publish.
	ErrUnknownTrack = errors.New("unknown local track")

	// ErrDuplicateTrack is returned by AddTrack for a track id already in use.
	ErrDuplicateTrack = errors.New("duplicate local track id")

	// ErrUnsupportedCodec is returned by AddTrack for a MIME type it cannot
	// publish.
	ErrUnsupportedCodec = errors.New("unsupported codec")

	// ErrInvalidSource is returned by AddTrack for a source that is not one of
	// the contract's (camera, microphone, screen, screen-audio).
	ErrInvalidSource = errors.New("invalid track source")
)
