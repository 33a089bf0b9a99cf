// Package netwrap gives pion a network whose UDP sockets are wrapped, for
// tests that put a link's behaviour (loss, delay) under a client.
package netwrap

import (
	"fmt"
	"net"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
)

// Net is the standard network, but every kernel UDP socket it opens is
// handed to Wrap, and pion gets what Wrap returns.
type Net struct {
	transport.Net
	Wrap func(*net.UDPConn) transport.UDPConn
}

// New returns the standard network with sockets wrapped by wrap.
func New(wrap func(*net.UDPConn) transport.UDPConn) (*Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	return &Net{Net: n, Wrap: wrap}, nil
}

// ListenUDP opens a socket and wraps it (any other kind of connection is
// returned as it is).
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		return conn, nil
	}
	return n.Wrap(udp), nil
}
