package auth

import "errors"

// ErrUnauthorized is wrapped by every error Verify returns. The text before it
// names the reason (expired, bad signature, wrong algorithm, ...) for a log;
// a client is told only that it is unauthorized.
var ErrUnauthorized = errors.New("unauthorized")
