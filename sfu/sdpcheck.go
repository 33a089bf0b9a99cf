package sfu

import (
	"errors"
	"fmt"
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
func checkRemoteSDP(raw string) error {
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(raw); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if len(desc.MediaDescriptions) == 0 {
		return fmt.Errorf("%w: no media section (add a transceiver or a data channel)", ErrBadSDP)
	}
	sessionUfrag, _ := desc.Attribute("ice-ufrag")
	sessionPwd, _ := desc.Attribute("ice-pwd")
	_, sessionFingerprint := desc.Attribute("fingerprint")
	for i, m := range desc.MediaDescriptions {
		if m.MediaName.Port.Value == 0 {
			continue // rejected section
		}
		if mid, ok := m.Attribute(sdp.AttrKeyMID); !ok || mid == "" {
			return fmt.Errorf("%w: media section %d has no mid", ErrBadSDP, i)
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
			return fmt.Errorf("%w: media section %d has no ICE credentials", ErrBadSDP, i)
		}
		if _, ok := m.Attribute("fingerprint"); !ok && !sessionFingerprint {
			return fmt.Errorf("%w: media section %d has no DTLS fingerprint", ErrBadSDP, i)
		}
		for _, a := range m.Attributes {
			if a.Key != "candidate" {
				continue
			}
			if _, err := ice.UnmarshalCandidate(strings.TrimSpace(a.Value)); err != nil {
				return fmt.Errorf("%w: media section %d: candidate %q: %v", ErrBadSDP, i, a.Value, err)
			}
		}
	}
	return nil
}
