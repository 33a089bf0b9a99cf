package signaling

import "sync"

// inbox is an unbounded, non-blocking mailbox: rooms and pion callbacks post to
// it without ever waiting on the session that reads it. Events are small and the
// session drains them promptly, so growth is bounded by what a room produces.
type inbox struct {
	mu     sync.Mutex
	items  []any
	notify chan struct{}
}

func newInbox() *inbox {
	return &inbox{notify: make(chan struct{}, 1)}
}

// post adds an item and wakes the reader.
func (b *inbox) post(item any) {
	b.mu.Lock()
	b.items = append(b.items, item)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// drain takes every queued item.
func (b *inbox) drain() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	items := b.items
	b.items = nil
	return items
}
