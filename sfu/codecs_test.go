package sfu

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

func codec(pt webrtc.PayloadType, mime, fmtp string) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp},
		PayloadType:        pt,
	}
}

func capability(mime, fmtp string) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp}
}

const (
	h264CB    = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	h264B     = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"
	h264CBPM0 = "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"
	h264Main  = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"
	h264High  = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032"
)

func TestMatchCodec(t *testing.T) {
	opus := webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}
	tests := []struct {
		name   string
		want   webrtc.RTPCodecCapability
		have   []webrtc.RTPCodecParameters
		wantPT webrtc.PayloadType // 0: no match expected
	}{
		{name: "nothing negotiated", want: capability(webrtc.MimeTypeVP8, ""), have: nil},
		{name: "other codecs only", want: capability(webrtc.MimeTypeVP8, ""),
			have: []webrtc.RTPCodecParameters{codec(98, webrtc.MimeTypeVP9, "profile-id=0"), codec(102, webrtc.MimeTypeH264, h264CB)}},
		{name: "VP8", want: capability(webrtc.MimeTypeVP8, ""),
			have: []webrtc.RTPCodecParameters{opus, codec(98, webrtc.MimeTypeVP9, "profile-id=0"), codec(96, webrtc.MimeTypeVP8, "")}, wantPT: 96},
		{name: "VP8 ignores fmtp", want: capability(webrtc.MimeTypeVP8, "max-fr=30;max-fs=3600"),
			have: []webrtc.RTPCodecParameters{codec(120, webrtc.MimeTypeVP8, "x-google-start-bitrate=800")}, wantPT: 120},
		{name: "first of two equal matches", want: capability(webrtc.MimeTypeVP8, ""),
			have: []webrtc.RTPCodecParameters{codec(97, webrtc.MimeTypeVP8, ""), codec(96, webrtc.MimeTypeVP8, "")}, wantPT: 97},
		{name: "MIME case-insensitive (want upper)", want: capability("VIDEO/VP8", ""),
			have: []webrtc.RTPCodecParameters{codec(96, "video/vp8", "")}, wantPT: 96},
		{name: "MIME case-insensitive (have upper)", want: capability("video/vp8", ""),
			have: []webrtc.RTPCodecParameters{codec(96, "VIDEO/VP8", "")}, wantPT: 96},
		{name: "H264 MIME case-insensitive", want: capability("video/h264", h264CB),
			have: []webrtc.RTPCodecParameters{codec(108, "VIDEO/H264", h264CB)}, wantPT: 108},
		{name: "Opus ignores fmtp", want: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "useinbandfec=1"},
			have: []webrtc.RTPCodecParameters{codec(96, webrtc.MimeTypeVP8, ""), opus}, wantPT: 111},

		// H.264: profile_idc and constraint flags (first 4 hex digits) and
		// packetization-mode must agree; the level may differ.
		{name: "H264 same profile", want: capability(webrtc.MimeTypeH264, h264CB),
			have: []webrtc.RTPCodecParameters{codec(102, webrtc.MimeTypeH264, h264B), codec(108, webrtc.MimeTypeH264, h264CB)}, wantPT: 108},
		{name: "H264 42e01f vs 42001f: constraint flags differ", want: capability(webrtc.MimeTypeH264, h264CB),
			have: []webrtc.RTPCodecParameters{codec(102, webrtc.MimeTypeH264, h264B)}},
		{name: "H264 42001f vs 42e01f: constraint flags differ", want: capability(webrtc.MimeTypeH264, h264B),
			have: []webrtc.RTPCodecParameters{codec(108, webrtc.MimeTypeH264, h264CB)}},
		{name: "H264 main vs baseline", want: capability(webrtc.MimeTypeH264, h264Main),
			have: []webrtc.RTPCodecParameters{codec(102, webrtc.MimeTypeH264, h264B), codec(108, webrtc.MimeTypeH264, h264CB), codec(127, webrtc.MimeTypeH264, h264High)}},
		{name: "H264 picks the matching profile among many", want: capability(webrtc.MimeTypeH264, h264High),
			have: []webrtc.RTPCodecParameters{codec(102, webrtc.MimeTypeH264, h264B), codec(112, webrtc.MimeTypeH264, h264Main), codec(127, webrtc.MimeTypeH264, h264High)}, wantPT: 127},
		{name: "H264 packetization-mode mismatch", want: capability(webrtc.MimeTypeH264, h264CB),
			have: []webrtc.RTPCodecParameters{codec(106, webrtc.MimeTypeH264, h264CBPM0)}},
		{name: "H264 packetization-mode picks the right one", want: capability(webrtc.MimeTypeH264, h264CBPM0),
			have: []webrtc.RTPCodecParameters{codec(108, webrtc.MimeTypeH264, h264CB), codec(106, webrtc.MimeTypeH264, h264CBPM0)}, wantPT: 106},
		{name: "H264 level difference allowed", want: capability(webrtc.MimeTypeH264, "packetization-mode=1;profile-level-id=42e034"),
			have: []webrtc.RTPCodecParameters{codec(108, webrtc.MimeTypeH264, h264CB)}, wantPT: 108},
		{name: "H264 profile-level-id hex case", want: capability(webrtc.MimeTypeH264, "packetization-mode=1;profile-level-id=42E01F"),
			have: []webrtc.RTPCodecParameters{codec(108, webrtc.MimeTypeH264, h264CB)}, wantPT: 108},
		{name: "H264 fmtp order, spaces and key case", want: capability(webrtc.MimeTypeH264, " Profile-Level-Id = 42e01f ; packetization-mode=1 "),
			have: []webrtc.RTPCodecParameters{codec(108, webrtc.MimeTypeH264, h264CB)}, wantPT: 108},
		{name: "H264 no fallback to a mismatched profile", want: capability(webrtc.MimeTypeH264, h264CB),
			have: []webrtc.RTPCodecParameters{codec(96, webrtc.MimeTypeVP8, ""), codec(112, webrtc.MimeTypeH264, h264Main)}},

		// VP9: profile-id must agree; absent means 0.
		{name: "VP9 profile 0", want: capability(webrtc.MimeTypeVP9, "profile-id=0"),
			have: []webrtc.RTPCodecParameters{codec(100, webrtc.MimeTypeVP9, "profile-id=2"), codec(98, webrtc.MimeTypeVP9, "profile-id=0")}, wantPT: 98},
		{name: "VP9 profile 2", want: capability(webrtc.MimeTypeVP9, "profile-id=2"),
			have: []webrtc.RTPCodecParameters{codec(98, webrtc.MimeTypeVP9, "profile-id=0"), codec(100, webrtc.MimeTypeVP9, "profile-id=2")}, wantPT: 100},
		{name: "VP9 profile 0 vs 2", want: capability(webrtc.MimeTypeVP9, "profile-id=0"),
			have: []webrtc.RTPCodecParameters{codec(100, webrtc.MimeTypeVP9, "profile-id=2")}},
		{name: "VP9 profile 2 vs 0", want: capability(webrtc.MimeTypeVP9, "profile-id=2"),
			have: []webrtc.RTPCodecParameters{codec(98, webrtc.MimeTypeVP9, "profile-id=0")}},
		{name: "VP9 absent profile-id is 0", want: capability(webrtc.MimeTypeVP9, ""),
			have: []webrtc.RTPCodecParameters{codec(100, webrtc.MimeTypeVP9, "profile-id=2"), codec(98, webrtc.MimeTypeVP9, "profile-id=0")}, wantPT: 98},
		{name: "VP9 profile 0 matches absent profile-id", want: capability(webrtc.MimeTypeVP9, "profile-id=0"),
			have: []webrtc.RTPCodecParameters{codec(98, webrtc.MimeTypeVP9, "")}, wantPT: 98},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := matchCodec(tc.want, tc.have)
			if tc.wantPT == 0 {
				if ok {
					t.Fatalf("matchCodec(%s %q) = PT %d %s %q, want no match", tc.want.MimeType, tc.want.SDPFmtpLine, got.PayloadType, got.MimeType, got.SDPFmtpLine)
				}
				if got.PayloadType != 0 || got.MimeType != "" {
					t.Errorf("no match but returned %+v", got)
				}
				return
			}
			if !ok {
				t.Fatalf("matchCodec(%s %q): no match, want PT %d", tc.want.MimeType, tc.want.SDPFmtpLine, tc.wantPT)
			}
			if got.PayloadType != tc.wantPT {
				t.Fatalf("matchCodec(%s %q) = PT %d (%q), want PT %d", tc.want.MimeType, tc.want.SDPFmtpLine, got.PayloadType, got.SDPFmtpLine, tc.wantPT)
			}
		})
	}
}

func TestFmtpCompatible(t *testing.T) {
	tests := []struct {
		mime, a, b string
		want       bool
	}{
		{webrtc.MimeTypeH264, h264CB, h264CB, true},
		{webrtc.MimeTypeH264, h264CB, h264B, false},
		{webrtc.MimeTypeH264, h264CB, h264CBPM0, false},
		{webrtc.MimeTypeH264, "packetization-mode=1;profile-level-id=42e01f", "packetization-mode=1;profile-level-id=42e00a", true},
		{webrtc.MimeTypeH264, "packetization-mode=1;profile-level-id=640032", "packetization-mode=1;profile-level-id=64001f", true},
		{webrtc.MimeTypeH264, "packetization-mode=1;profile-level-id=640032", "packetization-mode=1;profile-level-id=4d0032", false},
		{webrtc.MimeTypeH264, "packetization-mode=1;profile-level-id=42", "packetization-mode=1;profile-level-id=42", false}, // too short
		{"VIDEO/H264", h264CB, h264B, false}, // the MIME type is case-insensitive here too
		{webrtc.MimeTypeVP9, "profile-id=0", "profile-id=0", true},
		{webrtc.MimeTypeVP9, "profile-id=0", "profile-id=2", false},
		{webrtc.MimeTypeVP9, "", "profile-id=0", true},
		{webrtc.MimeTypeVP9, "", "profile-id=2", false},
		{"video/vp9", "profile-id=2", "profile-id=0", false},
		{webrtc.MimeTypeVP8, "anything=1", "", true},
		{webrtc.MimeTypeOpus, "minptime=10;useinbandfec=1", "stereo=1", true},
		{webrtc.MimeTypeAV1, "profile=0", "profile=1", true}, // not a parameter the code compares
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %q %q", tc.mime, tc.a, tc.b), func(t *testing.T) {
			if got := fmtpCompatible(tc.mime, tc.a, tc.b); got != tc.want {
				t.Errorf("fmtpCompatible = %v, want %v", got, tc.want)
			}
			if got := fmtpCompatible(tc.mime, tc.b, tc.a); got != tc.want {
				t.Errorf("fmtpCompatible (swapped) = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSupportedCodecsMatchThemselves checks that every codec the server
// registers is found again by matchCodec, with its own payload type.
func TestSupportedCodecsMatchThemselves(t *testing.T) {
	all := supportedCodecs()
	for _, c := range all {
		got, ok := matchCodec(c.RTPCodecCapability, all)
		if !ok || got.PayloadType != c.PayloadType {
			t.Errorf("matchCodec(%s %q) = PT %d, %v; want PT %d", c.MimeType, c.SDPFmtpLine, got.PayloadType, ok, c.PayloadType)
		}
	}
}

func TestKeyframeThrottle(t *testing.T) {
	const interval = DefaultKeyframeInterval
	if interval != 500*time.Millisecond {
		t.Fatalf("DefaultKeyframeInterval = %v, the steps below assume 500ms", interval)
	}
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	type step struct {
		op   string // "request" or "due"
		at   time.Duration
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "first request allowed", steps: []step{
			{"request", 0, true},
		}},
		{name: "nothing pending is never due", steps: []step{
			{"due", 0, false},
			{"request", 0, true},
			{"due", time.Hour, false},
		}},
		{name: "second request inside the interval is deferred", steps: []step{
			{"request", 0, true},
			{"request", 100 * time.Millisecond, false},
			{"due", 100 * time.Millisecond, false},
			{"due", 499 * time.Millisecond, false},
			{"due", 500 * time.Millisecond, true},
			{"due", 501 * time.Millisecond, false}, // sent: no longer pending
			{"due", 2 * time.Second, false},
		}},
		{name: "several deferred requests fold into one", steps: []step{
			{"request", 0, true},
			{"request", 10 * time.Millisecond, false},
			{"request", 20 * time.Millisecond, false},
			{"request", 499 * time.Millisecond, false},
			{"due", 700 * time.Millisecond, true},
			{"due", 1300 * time.Millisecond, false},
		}},
		{name: "a deferred send starts a new interval", steps: []step{
			{"request", 0, true},
			{"request", 100 * time.Millisecond, false},
			{"due", 600 * time.Millisecond, true},
			{"request", 1000 * time.Millisecond, false}, // 400ms after the deferred send
			{"due", 1099 * time.Millisecond, false},
			{"due", 1100 * time.Millisecond, true},
		}},
		{name: "request exactly at the interval is allowed", steps: []step{
			{"request", 0, true},
			{"request", 500 * time.Millisecond, true},
			{"request", 999 * time.Millisecond, false},
			{"request", 1000 * time.Millisecond, true}, // also clears the pending one
			{"due", 2 * time.Second, false},
		}},
		{name: "request after the interval clears the pending one", steps: []step{
			{"request", 0, true},
			{"request", 100 * time.Millisecond, false},
			{"request", 800 * time.Millisecond, true},
			{"due", 900 * time.Millisecond, false},
			{"due", 1400 * time.Millisecond, false},
		}},
		{name: "clock going backwards defers", steps: []step{
			{"request", time.Second, true},
			{"request", 0, false},
			{"due", 1200 * time.Millisecond, false},
			{"due", 1500 * time.Millisecond, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := keyframeThrottle{interval: interval}
			for i, s := range tc.steps {
				var got bool
				switch s.op {
				case "request":
					got = k.request(t0.Add(s.at))
				case "due":
					got = k.due(t0.Add(s.at))
				default:
					t.Fatalf("bad op %q", s.op)
				}
				if got != s.want {
					t.Fatalf("step %d: %s at +%v = %v, want %v", i, s.op, s.at, got, s.want)
				}
			}
		})
	}
}

func TestWantsKeyframe(t *testing.T) {
	const mine, other = 1111, 2222
	cases := []struct {
		name string
		pkts []rtcp.Packet
		want bool
	}{
		{"PLI for this track", []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: mine}}, true},
		{"PLI for another track", []rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: mine}}}, &rtcp.PictureLossIndication{MediaSSRC: other}}, false},
		{"FIR naming this track", []rtcp.Packet{&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: other}, {SSRC: mine}}}}, true},
		{"FIR for another track", []rtcp.Packet{&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: other}}}}, false},
		{"NACK only", []rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: mine}}, false},
	}
	for _, tc := range cases {
		if got := wantsKeyframe(tc.pkts, mine); got != tc.want {
			t.Errorf("%s: wantsKeyframe = %v, want %v", tc.name, got, tc.want)
		}
	}
}
