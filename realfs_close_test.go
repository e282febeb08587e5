package memvec

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealFSCloseAfterShutdown: a store whose file system dies under it
// (xfs_io shutdown: EIO on every operation) fails its writes and its
// Close, and after Close holds nothing of the file system, no descriptor
// and no mapping, so that a long-running process can unmount it. Opt-in
// like TestRealFSPowerCut.
func TestRealFSCloseAfterShutdown(t *testing.T) {
	for _, fstype := range rfTypes {
		t.Run(fstype, func(t *testing.T) {
			fsys := realfsMount(t, fstype)
			dir := filepath.Join(fsys.Dir, "store")
			// Tiny segments: several files, sealed and active, and a WAL
			// with records in it.
			db, err := openT(t, dir, Options{Dimension: crashDim, SegmentBytes: testSegmentBytes})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(1))
			ids, err := db.Add(randVecs(rng, 120, crashDim))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Delete(ids[:10]); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Search(context.Background(), randVec(rng, crashDim), SearchOptions{}); err != nil {
				t.Fatal(err)
			}
			if held := heldUnder(t, fsys.Dir); len(held) == 0 {
				t.Fatal("the open store holds nothing under the mount: the check below would prove nothing")
			}

			if err := fsys.Shutdown(); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Add(randVecs(rng, 3, crashDim)); err == nil {
				t.Error("Add on a shut-down file system succeeded")
			}
			if _, err := db.Delete(ids[10:20]); err == nil {
				t.Error("Delete on a shut-down file system succeeded")
			}
			if err := db.Close(); err == nil {
				t.Error("Close on a shut-down file system returned nil")
			} else {
				t.Logf("Close: %v", err)
			}
			for _, h := range heldUnder(t, fsys.Dir) {
				t.Errorf("after Close the process still holds %s", h)
			}
			if err := fsys.Unmount(); err != nil {
				t.Fatalf("unmount after Close: %v", err)
			}
			// What was acknowledged before the cut is still there.
			if err := fsys.Mount(); err != nil {
				t.Fatal(err)
			}
			db, err = openT(t, dir, Options{})
			if err != nil {
				t.Fatalf("reopen after the cut: %v", err)
			}
			defer db.Close()
			if st := db.Stats(); st.Live != 110 {
				t.Errorf("reopened after the cut: %+v, want 110 live", st)
			}
			if err := db.Verify(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// heldUnder lists this process's descriptors and mappings of files under
// dir, from /proc/self/fd and /proc/self/maps.
func heldUnder(t *testing.T, dir string) []string {
	t.Helper()
	under := func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	var held []string
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && under(strings.TrimSuffix(target, " (deleted)")) {
			held = append(held, fmt.Sprintf("descriptor %s: %s", fd.Name(), target))
		}
	}
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// address perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) >= 6 && under(strings.TrimSuffix(strings.Join(f[5:], " "), " (deleted)")) {
			held = append(held, "mapping "+sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return held
}
