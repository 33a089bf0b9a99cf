//go:build !race

package sfu

// raceEnabled: the race detector is off.
const raceEnabled = false
