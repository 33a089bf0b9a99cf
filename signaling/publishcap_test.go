package signaling_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/testserver"
)

// TestPublishCap: a participant that sends video far above
// rooms.maxPublishBitrate has what is over it dropped: its subscribers get
// about the cap's worth (a second's burst plus the rate), the server counts
// the rest, and another publisher under the cap, in the same room, loses
// nothing.
func TestPublishCap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const capBits = 1_000_000 // ann's test media is about 0.7 Mbit/s
	srv := testserver.Start(t, testserver.Options{MaxPublishBitrate: capBits})
	ann := newParticipant(ctx, t, srv, "cap", "ann", client.Options{})
	// bob's socket holds seconds of what he receives, not the default
	// buffer's fraction of one: the flood's first burst (a full bucket,
	// at 4 Mbit/s) must not overflow it while his reader waits for a CPU.
	bob := newParticipant(ctx, t, srv, "cap", "bob", client.Options{SocketReadBuffer: 4 << 20})

	flooder, err := client.Dial(ctx, srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flooder.Close() })
	video, err := flooder.AddTrack(webrtc.MimeTypeVP8, "video-flood", "camera")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flooder.Join(ctx, "cap", "flood"); err != nil {
		t.Fatal(err)
	}
	send := func(seq uint16) {
		payload := append([]byte{0x10, 0x00}, payloadPrefix("video-flood")...) // keyframe start
		payload = append(payload, bytes.Repeat([]byte{0xCC}, 1000)...)
		_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 90, Marker: true, PayloadType: 96}, Payload: payload})
	}
	// A trickle until bob receives the flooder's video, within the cap.
	var seq uint16
	var flood *client.RemoteTrack
	for deadline := time.Now().Add(20 * time.Second); flood == nil; seq++ {
		if time.Now().After(deadline) {
			t.Fatal("bob never received the flooder's video")
		}
		send(seq)
		time.Sleep(20 * time.Millisecond)
		flood = videoOf(bob.RemoteTracks(), flooder.Self().ID)
	}
	annVideo := videoFrom(ctx, t, bob, ann.Self().ID)
	time.Sleep(1200 * time.Millisecond) // the trickle leaves the bucket full again

	// The flood: 5 packets of about 1040 bytes every 10 ms, 4 Mbit/s, for 2 s.
	before := srv.API.Stats()
	floodBefore := flood.Packets()
	annFirst, _ := annVideo.LastSeq()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	const rounds, perRound = 200, 5
	for range rounds {
		<-tick.C
		for range perRound {
			send(seq)
			seq++
		}
	}
	tick.Stop()
	flooding := time.Since(start)
	time.Sleep(300 * time.Millisecond) // the last packets arrive
	after := srv.API.Stats()
	// The cap is applied when the forwarder takes a packet, which may lag
	// behind its arrival: the bound counts the budget earned until now.
	elapsed := time.Since(start)

	got := flood.Packets() - floodBefore
	dropped := after.OverLimitDrops - before.OverLimitDrops
	// At most a full bucket (a second of the cap) and the cap's rate over
	// the flood, in packets of at least 1000 bytes.
	most := uint64((capBits/8 + capBits/8*elapsed.Seconds()) / 1000)
	t.Logf("flood of %d packets in %v: bob got %d (at most %d allowed), %d dropped over the cap",
		rounds*perRound, flooding.Round(time.Millisecond), got, most, dropped)
	if dropped == 0 {
		t.Fatal("nothing dropped over the cap")
	}
	if got > most {
		t.Fatalf("bob got %d of the flood's packets, more than the cap allows (%d)", got, most)
	}
	if got < most/4 {
		t.Fatalf("bob got only %d of the flood's packets; the cap allows %d", got, most)
	}
	// ann, under the cap, lost nothing: every sequence number from the
	// flood's start to its end reaches bob. One lost on the way (a full
	// socket buffer, or the server's queue for it) comes back once bob's
	// NACK is answered, which may take a while on a loaded machine.
	annLast, _ := annVideo.LastSeq()
	sent := annLast - annFirst
	if sent == 0 || sent > 0x8000 {
		t.Fatalf("bob's last packets of ann's video: %d before the flood, %d after", annFirst, annLast)
	}
	missing := func() (n int) {
		for i := uint16(1); i <= sent; i++ {
			if annVideo.SeqCount(annFirst+i) == 0 {
				n++
			}
		}
		return n
	}
	n := missing()
	for deadline := time.Now().Add(5 * time.Second); n > 0 && time.Now().Before(deadline); n = missing() {
		time.Sleep(50 * time.Millisecond)
	}
	if n > 0 {
		// A track's queue in the server overflows only when its forwarder
		// is starved of CPU for hundreds of milliseconds (a loaded machine
		// running the race detector); that is not the cap's doing.
		if shed := srv.API.Stats().DirectDrops - before.DirectDrops; shed > 0 {
			t.Logf("bob never got %d of ann's %d video packets; the server shed %d from full queues", n, sent, shed)
		} else {
			t.Fatalf("bob never got %d of ann's %d video packets sent during the flood", n, sent)
		}
	}
}
