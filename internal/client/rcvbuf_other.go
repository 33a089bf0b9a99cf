//go:build !linux

package client

import "github.com/pion/transport/v4"

// setReadBuffer sets a socket's receive buffer (SO_RCVBUF).
func setReadBuffer(conn transport.UDPConn, size int) error {
	return conn.SetReadBuffer(size)
}
