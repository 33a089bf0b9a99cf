package signaling_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/confab/confab/internal/auth"
	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/protocol"
	"github.com/confab/confab/internal/testserver"
)

type adminAPI struct {
	t     *testing.T
	base  string
	token string
}

// call makes one API request and decodes the JSON answer into out (if not nil).
func (a adminAPI) call(method, path, body string, out any) int {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+"/api/v1"+path, bytes.NewBufferString(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

type errorBody struct {
	Error struct{ Code, Message string } `json:"error"`
}

func TestAdminAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{AuthKeys: []string{testKey}})
	joinAs := func(name string) *participant {
		tok := token(t, testKey, auth.Claims{Room: "adm", CanPublish: true, CanSubscribe: true}, time.Hour)
		return newParticipantWithToken(ctx, t, srv, "adm", name, tok, client.Options{})
	}
	ann, bob := joinAs("ann"), joinAs("bob")
	wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
		return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
	})

	anon := adminAPI{t: t, base: srv.URL}
	user := adminAPI{t: t, base: srv.URL, token: token(t, testKey, auth.Claims{Room: "*"}, time.Hour)}
	admin := adminAPI{t: t, base: srv.URL, token: token(t, testKey, auth.Claims{Room: "*", Admin: true}, time.Hour)}
	var e errorBody
	if st := anon.call("GET", "/rooms", "", &e); st != http.StatusUnauthorized || e.Error.Code != "unauthorized" {
		t.Fatalf("no token: %d %+v", st, e)
	}
	if st := user.call("GET", "/rooms", "", &e); st != http.StatusForbidden || e.Error.Code != "forbidden" {
		t.Fatalf("no admin claim: %d %+v", st, e)
	}
	var list struct {
		Rooms []struct {
			Name         string
			Participants int
		}
	}
	if st := admin.call("GET", "/rooms", "", &list); st != http.StatusOK || len(list.Rooms) != 1 || list.Rooms[0].Participants != 2 {
		t.Fatalf("list: %d %+v", st, list)
	}
	if st := admin.call("GET", "/rooms/nope", "", &e); st != http.StatusNotFound || e.Error.Code != "no-room" {
		t.Fatalf("unknown room: %d %+v", st, e)
	}
	time.Sleep(1100 * time.Millisecond) // a bitrate sample
	var detail struct {
		Participants []struct {
			ID, Name string
			Tracks   []struct {
				TrackID               string
				Packets, Bytes        uint64
				Bitrate               float64
				Subscribers           int
				Muted, ModeratorMuted bool
			}
		}
	}
	if st := admin.call("GET", "/rooms/adm", "", &detail); st != http.StatusOK || len(detail.Participants) != 2 {
		t.Fatalf("detail: %d %+v", st, detail)
	}
	for _, p := range detail.Participants {
		for _, tr := range p.Tracks {
			if tr.Packets == 0 || tr.Bytes == 0 || tr.Bitrate <= 0 || tr.Subscribers != 1 {
				t.Errorf("%s %s: %+v", p.Name, tr.TrackID, tr)
			}
		}
	}

	// Moderator mute: forwarding stops, everyone is told, the publisher
	// cannot undo it; unmuting resumes.
	var annVideo *client.RemoteTrack
	for _, rt := range bob.RemoteTracks() {
		if rt.TrackID == "video-ann" {
			annVideo = rt
		}
	}
	mutePath := "/rooms/adm/participants/" + ann.Self().ID + "/tracks/" + url.PathEscape("video-ann") + "/mute"
	if st := admin.call("POST", mutePath, "", nil); st != http.StatusOK {
		t.Fatalf("mute: %d", st)
	}
	for _, p := range []*participant{ann, bob} {
		if _, err := p.WaitMessage(ctx, func(typ string, raw []byte) bool {
			return typ == protocol.TypeTrackMuted && bytes.Contains(raw, []byte(`"muted":true`))
		}); err != nil {
			t.Fatalf("%s not told of the mute: %v", p.name, err)
		}
	}
	// What was forwarded before the mute may still be on its way (in
	// bob's socket, or his reader waiting for a CPU): the count must come
	// to a stop (300 ms without a packet, where ann sends 75 a second),
	// and then stay there.
	frozen := settle(t, "muted track's packets at bob", 100*time.Millisecond, 4, annVideo.Packets)
	time.Sleep(500 * time.Millisecond)
	if got := annVideo.Packets(); got != frozen {
		t.Fatalf("muted track still forwarded: %d -> %d packets", frozen, got)
	}
	_ = ann.Mute("video-ann", false)
	if _, err := ann.WaitError(ctx, protocol.CodeBadRequest); err != nil {
		t.Fatalf("the publisher's unmute was not refused: %v", err)
	}
	if st := admin.call("POST", mutePath, `{"muted": false}`, nil); st != http.StatusOK {
		t.Fatalf("unmute: %d", st)
	}
	waitFor(t, func() bool { return annVideo.Packets() > frozen })

	// Kick, then close the room.
	if st := admin.call("POST", "/rooms/adm/participants/nobody/kick", "", &e); st != http.StatusNotFound {
		t.Fatalf("kick unknown: %d", st)
	}
	if st := admin.call("POST", "/rooms/adm/participants/"+bob.Self().ID+"/kick", "", nil); st != http.StatusNoContent {
		t.Fatalf("kick: %d", st)
	}
	if _, err := bob.WaitError(ctx, protocol.CodeRemoved); err != nil {
		t.Fatalf("bob not told he was removed: %v", err)
	}
	if _, err := ann.WaitMessage(ctx, func(typ string, raw []byte) bool { return typ == protocol.TypeParticipantLeft }); err != nil {
		t.Fatalf("ann did not see bob leave: %v", err)
	}
	if st := admin.call("DELETE", "/rooms/adm", "", nil); st != http.StatusNoContent {
		t.Fatalf("close: %d", st)
	}
	if _, err := ann.WaitError(ctx, protocol.CodeRemoved); err != nil {
		t.Fatalf("ann not told the room closed: %v", err)
	}
	waitFor(t, func() bool { return len(srv.Rooms.Rooms()) == 0 })
}

func TestAdminAPIOffInOpenMode(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	var e errorBody
	if st := (adminAPI{t: t, base: srv.URL, token: "x"}).call("GET", "/rooms", "", &e); st != http.StatusForbidden || e.Error.Code != "disabled" {
		t.Fatalf("open mode: %d %+v", st, e)
	}
}
