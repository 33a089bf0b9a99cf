package auth

import "errors"

// ErrUnauthorized is wrapped by every error Verify returns. The text before it
// names the reason (expired, bad signature, wrong algorithm, ...); the server
// logs it and tells the client too, which helps a person fix a token and
// reveals nothing secret.
var ErrUnauthorized = errors.New("unauthorized")
