package turnserver

import "errors"

var (
	// ErrConfig is wrapped by every error Start returns for a Config it
	// cannot use; the text before it names the field.
	ErrConfig = errors.New("turnserver: invalid configuration")
	// ErrCloseTimeout is returned by Close when pion's loops have not all
	// ended within the close deadline; the sockets are closed regardless.
	ErrCloseTimeout = errors.New("turnserver: loops did not end in time")
)
