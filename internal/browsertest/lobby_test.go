package browsertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/confab/confab/internal/browsertest"
	"github.com/confab/confab/internal/testserver"
)

// denyMediaJS makes the page's getUserMedia fail as when the person refuses
// the camera and microphone.
const denyMediaJS = `navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));`

// TestBrowserLobby joins through the lobby: with the microphone and camera
// turned off there, and with both refused, as a listener with a clear
// message. The name is remembered and the room taken from the URL.
func TestBrowserLobby(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	b := browsertest.Start(t)
	host := joinTabs(t, b, srv.URL, "lobby", "host")[0]
	var hostID string
	host.MustEval(`confab.selfId`, &hostID)

	// quiet turns its microphone and camera off in the lobby, then joins with
	// the form: it is heard muted and its camera light is off.
	quiet := b.NewTab(t, "quiet", srv.URL+"/?room=lobby")
	quiet.WaitFor(10*time.Second, `confab.localStream.getVideoTracks().length === 1 && confab.localStream.getAudioTracks().length === 1 &&
		document.getElementById('room').value === 'lobby' && document.getElementById('preview').srcObject !== null &&
		document.getElementById('camera-select').options.length > 0`,
		`({tracks: confab.localStream.getTracks().map((t) => t.kind), room: document.getElementById('room').value})`)
	quiet.MustEval(`document.getElementById('lobby-mic').click(), document.getElementById('lobby-camera').click(), true`, nil)
	quiet.WaitFor(stateTimeout, `confab.localStream.getVideoTracks().length === 0 && confab.localStream.getAudioTracks()[0].enabled === false &&
		!document.getElementById('preview-off').hidden &&
		document.getElementById('lobby-mic').getAttribute('aria-pressed') === 'true' &&
		document.getElementById('lobby-camera').getAttribute('aria-pressed') === 'true'`,
		`({tracks: confab.localStream.getTracks().map((t) => t.kind + ':' + t.enabled)})`)
	quiet.MustEval(`document.getElementById('name').value = 'quiet', document.getElementById('join').click(), true`, nil)
	quiet.WaitFor(10*time.Second, `confab.state === 'joined'`, `({state: confab.state, err: confab.lastError})`)
	var quietID string
	quiet.MustEval(`confab.selfId`, &quietID)
	state := fmt.Sprintf(`confab.tileState()[%q]`, quietID)
	host.WaitFor(stateTimeout, state+` && `+state+`.mic === 'off' && `+state+`.cam === 'none' && `+state+`.mutedMic && `+state+`.mutedCam`, `confab.tileState()`)
	quiet.WaitFor(stateTimeout, `document.getElementById('mic').getAttribute('aria-pressed') === 'true' &&
		document.getElementById('camera').getAttribute('aria-pressed') === 'true'`, `confab.localState()`)
	waitDecoding(t, quiet, []string{hostID}, 20*time.Second)

	// A new visit remembers the name; the room comes from the URL.
	again := b.NewTab(t, "again", srv.URL+"/?room=elsewhere")
	again.WaitFor(stateTimeout, `document.getElementById('name').value === 'quiet' && document.getElementById('room').value === 'elsewhere'`,
		`[document.getElementById('name').value, document.getElementById('room').value]`)
	again.Close()

	// deny refuses both devices: the lobby says so, and it joins as a
	// listener that receives everyone.
	deny := b.NewTab(t, "deny", srv.URL+"/?room=lobby", browsertest.WithInitScript(denyMediaJS))
	deny.WaitFor(10*time.Second, `(() => {
		const s = document.getElementById('media-status');
		return !s.hidden && /Microphone blocked/.test(s.textContent) && /Camera blocked/.test(s.textContent) && /listener/.test(s.textContent);
	})()`, `document.getElementById('media-status').textContent`)
	var ok bool
	deny.MustEval(`confab.join('lobby', 'deny')`, &ok)
	if !ok {
		t.Fatal("deny could not join")
	}
	var denyID string
	deny.MustEval(`confab.selfId`, &denyID)
	state = fmt.Sprintf(`confab.tileState()[%q]`, denyID)
	host.WaitFor(stateTimeout, state+` && `+state+`.mic === 'none' && `+state+`.cam === 'none' && `+state+`.mutedMic`, `confab.tileState()`)
	waitDecoding(t, deny, []string{hostID}, 20*time.Second)

	// Unmuting without a microphone says why it cannot.
	deny.MustEval(`confab.muteMic(false)`, &ok)
	if ok {
		t.Error("deny unmuted a microphone it does not have")
	}
	deny.WaitFor(stateTimeout, `[...document.querySelectorAll('.toast')].some((t) => /Microphone blocked/.test(t.textContent))`,
		`[...document.querySelectorAll('.toast')].map((t) => t.textContent)`)

	for _, tab := range []*browsertest.Tab{host, quiet, deny} {
		if ex := tab.Exceptions(); len(ex) > 0 {
			t.Errorf("%s: uncaught exceptions in the page: %v", tab.Name, ex)
		}
	}
}
