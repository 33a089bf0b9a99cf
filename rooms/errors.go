package rooms

import "errors"

var (
	// ErrNameTaken is returned by Join when the name is in use in the room.
	ErrNameTaken = errors.New("rooms: name taken")
	// ErrRoomFull is returned by Join when the room has its maximum of participants.
	ErrRoomFull = errors.New("rooms: room full")
	// ErrNotMember is returned for a participant id that is not in the room.
	ErrNotMember = errors.New("rooms: not a member")
	// ErrNoTrack is returned for a track id the participant does not publish.
	ErrNoTrack = errors.New("rooms: no such track")
	// ErrModeratorMuted is returned when a publisher unmutes a track a
	// moderator muted.
	ErrModeratorMuted = errors.New("rooms: muted by a moderator")
	// ErrTooManyTracks is returned when a participant describes more tracks
	// than MaxTracks.
	ErrTooManyTracks = errors.New("rooms: too many tracks")
)
