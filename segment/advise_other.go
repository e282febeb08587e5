//go:build !linux

package segment

import "errors"

// Off Linux the page cache takes no advice from memvec.
const (
	adviseWillNeed = iota
	adviseRandom
	adviseDontNeed
)

func madvise(b []byte, advice int) {}

var mlockOnFault = func(b []byte) error { return errors.ErrUnsupported }

// pageCached cannot tell off Linux: every page is taken for cached.
func pageCached(b []byte) bool { return true }

// residency knows nothing off Linux: no page is taken for cold.
func residency(b []byte, buf []bool) []bool { return nil }
