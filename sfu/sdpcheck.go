package sfu

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
)

// ErrBadSDP wraps the reasons checkRemoteSDP rejects a description.
var ErrBadSDP = errors.New("sfu: unusable session description")

// checkRemoteSDP rejects a remote description that pion would refuse only
// after changing its signaling state. pion v4.2.20 can roll back neither a
// local nor a remote offer, so such an offer would leave the peer stuck in
// have-remote-offer; checking first keeps the session usable.
//
// The checks follow what pion's SetRemoteDescription does once the state
// has changed (FuzzPeerAnswer feeds it mutated offers): every media
// section of an offer needs a mid (of an answer, every section in use); the ICE credentials and the DTLS fingerprint are
// taken from the session, else from the BUNDLE group's first section, else
// from the first; the payload types, RTX associations and header extension
// maps of audio and video sections (rejected ones too) must parse. Some
// checks are stricter than pion: credentials and a fingerprint for every section in use, no
// mid twice, and every candidate well-formed. An offer that sends more
// than one stream in a media section (Plan B, which pion v4.2.20 takes and
// then cannot answer) is refused too.
//
// It returns what the peer needs of an accepted description: its ICE ufrag
// and candidates, and its media sections' mids.
func checkRemoteSDP(raw string, offer bool) (remoteDesc, error) {
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(raw); err != nil {
		return remoteDesc{}, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if len(desc.MediaDescriptions) == 0 {
		return remoteDesc{}, fmt.Errorf("%w: no media section (add a transceiver or a data channel)", ErrBadSDP)
	}
	var remote remoteDesc
	distinct := make(map[string]struct{})
	sessionUfrag, _ := desc.Attribute("ice-ufrag")
	sessionPwd, _ := desc.Attribute("ice-pwd")
	_, sessionFingerprint := desc.Attribute("fingerprint")
	mids := make(map[string]bool, len(desc.MediaDescriptions))
	for i, m := range desc.MediaDescriptions {
		rejected := m.MediaName.Port.Value == 0
		mid, _ := m.Attribute(sdp.AttrKeyMID)
		if mid == "" && (offer || !rejected) {
			return remoteDesc{}, fmt.Errorf("%w: media section %d has no mid", ErrBadSDP, i)
		}
		if mid != "" && mids[mid] {
			return remoteDesc{}, fmt.Errorf("%w: media section %d: mid %q is used twice", ErrBadSDP, i, mid)
		}
		mids[mid] = true
		remote.mids = append(remote.mids, mid)
		// pion reads the codecs of every audio and video section, rejected
		// ones (and bundle-only ones, which have port 0) too.
		if err := checkMediaFormats(m); err != nil {
			return remoteDesc{}, fmt.Errorf("%w: media section %d: %v", ErrBadSDP, i, err)
		}
		if n := sendStreams(m); offer && n > 1 {
			return remoteDesc{}, fmt.Errorf("%w: media section %d (mid %q) sends %d streams: this is Plan B; the server speaks Unified Plan, one stream per media section", ErrBadSDP, i, mid, n)
		}
		for _, a := range m.Attributes {
			switch a.Key {
			case "candidate":
				key, _ := candidateKey(a.Value)
				distinct[key] = struct{}{}
				remote.candidates = append(remote.candidates, a.Value)
			}
		}
		if len(distinct) > MaxRemoteCandidates {
			return remoteDesc{}, fmt.Errorf("%w: more than %d ICE candidates", ErrBadSDP, MaxRemoteCandidates)
		}
		if rejected {
			continue
		}
		ufrag, ok := m.Attribute("ice-ufrag")
		if !ok {
			ufrag = sessionUfrag
		}
		pwd, ok := m.Attribute("ice-pwd")
		if !ok {
			pwd = sessionPwd
		}
		if ufrag == "" || pwd == "" {
			return remoteDesc{}, fmt.Errorf("%w: media section %d has no ICE credentials", ErrBadSDP, i)
		}
		if _, ok := m.Attribute("fingerprint"); !ok && !sessionFingerprint {
			return remoteDesc{}, fmt.Errorf("%w: media section %d has no DTLS fingerprint", ErrBadSDP, i)
		}
		for _, a := range m.Attributes {
			if a.Key != "candidate" {
				continue
			}
			if _, err := ice.UnmarshalCandidate(strings.TrimSpace(a.Value)); err != nil {
				return remoteDesc{}, fmt.Errorf("%w: media section %d: candidate %q: %v", ErrBadSDP, i, a.Value, err)
			}
		}
	}
	ufrag, err := checkTransportSection(&desc)
	if err != nil {
		return remoteDesc{}, err
	}
	remote.ufrag = ufrag
	return remote, nil
}

// remoteDesc is what a peer needs of a remote description: the ICE ufrag
// of its transport, its candidates, and the mids of its media sections.
type remoteDesc struct {
	ufrag      string
	candidates []string
	mids       []string
}

// checkTransportSection checks the ICE credentials and the fingerprint where
// pion looks for them: the session's, else those of the media section the
// BUNDLE group names first (with a group), or the first section's (for the
// credentials) and the first section's that has one (for the fingerprint).
// It returns the transport's ufrag.
func checkTransportSection(desc *sdp.SessionDescription) (ufrag string, err error) {
	var bundled *sdp.MediaDescription
	group, _ := desc.Attribute(sdp.AttrKeyGroup)
	bundleID := ""
	if strings.Contains(group, "BUNDLE") {
		if ids := strings.Split(group, " "); len(ids) >= 2 {
			bundleID = ids[1]
		}
	}
	for _, m := range desc.MediaDescriptions {
		if mid, _ := m.Attribute(sdp.AttrKeyMID); bundleID != "" && mid == bundleID {
			bundled = m
			break
		}
	}
	transport := bundled
	if bundleID == "" {
		transport = desc.MediaDescriptions[0]
	}

	ufrag, _ = desc.Attribute("ice-ufrag")
	pwd, _ := desc.Attribute("ice-pwd")
	if ufrag == "" && transport != nil {
		if u, _ := transport.Attribute("ice-ufrag"); u != "" {
			ufrag = u
			pwd, _ = transport.Attribute("ice-pwd")
		}
	}
	if ufrag == "" || pwd == "" {
		if bundleID != "" && bundled == nil {
			return "", fmt.Errorf("%w: the BUNDLE group names mid %q, which no media section has, and the session has no ICE credentials", ErrBadSDP, bundleID)
		}
		return "", fmt.Errorf("%w: no ICE credentials where the transport's are taken from", ErrBadSDP)
	}

	fingerprint, _ := desc.Attribute("fingerprint")
	if fingerprint == "" {
		if bundleID != "" {
			if bundled != nil {
				fingerprint, _ = bundled.Attribute("fingerprint")
			}
		} else {
			for _, m := range desc.MediaDescriptions {
				if f, ok := m.Attribute("fingerprint"); ok {
					fingerprint = f
					break
				}
			}
		}
	}
	if fingerprint == "" {
		return "", fmt.Errorf("%w: no DTLS fingerprint where the transport's is taken from", ErrBadSDP)
	}
	if len(strings.Split(fingerprint, " ")) != 2 {
		return "", fmt.Errorf("%w: fingerprint %q is not a hash function and a value", ErrBadSDP, fingerprint)
	}
	return ufrag, nil
}

// checkMediaFormats checks what pion parses of an audio or video section
// when it reads the remote codecs: every payload type a number below 256
// that pion finds a codec for (an rtpmap, a format line, or one of the
// static payload types it knows: 0 PCMU, 8 PCMA, 9 G722), every RTX
// association (apt) a payload type, every header extension map
// well-formed.
func checkMediaFormats(m *sdp.MediaDescription) error {
	kind := m.MediaName.Media
	if !strings.EqualFold(kind, "audio") && !strings.EqualFold(kind, "video") {
		return nil
	}
	codecs := (&sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{m}}).GetCodecMap()
	for _, format := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(format, 10, 8)
		if err != nil {
			return fmt.Errorf("payload type %q: %v", format, err)
		}
		codec, ok := codecs[uint8(pt)]
		if !ok {
			if pt == 0 {
				continue // pion lets PCMU go without
			}
			return fmt.Errorf("payload type %d has no codec (a=rtpmap)", pt)
		}
		// As pion reads format parameters: names without regard to case,
		// a name alone has an empty value, the last of a name counts.
		apt, hasApt := "", false
		for _, param := range strings.Split(codec.Fmtp, ";") {
			key, value, _ := strings.Cut(strings.TrimSpace(param), "=")
			if strings.EqualFold(key, "apt") {
				apt, hasApt = value, true
			}
		}
		if _, err := strconv.ParseUint(apt, 10, 8); hasApt && err != nil {
			return fmt.Errorf("payload type %d: apt %q: %v", pt, apt, err)
		}
	}
	for _, a := range m.Attributes {
		if a.Key != sdp.AttrKeyExtMap {
			continue
		}
		var e sdp.ExtMap
		if err := e.Unmarshal(a.String()); err != nil {
			return fmt.Errorf("extmap %q: %v", a.Value, err)
		}
	}
	return nil
}

// sendStreams counts the streams an audio or video section that may send
// declares, as pion counts them to tell Plan B: its a=ssrc lines, in order,
// less the repair flows (RTX, FEC) that an FID or FEC-FR group has named
// before (a group also removes its repair flow counted before it); a
// section with rids and an msid is one simulcast stream. Sections that do
// not send (recvonly, inactive) or have no mid declare none.
func sendStreams(m *sdp.MediaDescription) int {
	kind := m.MediaName.Media
	if !strings.EqualFold(kind, "audio") && !strings.EqualFold(kind, "video") {
		return 0
	}
	if _, ok := m.Attribute(sdp.AttrKeyRecvOnly); ok {
		return 0
	}
	if _, ok := m.Attribute(sdp.AttrKeyInactive); ok {
		return 0
	}
	if mid, _ := m.Attribute(sdp.AttrKeyMID); mid == "" {
		return 0
	}
	var streams []uint64
	repairs := make(map[uint64]bool)
	named, rids := false, false
	for _, a := range m.Attributes {
		fields := strings.Split(a.Value, " ")
		switch a.Key {
		case sdp.AttrKeySSRCGroup:
			if len(fields) != 3 || fields[0] != "FID" && fields[0] != "FEC-FR" {
				continue
			}
			_, errBase := strconv.ParseUint(fields[1], 10, 32)
			repair, err := strconv.ParseUint(fields[2], 10, 32)
			if errBase != nil || err != nil {
				continue
			}
			repairs[repair] = true
			streams = slices.DeleteFunc(streams, func(s uint64) bool { return s == repair })
		case sdp.AttrKeyMsid:
			if len(fields) == 2 {
				named = fields[0] != "" && fields[1] != ""
			}
		case sdp.AttrKeySSRC:
			ssrc, err := strconv.ParseUint(fields[0], 10, 32)
			if err != nil || repairs[ssrc] {
				continue
			}
			if len(fields) == 3 && strings.HasPrefix(fields[1], "msid:") {
				named = fields[1] != "msid:" && fields[2] != ""
			}
			if !slices.Contains(streams, ssrc) {
				streams = append(streams, ssrc)
			}
		case "rid":
			rids = true
		}
	}
	if rids && named {
		return 1
	}
	return len(streams)
}
