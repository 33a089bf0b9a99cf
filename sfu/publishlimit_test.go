package sfu

import (
	"testing"
	"time"
)

// TestPublishBudget: a participant's budget starts with a second of its cap,
// refuses what does not fit, earns the cap's rate back, never holds more
// than a second of it, and is not fooled by a clock read a little earlier
// by another track; no cap allows everything.
func TestPublishBudget(t *testing.T) {
	if b := newPublishBudget(0, time.Now()); b != nil || !b.allow(1<<30, time.Now()) {
		t.Fatal("no cap refused a packet")
	}
	start := time.Unix(1e9, 0)
	b := newPublishBudget(8_000_000, start) // 1 MB/s
	n := 0
	for b.allow(1000, start) {
		n++
	}
	if n != 1000 {
		t.Fatalf("%d packets of 1000 bytes from a full budget, want 1000", n)
	}
	if b.allow(1000, start.Add(-time.Millisecond)) {
		t.Fatal("an earlier clock reading earned budget")
	}
	if !b.allow(1000, start.Add(time.Millisecond)) || b.allow(1000, start.Add(time.Millisecond)) {
		t.Fatal("1 ms at 1 MB/s should earn exactly one 1000-byte packet")
	}
	later := start.Add(time.Hour)
	n = 0
	for b.allow(1000, later) {
		n++
	}
	if n != 1000 {
		t.Fatalf("%d packets after an hour idle, want 1000 (a second of the cap)", n)
	}
}
