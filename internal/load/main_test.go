package load

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/confab/confab/internal/leaktest"
)

// verifyNoLeaks fails the package if any goroutine outlives its tests: every
// client and server a run starts must be gone. fasthttp's process-wide date
// updater and its worker pool's cleaner (which ends within 10 s of a
// server's shutdown) are not ours to stop.
func verifyNoLeaks(m *testing.M) {
	leaktest.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}
