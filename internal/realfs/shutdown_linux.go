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

// shutdown issues the ioctl on dir.
func shutdown(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	flags := uint32(goingDownNoLogFlush)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, d.Fd(), iocShutdown, uintptr(unsafe.Pointer(&flags))); errno != 0 {
		return fmt.Errorf("shutdown %s: FS_IOC_SHUTDOWN: %w", dir, errno)
	}
	return nil
}
