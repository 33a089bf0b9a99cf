package signaling_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/sdptest"
	"github.com/confab/confab/internal/testserver"
	"github.com/confab/confab/sfu"
	"github.com/confab/confab/signaling"
)

// TestBadInput sends every kind of bad frame the contract names and checks the
// error code, that the connection stays usable, and that another participant
// in the room notices nothing but its own traffic.
func TestBadInput(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	cases := []struct {
		name   string
		joined bool
		frame  string
		code   protocol.Code
	}{
		{"not JSON", false, `hello`, protocol.CodeBadRequest},
		{"truncated JSON", true, `{"type":"chat","text":"x"`, protocol.CodeBadRequest},
		{"array", false, `[1,2]`, protocol.CodeBadRequest},
		{"string", true, `"join"`, protocol.CodeBadRequest},
		{"null", false, `null`, protocol.CodeBadRequest},
		{"missing type", true, `{"room":"a"}`, protocol.CodeBadRequest},
		{"numeric type", false, `{"type":5}`, protocol.CodeBadRequest},
		{"unknown type", false, `{"type":"dance"}`, protocol.CodeUnknownType},
		{"unknown type joined", true, `{"type":"dance"}`, protocol.CodeUnknownType},
		{"server-only type", true, `{"type":"joined"}`, protocol.CodeUnknownType},
		{"offer before join", false, `{"type":"offer","sdp":"v=0"}`, protocol.CodeNotJoined},
		{"chat before join", false, `{"type":"chat","text":"hi"}`, protocol.CodeNotJoined},
		{"leave before join", false, `{"type":"leave"}`, protocol.CodeNotJoined},
		{"malformed chat before join", false, `{"type":"chat","text":5}`, protocol.CodeNotJoined},
		{"offer without media", true, `{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"}`, protocol.CodeNegotiationFailed},
		{"bad room", false, `{"type":"join","room":"no spaces","name":"x"}`, protocol.CodeBadRequest},
		{"long room", false, `{"type":"join","room":"` + strings.Repeat("r", 65) + `","name":"x"}`, protocol.CodeBadRequest},
		{"empty name", false, `{"type":"join","room":"r","name":""}`, protocol.CodeBadRequest},
		{"room as number", false, `{"type":"join","room":7,"name":"x"}`, protocol.CodeBadRequest},
		{"second join", true, `{"type":"join","room":"other","name":"x"}`, protocol.CodeAlreadyJoined},
		{"chat too long", true, `{"type":"chat","text":"` + strings.Repeat("é", 4097) + `"}`, protocol.CodeBadRequest},
		{"chat empty", true, `{"type":"chat","text":""}`, protocol.CodeBadRequest},
		{"mute without muted", true, `{"type":"mute","trackId":"t"}`, protocol.CodeBadRequest},
		{"publish bad source", true, `{"type":"publish","tracks":[{"trackId":"t","source":"webcam"}]}`, protocol.CodeBadRequest},
		{"candidate missing", true, `{"type":"candidate"}`, protocol.CodeBadRequest},
		{"offer without sdp", true, `{"type":"offer"}`, protocol.CodeBadRequest},
		{"broken SDP offer", true, `{"type":"offer","sdp":"this is not SDP"}`, protocol.CodeNegotiationFailed},
		{"answer without offer", true, `{"type":"answer","sdp":"v=0\r\n"}`, protocol.CodeNegotiationFailed},
	}

	// A bystander in the room sees only what it should.
	bystander := dialRaw(t, srv.URL)
	bystander.join("bad", "bystander")

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, srv.URL)
			name := "p" + string(rune('a'+i))
			if tc.joined {
				c.join("bad", name)
				bystander.expect(protocol.TypeParticipantJoined)
			}
			c.send(tc.frame)
			c.expectError(tc.code)

			// Still usable.
			if tc.joined {
				c.sendJSON(protocol.ChatRequest{Type: protocol.TypeChat, Text: "still here"})
				if m := c.expect(protocol.TypeChat); m["text"] != "still here" {
					t.Fatalf("chat after bad input = %v", m)
				}
				if m := bystander.expect(protocol.TypeChat); m["text"] != "still here" {
					t.Fatalf("bystander got %v", m)
				}
				c.sendJSON(protocol.Leave{Type: protocol.TypeLeave})
				bystander.expect(protocol.TypeParticipantLeft)
			} else {
				c.join("bad-"+name, name)
			}
		})
	}
}

func TestJoinRules(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{MaxParticipants: 2})
	a := dialRaw(t, srv.URL)
	a.join("rules", "ann")

	b := dialRaw(t, srv.URL)
	b.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "rules", Name: "ann"})
	b.expectError(protocol.CodeNameTaken)
	// The socket stays open: try again with another name.
	joined := b.join("rules", "bob")
	others, _ := joined["participants"].([]any)
	if len(others) != 1 || others[0].(map[string]any)["name"] != "ann" {
		t.Fatalf("joined.participants = %v", joined["participants"])
	}
	if ice, ok := joined["iceServers"].([]any); !ok || ice == nil {
		t.Fatalf("joined.iceServers = %v, want a list", joined["iceServers"])
	}
	pj := a.expect(protocol.TypeParticipantJoined)
	if pj["participant"].(map[string]any)["name"] != "bob" {
		t.Fatalf("participant-joined = %v", pj)
	}

	c := dialRaw(t, srv.URL)
	c.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "rules", Name: "cy"})
	c.expectError(protocol.CodeRoomFull)

	// Leave keeps the socket; the place is free again; rejoining works.
	b.sendJSON(protocol.Leave{Type: protocol.TypeLeave})
	left := a.expect(protocol.TypeParticipantLeft)
	if left.str("participantId") == "" {
		t.Fatalf("participant-left without id: %v", left)
	}
	c.join("rules", "cy")
	b.join("elsewhere", "bob")
	if got := srv.Rooms.Rooms(); len(got) != 2 {
		t.Fatalf("rooms = %v, want rules and elsewhere", got)
	}
}

func TestChatAndMute(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	a := dialRaw(t, srv.URL)
	selfA := a.join("chat", "ann")["self"].(map[string]any)
	b := dialRaw(t, srv.URL)
	b.join("chat", "bob")
	a.expect(protocol.TypeParticipantJoined)

	before := time.Now().UnixMilli()
	a.sendJSON(protocol.ChatRequest{Type: protocol.TypeChat, Text: "<b>hi</b> ✓"})
	for _, c := range []*rawClient{a, b} {
		m := c.expect(protocol.TypeChat)
		from := m["from"].(map[string]any)
		ts := int64(m["ts"].(float64))
		if m["text"] != "<b>hi</b> ✓" || from["id"] != selfA["id"] || from["name"] != "ann" || ts < before {
			t.Fatalf("chat = %v", m)
		}
	}
}

func TestTooLarge(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	c := dialRaw(t, srv.URL)
	c.join("big", "ann")
	c.send(`{"type":"chat","text":"` + strings.Repeat("x", protocol.MaxFrameSize) + `"}`)
	c.expectError(protocol.CodeTooLarge)
	_, err := c.next()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("after too-large: %v, want close 1009", err)
	}
	// The participant is gone from the room.
	waitFor(t, func() bool { return len(srv.Rooms.Rooms()) == 0 })
}

func TestRateLimited(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.RateLimit, o.RateBurst = 5, 10
	}})
	c := dialRaw(t, srv.URL)
	c.join("flood", "ann")
	for i := 0; i < 50; i++ {
		c.send(`{"type":"chat","text":"flood"}`)
	}
	c.expect(protocol.TypeError, protocol.TypeChat)
	// The connection survives; after a pause it is served again.
	time.Sleep(1200 * time.Millisecond)
	c.send(`{"type":"chat","text":"calm"}`)
	for {
		m := c.expect(protocol.TypeChat, protocol.TypeError)
		if m["text"] == "calm" {
			break
		}
	}
}

// TestCandidateFlood: a client that trickles more ICE candidates than its
// peer takes in an ICE session (sfu.MaxRemoteCandidates) gets
// negotiation-failed for each one past the bound, and its session goes on.
func TestCandidateFlood(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.RateLimit, o.RateBurst = 1000, 1000
	}})
	c := dialRaw(t, srv.URL)
	c.join("candidates", "ann")
	c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: sdptest.ClientOffer(t)})
	c.expect(protocol.TypeAnswer, protocol.TypeCandidate)
	const sent = sfu.MaxRemoteCandidates + 20
	for i := range sent {
		c.sendJSON(map[string]any{"type": "candidate", "candidate": map[string]any{
			"candidate": fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 20000+i),
			"sdpMid":    "0",
		}})
	}
	// The session goes on: a chat message comes back (errors and chat may
	// arrive in either order).
	c.send(`{"type":"chat","text":"still here"}`)
	refused, chatted := 0, false
	for !chatted || refused < sent-sfu.MaxRemoteCandidates {
		m, err := c.next()
		if err != nil {
			t.Fatalf("after %d refusals (chat back: %v): %v", refused, chatted, err)
		}
		switch m.str("type") {
		case protocol.TypeChat:
			chatted = true
		case protocol.TypeError:
			if m.str("code") != string(protocol.CodeNegotiationFailed) || !strings.Contains(m.str("message"), "too many ICE candidates") {
				t.Fatalf("error %v", m)
			}
			refused++
		}
	}
	// No more than those: the candidate within the bound sent again is taken.
	c.sendJSON(map[string]any{"type": "candidate", "candidate": map[string]any{
		"candidate": "candidate:0 1 udp 2130706431 127.0.0.1 20000 typ host", "sdpMid": "0",
	}})
	c.send(`{"type":"chat","text":"again"}`)
	c.expect(protocol.TypeChat, protocol.TypeOffer, protocol.TypeCandidate)
}

// TestDescriptionFlood: a client that sends session descriptions faster
// than its byte budget (Options.DescriptionRate and DescriptionBurst) gets
// negotiation-failed for those over it, which are not applied, and its
// session goes on.
func TestDescriptionFlood(t *testing.T) {
	offer := sdptest.ClientOffer(t)
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.DescriptionRate, o.DescriptionBurst = 1, 3.5*float64(len(offer))
	}})
	c := dialRaw(t, srv.URL)
	c.join("descriptions", "ann")
	for range 5 {
		c.sendJSON(protocol.SessionDescription{Type: protocol.TypeOffer, SDP: offer})
	}
	c.send(`{"type":"chat","text":"still here"}`)
	answers, refused := 0, 0
	for answers+refused < 5 {
		m, err := c.next()
		if err != nil {
			t.Fatalf("after %d answers and %d refusals: %v", answers, refused, err)
		}
		switch m.str("type") {
		case protocol.TypeAnswer:
			answers++
		case protocol.TypeError:
			if m.str("code") != string(protocol.CodeNegotiationFailed) || !strings.Contains(m.str("message"), "too fast") {
				t.Fatalf("error %v", m)
			}
			refused++
		}
	}
	if answers != 3 {
		t.Fatalf("%d offers answered, want 3 (the budget holds 3.5)", answers)
	}
	c.expect(protocol.TypeChat, protocol.TypeOffer, protocol.TypeCandidate)
}

// countUntil reads c until an error with code marker, and counts the
// messages of type typ and the rate-limited errors before it.
func countUntil(t *testing.T, c *rawClient, typ string, marker protocol.Code) (n, limited int) {
	t.Helper()
	for {
		m, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m.str("type") == typ:
			n++
		case m.str("code") == string(protocol.CodeRateLimited):
			limited++
		case m.str("code") == string(marker):
			return n, limited
		}
	}
}

// floodRoomEvents is the room-event budget of the flood tests: the default
// burst (20), earning 1 a second instead of 5, so that what a stalled
// machine lets the budget earn meanwhile stays small against the flood.
func floodRoomEvents(o *signaling.Options) { o.RoomEventRate, o.RoomEventBurst = 1, 20 }

// checkFlooded fails t unless a flood of what, sent since start under
// floodRoomEvents, let through want (what the burst had left) plus at most
// what the budget earned meanwhile, and drew at least one rate-limited
// error and at most one per second of the gate.
func checkFlooded(t *testing.T, what string, start time.Time, got, want, limited int) {
	t.Helper()
	elapsed := time.Since(start)
	earned, errs := int(elapsed.Seconds()), 1+int(elapsed/time.Second) // 1 token a second
	if got < want || got > want+earned || limited < 1 || limited > errs {
		t.Fatalf("%s: %d let through and %d rate-limited errors in %v, want %d (up to %d with what the budget earned meanwhile) and 1 (up to %d)",
			what, got, limited, elapsed.Round(time.Millisecond), want, want+earned, errs)
	}
}

// TestChatFloodLimited: what one participant makes the server pass on to
// everyone in its room (join, chat, mute, publish) is bounded at
// Options.RoomEventRate, with RoomEventBurst at once: of 100 chat messages
// sent at once the others get the first 19 of a burst of 20 (the join took
// a token), and what the rate earned meanwhile; the sender gets one
// rate-limited error (one a second at most); a message a second later goes
// through.
func TestChatFloodLimited(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: floodRoomEvents})
	start := time.Now() // the join's token is taken after this
	sender := dialRaw(t, srv.URL)
	sender.join("chatty", "sender")
	other := dialRaw(t, srv.URL)
	other.join("chatty", "other")
	sender.expect(protocol.TypeParticipantJoined)
	for i := range 100 {
		sender.sendJSON(protocol.ChatRequest{Type: protocol.TypeChat, Text: fmt.Sprint("flood ", i)})
	}
	sender.sendJSON(map[string]any{"type": "candidate"}) // a marker: bad-request after the flood
	echoes, limited := countUntil(t, sender, protocol.TypeChat, protocol.CodeBadRequest)
	checkFlooded(t, "100 chat messages echoed to the sender", start, echoes, 19, limited)
	time.Sleep(1100 * time.Millisecond) // a token earned
	sender.sendJSON(protocol.ChatRequest{Type: protocol.TypeChat, Text: "calm"})
	got := 0
	for {
		m := other.expect(protocol.TypeChat)
		if m["text"] == "calm" {
			break
		}
		got++
	}
	if got != echoes {
		t.Fatalf("the other participant got %d of the flood, the sender's echoes %d", got, echoes)
	}
}

// TestJoinFloodLimited: joins count against the same budget (each is
// announced to the room and costs a peer connection): a connection that
// joins and leaves 30 times at once is let in 20 times, the budget's
// burst, and as many more as its rate earned meanwhile.
func TestJoinFloodLimited(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: floodRoomEvents})
	c := dialRaw(t, srv.URL)
	start := time.Now() // before the first join's token is taken
	for range 30 {
		c.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "door", Name: "ann"})
		c.sendJSON(map[string]any{"type": "leave"})
	}
	c.sendJSON(map[string]any{"type": "marker"}) // unknown-type, after the flood
	joined, limited := countUntil(t, c, protocol.TypeJoined, protocol.CodeUnknownType)
	checkFlooded(t, "30 joins", start, joined, 20, limited)
}

// TestReadBudget: past its read budget (Options.ReadRate, ReadBurst) the
// server reads a connection no faster than the rate; every frame is still
// read and answered. 600 KiB against 256 KiB a second with 256 KiB at
// once: the sixth frame cannot be read before 0.95 s.
func TestReadBudget(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.ReadRate, o.ReadBurst = 256<<10, 256<<10
	}})
	c := dialRaw(t, srv.URL)
	c.join("read", "ann")
	frame := `{"type":"chat","text":"` + strings.Repeat("a", 100<<10-32) + `"}`
	start := time.Now()
	for range 6 {
		c.send(frame)
	}
	for range 6 {
		c.expectError(protocol.CodeBadRequest) // longer than a chat may be
	}
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond {
		t.Fatalf("6 frames of 100 KiB read in %v, faster than 256 KiB a second allows", elapsed)
	}
}

// TestSilentClientIsDropped: a client that answers no ping for
// Options.PongTimeout is disconnected and leaves the room; one that keeps
// reading (and so answers the pings) stays and sees it leave.
func TestSilentClientIsDropped(t *testing.T) {
	// The timeout applies to a, the client that stays, as well: a
	// reader stalled for well under it on a loaded machine must not cost
	// a its place.
	const pongTimeout = 2 * time.Second
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) {
		o.PingInterval, o.PongTimeout = 200*time.Millisecond, pongTimeout
	}})
	a := dialRaw(t, srv.URL)
	a.join("ping", "ann")
	// a reads (and so answers pings) from now on, in a goroutine of its
	// own that the test ends.
	msgs, stop, done := make(chan message), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := a.next()
			if err != nil {
				a.readerExit("ann", err)
				return
			}
			select {
			case msgs <- m:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		a.close()
		<-done
	})
	silent := dialRaw(t, srv.URL)
	silentID := silent.join("ping", "mute")["self"].(map[string]any)["id"]
	// silent never reads again, so it never answers a ping; a must see it
	// join, then leave.
	deadline := time.After(5 * pongTimeout)
	for joined := false; ; {
		select {
		case m := <-msgs:
			switch m.str("type") {
			case protocol.TypeParticipantJoined:
				joined = true
			case protocol.TypeParticipantLeft:
				if !joined || m.str("participantId") != silentID {
					t.Fatalf("participant-left %v (silent client %v, joined seen: %v)", m, silentID, joined)
				}
				return
			default:
				t.Fatalf("ann got %v", m)
			}
		case <-done:
			t.Fatal("ann's connection ended before the silent client left")
		case <-deadline:
			t.Fatalf("the silent client is still in the room after %v", 5*pongTimeout)
		}
	}
}

// settle returns get's value once it has read the same samples times in a
// row, every apart, and fails t if it is still moving after 10 s. It is for
// counts that go on moving while a loaded machine catches up with what is
// already on its way.
func settle[T comparable](t *testing.T, what string, every time.Duration, samples int, get func() T) T {
	t.Helper()
	v, same := get(), 1
	for deadline := time.Now().Add(10 * time.Second); same < samples; {
		if time.Now().After(deadline) {
			t.Fatalf("%s still moving after 10 s (last %v)", what, v)
		}
		time.Sleep(every)
		if n := get(); n == v {
			same++
		} else {
			v, same = n, 1
		}
	}
	return v
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTrackFloodLimited: each track a client starts sending spends a token
// of the room-event budget, since it opens a media section at every member
// for the rest of that member's connection. Tracks are never refused (a
// screen share must not be lost to a burst of chat before it): a publisher
// that starts 24 tracks at once has all 24 in the room, and the budget is
// then in debt, so its chat is dropped until the debt is paid.
func TestTrackFloodLimited(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A budget that barely earns, so the debt outlasts the test however
	// slow the machine.
	srv := testserver.Start(t, testserver.Options{Signaling: func(o *signaling.Options) { o.RoomEventRate = 0.001 }})
	pub, err := client.Dial(ctx, srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	var tracks []*webrtc.TrackLocalStaticRTP
	for i := range 24 {
		tr, err := pub.AddTrack(webrtc.MimeTypeOpus, fmt.Sprint("mic", i), "microphone")
		if err != nil {
			t.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	if _, err := pub.Join(ctx, "tracks", "pub"); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	for seq := range uint16(10) {
		for _, tr := range tracks {
			_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960, PayloadType: 111}, Payload: []byte{0xAA}})
		}
	}
	// The room shows them all.
	waitFor(t, func() bool {
		room := srv.Rooms.Room("tracks")
		return room != nil && len(room.Participants()) == 1 && len(room.Participants()[0].Tracks) == len(tracks)
	})
	if err := pub.Chat("after the tracks"); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.WaitError(ctx, protocol.CodeRateLimited); err != nil {
		t.Fatalf("chat with the budget in debt: %v", err)
	}
}
