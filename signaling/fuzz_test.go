package signaling_test

import (
	"bytes"
	"testing"

	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/sdptest"
	"github.com/confab/confab/internal/testserver"
)

// FuzzSession drives one WebSocket session through any sequence of frames
// (the input split at NUL bytes, up to 12): joins, offers with mutated SDP,
// candidates, publishes, mutes, chats and leaves in any order and state,
// and anything else. Whatever comes, the server must neither fail nor drop
// the session (an oversized frame is the one reason to close it, and a
// frame here is far below the limit): a frame of an unknown type sent
// after the sequence must still get its unknown-type error. A panic in any
// handler fails the target, and the package's goroutine check (TestMain)
// fails it if anything outlives the server.
//
// `go test -run '^$' -fuzz FuzzSession ./signaling` (make fuzz).
func FuzzSession(f *testing.F) {
	srv := testserver.Start(f, testserver.Options{})
	offer := sdptest.ClientOffer(f)
	join := `{"type":"join","room":"fuzz","name":"n"}`
	frames := func(fs ...string) []byte { return []byte(joinFrames(fs...)) }
	f.Add(frames(join, mustJSON(f, protocol.SessionDescription{Type: protocol.TypeOffer, SDP: offer})))
	f.Add(frames(join, mustJSON(f, protocol.SessionDescription{Type: protocol.TypeOffer, SDP: offer}), `{"type":"leave"}`, join))
	f.Add(frames(join, `{"type":"publish","tracks":[{"trackId":"t","source":"camera"}]}`, `{"type":"mute","trackId":"t","muted":true}`))
	f.Add(frames(join, `{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0"}}`, `{"type":"candidate","candidate":null}`))
	f.Add(frames(join, `{"type":"answer","sdp":"v=0"}`, `{"type":"chat","text":"hi"}`, join))
	f.Add(frames(`{"type":"chat","text":"before joining"}`, `{"type":"offer","sdp":"x"}`, `not json`, `{"type":"join","room":"","name":""}`))
	f.Add(frames(join, `{"type":"leave"}`, `{"type":"leave"}`, `{"type":"offer","sdp":"v=0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := dialRaw(t, srv.URL)
		parts := bytes.Split(data, []byte{0})
		if len(parts) > 12 {
			parts = parts[:12]
		}
		for _, p := range parts {
			c.send(string(p))
		}
		c.send(`{"type":"fuzz-probe"}`)
		for {
			m, err := c.next()
			if err != nil {
				t.Fatalf("after %d frames %q: the session no longer answers: %v", len(parts), parts, err)
			}
			if m.str("type") == protocol.TypeError && m.str("code") == string(protocol.CodeUnknownType) &&
				bytes.Contains([]byte(m.str("message")), []byte("fuzz-probe")) {
				return
			}
		}
	})
}

// joinFrames joins frames with the NUL bytes FuzzSession splits at.
func joinFrames(frames ...string) string {
	var b bytes.Buffer
	for i, f := range frames {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(f)
	}
	return b.String()
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	return string(protocol.Encode(v))
}
