//go:build !linux

package realfs

import (
	"errors"
	"time"
)

var start = time.Now()

func shutdown(dir string) (int64, error) {
	return 0, errors.New("realfs: shutdown needs Linux")
}

// Now returns nanoseconds of a monotonic clock; on Linux it is
// CLOCK_MONOTONIC, shared by every process.
func Now() int64 { return int64(time.Since(start)) }
