//go:build linux

package memvec

import (
	"context"
	"io/fs"
	"math/rand"
	"path/filepath"
	"syscall"
	"testing"
)

// diskUsage is the disk the files under dir take (st_blocks), as du
// counts it.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Disk follows the data (issue 14): with the default 64 MiB segments at
// dimension 512, a store of 5 vectors takes well under 1 MB, and 5
// vectors added to a compacted store do not add a whole segment.
func TestDiskFootprint(t *testing.T) {
	const dim = 512
	rng := rand.New(rand.NewSource(14))
	dir := filepath.Join(t.TempDir(), "s")
	opts := Options{Dimension: dim, DisableAutoCompaction: true}
	db, err := openT(t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	ids, err := db.Add(randVecs(rng, 5, dim))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if d := diskUsage(t, dir); d > 512<<10 {
		t.Fatalf("a store of 5 vectors takes %d bytes of disk", d)
	}

	if db, err = openT(t, dir, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Delete(ids[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := diskUsage(t, dir)
	if _, err := db.Add(randVecs(rng, 5, dim)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if d := diskUsage(t, dir) - before; d > 512<<10 {
		t.Fatalf("5 vectors added to a compacted store take %d more bytes of disk", d)
	}
}
