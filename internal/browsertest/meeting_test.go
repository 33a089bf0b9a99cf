package browsertest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/confab/confab/internal/browsertest"
	"github.com/confab/confab/internal/testserver"
)

// stateTimeout bounds a wait for a state the page must reach (a tile's
// indicator, a toast, a badge, a local track stopped): the tests assert
// that it comes, not how soon. Four Chromium tabs and a server under the
// race detector share two cores in CI with other packages' tests, and a
// step that takes 50 ms idle can take seconds then. The one delay the
// tests hold the page to, a muted microphone shown within 2 s, is
// measured apart (micMuteShows).
const stateTimeout = 10 * time.Second

// joinTabs opens one tab per name and joins them all to room.
func joinTabs(t *testing.T, b *browsertest.Browser, url, room string, names ...string) []*browsertest.Tab {
	t.Helper()
	tabs := make([]*browsertest.Tab, len(names))
	for i, name := range names {
		tabs[i] = b.NewTab(t, name, url+"/?room="+room)
		var ok bool
		tabs[i].MustEval(fmt.Sprintf(`confab.join(%q, %q)`, room, name), &ok)
		if !ok {
			var lastErr any
			tabs[i].MustEval(`confab.lastError`, &lastErr)
			t.Fatalf("%s could not join: %v", name, lastErr)
		}
	}
	return tabs
}

// selfIDs returns each tab's participant id.
func selfIDs(t *testing.T, tabs []*browsertest.Tab) []string {
	ids := make([]string, len(tabs))
	for i, tab := range tabs {
		tab.MustEval(`confab.selfId`, &ids[i])
	}
	return ids
}

type videoStats map[string]struct {
	FramesDecoded float64 `json:"framesDecoded"`
	BytesReceived float64 `json:"bytesReceived"`
	// Sources splits the sums by source: camera, screen.
	Sources map[string]struct {
		FramesDecoded float64 `json:"framesDecoded"`
	} `json:"sources"`
}

// waitDecoding waits until tab decodes video from every participant in from,
// and keeps decoding (framesDecoded rises between two readings).
func waitDecoding(t *testing.T, tab *browsertest.Tab, from []string, timeout time.Duration) {
	t.Helper()
	if err := decoding(tab, from, "", timeout); err != nil {
		t.Fatal(err)
	}
}

// decoding is waitDecoding that returns its failure, for use in goroutines.
// With source set ("camera", "screen"), only video of that source counts.
func decoding(tab *browsertest.Tab, from []string, source string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	frames := func(st videoStats, id string) float64 {
		if source == "" {
			return st[id].FramesDecoded
		}
		return st[id].Sources[source].FramesDecoded
	}
	var first videoStats
	for {
		var st videoStats
		err := tab.Eval(`confab.stats()`, &st)
		ready := err == nil
		for _, id := range from {
			if ready && frames(st, id) <= 0 {
				ready = false
			}
		}
		if ready {
			if first == nil {
				first = st
			} else {
				rising := true
				for _, id := range from {
					rising = rising && frames(st, id) > frames(first, id)
				}
				if rising {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			var state any
			_ = tab.Eval(`({state: confab.state, tracks: confab.tracks, pc: confab.pc && confab.pc.connectionState, sig: confab.pc && confab.pc.signalingState, errs: confab.negotiationErrors})`, &state)
			return fmt.Errorf("%s: not decoding %s video from %v within %v: stats %v (err %v), state %v", tab.Name, source, from, timeout, st, err, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestBrowserMeeting: three Chromium tabs join through the page and each
// decodes video from the two others.
func TestBrowserMeeting(t *testing.T) {
	srv := testserver.Start(t, testserver.Options{})
	b := browsertest.Start(t)
	tabs := joinTabs(t, b, srv.URL, "meet", "ann", "bob", "cy")
	ids := selfIDs(t, tabs)

	var wg sync.WaitGroup
	for i, tab := range tabs {
		others := make([]string, 0, 2)
		for j, id := range ids {
			if j != i {
				others = append(others, id)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitDecoding(t, tab, others, 30*time.Second)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Chromium decodes what the server encrypted and sent itself (the
	// direct path, with keys from a DTLS handshake where the server is the
	// DTLS server).
	// It also decrypts what Chromium sends on its own (direct receiving).
	if st := srv.API.Stats(); st.DirectPacketsOut == 0 || st.DirectPacketsOut*10 < st.PacketsOut*9 {
		t.Errorf("server sent %d of %d packets on the direct path", st.DirectPacketsOut, st.PacketsOut)
	} else if st.DirectPacketsIn*10 < st.PacketsIn*9 || st.DirectDecryptFailures != 0 {
		t.Errorf("server received %d of %d packets on the direct path, %d failed to decrypt",
			st.DirectPacketsIn, st.PacketsIn, st.DirectDecryptFailures)
	}
	// Chromium and the server agree on AEAD_AES_128_GCM, the SRTP profile
	// the server prefers: the direct paths' own sealing and opening, and
	// about a sixth of AES-CM-HMAC's cost per packet.
	var ciphers []string
	tabs[0].MustEval(`confab.pc.getStats().then(r => [...r.values()].filter(s => s.type === 'transport').map(s => s.srtpCipher))`, &ciphers)
	if len(ciphers) != 1 || ciphers[0] != "SRTP_AEAD_AES_128_GCM" {
		t.Errorf("Chromium's SRTP cipher: %v, want [SRTP_AEAD_AES_128_GCM]", ciphers)
	}
	// Chromium takes the RTCP the server seals and sends itself: it
	// measures its round-trip time from the server's receiver reports,
	// which answer its sender reports.
	const rttSeen = `confab.pc.getStats().then(r => {
		let n = 0;
		r.forEach(s => { if (s.type === 'remote-inbound-rtp') n += s.roundTripTimeMeasurements || 0; });
		return n > 0;
	})`
	const remoteInbound = `confab.pc.getStats().then(r => [...r.values()].filter(s => s.type === 'remote-inbound-rtp'))`
	tabs[0].WaitFor(10*time.Second, rttSeen, remoteInbound)
	for _, tab := range tabs {
		var tiles []string
		tab.MustEval(`confab.remoteTiles()`, &tiles)
		if len(tiles) != 2 {
			t.Errorf("%s shows %d remote tiles, want 2: %v", tab.Name, len(tiles), tiles)
		}
	}
	shot := filepath.Join(os.TempDir(), "confab-meeting-3.png")
	if err := tabs[0].Screenshot(shot); err != nil {
		t.Errorf("screenshot: %v", err)
	} else {
		t.Logf("screenshot of the meeting: %s", shot)
	}

	// One leaves: its tile disappears from the others.
	tabs[2].MustEval(`confab.leave()`, nil)
	for _, tab := range tabs[:2] {
		tab.WaitFor(10*time.Second, fmt.Sprintf(`!confab.remoteTiles().includes(%q)`, ids[2]), `confab.remoteTiles()`)
	}
}
