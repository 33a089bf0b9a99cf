package signaling_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/confab/confab/internal/client"
	"github.com/confab/confab/internal/testserver"
)

// participant is a pion client that publishes VP8 and Opus with recognisable
// payloads: every payload starts with "<trackID>:".
type participant struct {
	*client.Client
	name   string
	video  *webrtc.TrackLocalStaticRTP
	audio  *webrtc.TrackLocalStaticRTP
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func payloadPrefix(trackID string) []byte { return []byte(trackID + ":") }

// newParticipant dials srv, adds a camera and a microphone, joins room, and
// starts sending media until the test ends.
func newParticipant(ctx context.Context, t *testing.T, srv *testserver.Server, room, name string, opts client.Options) *participant {
	t.Helper()
	return newParticipantWithToken(ctx, t, srv, room, name, "", opts)
}

// newParticipantWithToken is newParticipant joining with an access token.
func newParticipantWithToken(ctx context.Context, t *testing.T, srv *testserver.Server, room, name, token string, opts client.Options) *participant {
	t.Helper()
	c, err := client.Dial(ctx, srv.URL, opts)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	p := &participant{Client: c, name: name}
	t.Cleanup(p.close)
	if p.video, err = c.AddTrack(webrtc.MimeTypeVP8, "video-"+name, "camera"); err != nil {
		t.Fatalf("%s: add video: %v", name, err)
	}
	if p.audio, err = c.AddTrack(webrtc.MimeTypeOpus, "audio-"+name, "microphone"); err != nil {
		t.Fatalf("%s: add audio: %v", name, err)
	}
	if _, err := c.JoinWithToken(ctx, room, name, token); err != nil {
		t.Fatalf("%s: join: %v", name, err)
	}
	sendCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		sendMedia(sendCtx, p.video, p.audio, "video-"+name, "audio-"+name)
	}()
	return p
}

func (p *participant) close() {
	if p.cancel != nil {
		p.cancel()
		p.wg.Wait()
	}
	_ = p.Close()
}

// sendMedia writes 30 video frames a second (3 packets each, a keyframe every
// second) and 50 audio packets a second.
func sendMedia(ctx context.Context, video, audio *webrtc.TrackLocalStaticRTP, videoID, audioID string) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var vseq, aseq uint16
	var frame uint32
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		apkt := &rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: uint32(n) * 960, PayloadType: 111},
			Payload: append(payloadPrefix(audioID), bytes.Repeat([]byte{0xAA}, 100)...),
		}
		aseq++
		_ = audio.WriteRTP(apkt)
		if n%2 == 0 { // ~25-30 fps is plenty for the test
			frame++
			for i := 0; i < 3; i++ {
				// VP8 payload descriptor: S bit on the first packet of a frame;
				// the first byte of the frame header has P=0 for a keyframe.
				desc := byte(0)
				if i == 0 {
					desc = 0x10
				}
				vp8 := byte(0x01) // inter frame
				if frame%30 == 1 {
					vp8 = 0x00 // key frame
				}
				payload := append([]byte{desc, vp8}, payloadPrefix(videoID)...)
				payload = append(payload, bytes.Repeat([]byte{0xBB}, 1000)...)
				vpkt := &rtp.Packet{
					Header:  rtp.Header{Version: 2, SequenceNumber: vseq, Timestamp: frame * 3000, Marker: i == 2, PayloadType: 96},
					Payload: payload,
				}
				vseq++
				_ = video.WriteRTP(vpkt)
			}
		}
	}
}

// payloadOK reports whether pkt carries the payload its publisher wrote for
// track trackID.
func payloadOK(kind, trackID string, payload []byte) bool {
	if kind == "video" {
		if len(payload) < 2 {
			return false
		}
		payload = payload[2:]
	}
	return bytes.HasPrefix(payload, payloadPrefix(trackID))
}

// checker counts forwarded packets whose payload is not what the publisher
// wrote.
type checker struct{ bad, good atomic.Int64 }

func (c *checker) onPacket(rt *client.RemoteTrack, pkt *rtp.Packet) {
	if payloadOK(rt.Kind, rt.TrackID, pkt.Payload) {
		c.good.Add(1)
	} else {
		c.bad.Add(1)
	}
}

// waitIntact waits up to 10 s for n intact packets.
func (c *checker) waitIntact(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.good.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d intact packets (%d altered), want %d", c.good.Load(), c.bad.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wait(t *testing.T, ctx context.Context, what string, f func(context.Context) error) {
	t.Helper()
	if err := f(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// hasExactly reports whether tracks are exactly the audio and video of the
// given publishers, each flowing.
func hasExactly(publishers map[string]string) func([]*client.RemoteTrack) bool {
	return func(tracks []*client.RemoteTrack) bool {
		if len(tracks) != 2*len(publishers) {
			return false
		}
		for _, rt := range tracks {
			name, ok := publishers[rt.StreamID]
			if !ok || rt.Packets() == 0 {
				return false
			}
			if rt.TrackID != rt.Kind+"-"+name {
				return false
			}
		}
		return true
	}
}

func TestThreePublishers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	var check checker
	names := []string{"ann", "bob", "cy"}
	ps := make([]*participant, len(names))
	for i, name := range names {
		ps[i] = newParticipant(ctx, t, srv, "three", name, client.Options{OnPacket: check.onPacket})
	}
	for i, p := range ps {
		others := map[string]string{}
		for j, q := range ps {
			if j != i {
				others[q.Self().ID] = q.name
			}
		}
		wait(t, ctx, p.name+" receives the others' tracks", func(ctx context.Context) error {
			return p.WaitRemoteTracks(ctx, hasExactly(others))
		})
		for _, rt := range p.RemoteTracks() {
			want := others[rt.StreamID]
			src := map[string]string{"audio": "microphone", "video": "camera"}[rt.Kind]
			if rt.Info.ParticipantID != rt.StreamID || rt.Info.TrackID != rt.TrackID || rt.Info.Kind != rt.Kind || rt.Info.Source != src {
				t.Errorf("%s: track %s from %s: offer's tracks entry %+v", p.name, rt.TrackID, want, rt.Info)
			}
			wantMime := map[string]string{"audio": webrtc.MimeTypeOpus, "video": webrtc.MimeTypeVP8}[rt.Kind]
			if rt.MimeType != wantMime {
				t.Errorf("%s: %s arrives as %s", p.name, rt.TrackID, rt.MimeType)
			}
		}
	}
	if check.good.Load() == 0 || check.bad.Load() != 0 {
		t.Fatalf("payloads: %d intact, %d altered", check.good.Load(), check.bad.Load())
	}
}

func TestLateJoinerGetsTracksAndKeyframe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	ann := newParticipant(ctx, t, srv, "late", "ann", client.Options{})
	wait(t, ctx, "ann connected", ann.WaitConnected)
	time.Sleep(300 * time.Millisecond) // ann's media flows into an empty room
	before := ann.KeyframeRequests("video-ann")

	bob := newParticipant(ctx, t, srv, "late", "bob", client.Options{})
	wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
		return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
	})
	deadline := time.Now().Add(5 * time.Second)
	for ann.KeyframeRequests("video-ann") <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no keyframe request reached the publisher after a subscriber joined (%d before)", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wait(t, ctx, "ann receives bob", func(ctx context.Context) error {
		return ann.WaitRemoteTracks(ctx, hasExactly(map[string]string{bob.Self().ID: "bob"}))
	})
	if st, _ := ann.SenderStats("video-ann"); st.NoSender != 0 {
		t.Fatalf("%d of the server's PLIs and NACKs have sender SSRC 0: %+v", st.NoSender, st)
	}
}

// TestLeaveReleasesEverything: a participant that leaves is announced, its
// tracks disappear from the others by renegotiation, and its goroutines end.
func TestLeaveReleasesEverything(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	ann := newParticipant(ctx, t, srv, "leave", "ann", client.Options{})
	bob := newParticipant(ctx, t, srv, "leave", "bob", client.Options{})
	wait(t, ctx, "ann receives bob", func(ctx context.Context) error {
		return ann.WaitRemoteTracks(ctx, hasExactly(map[string]string{bob.Self().ID: "bob"}))
	})
	wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
		return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
	})
	// The count to come back to, once the goroutines of joining (pion's
	// callbacks into the server, negotiation) have ended: the same in 3
	// samples 200 ms apart.
	settled := settle(t, "server goroutines while ann and bob exchange media", 200*time.Millisecond, 3, ownGoroutines)

	for round := 0; round < 5; round++ {
		cy := newParticipant(ctx, t, srv, "leave", "cy", client.Options{})
		cyID := cy.Self().ID
		wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
		if err := ann.WaitRemoteTracks(wctx, hasExactly(map[string]string{bob.Self().ID: "bob", cyID: "cy"})); err != nil {
			for _, p := range srv.Rooms.Room("leave").Participants() {
				for _, tr := range p.Tracks {
					t.Logf("server: %s %s packets=%d subs=%+v", p.Name, tr.ID, tr.Media.Packets(), tr.Media.DownTracks())
				}
			}
			for _, tr := range ann.PC().GetTransceivers() {
				st := ""
				if r := tr.Receiver(); r != nil && r.Track() != nil {
					st = fmt.Sprintf("track %s ssrc %d", r.Track().ID(), r.Track().SSRC())
				}
				t.Logf("ann transceiver mid=%s kind=%s dir=%s %s", tr.Mid(), tr.Kind(), tr.Direction(), st)
			}
			t.Logf("ann is %s", ann.Self().ID)
			t.Fatalf("round %d: ann receives cy: %v", round, err)
		}
		wcancel()
		if err := cy.Leave(); err != nil {
			t.Fatalf("cy leave: %v", err)
		}
		for _, p := range []*participant{ann, bob} {
			if _, err := p.WaitMessage(ctx, func(typ string, raw []byte) bool {
				return typ == "participant-left" && bytes.Contains(raw, []byte(cyID))
			}); err != nil {
				t.Fatalf("%s: participant-left for cy: %v", p.name, err)
			}
		}
		wait(t, ctx, "cy's tracks removed from ann", func(ctx context.Context) error {
			return ann.WaitRemoteTracks(ctx, hasExactly(map[string]string{bob.Self().ID: "bob"}))
		})
		cy.close()
		waitFor(t, func() bool { return srv.API.Peers() == 2 })
		for _, p := range srv.Rooms.Room("leave").Participants() {
			for _, tr := range p.Tracks {
				if n := tr.Media.Subscribers(); n != 1 {
					t.Fatalf("%s's %s still has %d subscribers after cy left", p.Name, tr.ID, n)
				}
			}
		}
	}
	// Every server goroutine cy's five visits started (sessions, sockets,
	// peers, forwarding, RTCP readers) has ended: the count is back to
	// what it was before them, or below it should something have been
	// ending even then. A leak adds up over the five visits.
	// goleak checks the rest of the process when the package's tests end.
	deadline := time.Now().Add(10 * time.Second)
	for n := ownGoroutines(); n > settled; n = ownGoroutines() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("server goroutines: %d after the visits, %d before\n%s", n, settled, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownGoroutines counts the goroutines running Confab's server code (packages
// sfu and signaling). Pools of the libraries (fasthttp's idle workers, pion's
// lazily started readers) come and go on their own and are left out.
func ownGoroutines() int {
	buf := make([]byte, 8<<20)
	n := runtime.Stack(buf, true)
	count := 0
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, "github.com/confab/confab/sfu.") || strings.Contains(g, "github.com/confab/confab/signaling.") {
			count++
		}
	}
	return count
}

// dropOnce is an interceptor that drops the first arrival of one video
// sequence number, so the receiver has to NACK it.
type dropOnce struct {
	interceptor.NoOp
	target  uint16
	dropped atomic.Bool
}

func (d *dropOnce) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if info.MimeType != webrtc.MimeTypeVP8 {
		return reader
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil || n < 4 {
				return n, attr, err
			}
			seq := uint16(b[2])<<8 | uint16(b[3])
			if seq == d.target && d.dropped.CompareAndSwap(false, true) {
				continue
			}
			return n, attr, err
		}
	})
}

type dropFactory struct{ d *dropOnce }

func (f dropFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.d, nil }

func TestNACKRetransmission(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	ann := newParticipant(ctx, t, srv, "nack", "ann", client.Options{})
	wait(t, ctx, "ann connected", ann.WaitConnected)

	// bob loses a video packet a little ahead of what ann is sending now: it
	// is dropped after decryption, so SRTP replay protection is off for bob
	// (a real loss never reaches SRTP).
	drop := &dropOnce{target: 200}
	bob := newParticipant(ctx, t, srv, "nack", "bob", client.Options{
		NetworkInterceptors: func(r *interceptor.Registry) error {
			r.Add(dropFactory{drop})
			return nil
		},
		DisableReplayProtection: true,
	})
	wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
		return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
	})
	var video *client.RemoteTrack
	for _, rt := range bob.RemoteTracks() {
		if rt.Kind == "video" {
			video = rt
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for !(drop.dropped.Load() && video.SeqCount(drop.target) > 0) {
		if time.Now().After(deadline) {
			last, _ := video.LastSeq()
			t.Fatalf("dropped=%v, seq %d received %d times (last seq %d): no retransmission",
				drop.dropped.Load(), drop.target, video.SeqCount(drop.target), last)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, err := ann.SenderStats("video-ann"); err == nil && st.NACK > 0 {
		// The server answered from its cache; the publisher may also have
		// been asked, but only if the server itself missed the packet.
		t.Logf("publisher saw %d NACKs", st.NACK)
	}
}

// TestDirectSendingProfiles: with either SRTP profile a subscriber may
// choose, the server sends its forwarded packets on the direct path (its own
// SRTP and socket write) and the subscriber decrypts them intact; with direct
// sending off, pion's path carries them as well. Either way the server's own
// sender reports arrive.
func TestDirectSendingProfiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		profile  dtls.SRTPProtectionProfile
		noDirect bool
	}{
		{"aes-gcm", dtls.SRTP_AEAD_AES_128_GCM, false},
		{"aes-cm-hmac", dtls.SRTP_AES128_CM_HMAC_SHA1_80, false},
		{"pion-path", dtls.SRTP_AEAD_AES_128_GCM, true},
	} {
		profile := tc.profile
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			srv := testserver.Start(t, testserver.Options{NoDirectSend: tc.noDirect})
			// Light interceptors put transport-wide sequence numbers on
			// ann's packets (pion's defaults do not), as browsers do.
			ann := newParticipant(ctx, t, srv, "direct", "ann", client.Options{
				SRTPProfiles: []dtls.SRTPProtectionProfile{profile}, LightInterceptors: true,
			})
			var check checker
			bob := newParticipant(ctx, t, srv, "direct", "bob", client.Options{
				OnPacket:     check.onPacket,
				SRTPProfiles: []dtls.SRTPProtectionProfile{profile},
			})
			wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
				return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
			})
			check.waitIntact(t, 200)
			st := srv.API.Stats()
			if check.bad.Load() != 0 || (st.DirectPacketsOut == 0) != tc.noDirect || (st.DirectPacketsIn == 0) != tc.noDirect {
				t.Fatalf("%d intact, %d altered packets; server sent %d of %d packets directly, received %d of %d",
					check.good.Load(), check.bad.Load(), st.DirectPacketsOut, st.PacketsOut, st.DirectPacketsIn, st.PacketsIn)
			}
			// A stream's queue overflows only while its reader is starved
			// (its 32 audio slots hold 640 ms), which a loaded machine
			// running the race detector may do: a few such drops are
			// tolerated, up to 1 for 20 packets taken. Slots the path
			// failed to give back would run out within a second or two
			// and drop most of what came after.
			if st.DirectDecryptFailures != 0 || st.DirectDrops*20 > st.DirectPacketsIn {
				t.Errorf("direct receive: %d decryption failures, %d drops of %d packets (at most 5%% may overflow a starved queue)",
					st.DirectDecryptFailures, st.DirectDrops, st.DirectPacketsIn)
			} else if st.DirectDrops != 0 {
				t.Logf("direct receive: %d of %d packets dropped from full queues", st.DirectDrops, st.DirectPacketsIn)
			}
			t.Logf("server sent %d of %d packets directly, received %d of %d", st.DirectPacketsOut, st.PacketsOut, st.DirectPacketsIn, st.PacketsIn)

			// The server's transport-cc feedback and receiver reports
			// reach the publisher, whichever path its RTCP took (sealed by
			// the server itself on the direct route, by pion otherwise).
			wait(t, ctx, "transport-cc feedback and receiver reports at ann", func(ctx context.Context) error {
				for ctx.Err() == nil {
					var fb, rr uint64
					for _, id := range []string{"video-ann", "audio-ann"} {
						if st, err := ann.SenderStats(id); err == nil {
							fb += st.TransportFeedback
							rr += st.ReceiverReports
						}
					}
					if fb > 0 && rr > 0 {
						return nil
					}
					time.Sleep(50 * time.Millisecond)
				}
				return ctx.Err()
			})

			// The server's own sender reports describe what it sent.
			for _, rt := range bob.RemoteTracks() {
				deadline := time.Now().Add(5 * time.Second)
				for {
					n, sr := rt.SenderReports()
					ntp := time.Unix(int64(sr.NTPTime>>32)-2208988800, 0)
					if n > 0 && sr.PacketCount > 0 && time.Since(ntp).Abs() < 10*time.Second {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: %d sender reports, latest %+v", rt, n, sr)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}

// TestOfferedDTLSRoles: clients whose offers make the server the DTLS client
// (a=setup:passive) leave it without the keys for direct sending, and their
// media goes through pion's path, intact; clients that insist on being the
// DTLS client (a=setup:active) get the direct path as browsers do.
func TestOfferedDTLSRoles(t *testing.T) {
	for _, tc := range []struct {
		setup  string
		direct bool
	}{{"passive", false}, {"active", true}} {
		t.Run(tc.setup, func(t *testing.T) { checkOfferedDTLSRole(t, tc.setup, tc.direct) })
	}
}

func checkOfferedDTLSRole(t *testing.T, setup string, direct bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, testserver.Options{})
	var check checker
	ann := newParticipant(ctx, t, srv, "roles", "ann", client.Options{OfferSetup: setup})
	bob := newParticipant(ctx, t, srv, "roles", "bob", client.Options{OfferSetup: setup, OnPacket: check.onPacket})
	wait(t, ctx, "bob receives ann", func(ctx context.Context) error {
		return bob.WaitRemoteTracks(ctx, hasExactly(map[string]string{ann.Self().ID: "ann"}))
	})
	check.waitIntact(t, 100)
	st := srv.API.Stats()
	if check.bad.Load() != 0 || (st.DirectPacketsOut > 0) != direct || (st.DirectPacketsIn > 0) != direct || st.PacketsOut == 0 {
		t.Fatalf("%d intact, %d altered; server sent %d of %d packets directly, received %d of %d (want direct: %v)",
			check.good.Load(), check.bad.Load(), st.DirectPacketsOut, st.PacketsOut, st.DirectPacketsIn, st.PacketsIn, direct)
	}
}

// dropSent is an interceptor that drops the n-th video packet a client
// sends, once, as a lossy uplink would.
type dropSent struct {
	interceptor.NoOp
	n       int64
	sent    atomic.Int64
	dropped atomic.Bool
}

func (d *dropSent) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if info.MimeType != webrtc.MimeTypeVP8 {
		return writer
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if d.sent.Add(1) == d.n && d.dropped.CompareAndSwap(false, true) {
			return len(payload), nil
		}
		return writer.Write(h, payload, a)
	})
}

func (d *dropSent) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

// TestImmediateNACK: the server asks the publisher for a packet its uplink
// lost as soon as the gap shows, not at the RTCP loop's next run: with the
// loop's runs an hour apart, the NACK still comes.
func TestImmediateNACK(t *testing.T) {
	srv, ann := feedbackAtPublisher(t, testserver.Options{RTCPInterval: time.Hour}, "a NACK",
		func(st client.SenderStats) bool { return st.NACK > 0 })
	if lost := srv.API.Stats(); lost.NACKsSent == 0 {
		t.Fatalf("server counts no NACK sent: %+v", lost)
	}
	if st, _ := ann.SenderStats("video-ann"); st.NoSender != 0 {
		t.Fatalf("NACKs with sender SSRC 0: %+v", st)
	}
}

// TestServerFeedbackToPublisher: the server's receive-side RTCP reaches a
// publisher: a NACK for the video packet its uplink lost, and receiver
// reports.
func TestServerFeedbackToPublisher(t *testing.T) {
	feedbackAtPublisher(t, testserver.Options{}, "NACK and receiver reports",
		func(st client.SenderStats) bool { return st.NACK > 0 && st.ReceiverReports > 0 })
}

// feedbackAtPublisher starts a server with opts and a publisher, ann, whose
// uplink drops its 100th video packet, and waits until that packet has
// been dropped and ann's feedback for its video track satisfies ok.
func feedbackAtPublisher(t *testing.T, opts testserver.Options, what string, ok func(client.SenderStats) bool) (*testserver.Server, *participant) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := testserver.Start(t, opts)
	drop := &dropSent{n: 100}
	ann := newParticipant(ctx, t, srv, "uplink", "ann", client.Options{
		NetworkInterceptors: func(r *interceptor.Registry) error {
			r.Add(drop)
			return nil
		},
	})
	wait(t, ctx, "ann connected", ann.WaitConnected)
	wait(t, ctx, what+" at ann", func(ctx context.Context) error {
		for ctx.Err() == nil {
			st, err := ann.SenderStats("video-ann")
			if err != nil {
				return err
			}
			if drop.dropped.Load() && ok(st) {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		st, _ := ann.SenderStats("video-ann")
		return fmt.Errorf("dropped %v, %+v: %w", drop.dropped.Load(), st, ctx.Err())
	})
	return srv, ann
}
