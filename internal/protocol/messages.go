package protocol

import (
	"encoding/json"
	"fmt"
)

// Message types of the contract. Client→server and server→client share the
// names "offer", "answer", "candidate" and "chat".
const (
	TypeJoin              = "join"
	TypeOffer             = "offer"
	TypeAnswer            = "answer"
	TypeCandidate         = "candidate"
	TypePublish           = "publish"
	TypeMute              = "mute"
	TypeChat              = "chat"
	TypeLeave             = "leave"
	TypeJoined            = "joined"
	TypeParticipantJoined = "participant-joined"
	TypeParticipantLeft   = "participant-left"
	TypeTrackPublished    = "track-published"
	TypeTrackUnpublished  = "track-unpublished"
	TypeTrackMuted        = "track-muted"
	TypeError             = "error"
)

// Track sources.
const (
	SourceCamera      = "camera"
	SourceMicrophone  = "microphone"
	SourceScreen      = "screen"
	SourceScreenAudio = "screen-audio"
)

// Track kinds.
const (
	KindAudio = "audio"
	KindVideo = "video"
)

// Envelope is the part every frame shares: its type. Decoding a frame into an
// Envelope first tells which message struct to decode it into.
type Envelope struct {
	Type string `json:"type"`
}

// ICECandidate is an RTCIceCandidateInit as the browser serializes it.
type ICECandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// ICEServer is an RTCIceServer handed to clients in "joined".
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Peer identifies a participant in "chat".
type Peer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Track describes one published track.
type Track struct {
	TrackID string `json:"trackId"`
	Kind    string `json:"kind"`
	Source  string `json:"source"`
	Muted   bool   `json:"muted"`
}

// Participant describes a member of a room with its published tracks.
type Participant struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Tracks []Track `json:"tracks"`
}

// ForwardedTrack tells a subscriber what a transceiver of a server offer carries.
type ForwardedTrack struct {
	ParticipantID string `json:"participantId"`
	TrackID       string `json:"trackId"`
	Kind          string `json:"kind"`
	Source        string `json:"source"`
}

// PublishedTrack is one entry of a "publish" request.
type PublishedTrack struct {
	TrackID string `json:"trackId"`
	Source  string `json:"source"`
}

// Join asks to enter a room.
type Join struct {
	Type  string `json:"type"`
	Room  string `json:"room"`
	Name  string `json:"name"`
	Token string `json:"token,omitempty"`
	// Resume, an extension, is the resumeToken of an earlier joined: the
	// server hands this connection to that participant if it is still
	// waiting for its client; otherwise the join proceeds as a new one.
	Resume string `json:"resume,omitempty"`
}

// SessionDescription is a client "offer" or "answer", or the server's
// "answer".
type SessionDescription struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// ServerOffer is an "offer" from the server: its Tracks map, keyed by mid, is
// always present, empty when nothing is forwarded.
type ServerOffer struct {
	Type   string                    `json:"type"`
	SDP    string                    `json:"sdp"`
	Tracks map[string]ForwardedTrack `json:"tracks"`
}

// Candidate trickles one ICE candidate; a nil Candidate means end of candidates.
type Candidate struct {
	Type      string        `json:"type"`
	Candidate *ICECandidate `json:"candidate"`
}

// Publish gives metadata for the sender's local tracks.
type Publish struct {
	Type   string           `json:"type"`
	Tracks []PublishedTrack `json:"tracks"`
}

// Mute tells the room that one of the sender's tracks is muted or unmuted.
type Mute struct {
	Type    string `json:"type"`
	TrackID string `json:"trackId"`
	Muted   bool   `json:"muted"`
}

// ChatRequest is a chat message sent by a client.
type ChatRequest struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Leave leaves the room; the socket stays open.
type Leave struct {
	Type string `json:"type"`
}

// Joined confirms a join.
type Joined struct {
	Type         string        `json:"type"`
	Room         string        `json:"room"`
	Self         Peer          `json:"self"`
	Participants []Participant `json:"participants"`
	ICEServers   []ICEServer   `json:"iceServers"`
	// ResumeToken, an extension, lets the client resume this participant
	// after its connection drops (join with resume).
	ResumeToken string `json:"resumeToken,omitempty"`
}

// ParticipantJoined announces a new member.
type ParticipantJoined struct {
	Type        string      `json:"type"`
	Participant Participant `json:"participant"`
}

// ParticipantLeft announces a member's departure.
type ParticipantLeft struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
}

// TrackPublished announces a new track, or new metadata for a known one.
type TrackPublished struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	Track         Track  `json:"track"`
}

// TrackUnpublished announces that a track ended.
type TrackUnpublished struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	TrackID       string `json:"trackId"`
}

// TrackMuted announces a mute or unmute.
type TrackMuted struct {
	Type          string `json:"type"`
	ParticipantID string `json:"participantId"`
	TrackID       string `json:"trackId"`
	Muted         bool   `json:"muted"`
}

// Chat is a chat message relayed by the server.
type Chat struct {
	Type string `json:"type"`
	From Peer   `json:"from"`
	Text string `json:"text"`
	TS   int64  `json:"ts"`
}

// ErrorMessage reports a failure to the client.
type ErrorMessage struct {
	Type    string `json:"type"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Encode marshals a message. Messages are plain structs of strings, numbers and
// slices, so marshalling cannot fail for them; a failure is a programming error and
// panics.
func Encode(msg any) []byte {
	b, err := json.Marshal(msg)
	if err != nil {
		panic(fmt.Sprintf("protocol: encode %T: %v", msg, err))
	}
	return b
}
