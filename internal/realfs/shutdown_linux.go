//go:build linux

package realfs

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FS_IOC_SHUTDOWN (XFS_IOC_GOINGDOWN, EXT4_IOC_SHUTDOWN), _IOR('X', 125,
// __u32), and its flag that skips the log flush: the ioctl that
// `xfs_io -x -c shutdown` (without -f) issues.
const (
	iocShutdown         = 0x8004587d
	goingDownNoLogFlush = 2
)

// shutdown issues the ioctl on dir and returns Now() just before it.
func shutdown(dir string) (int64, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	flags := uint32(goingDownNoLogFlush)
	at := Now()
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, d.Fd(), iocShutdown, uintptr(unsafe.Pointer(&flags))); errno != 0 {
		return 0, fmt.Errorf("shutdown %s: FS_IOC_SHUTDOWN: %w", dir, errno)
	}
	return at, nil
}

// Now reads CLOCK_MONOTONIC, in nanoseconds: one clock for every process
// on the machine, so that a child's timestamps compare with a cut's.
func Now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}
