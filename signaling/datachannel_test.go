package signaling_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/testserver"
)

// TestDataChannelsLeftOpen: the server uses no data channel, and leaves
// those a client opens open and unread. (pion's default closes each one,
// a stream reset apiece: a client that opened 2000 kept a server's core
// busy for seconds.) A client that opens a hundred keeps them all, and its
// media goes on.
func TestDataChannelsLeftOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	newParticipant(ctx, t, srv, "dc", "pub", client.Options{})
	viewer, err := client.Dial(ctx, srv.URL, client.Options{}) // offers a data channel
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = viewer.Close() })
	if _, err := viewer.Join(ctx, "dc", "viewer"); err != nil {
		t.Fatal(err)
	}
	if err := viewer.WaitRemoteTracks(ctx, func(rts []*client.RemoteTrack) bool { return len(rts) == 2 }); err != nil {
		t.Fatal(err)
	}
	pc := viewer.PC()
	var channels []*webrtc.DataChannel
	for i := range 100 {
		dc, err := pc.CreateDataChannel(fmt.Sprint("extra", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		channels = append(channels, dc)
	}
	states := func() map[webrtc.DataChannelState]int {
		n := map[webrtc.DataChannelState]int{}
		for _, dc := range channels {
			n[dc.ReadyState()]++
		}
		return n
	}
	waitFor(t, func() bool { return states()[webrtc.DataChannelStateOpen] == len(channels) })
	for _, dc := range channels {
		if err := dc.SendText("unread"); err != nil {
			t.Fatal(err)
		}
	}
	// Media still flows, and the channels stay open.
	for _, rt := range viewer.RemoteTracks() {
		if err := rt.WaitPackets(ctx, rt.Packets()+20); err != nil {
			t.Fatalf("%s: %v", rt, err)
		}
	}
	if n := states(); n[webrtc.DataChannelStateOpen] != len(channels) {
		t.Fatalf("data channels %v, want all %d open", n, len(channels))
	}
}
