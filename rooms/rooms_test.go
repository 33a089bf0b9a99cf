package rooms

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// recorder is a fake Member that records the events delivered to it.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Deliver(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func (r *recorder) expect(t *testing.T, who string, want ...Event) {
	t.Helper()
	got := r.take()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s got events\n\t%#v\nwant\n\t%#v", who, got, want)
	}
}

var testTime = time.Date(2024, 5, 6, 7, 8, 9, 10_000_000, time.UTC)

func newTestManager(max int) *Manager {
	return NewManager(Options{MaxParticipants: max, Now: func() time.Time { return testTime }})
}

type joinedMember struct {
	rec *recorder
	*Joined
}

func mustJoin(t *testing.T, m *Manager, room, name string) joinedMember {
	t.Helper()
	rec := &recorder{}
	j, err := m.Join(room, name, rec)
	if err != nil {
		t.Fatalf("Join(%q, %q): %v", room, name, err)
	}
	return joinedMember{rec: rec, Joined: j}
}

func noTracks(id, name string) Participant {
	return Participant{ID: id, Name: name, Tracks: []TrackInfo{}}
}

// injectTrack records a published track without media, as Publish would for a
// real *sfu.Track (which a unit test cannot build).
func injectTrack(t *testing.T, r *Room, id string, info TrackInfo) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	mb, ok := r.members[id]
	if !ok {
		t.Fatalf("inject track: %s is not a member", id)
	}
	mb.tracks = append(mb.tracks, &info)
}

func assertRooms(t *testing.T, m *Manager, want ...string) {
	t.Helper()
	got := m.Rooms()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rooms() = %q, want %q", got, want)
	}
}

func TestJoin(t *testing.T) {
	m := newTestManager(0)
	assertRooms(t, m)

	a := mustJoin(t, m, "room", "alice")
	if a.Room == nil || a.Room.Name() != "room" {
		t.Fatalf("joined room %v, want room", a.Room)
	}
	if m.Room("room") != a.Room {
		t.Fatalf("Manager.Room(room) is not the room joined")
	}
	if len(a.Others) != 0 || a.Others == nil {
		t.Errorf("first member's Others = %#v, want empty non-nil", a.Others)
	}
	if len(a.ID) != 12 {
		t.Errorf("id %q has %d characters, want 12", a.ID, len(a.ID))
	}
	assertRooms(t, m, "room")

	b := mustJoin(t, m, "room", "bob")
	c := mustJoin(t, m, "room", "carol")
	if b.Room != a.Room || c.Room != a.Room {
		t.Fatalf("members of one room got different *Room values")
	}
	ids := map[string]bool{a.ID: true, b.ID: true, c.ID: true}
	if len(ids) != 3 {
		t.Fatalf("ids not unique: %s %s %s", a.ID, b.ID, c.ID)
	}
	if want := []Participant{noTracks(a.ID, "alice")}; !reflect.DeepEqual(b.Others, want) {
		t.Errorf("bob's Others = %#v, want %#v", b.Others, want)
	}
	if want := []Participant{noTracks(a.ID, "alice"), noTracks(b.ID, "bob")}; !reflect.DeepEqual(c.Others, want) {
		t.Errorf("carol's Others = %#v, want %#v", c.Others, want)
	}
	want := []Participant{noTracks(a.ID, "alice"), noTracks(b.ID, "bob"), noTracks(c.ID, "carol")}
	if got := a.Room.Participants(); !reflect.DeepEqual(got, want) {
		t.Errorf("Participants() = %#v, want %#v", got, want)
	}

	// The others hear of each join; nobody hears of its own.
	a.rec.expect(t, "alice",
		ParticipantJoined{Participant: noTracks(b.ID, "bob")},
		ParticipantJoined{Participant: noTracks(c.ID, "carol")})
	b.rec.expect(t, "bob", ParticipantJoined{Participant: noTracks(c.ID, "carol")})
	c.rec.expect(t, "carol")

	// Another room is independent; the same name is fine there.
	d := mustJoin(t, m, "other", "alice")
	if d.Room == a.Room || len(d.Others) != 0 {
		t.Errorf("join into another room: room %p (first %p), others %v", d.Room, a.Room, d.Others)
	}
	assertRooms(t, m, "other", "room")
	a.rec.expect(t, "alice")
}

func TestJoinNameTaken(t *testing.T) {
	m := newTestManager(0)
	a := mustJoin(t, m, "room", "alice")
	rec := &recorder{}
	j, err := m.Join("room", "alice", rec)
	if !errors.Is(err, ErrNameTaken) {
		t.Fatalf("Join with a taken name: %v, %v; want ErrNameTaken", j, err)
	}
	if j != nil {
		t.Errorf("failed Join returned %#v", j)
	}
	// Names are compared exactly.
	mustJoin(t, m, "room", "Alice")
	a.rec.take()
	rec.expect(t, "rejected")
	if n := len(a.Room.Participants()); n != 2 {
		t.Errorf("room has %d participants, want 2", n)
	}

	// The name is free again once its holder leaves.
	a.Room.Leave(a.ID)
	mustJoin(t, m, "room", "alice")
}

func TestJoinRoomFull(t *testing.T) {
	m := newTestManager(2)
	a := mustJoin(t, m, "room", "a")
	b := mustJoin(t, m, "room", "b")
	a.rec.take()

	rec := &recorder{}
	if _, err := m.Join("room", "c", rec); !errors.Is(err, ErrRoomFull) {
		t.Fatalf("third Join into a room of 2: %v, want ErrRoomFull", err)
	}
	a.rec.expect(t, "a")
	b.rec.expect(t, "b")
	rec.expect(t, "rejected")
	assertRooms(t, m, "room")

	// Capacity is per room.
	mustJoin(t, m, "room2", "c")

	// A place frees up when someone leaves.
	b.Room.Leave(b.ID)
	c := mustJoin(t, m, "room", "c")
	if want := []Participant{noTracks(a.ID, "a")}; !reflect.DeepEqual(c.Others, want) {
		t.Errorf("Others = %#v, want %#v", c.Others, want)
	}
}

func TestFailedJoinLeavesNoEmptyRoom(t *testing.T) {
	m := newTestManager(1)
	a := mustJoin(t, m, "room", "a")
	for _, name := range []string{"a", "b"} { // name-taken, then room-full
		if _, err := m.Join("room", name, &recorder{}); err == nil {
			t.Fatalf("Join(room, %s) succeeded in a full room", name)
		}
		assertRooms(t, m, "room")
	}
	a.Room.Leave(a.ID)
	assertRooms(t, m)
	if m.Room("room") != nil {
		t.Fatal("Room(room) after the last leave is not nil")
	}
}

func TestLeave(t *testing.T) {
	m := newTestManager(0)
	a := mustJoin(t, m, "room", "alice")
	b := mustJoin(t, m, "room", "bob")
	c := mustJoin(t, m, "room", "carol")
	room := a.Room
	a.rec.take()
	b.rec.take()

	room.Leave(b.ID)
	left := ParticipantLeft{ParticipantID: b.ID, Tracks: []TrackInfo{}}
	a.rec.expect(t, "alice", left)
	c.rec.expect(t, "carol", left)
	b.rec.expect(t, "bob (the leaver)")
	want := []Participant{noTracks(a.ID, "alice"), noTracks(c.ID, "carol")}
	if got := room.Participants(); !reflect.DeepEqual(got, want) {
		t.Errorf("Participants() = %#v, want %#v", got, want)
	}

	// Leaving twice, or leaving as a stranger, is harmless and silent.
	room.Leave(b.ID)
	room.Leave("nobody")
	a.rec.expect(t, "alice after a second leave")
	c.rec.expect(t, "carol after a second leave")
	assertRooms(t, m, "room")

	// The join order of the remaining members is kept.
	d := mustJoin(t, m, "room", "dave")
	if want := []Participant{noTracks(a.ID, "alice"), noTracks(c.ID, "carol")}; !reflect.DeepEqual(d.Others, want) {
		t.Errorf("Others = %#v, want %#v", d.Others, want)
	}

	room.Leave(a.ID)
	room.Leave(c.ID)
	assertRooms(t, m, "room")
	room.Leave(d.ID)
	assertRooms(t, m)
	d.rec.expect(t, "dave",
		ParticipantLeft{ParticipantID: a.ID, Tracks: []TrackInfo{}},
		ParticipantLeft{ParticipantID: c.ID, Tracks: []TrackInfo{}})

	// Operations on a removed room are harmless and do not disturb its successor.
	e := mustJoin(t, m, "room", "erin")
	if e.Room == room {
		t.Fatal("a join after the room was removed reused the removed room")
	}
	room.Leave(d.ID)
	room.Leave(e.ID)
	assertRooms(t, m, "room")
	if m.Room("room") != e.Room {
		t.Fatal("the new room was replaced")
	}
	if err := room.Chat(d.ID, "hello?"); !errors.Is(err, ErrNotMember) {
		t.Errorf("Chat in the removed room: %v, want ErrNotMember", err)
	}
}

func TestLeaveReportsPublishedTracks(t *testing.T) {
	m := newTestManager(0)
	a := mustJoin(t, m, "room", "alice")
	b := mustJoin(t, m, "room", "bob")
	a.rec.take()
	tr := TrackInfo{ID: "v1", Kind: "video", Source: "camera"}
	injectTrack(t, b.Room, b.ID, tr)
	b.Room.Leave(b.ID)
	a.rec.expect(t, "alice", ParticipantLeft{ParticipantID: b.ID, Tracks: []TrackInfo{tr}})
}

func TestChat(t *testing.T) {
	m := newTestManager(0)
	a := mustJoin(t, m, "room", "alice")
	b := mustJoin(t, m, "room", "bob")
	other := mustJoin(t, m, "elsewhere", "carol")
	a.rec.take()

	if err := a.Room.Chat(b.ID, "hi there"); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	want := Chat{FromID: b.ID, FromName: "bob", Text: "hi there", Time: testTime}
	a.rec.expect(t, "alice", want)
	b.rec.expect(t, "bob (the sender)", want)
	other.rec.expect(t, "carol in another room")

	if err := a.Room.Chat("stranger", "x"); !errors.Is(err, ErrNotMember) {
		t.Errorf("Chat from a stranger: %v, want ErrNotMember", err)
	}
	if err := a.Room.Chat(other.ID, "x"); !errors.Is(err, ErrNotMember) {
		t.Errorf("Chat from a member of another room: %v, want ErrNotMember", err)
	}
	a.rec.expect(t, "alice")
}

func TestChatDefaultClock(t *testing.T) {
	m := NewManager(Options{})
	a := mustJoin(t, m, "room", "alice")
	before := time.Now()
	if err := a.Room.Chat(a.ID, "x"); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	evs := a.rec.take()
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	ts := evs[0].(Chat).Time
	if ts.Before(before) || ts.After(after) {
		t.Errorf("chat time %v not within [%v, %v]", ts, before, after)
	}
}

func TestSetMuted(t *testing.T) {
	m := newTestManager(0)
	a := mustJoin(t, m, "room", "alice")
	b := mustJoin(t, m, "room", "bob")
	room := a.Room
	a.rec.take()

	// A track not published yet: no event, but the state is remembered for
	// when it is published.
	if err := room.SetMuted(b.ID, "future", true); err != nil {
		t.Fatalf("SetMuted on an unknown track: %v", err)
	}
	a.rec.expect(t, "alice after muting an unpublished track")
	b.rec.expect(t, "bob")
	room.mu.Lock()
	meta, ok := room.members[b.ID].meta["future"]
	room.mu.Unlock()
	if !ok || !meta.muted {
		t.Errorf("mute state of an unpublished track not remembered: %+v, %v", meta, ok)
	}

	// A published track: the others are told, the publisher is not.
	injectTrack(t, room, b.ID, TrackInfo{ID: "mic", Kind: "audio", Source: "microphone"})
	tests := []struct {
		muted bool
		event bool
	}{
		{muted: true, event: true},
		{muted: true, event: false}, // no change, no event
		{muted: false, event: true},
		{muted: false, event: false},
		{muted: true, event: true},
	}
	for i, tc := range tests {
		if err := room.SetMuted(b.ID, "mic", tc.muted); err != nil {
			t.Fatalf("step %d: SetMuted: %v", i, err)
		}
		if tc.event {
			a.rec.expect(t, fmt.Sprintf("step %d: alice", i), TrackMuted{ParticipantID: b.ID, TrackID: "mic", Muted: tc.muted})
		} else {
			a.rec.expect(t, fmt.Sprintf("step %d: alice", i))
		}
		b.rec.expect(t, fmt.Sprintf("step %d: bob (the publisher)", i))
	}
	want := []Participant{
		noTracks(a.ID, "alice"),
		{ID: b.ID, Name: "bob", Tracks: []TrackInfo{{ID: "mic", Kind: "audio", Source: "microphone", Muted: true}}},
	}
	if got := room.Participants(); !reflect.DeepEqual(got, want) {
		t.Errorf("Participants() = %#v, want %#v", got, want)
	}
	// A newcomer sees the mute state in its snapshot.
	c := mustJoin(t, m, "room", "carol")
	if !reflect.DeepEqual(c.Others, want) {
		t.Errorf("Others = %#v, want %#v", c.Others, want)
	}

	if err := room.SetMuted("stranger", "mic", true); !errors.Is(err, ErrNotMember) {
		t.Errorf("SetMuted by a stranger: %v, want ErrNotMember", err)
	}
}

func TestSetMutedTrackLimit(t *testing.T) {
	m := newTestManager(0)
	a := mustJoin(t, m, "room", "alice")
	for i := 0; i < MaxTracks; i++ {
		if err := a.Room.SetMuted(a.ID, fmt.Sprintf("t%d", i), true); err != nil {
			t.Fatalf("SetMuted on track %d: %v", i, err)
		}
	}
	if err := a.Room.SetMuted(a.ID, "one-too-many", true); !errors.Is(err, ErrTooManyTracks) {
		t.Fatalf("SetMuted on track %d: %v, want ErrTooManyTracks", MaxTracks+1, err)
	}
	// Known tracks can still change.
	if err := a.Room.SetMuted(a.ID, "t0", false); err != nil {
		t.Fatalf("SetMuted on a known track at the limit: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	m := newTestManager(0)
	a := mustJoin(t, m, "room", "alice")
	b := mustJoin(t, m, "room", "bob")
	room := a.Room
	a.rec.take()

	// Describing unpublished tracks is silent.
	if err := room.Describe(b.ID, map[string]string{"cam": "camera", "scr": "screen"}); err != nil {
		t.Fatalf("Describe: %v", err)
	}
	a.rec.expect(t, "alice after describing unpublished tracks")
	room.mu.Lock()
	meta := room.members[b.ID].meta["scr"]
	room.mu.Unlock()
	if !meta.hasSource || meta.source != "screen" {
		t.Errorf("described source not remembered: %+v", meta)
	}

	// A published track whose source changes is announced again to the others.
	injectTrack(t, room, b.ID, TrackInfo{ID: "v", Kind: "video", Source: "camera"})
	if err := room.Describe(b.ID, map[string]string{"v": "camera"}); err != nil {
		t.Fatal(err)
	}
	a.rec.expect(t, "alice after describing an unchanged source")
	if err := room.Describe(b.ID, map[string]string{"v": "screen"}); err != nil {
		t.Fatal(err)
	}
	a.rec.expect(t, "alice", TrackPublished{ParticipantID: b.ID, Track: TrackInfo{ID: "v", Kind: "video", Source: "screen"}})
	b.rec.expect(t, "bob (the publisher)")

	if err := room.Describe("stranger", map[string]string{"x": "camera"}); !errors.Is(err, ErrNotMember) {
		t.Errorf("Describe by a stranger: %v, want ErrNotMember", err)
	}
}

func TestDescribeTrackLimit(t *testing.T) {
	sources := func(from, n int) map[string]string {
		out := make(map[string]string, n)
		for i := from; i < from+n; i++ {
			out[fmt.Sprintf("t%d", i)] = "camera"
		}
		return out
	}
	tests := []struct {
		name    string
		batches []map[string]string // all but the last must succeed
		wantErr bool
	}{
		{name: "MaxTracks at once", batches: []map[string]string{sources(0, MaxTracks)}},
		{name: "MaxTracks+1 at once", batches: []map[string]string{sources(0, MaxTracks+1)}, wantErr: true},
		{name: "many at once", batches: []map[string]string{sources(0, 1000)}, wantErr: true},
		{name: "one by one up to MaxTracks", batches: []map[string]string{sources(0, MaxTracks-1), sources(MaxTracks-1, 1)}},
		{name: "one past MaxTracks", batches: []map[string]string{sources(0, MaxTracks), sources(MaxTracks, 1)}, wantErr: true},
		{name: "batch crossing MaxTracks", batches: []map[string]string{sources(0, MaxTracks-2), sources(MaxTracks-2, 3)}, wantErr: true},
		{name: "redescribing known tracks at the limit", batches: []map[string]string{sources(0, MaxTracks), sources(0, MaxTracks)}},
		{name: "known and new at the limit", batches: []map[string]string{sources(0, MaxTracks), sources(MaxTracks-1, 2)}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(0)
			a := mustJoin(t, m, "room", "alice")
			for i, batch := range tc.batches {
				err := a.Room.Describe(a.ID, batch)
				last := i == len(tc.batches)-1
				if !last || !tc.wantErr {
					if err != nil {
						t.Fatalf("batch %d of %d tracks: %v", i, len(batch), err)
					}
					continue
				}
				if !errors.Is(err, ErrTooManyTracks) {
					t.Fatalf("batch %d of %d tracks: %v, want ErrTooManyTracks", i, len(batch), err)
				}
			}
			a.Room.mu.Lock()
			n := len(a.Room.members[a.ID].meta)
			a.Room.mu.Unlock()
			if n > MaxTracks {
				t.Errorf("member remembers %d tracks, more than MaxTracks (%d)", n, MaxTracks)
			}
		})
	}
}

// TestConcurrentJoinLeave joins and leaves the same few rooms from many
// goroutines. Every member's view (its join snapshot plus the joined/left
// events) must stay consistent, and no room may outlive its members.
func TestConcurrentJoinLeave(t *testing.T) {
	const (
		goroutines = 50
		rounds     = 40
	)
	m := newTestManager(8)
	roomNames := []string{"r0", "r1", "r2"}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		members  []joinedMember
		failures []error
	)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				room := roomNames[(g+i)%len(roomNames)]
				name := fmt.Sprintf("n%d", (g+i)%20) // collisions on purpose
				rec := &recorder{}
				j, err := m.Join(room, name, rec)
				if err != nil {
					if !errors.Is(err, ErrNameTaken) && !errors.Is(err, ErrRoomFull) {
						mu.Lock()
						failures = append(failures, err)
						mu.Unlock()
					}
					continue
				}
				if i%3 == 0 {
					_ = j.Room.Chat(j.ID, "hi")
				}
				j.Room.Leave(j.ID)
				if i%5 == 0 {
					j.Room.Leave(j.ID) // twice
				}
				mu.Lock()
				members = append(members, joinedMember{rec: rec, Joined: j})
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()

	for _, err := range failures {
		t.Errorf("unexpected Join error: %v", err)
	}
	assertRooms(t, m)
	if len(members) == 0 {
		t.Fatal("no join succeeded")
	}

	for _, jm := range members {
		known := make(map[string]bool)
		for _, p := range jm.Others {
			known[p.ID] = true
		}
		for _, ev := range jm.rec.take() {
			switch ev := ev.(type) {
			case ParticipantJoined:
				id := ev.Participant.ID
				if id == jm.ID {
					t.Errorf("%s was told of its own join", jm.ID)
				}
				if known[id] {
					t.Errorf("%s was told that %s joined, but already knew it", jm.ID, id)
				}
				known[id] = true
			case ParticipantLeft:
				if ev.ParticipantID == jm.ID {
					t.Errorf("%s was told of its own leave", jm.ID)
				}
				if !known[ev.ParticipantID] {
					t.Errorf("%s was told that %s left, but did not know it", jm.ID, ev.ParticipantID)
				}
				delete(known, ev.ParticipantID)
			case Chat:
			default:
				t.Errorf("unexpected event %T", ev)
			}
		}
	}
}
