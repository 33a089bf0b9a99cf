package turnserver

import (
	"errors"
	"net"

	"github.com/pion/turn/v5"
)

// errTCPRelay refuses RFC 6062 TCP relay allocations. WebRTC never asks for
// them, and they would let any participant open TCP connections from this
// host to anywhere.
var errTCPRelay = errors.New("turnserver: TCP relay allocations are not offered")

// relayGenerator allocates UDP relays through pion's generator on the
// listen address, advertises them with the relay IP, tracks each relay
// socket so that Close can wait for its reader, and refuses TCP relays.
type relayGenerator struct {
	inner turn.RelayAddressGenerator
	loops *loops
}

func (g *relayGenerator) Validate() error { return g.inner.Validate() }

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	pc, addr, err := g.inner.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	return trackPacketConn(pc, g.loops, true), addr, nil
}

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelay
}

// permitPeer refuses to relay to addresses no participant can have: the
// unspecified address and multicast, and loopback unless the relay itself
// is on loopback (a test or a single-machine setup). Loopback peers on a
// public server would let a participant reach this host's local services.
func permitPeer(relayIP net.IP, allowed []net.IP) turn.PermissionHandler {
	allowLoopback := relayIP.IsLoopback()
	return func(_ net.Addr, peer net.IP) bool {
		switch {
		case peer.IsUnspecified(), peer.IsMulticast():
			return false
		case len(allowed) > 0:
			// Only the media server's own addresses: the relay is for
			// reaching Confab, not an open UDP proxy.
			for _, ip := range allowed {
				if ip.Equal(peer) {
					return true
				}
			}
			return false
		case peer.IsLoopback():
			return allowLoopback
		default:
			return true
		}
	}
}
