// Package cpuprofile writes a Go CPU profile for the -cpuprofile flag of
// Confab's commands.
package cpuprofile

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Start begins writing a CPU profile to path. The returned stop ends the
// profile and closes the file; call it once, before the program exits.
func Start(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
