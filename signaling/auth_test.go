package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/auth"
	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
)

const (
	testKey  = "0123456789abcdef-test-key"
	otherKey = "fedcba9876543210-other-key"
)

func token(t *testing.T, key string, c auth.Claims, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint(key, c, ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJoinNeedsToken: with auth keys configured, a join needs a valid token
// for its room (and name, when the token names one); anything else gets
// unauthorized and the socket stays usable.
func TestJoinNeedsToken(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{AuthKeys: []string{otherKey, testKey}})
	all := auth.Claims{Room: "r", CanPublish: true, CanSubscribe: true}
	cases := []struct {
		name, room, who, token string
	}{
		{"no token", "r", "ann", ""},
		{"garbage", "r", "ann", "not.a.jwt"},
		{"wrong key", "r", "ann", token(t, "some-other-key-of-16", all, time.Hour)},
		{"other room", "s", "ann", token(t, testKey, all, time.Hour)},
		{"other name", "r", "bob", token(t, testKey, auth.Claims{Room: "r", Name: "ann", CanPublish: true}, time.Hour)},
	}
	c := dialRaw(t, srv.URL)
	for _, tc := range cases {
		c.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: tc.room, Name: tc.who, Token: tc.token})
		if m := c.expectError(protocol.CodeUnauthorized); m.str("message") == "" {
			t.Fatalf("%s: no message", tc.name)
		}
	}
	// The same socket joins with a good token, signed with either key.
	c.sendJSON(protocol.Join{Type: protocol.TypeJoin, Room: "r", Name: "ann", Token: token(t, otherKey, auth.Claims{Room: "*", Name: "ann"}, time.Hour)})
	c.expect(protocol.TypeJoined)
}

// TestTokenRights: without canPublish a participant's tracks are refused and
// forwarded to nobody; without canSubscribe a participant is sent no tracks.
func TestTokenRights(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{AuthKeys: []string{testKey}})
	join := func(name string, c auth.Claims) *client.Client {
		cl, err := client.Dial(ctx, srv.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		tr, err := cl.AddTrack(webrtc.MimeTypeVP8, "video-"+name, "camera")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.JoinWithToken(ctx, "rights", name, token(t, testKey, c, time.Hour)); err != nil {
			t.Fatalf("%s join: %v", name, err)
		}
		go sendVideo(ctx, tr)
		return cl
	}
	full := join("full", auth.Claims{Room: "rights", CanPublish: true, CanSubscribe: true})
	mute := join("mute", auth.Claims{Room: "rights", CanSubscribe: true})
	deaf := join("deaf", auth.Claims{Room: "rights", CanPublish: true})

	if _, err := mute.WaitError(ctx, protocol.CodeUnauthorized); err != nil {
		t.Fatalf("mute was not told its track is refused: %v", err)
	}
	// full receives deaf's video, never mute's; mute receives full's and deaf's.
	wait(t, ctx, "full receives deaf", func(ctx context.Context) error {
		return full.WaitRemoteTracks(ctx, func(ts []*client.RemoteTrack) bool {
			return len(ts) == 1 && ts[0].TrackID == "video-deaf" && ts[0].Packets() > 0
		})
	})
	wait(t, ctx, "mute receives full and deaf", func(ctx context.Context) error {
		return mute.WaitRemoteTracks(ctx, func(ts []*client.RemoteTrack) bool { return len(ts) == 2 })
	})
	time.Sleep(500 * time.Millisecond) // time for anything wrong to arrive
	if n := len(deaf.RemoteTracks()); n != 0 {
		t.Fatalf("deaf (no canSubscribe) receives %d tracks", n)
	}
	for _, rt := range full.RemoteTracks() {
		if rt.TrackID == "video-mute" {
			t.Fatal("mute's refused track was forwarded")
		}
	}
	for _, p := range srv.Rooms.Room("rights").Participants() {
		if p.Name == "mute" && len(p.Tracks) != 0 {
			t.Fatalf("mute's refused track was announced: %+v", p.Tracks)
		}
	}
}

func sendVideo(ctx context.Context, tr *webrtc.TrackLocalStaticRTP) {
	tick := time.NewTicker(30 * time.Millisecond)
	defer tick.Stop()
	for seq := uint16(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true}, Payload: []byte{0x10, 0, 1, 2, 3}})
	}
}
