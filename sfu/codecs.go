package sfu

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// videoFeedback is the RTCP feedback every video codec announces: NACK for
// retransmissions, PLI and FIR for keyframes, transport-cc for the publisher's
// bandwidth estimation.
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: webrtc.TypeRTCPFBNACK},
	{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
	{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
	{Type: webrtc.TypeRTCPFBTransportCC},
}

// supportedCodecs lists the codecs the server forwards. There is no RTX: lost
// packets are retransmitted on the original SSRC from the NACK responder's cache.
// H.264 comes in the profiles browsers offer, all with packetization-mode 1.
func supportedCodecs() []webrtc.RTPCodecParameters {
	video := func(pt webrtc.PayloadType, mime, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFeedback,
			},
			PayloadType: pt,
		}
	}
	h264 := func(pt webrtc.PayloadType, profile string) webrtc.RTPCodecParameters {
		return video(pt, webrtc.MimeTypeH264,
			"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="+profile)
	}
	return []webrtc.RTPCodecParameters{
		{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
				SDPFmtpLine:  "minptime=10;useinbandfec=1",
				RTCPFeedback: feedbackFor(webrtc.RTPCodecTypeAudio),
			},
			PayloadType: 111,
		},
		video(96, webrtc.MimeTypeVP8, ""),
		video(98, webrtc.MimeTypeVP9, "profile-id=0"),
		video(100, webrtc.MimeTypeVP9, "profile-id=2"),
		h264(102, "42001f"),
		h264(108, "42e01f"),
		h264(112, "4d001f"),
		h264(127, "640032"),
	}
}

func registerCodecs(m *webrtc.MediaEngine) error {
	for _, c := range supportedCodecs() {
		kind := webrtc.RTPCodecTypeVideo
		if c.MimeType == webrtc.MimeTypeOpus {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, kind); err != nil {
			return fmt.Errorf("register codec %s %s: %w", c.MimeType, c.SDPFmtpLine, err)
		}
	}
	return nil
}

// feedbackFor is the RTCP feedback the server announces for a kind of media.
func feedbackFor(kind webrtc.RTPCodecType) []webrtc.RTCPFeedback {
	if kind == webrtc.RTPCodecTypeVideo {
		return videoFeedback
	}
	return []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
}
