// Package sdptest makes session descriptions for tests: real offers from a
// pion peer connection, for tests to send as they are or to break.
package sdptest

import (
	"slices"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// ClientOffer returns a pion client's offer to receive audio and video and
// to send VP8 video (with RTX, so its video section pairs two SSRCs with an
// a=ssrc-group:FID line). The peer connection is closed before it returns.
func ClientOffer(t testing.TB) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// PlanB returns offer, a ClientOffer, with its a=ssrc-group:FID line cut:
// its sending video section then declares two streams (the video's SSRC and
// what was its RTX repair flow), which is how Plan B sends two tracks in one
// media section.
func PlanB(t testing.TB, offer string) string {
	t.Helper()
	lines := strings.Split(offer, "\r\n")
	kept := slices.DeleteFunc(slices.Clone(lines), func(line string) bool {
		return strings.HasPrefix(line, "a=ssrc-group:FID")
	})
	if len(kept) == len(lines) {
		t.Fatal("sdptest: the offer has no RTX pairing to cut")
	}
	return strings.Join(kept, "\r\n")
}
