package leaktest

import (
	"testing"
	"time"
)

// TestFind: a goroutine that never ends is reported after the wait; one
// that ends during the wait is not.
func TestFind(t *testing.T) {
	block := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-block
	}()
	if err := find(300 * time.Millisecond); err == nil {
		t.Fatal("a blocked goroutine was not reported")
	}
	time.AfterFunc(200*time.Millisecond, func() { close(block) })
	if err := find(Wait); err != nil {
		t.Fatalf("a goroutine that ended during the wait was reported: %v", err)
	}
	<-done
}
