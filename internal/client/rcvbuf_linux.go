package client

import (
	"errors"
	"syscall"

	"github.com/pion/transport/v4"
)

// setReadBuffer sets a socket's receive buffer with SO_RCVBUFFORCE, which
// passes net.core.rmem_max, when the process may; else with SO_RCVBUF.
func setReadBuffer(conn transport.UDPConn, size int) error {
	// Any kernel socket, also one wrapped (the load's timed sockets).
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			var serr error
			if err := raw.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size)
			}); err == nil && serr == nil {
				return nil
			} else if serr != nil && !errors.Is(serr, syscall.EPERM) {
				return serr
			}
		}
	}
	return conn.SetReadBuffer(size) // capped at net.core.rmem_max
}
