package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode"
	"unicode/utf8"
)

// Limits of the contract.
const (
	// MaxFrameSize is the largest inbound frame the server accepts, in bytes.
	MaxFrameSize = 1 << 20
	// MaxRoomLen and MaxNameLen bound room and participant names, in code points.
	MaxRoomLen = 64
	MaxNameLen = 64
	// MaxChatLen bounds a chat message, in code points.
	MaxChatLen = 4096
	// MaxTrackIDLen bounds a track id, in code points. The contract leaves it
	// open; browsers use 36-character UUIDs.
	MaxTrackIDLen = 256
)

// DecodeRequest parses one client→server frame into its message struct
// (*Join, *SessionDescription with Type offer or answer, *Candidate, *Publish,
// *Mute, *ChatRequest or *Leave) and validates it. A frame that is not a JSON
// object with a string "type" gives CodeBadRequest; an unknown type gives
// CodeUnknownType; a known type with missing, ill-typed or out-of-range fields
// gives CodeBadRequest.
func DecodeRequest(frame []byte) (any, *Error) {
	typ, perr := frameType(frame)
	if perr != nil {
		return nil, perr
	}
	var msg request
	switch typ {
	case TypeJoin:
		msg = &Join{}
	case TypeOffer, TypeAnswer:
		msg = &SessionDescription{}
	case TypeCandidate:
		msg = &candidateWire{}
	case TypePublish:
		msg = &Publish{}
	case TypeMute:
		msg = &muteWire{}
	case TypeChat:
		msg = &ChatRequest{}
	case TypeLeave:
		msg = &Leave{}
	default:
		return nil, Errorf(CodeUnknownType, "unknown message type %q", typ)
	}
	if err := json.Unmarshal(frame, msg); err != nil {
		perr := fieldError(typ, err)
		perr.Request = typ
		return nil, perr
	}
	// encoding/json matches names without regard to case, so a "TYPE"
	// key may have overwritten the type: the "type" key itself decides,
	// as it decided the message struct.
	msg.setType(typ)
	if perr := msg.validate(); perr != nil {
		perr.Request = typ
		return nil, perr
	}
	switch m := msg.(type) {
	case *candidateWire:
		out, perr := m.decoded()
		if perr != nil {
			perr.Request = typ
		}
		return out, perr
	case *muteWire:
		return &Mute{Type: m.Type, TrackID: m.TrackID, Muted: *m.Muted}, nil
	}
	return msg, nil
}

// request is a client→server message struct as decoded.
type request interface {
	validate() *Error
	setType(string)
}

func (m *Join) setType(t string)               { m.Type = t }
func (m *SessionDescription) setType(t string) { m.Type = t }
func (m *candidateWire) setType(t string)      { m.Type = t }
func (m *Publish) setType(t string)            { m.Type = t }
func (m *muteWire) setType(t string)           { m.Type = t }
func (m *ChatRequest) setType(t string)        { m.Type = t }
func (m *Leave) setType(t string)              { m.Type = t }

// frameType checks that frame is a JSON object with a string "type" and returns it.
func frameType(frame []byte) (string, *Error) {
	trimmed := bytes.TrimLeft(frame, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return "", Errorf(CodeBadRequest, "a frame must hold one JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(frame, &fields); err != nil {
		return "", Errorf(CodeBadRequest, "invalid JSON: %v", err)
	}
	raw, ok := fields["type"]
	if !ok {
		return "", Errorf(CodeBadRequest, "missing field \"type\"")
	}
	// Unmarshalling null into a string succeeds and leaves it empty, so the
	// value itself must be a JSON string.
	var typ string
	if err := json.Unmarshal(raw, &typ); err != nil || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte{'"'}) {
		return "", Errorf(CodeBadRequest, "field \"type\" must be a string")
	}
	return typ, nil
}

func fieldError(typ string, err error) *Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return Errorf(CodeBadRequest, "%s: field %q must be %s", typ, te.Field, jsonKind(te.Type.Kind().String()))
	}
	return Errorf(CodeBadRequest, "%s: %v", typ, err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return "a number"
	}
}

// ValidRoom reports whether s is a valid room name: 1–64 of A-Z a-z 0-9 _ . -.
func ValidRoom(s string) bool {
	if len(s) == 0 || len(s) > MaxRoomLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// ValidName reports whether s is a valid display name: 1–64 printable code points.
func ValidName(s string) bool {
	return printable(s, MaxNameLen)
}

func printable(s string, max int) bool {
	if !utf8.ValidString(s) {
		return false
	}
	n := utf8.RuneCountInString(s)
	if n == 0 || n > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func validText(s string) bool {
	n := utf8.RuneCountInString(s)
	return utf8.ValidString(s) && n >= 1 && n <= MaxChatLen
}

func validTrackID(s string) bool {
	return printable(s, MaxTrackIDLen)
}

func (m *Join) validate() *Error {
	if !ValidRoom(m.Room) {
		return Errorf(CodeBadRequest, "join: room must be 1–%d characters of A-Z a-z 0-9 _ . -", MaxRoomLen)
	}
	if !ValidName(m.Name) {
		return Errorf(CodeBadRequest, "join: name must be 1–%d printable characters", MaxNameLen)
	}
	return nil
}

func (m *SessionDescription) validate() *Error {
	if m.SDP == "" {
		return Errorf(CodeBadRequest, "%s: field \"sdp\" is required", m.Type)
	}
	return nil
}

// candidateWire tells a missing "candidate" field from an explicit null.
type candidateWire struct {
	Type      string          `json:"type"`
	Candidate json.RawMessage `json:"candidate"`
}

func (m *candidateWire) validate() *Error {
	if len(m.Candidate) == 0 {
		return Errorf(CodeBadRequest, "candidate: field \"candidate\" is required (null ends the candidates)")
	}
	return nil
}

func (m *candidateWire) decoded() (any, *Error) {
	out := &Candidate{Type: m.Type}
	if string(bytes.TrimSpace(m.Candidate)) == "null" {
		return out, nil
	}
	trimmed := bytes.TrimLeft(m.Candidate, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, Errorf(CodeBadRequest, "candidate: field \"candidate\" must be an object or null")
	}
	var c ICECandidate
	if err := json.Unmarshal(m.Candidate, &c); err != nil {
		return nil, fieldError("candidate", err)
	}
	out.Candidate = &c
	return out, nil
}

func (m *Publish) validate() *Error {
	if m.Tracks == nil {
		return Errorf(CodeBadRequest, "publish: field \"tracks\" is required")
	}
	for i, t := range m.Tracks {
		if !validTrackID(t.TrackID) {
			return Errorf(CodeBadRequest, "publish: tracks[%d].trackId must be 1–%d printable characters", i, MaxTrackIDLen)
		}
		// A missing source is allowed: video is then camera, audio microphone.
		if t.Source != "" && !ValidSource(t.Source) {
			return Errorf(CodeBadRequest, "publish: tracks[%d].source must be camera, microphone, screen or screen-audio", i)
		}
	}
	return nil
}

// ValidSource reports whether s is one of the contract's track sources.
func ValidSource(s string) bool {
	switch s {
	case SourceCamera, SourceMicrophone, SourceScreen, SourceScreenAudio:
		return true
	}
	return false
}

// muteWire tells a missing "muted" field from false.
type muteWire struct {
	Type    string `json:"type"`
	TrackID string `json:"trackId"`
	Muted   *bool  `json:"muted"`
}

func (m *muteWire) validate() *Error {
	if !validTrackID(m.TrackID) {
		return Errorf(CodeBadRequest, "mute: field \"trackId\" is required")
	}
	if m.Muted == nil {
		return Errorf(CodeBadRequest, "mute: field \"muted\" is required")
	}
	return nil
}

func (m *ChatRequest) validate() *Error {
	if !validText(m.Text) {
		return Errorf(CodeBadRequest, "chat: text must be 1–%d characters", MaxChatLen)
	}
	return nil
}

func (m *Leave) validate() *Error { return nil }
