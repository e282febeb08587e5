//go:build race

package quant

// raceEnabled: the race detector slows the pure-Go orders about sixfold,
// so the default bound test runs fewer pairs under it.
const raceEnabled = true
