// Package rooms holds Confab's rooms and their participants: who is in which
// room, what each publishes, and the rules (unique names, capacity). It tells
// members what happens through the small Member interface and knows nothing of
// WebSockets or HTTP.
//
// A room's state is guarded by one mutex, held only to change or copy it; events
// are delivered after it is released. Every change about one participant is made
// by that participant's own session, so the events about it reach the others in
// the order they happened.
package rooms
