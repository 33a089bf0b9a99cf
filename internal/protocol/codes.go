package protocol

// Code is an error code carried by an "error" message.
type Code string

// The error codes of the contract.
const (
	CodeBadRequest        Code = "bad-request"
	CodeUnknownType       Code = "unknown-type"
	CodeNotJoined         Code = "not-joined"
	CodeAlreadyJoined     Code = "already-joined"
	CodeNameTaken         Code = "name-taken"
	CodeRoomFull          Code = "room-full"
	CodeUnauthorized      Code = "unauthorized"
	CodeTooLarge          Code = "too-large"
	CodeRateLimited       Code = "rate-limited"
	CodeNegotiationFailed Code = "negotiation-failed"
	CodeInternal          Code = "internal"

	// CodeShuttingDown extends the contract: the server is shutting down; it
	// refuses joins and closes every connection after sending it.
	CodeShuttingDown Code = "shutting-down"
	// CodeRemoved extends the contract: a moderator removed the participant
	// (kick, or the room was closed); it has left the room and may join again
	// if allowed.
	CodeRemoved Code = "removed"
	// CodeServerBusy extends the contract: the server already holds as many
	// signaling connections as it allows, in all or from the client's
	// address. It is sent when the connection opens, which is then closed
	// with WebSocket status 1013 (try again later).
	CodeServerBusy Code = "server-busy"
)

// Error is a failure to report to the client as an "error" message. Its Message is
// meant for a person to read. Package signaling maps every user-visible failure to
// an *Error in one place; anything else becomes CodeInternal and is logged.
type Error struct {
	Code    Code
	Message string
	// Request is the type of the request the error is about, when the frame
	// named a known type; DecodeRequest sets it.
	Request string
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: sprintf(format, args...)}
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Wire returns the "error" message that reports e.
func (e *Error) Wire() ErrorMessage {
	return ErrorMessage{Type: TypeError, Code: e.Code, Message: e.Message}
}
