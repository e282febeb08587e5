//go:build !linux

package engine

// mlockWorks: LockCodes locks nothing off Linux.
func mlockWorks() bool { return false }
