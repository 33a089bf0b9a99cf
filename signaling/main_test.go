package signaling_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/confab/confab/internal/leaktest"
)

// TestMain fails the package if any goroutine outlives its tests: every
// server, session, peer connection and client started here must be gone.
// Two goroutines of fasthttp's are not ours to stop: the process-wide date
// updater, and the worker pool's cleaner, which ends on its own within 10 s
// of a server's shutdown.
func TestMain(m *testing.M) {
	leaktest.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}
