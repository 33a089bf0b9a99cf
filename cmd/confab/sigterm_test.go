package main

import (
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// TestSIGTERMDrainsAndExitsZero runs the server as main does, on loopback,
// with a participant in a room, then sends the process SIGTERM: the
// participant is told shutting-down and its socket closed with 1001, and run
// returns 0.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	env := map[string]string{
		"CONFAB_HTTP_ADDR":    "127.0.0.1:0",
		"CONFAB_ICE_UDP_PORT": "0",
		"CONFAB_ICE_IPS":      "127.0.0.1",
	}
	r := startRun(t, env)
	addr := r.attr("http")
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","room":"sig","name":"ann"}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"joined"`) {
		t.Fatalf("join: %s %v", msg, err)
	}

	code := make(chan int, 1)
	go func() { code <- r.stop(t) }()
	told := false
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("socket ended with %v, want close 1001", err)
			}
			break
		}
		told = told || strings.Contains(string(msg), `"shutting-down"`)
	}
	if !told {
		t.Fatal("the participant was not told shutting-down")
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("run returned %d after SIGTERM, want 0", c)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
}
