package rooms

import (
	"fmt"
	"sync"

	"github.com/confab/confab/sfu"
)

// MaxTracks bounds the tracks one participant may publish or describe.
const MaxTracks = 32

// Room is one meeting: its members and what they publish.
type Room struct {
	name string
	m    *Manager

	mu      sync.Mutex
	members map[string]*member
	order   []string // member ids in join order
}

type member struct {
	id, name string
	session  Member
	// tracks are the published tracks, in publication order.
	tracks []*TrackInfo
	// meta is what the member said of its tracks (source, muted), kept for
	// tracks whose media has not arrived yet.
	meta map[string]trackMeta
}

type trackMeta struct {
	source    string
	muted     bool
	hasSource bool
	// moderatorMuted survives the track: media published again under the
	// same id stays muted until a moderator unmutes it.
	moderatorMuted bool
}

func newRoom(name string, m *Manager) *Room {
	return &Room{name: name, m: m, members: make(map[string]*member)}
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

func (r *Room) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members) == 0
}

// add adds a member and returns a copy of the others. The caller holds m.mu.
func (r *Room) add(id, name string, session Member, max int) ([]Participant, []Member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.members {
		if o.name == name {
			return nil, nil, ErrNameTaken
		}
	}
	if max > 0 && len(r.members) >= max {
		return nil, nil, ErrRoomFull
	}
	targets := r.othersLocked("")
	others := make([]Participant, 0, len(r.order))
	for _, oid := range r.order {
		others = append(others, r.members[oid].snapshot())
	}
	r.members[id] = &member{id: id, name: name, session: session, meta: make(map[string]trackMeta)}
	r.order = append(r.order, id)
	return others, targets, nil
}

func (mb *member) snapshot() Participant {
	p := Participant{ID: mb.id, Name: mb.name, Tracks: make([]TrackInfo, 0, len(mb.tracks))}
	for _, t := range mb.tracks {
		p.Tracks = append(p.Tracks, *t)
	}
	return p
}

// Participants returns a copy of every member, in join order.
func (r *Room) Participants() []Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Participant, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.members[id].snapshot())
	}
	return out
}

// Leave removes participant id and tells the others. The room is removed from
// its manager when it becomes empty. Leaving twice is harmless.
func (r *Room) Leave(id string) {
	r.mu.Lock()
	mb, ok := r.members[id]
	if !ok {
		r.mu.Unlock()
		return
	}
	delete(r.members, id)
	for i, oid := range r.order {
		if oid == id {
			r.order = append(r.order[:i:i], r.order[i+1:]...)
			break
		}
	}
	tracks := mb.snapshot().Tracks
	targets := r.othersLocked(id)
	r.mu.Unlock()

	deliver(targets, ParticipantLeft{ParticipantID: id, Tracks: tracks})
	r.m.log.Info("participant left", "room", r.name, "participant", id)
	r.m.removeIfEmpty(r)
}

// Describe records what participant id says of its tracks (the "publish"
// message): their sources. Tracks already published get the new source and the
// others are told again.
func (r *Room) Describe(id string, sources map[string]string) error {
	r.mu.Lock()
	mb, ok := r.members[id]
	if !ok {
		r.mu.Unlock()
		return ErrNotMember
	}
	added := 0
	for trackID := range sources {
		if _, known := mb.meta[trackID]; !known {
			added++
		}
	}
	if len(mb.meta)+added > MaxTracks {
		r.mu.Unlock()
		return fmt.Errorf("describe %d tracks: %w", len(sources), ErrTooManyTracks)
	}
	var changed []TrackInfo
	for trackID, source := range sources {
		meta := mb.meta[trackID]
		meta.source, meta.hasSource = source, true
		mb.meta[trackID] = meta
		if t := mb.track(trackID); t != nil && t.Source != source {
			t.Source = source
			changed = append(changed, *t)
		}
	}
	targets := r.othersLocked(id)
	r.mu.Unlock()

	for _, t := range changed {
		deliver(targets, TrackPublished{ParticipantID: id, Track: t})
	}
	return nil
}

func (mb *member) track(trackID string) *TrackInfo {
	for _, t := range mb.tracks {
		if t.ID == trackID {
			return t
		}
	}
	return nil
}

// Publish records a track participant id started publishing and tells the
// others, who subscribe to it. Its source is what the participant described,
// or camera for video and microphone for audio.
func (r *Room) Publish(id string, media *sfu.Track) (TrackInfo, error) {
	kind := media.Kind().String()
	r.mu.Lock()
	mb, ok := r.members[id]
	if !ok {
		r.mu.Unlock()
		return TrackInfo{}, ErrNotMember
	}
	if len(mb.tracks) >= MaxTracks {
		r.mu.Unlock()
		return TrackInfo{}, fmt.Errorf("publish track %s: %w", media.ID(), ErrTooManyTracks)
	}
	meta := mb.meta[media.ID()]
	info := &TrackInfo{ID: media.ID(), Kind: kind, Source: defaultSource(kind), Muted: meta.muted || meta.moderatorMuted,
		ModeratorMuted: meta.moderatorMuted, Media: media}
	if meta.moderatorMuted {
		media.SetPaused(true)
	}
	if meta.hasSource {
		info.Source = meta.source
	}
	// A publisher may reuse a track id (a pion client re-adding "video"): the
	// new media replaces the old entry.
	replaced := false
	for i, t := range mb.tracks {
		if t.ID == info.ID {
			mb.tracks[i] = info
			replaced = true
		}
	}
	if !replaced {
		mb.tracks = append(mb.tracks, info)
	}
	out := *info
	targets := r.othersLocked(id)
	r.mu.Unlock()

	deliver(targets, TrackPublished{ParticipantID: id, Track: out})
	return out, nil
}

func defaultSource(kind string) string {
	if kind == "audio" {
		return "microphone"
	}
	return "camera"
}

// Unpublish removes a track whose media ended and tells the others. A track
// already replaced by newer media is left alone.
func (r *Room) Unpublish(id string, media *sfu.Track) {
	r.mu.Lock()
	mb, ok := r.members[id]
	if !ok {
		r.mu.Unlock()
		return
	}
	var removed *TrackInfo
	for i, t := range mb.tracks {
		if t.Media == media {
			removed = t
			mb.tracks = append(mb.tracks[:i:i], mb.tracks[i+1:]...)
			// A track id that ended is not held against MaxTracks, unless a
			// moderator muted it: that must outlive the media.
			if !mb.meta[t.ID].moderatorMuted {
				delete(mb.meta, t.ID)
			}
			break
		}
	}
	targets := r.othersLocked(id)
	r.mu.Unlock()
	if removed != nil {
		deliver(targets, TrackUnpublished{ParticipantID: id, Track: *removed})
	}
}

// SetMuted records that participant id muted or unmuted its track trackID and
// tells the others. A track not published yet keeps the state for when it is.
func (r *Room) SetMuted(id, trackID string, muted bool) error {
	r.mu.Lock()
	mb, ok := r.members[id]
	if !ok {
		r.mu.Unlock()
		return ErrNotMember
	}
	meta, known := mb.meta[trackID]
	if !known && len(mb.meta) >= MaxTracks {
		r.mu.Unlock()
		return fmt.Errorf("mute track %s: %w", trackID, ErrTooManyTracks)
	}
	if meta.moderatorMuted && !muted {
		r.mu.Unlock()
		return fmt.Errorf("unmute track %s: %w", trackID, ErrModeratorMuted)
	}
	meta.muted = muted
	mb.meta[trackID] = meta
	t := mb.track(trackID)
	changed := t != nil && t.Muted != muted
	if t != nil {
		t.Muted = muted
	}
	targets := r.othersLocked(id)
	r.mu.Unlock()

	if changed {
		deliver(targets, TrackMuted{ParticipantID: id, TrackID: trackID, Muted: muted})
	}
	return nil
}

// Chat relays a chat message from participant id to every member, the sender
// included.
func (r *Room) Chat(id, text string) error {
	r.mu.Lock()
	mb, ok := r.members[id]
	if !ok {
		r.mu.Unlock()
		return ErrNotMember
	}
	name := mb.name
	targets := r.othersLocked("")
	r.mu.Unlock()
	deliver(targets, Chat{FromID: id, FromName: name, Text: text, Time: r.m.opts.Now()})
	return nil
}

// othersLocked lists the sessions of every member but except. Taking it in the
// same critical section as the change it reports means every member either saw
// the change in its join snapshot or gets the event, never both or neither.
func (r *Room) othersLocked(except string) []Member {
	targets := make([]Member, 0, len(r.members))
	for _, id := range r.order {
		if id != except {
			targets = append(targets, r.members[id].session)
		}
	}
	return targets
}

// deliver hands ev to targets; call it without the lock.
func deliver(targets []Member, ev Event) {
	for _, t := range targets {
		t.Deliver(ev)
	}
}

// ModeratorMute mutes (or unmutes) participant id's track for everyone: the
// server stops (or resumes) forwarding it and every member, the publisher
// included, is told.
func (r *Room) ModeratorMute(id, trackID string, muted bool) error {
	r.mu.Lock()
	mb, ok := r.members[id]
	if !ok {
		r.mu.Unlock()
		return ErrNotMember
	}
	t := mb.track(trackID)
	if t == nil {
		r.mu.Unlock()
		return fmt.Errorf("mute %s: %w", trackID, ErrNoTrack)
	}
	t.ModeratorMuted, t.Muted = muted, muted
	meta := mb.meta[trackID]
	meta.muted, meta.moderatorMuted = muted, muted
	mb.meta[trackID] = meta
	media := t.Media
	targets := r.othersLocked("")
	r.mu.Unlock()

	if media != nil {
		media.SetPaused(muted)
	}
	deliver(targets, TrackMuted{ParticipantID: id, TrackID: trackID, Muted: muted})
	return nil
}

// Kick tells participant id it was removed; its session leaves the room.
func (r *Room) Kick(id, reason string) error {
	r.mu.Lock()
	mb, ok := r.members[id]
	r.mu.Unlock()
	if !ok {
		return ErrNotMember
	}
	mb.session.Deliver(Removed{Reason: reason})
	return nil
}

// Close tells every member it was removed; the room goes away when the last
// has left.
func (r *Room) Close(reason string) {
	r.mu.Lock()
	targets := r.othersLocked("")
	r.mu.Unlock()
	deliver(targets, Removed{Reason: reason})
}
