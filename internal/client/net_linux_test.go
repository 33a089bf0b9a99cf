package client

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"go.uber.org/goleak"
)

func TestReadBufferNet(t *testing.T) {
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	// More than the usual net.core.rmem_max (208 KiB to 4 MiB): root gets it
	// (SO_RCVBUFFORCE), others get the cap.
	const size = 8 << 20
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
	// Linux reports twice the size it was given.
	want := size
	if os.Geteuid() != 0 {
		b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
		if err != nil {
			t.Skip(err)
		}
		rmemMax, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		want = min(size, rmemMax)
	}
	if got < want {
		t.Errorf("SO_RCVBUF is %d, want at least %d", got, want)
	}
}

// countingNet counts the UDP sockets pion opens through it.
type countingNet struct {
	transport.Net
	listens atomic.Int32
}

func (n *countingNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	n.listens.Add(1)
	return n.Net.ListenUDP(network, laddr)
}

// TestSocketReadBufferSession: a client with its own network and a larger
// socket buffer still connects and receives media, and pion opened its
// socket through that network.
func TestSocketReadBufferSession(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := newFakeServer(t)
	defer fs.Close()
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingNet{Net: base}
	opts := testOptions()
	opts.SocketReadBuffer = 1 << 20
	opts.Net = counting
	c := dialJoined(ctx, t, fs.URL(), opts)
	defer c.Close()
	checkRemoteTrack(ctx, t, c)
	if counting.listens.Load() == 0 {
		t.Error("pion did not open its socket through Options.Net")
	}
}
