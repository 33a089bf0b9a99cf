package signaling_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/signaling"
)

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestDrainAndShutdown: draining turns /readyz false and refuses joins while
// the meeting goes on; shutting down tells every connection shutting-down,
// closes it with 1001 and releases every peer.
func TestDrainAndShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	if got := getStatus(t, srv.URL+"/healthz"); got != http.StatusOK {
		t.Fatalf("/healthz = %d", got)
	}
	if got := getStatus(t, srv.URL+"/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz before draining = %d", got)
	}
	ann := newParticipant(ctx, t, srv, "drain", "ann", client.Options{})
	wait(t, ctx, "ann connected", ann.WaitConnected)
	bob := dialRaw(t, srv.URL)
	bob.join("drain", "bob")
	late := dialRaw(t, srv.URL)

	srv.Signaling.Drain()
	if got := getStatus(t, srv.URL+"/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining = %d, want 503", got)
	}
	if got := getStatus(t, srv.URL+"/healthz"); got != http.StatusOK {
		t.Fatalf("/healthz while draining = %d", got)
	}
	late.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "drain", Name: "late"})
	late.expectError(protocol.CodeShuttingDown)
	// The meeting goes on meanwhile.
	bob.sendJSON(protocol.ChatRequest{Type: protocol.TypeChat, Text: "still on"})
	bob.expect(protocol.TypeChat, protocol.TypeCandidate, protocol.TypeOffer, protocol.TypeTrackPublished)

	done := make(chan error, 1)
	go func() { done <- srv.Signaling.Shutdown(ctx) }()
	m := bob.expect(protocol.TypeError, protocol.TypeChat, protocol.TypeCandidate, protocol.TypeOffer, protocol.TypeTrackPublished, protocol.TypeParticipantLeft)
	if m.str("code") != string(protocol.CodeShuttingDown) {
		t.Fatalf("bob got %v, want shutting-down", m)
	}
	for {
		_, err := bob.next()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("bob's socket ended with %v, want close 1001", err)
		}
		break
	}
	if _, err := ann.WaitError(ctx, protocol.CodeShuttingDown); err != nil {
		t.Fatalf("ann was not told: %v", err)
	}
	if err := <-done; err != nil {
		buf := make([]byte, 1<<20)
		t.Fatalf("Shutdown: %v\n%s", err, buf[:runtime.Stack(buf, true)])
	}
	if n := srv.API.Peers(); n != 0 {
		t.Fatalf("%d peers left after shutdown", n)
	}
}

// TestSlowClientIsDisconnected: a participant that stops reading while the
// room is busy is disconnected once its send queue fills, and the others see
// it leave; the server never waits on it.
func TestSlowClientIsDisconnected(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		// The default queue (256): the flooder reads its own echoes and
		// must keep up; the slow client never reads. The flood needs the
		// limits on messages and on room events out of the way.
		o.RateLimit, o.RateBurst = 1e6, 1e6
		o.RoomEventRate, o.RoomEventBurst = 1e6, 1e6
	}})
	slow := dialRaw(t, srv.URL)
	slowID := slow.join("busy", "slow")["self"].(map[string]any)["id"].(string)
	flooder := dialRaw(t, srv.URL)
	flooder.join("busy", "flooder")

	left := make(chan struct{})
	go func() {
		for {
			m, err := flooder.next()
			if err != nil {
				return
			}
			if m.str("type") == protocol.TypeParticipantLeft && m.str("participantId") == slowID {
				close(left)
				return
			}
		}
	}()
	text := strings.Repeat("x", protocol.MaxChatLen)
	deadline := time.After(30 * time.Second)
	for i := 0; ; i++ {
		select {
		case <-left:
			t.Logf("slow client disconnected after %d chat messages of %d bytes", i, len(text))
			return
		case <-deadline:
			t.Fatalf("slow client still in the room after %d messages", i)
		default:
		}
		if i < 20000 {
			flooder.sendJSON(protocol.ChatRequest{Type: protocol.TypeChat, Text: text})
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
