//go:build linux

package segment

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/memvec/memvec/internal/vfs"
	"golang.org/x/sys/unix"
)

// diskBytes is the disk the file at path takes (st_blocks).
func diskBytes(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// A new segment of the default size takes a page of disk, five rows well
// under 1 MB, and from there its disk grows with its rows (at most about
// twice what they use, plus a step per area), while its size stays that
// of the whole fixed part.
func TestDiskFollowsRows(t *testing.T) {
	const dim = 512
	capacity := Capacity(dim, 64<<20)
	_, s, m, rng := newSegment(t, 1, dim, capacity, 81, 82)
	path, lay := s.Path(), s.lay
	if d := diskBytes(t, path); d > 2*HeaderSize {
		t.Fatalf("a new segment of %d bytes takes %d bytes of disk", lay.size, d)
	}
	appendBatches(t, s, m, rng, []batchSpec{{firstID: 1, rows: 5, durable: true}})
	if d := diskBytes(t, path); d > 256<<10 {
		t.Fatalf("5 rows of dimension %d take %d bytes of disk", dim, d)
	}
	var steps int64 // a step of every area, and a page
	for _, a := range lay.areas() {
		steps += int64(lay.stepUnits())*a.stride + allocAlign
	}
	prev := int64(0)
	for id := uint64(6); m.rows() < 4000; {
		n := 1 + rng.IntN(200)
		appendBatches(t, s, m, rng, []batchSpec{{firstID: id, rows: n, durable: id%3 == 0}})
		id += uint64(n)
		var used int64
		for _, u := range lay.used(m.rows(), uint64(len(m.start))) {
			used += u
		}
		d := diskBytes(t, path)
		if d < used || d > HeaderSize+2*used+steps+64<<10 || d < prev {
			t.Fatalf("%d rows using %d bytes take %d bytes of disk (%d before)", m.rows(), used, d, prev)
		}
		prev = d
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != lay.size {
		t.Fatalf("the file's size: %v, %v; want %d", fi, err, lay.size)
	}
	if prev > lay.size/2 {
		t.Fatalf("%d of %d rows take %d of %d bytes", m.rows(), capacity, prev, lay.size)
	}
	seal := mustSeal(t, s)
	s = reopenSealed(t, s, seal)
	defer s.Close()
	checkModel(t, s, m)
}

// punchFixed frees every block of the fixed part of the closed segment at
// path past what rows in batches use (the header page and the used part
// of each area stay), as if no step had ever been allocated past them.
func punchFixed(t *testing.T, path string, lay layout, rows, batches uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	used := lay.used(rows, batches)
	for i, a := range lay.areas() {
		from := align(a.off+used[i], allocAlign)
		to := a.off + int64(lay.capacity)*a.stride
		if i+1 < nAreas {
			to = min(to, lay.areas()[i+1].off) &^ (allocAlign - 1)
		} else {
			to = lay.size
		}
		if to <= from {
			continue
		}
		if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, from, to-from); err != nil {
			t.Skipf("punch hole: %v", err)
		}
	}
}

// A segment whose fixed part has no blocks past its rows (its last steps
// lost, or never taken) opens active and sealed with every row, and the
// active one allocates before its next batch lands: a refused allocation
// fails the batch cleanly, a later one succeeds, and everything reads back
// after a seal and a reopen.
func TestReopenSparse(t *testing.T) {
	const dim, capacity = 64, 3000
	specs := []batchSpec{{firstID: 1, rows: 300, durable: true}, {firstID: 301, rows: 200}, {firstID: 600, rows: 9, durable: true}}
	dir, path, lay, m, rng := writeClosed(t, dim, capacity, 83, 84, specs)
	before := diskBytes(t, path)
	punchFixed(t, path, lay, m.rows(), uint64(len(specs)))
	if after := diskBytes(t, path); after >= before {
		t.Fatalf("punching the unused steps left %d bytes of disk of %d", after, before)
	}
	f := vfs.NewFault(nil, 0)
	s, err := OpenActive(f, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, s, m)
	writes := f.Count(vfs.OpWrite)
	f.SetHook(vfs.Nth(vfs.OpPreallocate, "", 1, vfs.Decision{Err: syscall.ENOSPC}))
	vecs, norms := randomRows(rng, 1, dim)
	if err := s.Append(700, vecs, norms, true); !errors.Is(err, syscall.ENOSPC) || s.Err() != nil {
		t.Fatalf("an append with no space after a reopen: %v (sticky %v)", err, s.Err())
	}
	if n := f.Count(vfs.OpWrite) - writes; n != 0 {
		t.Fatalf("the refused append wrote %d times", n)
	}
	f.SetHook(nil)
	appendBatches(t, s, m, rng, []batchSpec{{firstID: 700, rows: 1, durable: true}, {firstID: 701, rows: 400}})
	checkModel(t, s, m)
	seal := mustSeal(t, s)
	s = reopenSealed(t, s, seal)
	defer s.Close()
	checkModel(t, s, m)
	if err := s.Verify(t.Context(), &seal); err != nil {
		t.Fatal(err)
	}

	// Sealed, with its unused steps punched out again.
	mustClose(t, s)
	punchFixed(t, path, lay, m.rows(), uint64(len(m.start)))
	s = mustOpen(t, dir, 1, dim, capacity, &seal)
	checkModel(t, s, m)
	if err := s.Verify(t.Context(), &seal); err != nil {
		t.Fatal(err)
	}
}

// Open of a huge sparse active segment costs its records, not its
// capacity (the record area's holes are skipped), and still finds a stale
// record far past the rows, behind a hole, and zeroes it.
func TestOpenHugeSparse(t *testing.T) {
	const dim, capacity = 4, 1 << 30 // a 64 GiB record area, all holes
	specs := []batchSpec{{firstID: 1, rows: 3, durable: true}, {firstID: 4, rows: 2}}
	dir, path, lay, m, _ := writeClosed(t, dim, capacity, 85, 86, specs)
	far := recordOffset(lay, capacity-1000)
	writeAt(t, path, far, bytes.Repeat([]byte{0xa5}, recordSize))
	s, err := OpenActive(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, s, m)
	mustClose(t, s)
	if b := readAt(t, path, far, recordSize); !bytes.Equal(b, make([]byte, recordSize)) {
		t.Fatal("the stale record behind a hole was not zeroed")
	}
	if d := diskBytes(t, path); d > 1<<20 {
		t.Fatalf("a huge segment of 5 rows takes %d bytes of disk", d)
	}
}
