package browsertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/confab/confab/internal/browsertest"
	"github.com/confab/confab/internal/testserver"
)

// TestBrowserModeration: the page follows the server's moderation
// extensions. A microphone a moderator mutes is muted on the page too and
// cannot be unmuted there until the moderator allows it; a participant the
// moderator removes goes back to the lobby saying so, with its devices off,
// and does not rejoin by itself.
func TestBrowserModeration(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	b := browsertest.Start(t)
	tabs := joinTabs(t, b, srv.URL, "moderated", "host", "guest")
	ids := selfIDs(t, tabs)
	host, guest := tabs[0], tabs[1]
	waitDecoding(t, host, ids[1:], 20*time.Second)
	room := srv.Rooms.Room("moderated")
	if room == nil {
		t.Fatal("no room")
	}
	var micID string
	guest.MustEval(`confab.localStream.getAudioTracks()[0].id`, &micID)
	state := fmt.Sprintf(`confab.tileState()[%q]`, ids[1])

	if err := room.ModeratorMute(ids[1], micID, true); err != nil {
		t.Fatalf("moderator mute: %v", err)
	}
	guest.WaitFor(stateTimeout, `document.getElementById('mic').getAttribute('aria-pressed') === 'true' &&
		confab.localStream.getAudioTracks()[0].enabled === false`, `confab.localState()`)
	host.WaitFor(stateTimeout, state+`.mutedMic`, state)
	var ok bool
	guest.MustEval(`confab.muteMic(false)`, &ok)
	if ok {
		t.Error("the guest unmuted a microphone a moderator muted")
	}
	guest.WaitFor(stateTimeout, `[...document.querySelectorAll('.toast')].some((t) => /cannot turn it back on/.test(t.textContent))`,
		`[...document.querySelectorAll('.toast')].map((t) => t.textContent)`)

	// Allowed again, the microphone stays muted (as it is on the page) until
	// the guest unmutes it.
	if err := room.ModeratorMute(ids[1], micID, false); err != nil {
		t.Fatalf("moderator unmute: %v", err)
	}
	guest.WaitFor(stateTimeout, `[...document.querySelectorAll('.toast')].some((t) => /allowed your microphone/.test(t.textContent))`,
		`[...document.querySelectorAll('.toast')].map((t) => t.textContent)`)
	time.Sleep(300 * time.Millisecond)
	host.WaitFor(stateTimeout, state+`.mutedMic`, state)
	guest.MustEval(`confab.muteMic(false)`, &ok)
	if !ok {
		t.Fatal("the guest could not unmute once allowed")
	}
	host.WaitFor(stateTimeout, `!`+state+`.mutedMic`, state)

	// Removed: back to the lobby with the reason, devices off, no rejoin.
	if err := room.Kick(ids[1], "a moderator removed you from the room"); err != nil {
		t.Fatalf("kick: %v", err)
	}
	guest.WaitFor(stateTimeout, `confab.state === 'error' && confab.lastError === 'removed' && !document.getElementById('lobby').hidden &&
		/removed you from the room/.test(document.getElementById('error').textContent) &&
		confab.localStream.getTracks().length === 0`,
		`({state: confab.state, err: confab.lastError, text: document.getElementById('error').textContent})`)
	host.WaitFor(stateTimeout, fmt.Sprintf(`!confab.remoteTiles().includes(%q)`, ids[1]), `confab.remoteTiles()`)
	time.Sleep(time.Second)
	var st struct {
		State      string
		Reconnects int
	}
	guest.MustEval(`({state: confab.state, reconnects: confab.reconnects})`, &st)
	if st.State != "error" || st.Reconnects != 0 {
		t.Errorf("after removal the guest is %q with %d reconnects; want error and none", st.State, st.Reconnects)
	}
	for _, tab := range tabs {
		if ex := tab.Exceptions(); len(ex) > 0 {
			t.Errorf("%s: uncaught exceptions in the page: %v", tab.Name, ex)
		}
	}
}
