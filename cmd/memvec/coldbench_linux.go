package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// canDrop says whether the page cache can be dropped, and if not why: it
// drops it once to find out (a container's /proc/sys may be read-only
// even to root).
func canDrop(want bool) (bool, string) {
	switch {
	case !want:
		return false, "--drop=false"
	case os.Geteuid() != 0:
		return false, "not root"
	}
	if err := dropCaches(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// dropCaches writes dirty pages back and drops the clean ones, with the
// dentries and inodes, so that the next reads come from the disk.
func dropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0)
}

// memTotal returns the machine's RAM in bytes (0 if unknown).
func memTotal() int64 {
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// diskUsage returns the apparent size and the allocated bytes (st_blocks
// x 512) of every file under dir: segment files are sparse until filled.
func diskUsage(dir string) (size, alloc int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		size += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			alloc += st.Blocks * 512
		} else {
			alloc += fi.Size()
		}
		return nil
	})
	return size, alloc, err
}
