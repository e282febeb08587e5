//go:build !linux

package main

import (
	"errors"
	"io/fs"
	"path/filepath"
)

// canDrop: dropping the page cache is Linux's /proc/sys/vm/drop_caches.
func canDrop(bool) (bool, string) { return false, "not Linux" }

func dropCaches() error { return errors.New("dropping the page cache needs Linux") }

// memTotal is unknown here.
func memTotal() int64 { return 0 }

// diskUsage returns the apparent size of every file under dir, twice:
// the allocated size needs Linux's st_blocks.
func diskUsage(dir string) (size, alloc int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			size += fi.Size()
		}
		return err
	})
	return size, size, err
}
