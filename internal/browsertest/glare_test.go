package browsertest_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/confab/confab/internal/browsertest"
	"github.com/confab/confab/internal/testserver"
)

// toggleJS adds a second video track (a clone of the camera) when the tab has
// none, and removes it when it has one; it returns whether the tab now sends
// the extra track. The page's negotiationneeded handler makes the offer.
const toggleJS = `(() => {
  const pc = confab.pc;
  if (window.__extra) {
    pc.removeTrack(window.__extra.sender);
    window.__extra.track.stop();
    window.__extra = null;
    return false;
  }
  const track = confab.localStream.getVideoTracks()[0].clone();
  window.__extra = {track, sender: pc.addTrack(track, new MediaStream([track]))};
  return true;
})()`

// receivesJS is true when the tab's current server tracks map holds exactly
// video video tracks and one audio track from participant id, and signaling
// is at rest with no negotiation error.
func receivesJS(id string, video int) string {
	return fmt.Sprintf(`(() => {
  const ts = Object.values(confab.tracks).filter((t) => t.participantId === %q);
  return confab.pc.signalingState === 'stable' && confab.negotiationErrors.length === 0 &&
    ts.filter((t) => t.kind === 'video').length === %d && ts.filter((t) => t.kind === 'audio').length === 1;
})()`, id, video)
}

const describeJS = `({sig: confab.pc && confab.pc.signalingState, conn: confab.pc && confab.pc.connectionState,
  tracks: confab.tracks, errs: confab.negotiationErrors, lastError: confab.lastError,
  negotiations: confab.negotiations, collisions: confab.collisions})`

// TestBrowserGlare makes the client and the server offer at the same moment,
// 50 times in a row: two tabs add and remove a track at the same instant (each
// change makes the tab offer and the server offer to the other tab) while a
// third participant joins and leaves. Chromium is the polite peer and rolls
// back; every negotiation must complete and media must keep flowing.
func TestBrowserGlare(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	b := browsertest.Start(t)
	tabs := joinTabs(t, b, srv.URL, "glare", "ann", "bob")
	ids := selfIDs(t, tabs)
	waitDecoding(t, tabs[0], ids[1:], 30*time.Second)
	waitDecoding(t, tabs[1], ids[:1], 30*time.Second)

	extra := make([]bool, 2)
	var visitor *browsertest.Tab
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		var wg sync.WaitGroup
		for k, tab := range tabs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := tab.Eval(toggleJS, &extra[k]); err != nil {
					t.Errorf("round %d: %s toggle: %v", i, tab.Name, err)
				}
			}()
		}
		switch i % 10 {
		case 3:
			visitor = joinTabs(t, b, srv.URL, "glare", fmt.Sprintf("visitor-%d", i))[0]
		case 7:
			visitor.MustEval(`confab.leave()`, nil)
			visitor.Close()
			visitor = nil
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
	}

	// Everything settles to the final state, and media flows.
	for k, tab := range tabs {
		other := 1 - k
		want := 1
		if extra[other] {
			want = 2
		}
		tab.WaitFor(30*time.Second, receivesJS(ids[other], want), describeJS)
		waitDecoding(t, tab, ids[other:other+1], 30*time.Second)
	}
	collisions := 0
	for _, tab := range tabs {
		var n, neg int
		tab.MustEval(`confab.collisions`, &n)
		tab.MustEval(`confab.negotiations`, &neg)
		t.Logf("%s: %d negotiations, %d collisions rolled back", tab.Name, neg, n)
		collisions += n
	}
	if collisions == 0 {
		t.Errorf("no offer collision happened: the test did not exercise glare")
	}
}
