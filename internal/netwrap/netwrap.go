// Package netwrap gives pion a network whose UDP sockets are wrapped as
// they are opened: the clients' larger receive buffers and direct
// receive path, the load's timed sockets, and the links tests put under a
// client (loss, delay).
package netwrap

import (
	"fmt"
	"net"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
)

// Func wraps a socket just opened; pion gets what it returns. On error the
// socket is closed and the error returned to pion.
type Func func(transport.UDPConn) (transport.UDPConn, error)

// wrapped is base with every UDP socket it opens handed to wrap.
type wrapped struct {
	transport.Net
	wrap Func
}

// Wrap returns base (the standard network when nil) with every UDP
// socket it opens handed to wrap.
func Wrap(base transport.Net, wrap Func) (transport.Net, error) {
	if base == nil {
		n, err := stdnet.NewNet()
		if err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
		base = n
	}
	return wrapped{Net: base, wrap: wrap}, nil
}

// Kernel makes a Func of one that wraps kernel sockets only; any other
// connection is handed on as it is.
func Kernel(wrap func(*net.UDPConn) (transport.UDPConn, error)) Func {
	return func(c transport.UDPConn) (transport.UDPConn, error) {
		u, ok := c.(*net.UDPConn)
		if !ok {
			return c, nil
		}
		return wrap(u)
	}
}

func (n wrapped) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	w, err := n.wrap(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return w, nil
}
