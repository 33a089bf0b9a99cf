//go:build race

package sfu

// raceEnabled: the race detector is on; sync.Pool then drops items at
// random, so code that reuses pooled buffers allocates now and then.
const raceEnabled = true
