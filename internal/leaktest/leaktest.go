// Package leaktest checks that tests leave no goroutines behind, as goleak
// does, but waits longer for them to end.
//
// goleak retries for about 0.4 s in all, and v1.3.0 does not let a caller
// change that. pion's and the server's goroutines end within that on an idle
// machine, but CI runs every package at once under the race detector on two
// cores, where a peer connection's goroutines can take longer to wind down
// than a leak check waits. A leak does not end by itself: waiting up to 10 s
// finds every real one and none that was only slow.
package leaktest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Wait is how long the checks wait for goroutines to end.
const Wait = 10 * time.Second

// find returns goleak's report of the goroutines still running past wait,
// or nil once there are none.
func find(wait time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// VerifyNone marks t failed if goroutines other than the test's own are
// still running Wait after the call. Call it deferred, or in t.Cleanup.
func VerifyNone(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	if err := find(Wait, opts...); err != nil {
		t.Error(err)
	}
}

// VerifyTestMain runs the package's tests and then fails the package if any
// goroutine outlives them by Wait. Use it in TestMain.
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := find(Wait, opts...); err != nil {
			fmt.Fprintf(os.Stderr, "leaktest: goroutines outlived the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
