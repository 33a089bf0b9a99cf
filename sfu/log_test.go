package sfu

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// TestPionWarnings: the warnings pion gives at every join and leave are
// logged at Debug; the others stay at Warn.
func TestPionWarnings(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l := LoggerFactory(log).NewLogger("ice")
	for _, tc := range []struct {
		warn func()
		want string
	}{
		{func() { l.Warn("Failed to ping without candidate pairs. Connection is not possible yet.") }, "DEBUG"},
		{func() { l.Warnf("Failed to accept RTP %v", "stream is already closed") }, "DEBUG"},
		{func() { l.Warnf("Failed to accept RTCP %v", "stream is already closed") }, "DEBUG"},
		{func() { l.Warnf("Failed to read from candidate %s: %v", "udp4 host 127.0.0.1:35101", io.ErrClosedPipe) }, "DEBUG"},
		{func() {
			l.Warnf("Failed to read from candidate %s: %v", "udp4 host 127.0.0.1:35101", "connection refused")
		}, "WARN"},
		{func() { l.Warnf("Incoming unhandled RTCP ssrc(%d), OnTrack will not be fired", 3563654200) }, "DEBUG"},
		{func() { l.Warnf("Incoming unhandled SSRC ssrc(%d), OnTrack will not be fired. %v", 3563654200, "x") }, "WARN"},
		{func() { l.Warnf("Discard request with wrong username from (%s)", "127.0.0.1:50000") }, "WARN"},
		{func() { l.Warn("Failed to accept RTP something else") }, "WARN"},
	} {
		out.Reset()
		tc.warn()
		if !strings.Contains(out.String(), "level="+tc.want) {
			t.Errorf("logged %q, want level %s", out.String(), tc.want)
		}
	}
}

// TestPionTrackLoggedThroughGetters: the TrackRemote pion passes to a debug
// message is formatted through its locked getters, never by reading its
// fields (which renegotiation writes under the track's lock).
func TestPionTrackLoggedThroughGetters(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	LoggerFactory(log).NewLogger("pc").Debugf("got new track: %+v", &webrtc.TrackRemote{})
	if got := out.String(); !strings.Contains(got, "got new track: TrackRemote{id: ,") || strings.Contains(got, "mu:") {
		t.Fatalf("logged %q", got)
	}
}
