//go:build race

package app

// raceEnabled is set when tests run under the race detector, which slows
// the store tenfold: large-input tests shrink their input.
const raceEnabled = true
