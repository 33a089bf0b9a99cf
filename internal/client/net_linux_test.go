package client

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pion/transport/v4/stdnet"
	"go.uber.org/goleak"
)

func TestReadBufferNet(t *testing.T) {
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	conn, err := readBufferNet{Net: base, size: size}.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		t.Fatalf("conn is a %T", conn)
	}
	raw, err := udp.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		got, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	// Linux reports twice the size asked for, capped at twice rmem_max; the
	// default is about 200 KiB.
	if got < size {
		t.Errorf("SO_RCVBUF is %d, want at least %d (unless net.core.rmem_max is lower)", got, size)
	}
}

// TestSocketReadBufferSession: a client with a larger socket buffer still
// connects and receives media.
func TestSocketReadBufferSession(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := newFakeServer(t)
	defer fs.Close()
	opts := testOptions()
	opts.SocketReadBuffer = 1 << 20
	c, err := Dial(ctx, fs.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, "room", "alice"); err != nil {
		t.Fatal(err)
	}
	checkRemoteTrack(ctx, t, c)
}
