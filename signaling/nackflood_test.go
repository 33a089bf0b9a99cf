package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/testserver"
)

// TestNACKFloodIsLimited: a subscriber that NACKs the same few hundred
// packets hundreds of times in a burst gets each resent at most about once
// per round trip, within its retransmission budget, instead of once per
// request; the rest are counted as limited, and another subscriber's media
// keeps flowing.
func TestNACKFloodIsLimited(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	ann := newParticipant(ctx, t, srv, "flood", "ann", client.Options{})
	bob := newParticipant(ctx, t, srv, "flood", "bob", client.Options{})
	carol := newParticipant(ctx, t, srv, "flood", "carol", client.Options{})
	video := videoFrom(ctx, t, bob, ann.Self().ID)
	carolVideo := videoFrom(ctx, t, carol, ann.Self().ID)
	// Enough of ann's video for the NACKs to name cached packets.
	wait(t, ctx, "bob gets 150 packets", func(ctx context.Context) error { return video.WaitPackets(ctx, 150) })
	last, _ := video.LastSeq()

	// 119 sequence numbers (the last 119 sent, in 7 pairs of 17), asked 300 times.
	const pairs, rounds = 7, 300
	var nack rtcp.TransportLayerNack
	nack.MediaSSRC = video.SSRC
	for i := range pairs {
		nack.Nacks = append(nack.Nacks, rtcp.NackPair{PacketID: last - uint16(17*(i+1)) + 1, LostPackets: 0xffff})
	}
	requested := uint64(rounds * pairs * 17)
	before := srv.API.Stats()
	carolBefore := carolVideo.Packets()
	for range rounds {
		if err := bob.PC().WriteRTCP([]rtcp.Packet{&nack}); err != nil {
			t.Fatalf("write NACK: %v", err)
		}
	}
	// Wait until the server has read them all (each NACK packet counts).
	deadline := time.Now().Add(10 * time.Second)
	var after = srv.API.Stats()
	for after.NACKsReceived-before.NACKsReceived < rounds {
		if time.Now().After(deadline) {
			t.Fatalf("the server read %d of %d NACK packets", after.NACKsReceived-before.NACKsReceived, rounds)
		}
		time.Sleep(20 * time.Millisecond)
		after = srv.API.Stats()
	}
	resent := after.Retransmissions - before.Retransmissions
	limited := after.RetransmissionsLimited - before.RetransmissionsLimited
	t.Logf("%d packets NACKed in all: %d resent, %d limited", requested, resent, limited)
	if resent == 0 {
		t.Fatal("nothing was resent")
	}
	if resent > requested/10 {
		t.Fatalf("%d of %d requests resent: the flood was answered", resent, requested)
	}
	if limited < requested/2 {
		t.Fatalf("only %d of %d requests counted as limited", limited, requested)
	}
	wait(t, ctx, "carol keeps receiving", func(ctx context.Context) error {
		return carolVideo.WaitPackets(ctx, carolBefore+50)
	})
}

// videoOf returns the video track of publisher id among tracks, or nil.
func videoOf(tracks []*client.RemoteTrack, id string) *client.RemoteTrack {
	for _, rt := range tracks {
		if rt.Kind == "video" && rt.StreamID == id {
			return rt
		}
	}
	return nil
}

// videoFrom waits until p receives the video of publisher id, and returns it.
func videoFrom(ctx context.Context, t *testing.T, p *participant, id string) *client.RemoteTrack {
	t.Helper()
	wait(t, ctx, p.name+" receives the video of "+id, func(ctx context.Context) error {
		return p.WaitRemoteTracks(ctx, func(tracks []*client.RemoteTrack) bool {
			return videoOf(tracks, id) != nil
		})
	})
	return videoOf(p.RemoteTracks(), id)
}

// TestRTCPFloodIsBounded: a participant that sends RTCP far faster than any
// client does has what is over the bound dropped by the server's socket
// reader before pion parses it, counted, and its media keeps flowing.
func TestRTCPFloodIsBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	ann := newParticipant(ctx, t, srv, "rtcpflood", "ann", client.Options{})
	bob := newParticipant(ctx, t, srv, "rtcpflood", "bob", client.Options{})
	video := videoFrom(ctx, t, bob, ann.Self().ID)
	wait(t, ctx, "bob gets video", func(ctx context.Context) error { return video.WaitPackets(ctx, 20) })

	before := srv.API.Stats()
	rr := &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: video.SSRC}}}
	const flood = 5000
	for range flood {
		if err := bob.PC().WriteRTCP([]rtcp.Packet{rr}); err != nil {
			t.Fatalf("write RTCP: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.API.Stats().ControlRateDrops == before.ControlRateDrops {
		if time.Now().After(deadline) {
			t.Fatalf("%d receiver reports at once: none dropped over the bound", flood)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d receiver reports at once: %d dropped", flood, srv.API.Stats().ControlRateDrops-before.ControlRateDrops)
	got := video.Packets()
	wait(t, ctx, "bob keeps receiving", func(ctx context.Context) error { return video.WaitPackets(ctx, got+30) })
}
