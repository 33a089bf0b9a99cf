package signaling_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/testserver"
)

// TestJoinBurstIsBatched: 20 publishers join a room at once. The participant
// already there must receive all 40 of their tracks through far fewer server
// offers than there are joiners: changes are folded into the next offer.
func TestJoinBurstIsBatched(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	ann := newParticipant(ctx, t, srv, "burst", "ann", client.Options{})
	wait(t, ctx, "ann connected", ann.WaitConnected)

	const joiners = 20
	stop := make(chan struct{})
	var senders sync.WaitGroup
	defer func() {
		close(stop)
		senders.Wait()
	}()
	names := map[string]string{}
	var mu sync.Mutex
	var joined sync.WaitGroup
	for i := 0; i < joiners; i++ {
		joined.Add(1)
		go func() {
			defer joined.Done()
			name := fmt.Sprintf("j%02d", i)
			c, err := client.Dial(ctx, srv.URL, client.Options{})
			if err != nil {
				t.Errorf("%s: dial: %v", name, err)
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			video, err1 := c.AddTrack(webrtc.MimeTypeVP8, "video-"+name, "camera")
			audio, err2 := c.AddTrack(webrtc.MimeTypeOpus, "audio-"+name, "microphone")
			if err1 != nil || err2 != nil {
				t.Errorf("%s: add tracks: %v %v", name, err1, err2)
				return
			}
			if _, err := c.Join(ctx, "burst", name); err != nil {
				t.Errorf("%s: join: %v", name, err)
				return
			}
			mu.Lock()
			names[c.Self().ID] = name
			mu.Unlock()
			// A few packets a second are enough to publish and to flow.
			senders.Add(1)
			go func() {
				defer senders.Done()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for seq := uint16(0); ; seq++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 9000, Marker: true}, Payload: []byte{0x10, 0, 1, 2, 3}})
					_ = audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 4800}, Payload: []byte{1, 2, 3}})
				}
			}()
		}()
	}
	joined.Wait()
	if t.Failed() {
		t.FailNow()
	}
	mu.Lock()
	want := map[string]string{}
	for id, name := range names {
		want[id] = name
	}
	mu.Unlock()
	wait(t, ctx, "ann receives every joiner's tracks", func(ctx context.Context) error {
		return ann.WaitRemoteTracks(ctx, hasExactly(want))
	})
	offers := 0
	for _, m := range ann.Messages() {
		if m.Type == "offer" {
			offers++
		}
	}
	t.Logf("%d joiners, %d tracks, %d server offers to the participant already there", joiners, 2*joiners, offers)
	if offers >= joiners {
		t.Errorf("%d server offers for %d joiners: changes were not batched", offers, joiners)
	}
}
