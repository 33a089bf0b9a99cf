package rooms

import (
	"time"

	"github.com/confab/confab/sfu"
)

// Member is what a room needs of a participant's session.
type Member interface {
	// Deliver hands an event to the member. It must not block: the room calls
	// it for every member in turn.
	Deliver(Event)
}

// Event is something that happened in a room: one of ParticipantJoined,
// ParticipantLeft, TrackPublished, TrackUnpublished, TrackMuted or Chat.
type Event interface{ event() }

// TrackInfo describes a published track. Media is the track itself, for
// subscribing; it is nil while the track is only announced.
type TrackInfo struct {
	ID     string
	Kind   string
	Source string
	Muted  bool
	// ModeratorMuted is set when the admin API muted the track: nothing is
	// forwarded and the publisher cannot unmute it.
	ModeratorMuted bool
	Media          *sfu.Track
}

// Participant is a copy of a member's public state.
type Participant struct {
	ID     string
	Name   string
	Tracks []TrackInfo
}

// ParticipantJoined tells the others that a participant joined.
type ParticipantJoined struct{ Participant Participant }

// ParticipantLeft tells the others that a participant left; Tracks are the
// tracks it published, to unsubscribe from.
type ParticipantLeft struct {
	ParticipantID string
	Tracks        []TrackInfo
}

// TrackPublished tells the others about a new track, or new metadata (source,
// muted) for a track already published.
type TrackPublished struct {
	ParticipantID string
	Track         TrackInfo
}

// TrackUnpublished tells the others that a track ended.
type TrackUnpublished struct {
	ParticipantID string
	Track         TrackInfo
}

// TrackMuted tells the others that a track was muted or unmuted.
type TrackMuted struct {
	ParticipantID string
	TrackID       string
	Muted         bool
}

// Removed tells a member that it was removed from the room (kicked, or the
// room closed) and must leave.
type Removed struct{ Reason string }

// Chat is a chat message, delivered to every member including its sender.
type Chat struct {
	FromID   string
	FromName string
	Text     string
	Time     time.Time
}

func (ParticipantJoined) event() {}
func (ParticipantLeft) event()   {}
func (TrackPublished) event()    {}
func (TrackUnpublished) event()  {}
func (TrackMuted) event()        {}
func (Chat) event()              {}
func (Removed) event()           {}
