package rooms

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Options configure a Manager.
type Options struct {
	// MaxParticipants is a room's capacity; 0 means no limit.
	MaxParticipants int
	// Logger receives room logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Manager holds the rooms of one server. A room is created on its first join
// and removed when its last participant leaves.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	rooms map[string]*Room
}

// NewManager returns a Manager with no rooms.
func NewManager(opts Options) *Manager {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Manager{opts: opts, log: log, rooms: make(map[string]*Room)}
}

// Joined is the outcome of a successful Join.
type Joined struct {
	// Room is the room joined.
	Room *Room
	// ID is the new participant's id.
	ID string
	// Others are the other members, each with its tracks, in join order.
	Others []Participant
}

// Join adds a participant named name to room roomName, creating the room if
// needed, and tells the others. It fails with ErrNameTaken or ErrRoomFull.
func (m *Manager) Join(roomName, name string, member Member) (*Joined, error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	r := m.rooms[roomName]
	if r == nil {
		r = newRoom(roomName, m)
		m.rooms[roomName] = r
		m.log.Info("room created", "room", roomName)
	}
	others, targets, err := r.add(id, name, member, m.opts.MaxParticipants)
	if err != nil {
		empty := r.empty()
		if empty {
			delete(m.rooms, roomName)
		}
		m.mu.Unlock()
		return nil, fmt.Errorf("join room %q as %q: %w", roomName, name, err)
	}
	m.mu.Unlock()

	deliver(targets, ParticipantJoined{Participant: Participant{ID: id, Name: name, Tracks: []TrackInfo{}}})
	m.log.Info("participant joined", "room", roomName, "participant", id, "name", name)
	return &Joined{Room: r, ID: id, Others: others}, nil
}

// removeIfEmpty drops r from the manager when its last member has left.
func (m *Manager) removeIfEmpty(r *Room) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rooms[r.name] == r && r.empty() {
		delete(m.rooms, r.name)
		m.log.Info("room removed", "room", r.name)
	}
}

// Room returns the room named name, or nil.
func (m *Manager) Room(name string) *Room {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[name]
}

// Rooms returns the names of the current rooms, sorted.
func (m *Manager) Rooms() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.rooms))
	for name := range m.rooms {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Counts returns the number of rooms and of participants in them.
func (m *Manager) Counts() (rooms, participants int) {
	m.mu.Lock()
	all := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		all = append(all, r)
	}
	m.mu.Unlock()
	for _, r := range all {
		r.mu.Lock()
		participants += len(r.members)
		r.mu.Unlock()
	}
	return len(all), participants
}

// newID returns a random participant id: 12 URL-safe characters.
func newID() (string, error) {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("participant id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
