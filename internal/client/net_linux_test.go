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

	"github.com/confab/confab/internal/leaktest"
	"github.com/confab/confab/internal/netwrap"
)

// TestSetReadBuffer: a socket's receive buffer is set past
// net.core.rmem_max where the process may, also through a wrapper around
// the kernel socket (as the load's timed sockets are).
func TestSetReadBuffer(t *testing.T) {
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	// More than the usual net.core.rmem_max (208 KiB to 4 MiB): root gets it
	// (SO_RCVBUFFORCE), others get the cap.
	const size = 8 << 20
	wrapped := struct{ *net.UDPConn }{udp}
	if err := setReadBuffer(wrapped, size); err != nil {
		t.Fatal(err)
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
	// Linux keeps, and reports, twice the size it was given.
	want := 2 * size
	if os.Geteuid() != 0 {
		b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
		if err != nil {
			t.Skip(err)
		}
		rmemMax, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		want = 2 * min(size, rmemMax)
	}
	if got < want {
		t.Errorf("SO_RCVBUF is %d, want at least %d", got, want)
	}
}

// TestSocketReadBufferSession: a client with its own network and a larger
// socket buffer still connects and receives media, and pion opened its
// socket through that network.
func TestSocketReadBufferSession(t *testing.T) {
	defer leaktest.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := newFakeServer(t)
	defer fs.Close()
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	var listens atomic.Int32
	counting, err := netwrap.Wrap(base, func(c transport.UDPConn) (transport.UDPConn, error) {
		listens.Add(1)
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.SocketReadBuffer = 1 << 20
	opts.Net = counting
	c := dialJoined(ctx, t, fs.URL(), opts)
	defer c.Close()
	checkRemoteTrack(ctx, t, c)
	if listens.Load() == 0 {
		t.Error("pion did not open its socket through Options.Net")
	}
}
