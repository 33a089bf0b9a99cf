//go:build !linux

package load

import "github.com/pion/transport/v4"

// newArrivalNet returns nil off Linux: receivers measure latency in the
// application only.
func newArrivalNet(*arrivals) (transport.Net, error) { return nil, nil }
