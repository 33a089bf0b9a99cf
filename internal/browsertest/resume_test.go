package browsertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/confab/confab/internal/browsertest"
	"github.com/confab/confab/internal/testserver"
)

// watchTileJS records, in window.__gone, every participant tile removed
// from the page from now on.
const watchTileJS = `(() => {
  window.__gone = [];
  new MutationObserver((records) => {
    for (const r of records) for (const n of r.removedNodes) {
      if (n.dataset && n.dataset.participantId && !n.isConnected) window.__gone.push(n.dataset.participantId);
    }
  }).observe(document.getElementById('layout'), { childList: true, subtree: true });
  return true;
})()`

// TestBrowserResume: with a server that keeps a participant whose
// connection dropped, a tab whose WebSocket is cut resumes as the same
// participant on a new connection, keeping its peer connection: the others
// never see it leave, and a change made while it was disconnected (muting
// the microphone) reaches them once it is back.
func TestBrowserResume(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{ResumeGrace: 20 * time.Second})
	b := browsertest.Start(t)
	tabs := joinTabs(t, b, srv.URL, "resume", "ann", "bob")
	ids := selfIDs(t, tabs)
	ann, bob := tabs[0], tabs[1]
	waitDecoding(t, ann, ids[1:], 20*time.Second)
	waitDecoding(t, bob, ids[:1], 20*time.Second)
	ann.MustEval(watchTileJS, nil)

	var ok bool
	bob.MustEval(`window.__pc = confab.pc; confab.dropSocket()`, &ok)
	if !ok {
		t.Fatal("bob has no socket to drop")
	}
	bob.MustEval(`confab.muteMic(true)`, &ok) // while disconnected
	bob.WaitFor(10*time.Second, `confab.state === 'joined' && confab.resumes === 1 && confab.reconnects === 1 &&
		confab.stateLog.includes('reconnecting') && confab.pc === window.__pc`,
		`({state: confab.state, log: confab.stateLog, resumes: confab.resumes, reconnects: confab.reconnects, err: confab.lastError})`)
	var id string
	bob.MustEval(`confab.selfId`, &id)
	if id != ids[1] {
		t.Fatalf("bob resumed as %q, want %q", id, ids[1])
	}
	state := fmt.Sprintf(`confab.tileState()[%q]`, id)
	ann.WaitFor(stateTimeout, state+` && `+state+`.mutedMic`, `confab.tileState()`)
	waitDecoding(t, ann, ids[1:], 10*time.Second)
	waitDecoding(t, bob, ids[:1], 10*time.Second)
	var gone []string
	ann.MustEval(`window.__gone`, &gone)
	if len(gone) > 0 {
		t.Errorf("ann saw tiles removed while bob resumed: %v", gone)
	}

	// Changes keep negotiating on the new connection.
	bob.MustEval(`confab.shareScreen()`, &ok)
	ann.WaitFor(15*time.Second, state+`.hasScreen`, `confab.tileState()`)
	if err := decoding(ann, ids[1:], "screen", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, tab := range tabs {
		if ex := tab.Exceptions(); len(ex) > 0 {
			t.Errorf("%s: uncaught exceptions in the page: %v", tab.Name, ex)
		}
	}
}
