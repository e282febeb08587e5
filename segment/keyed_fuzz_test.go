package segment

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/memvec/memvec/internal/errs"
)

// Every decoder of format version 3 is fuzzed here: records of each
// version, blobs, seal trailers, the key tables (through lookups on
// arbitrary table bytes), and the open of damaged active and sealed keyed
// files. Each must never panic, allocate only in proportion to its input,
// refuse damage with ErrCorrupt, and give back what it accepts exactly.

func FuzzDecodeRecordVersions(f *testing.F) {
	b := make([]byte, recordSize)
	Record{Rows: 3, FirstRow: 10, FirstID: 77, Synced: 10, Index: 2, BlobOff: 1 << 13, BlobLen: 40, Sum: 0xfeed}.encode(b)
	f.Add(uint8(3), b)
	f.Add(uint8(2), b[:recordSizeV2])
	f.Add(uint8(1), b[:recordSizeV2-1])
	over := bytes.Clone(b)
	binary.LittleEndian.PutUint64(over[48:], maxBlobEnd)
	f.Add(uint8(3), over)
	f.Fuzz(func(t *testing.T, version uint8, b []byte) {
		v := uint32(version%3) + 1
		rec, err := decodeRecordFor(v, b)
		if err != nil {
			if !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		size := recordSize
		if v < 3 {
			size = recordSizeV2
		}
		if len(b) < size || rec.Rows == 0 || rec.BlobOff+rec.BlobLen > maxBlobEnd || rec.BlobOff+rec.BlobLen < rec.BlobOff {
			t.Fatalf("v%d: accepted record %+v from %d bytes", v, rec, len(b))
		}
		enc := make([]byte, size)
		rec.encodeFor(v, enc)
		if !bytes.Equal(enc, b[:size]) {
			t.Fatalf("v%d: encode(%+v) = %x, want %x", v, rec, enc, b[:size])
		}
	})
}

func FuzzDecodeBlob(f *testing.F) {
	f.Add(encodeBlob([][]byte{[]byte("a"), []byte("key")}, [][]byte{nil, []byte("payload")}, []uint64{1, 2}), uint16(2))
	f.Add(encodeBlob(nil, nil, []uint64{9}), uint16(5))
	f.Add(encodeBlob([][]byte{bytes.Repeat([]byte{'k'}, MaxKeyLen)}, nil, nil), uint16(1))
	f.Add([]byte{blobKeyed, 0xff, 0xff, 0xff, 0xff}, uint16(1))
	f.Add([]byte{0, 0, 0, 0, 0}, uint16(1))
	f.Fuzz(func(t *testing.T, b []byte, rows16 uint16) {
		rows := uint32(rows16)
		if rows == 0 {
			rows = 1 // no record has zero rows
		}
		bl, err := decodeBlob(b, rows)
		if err != nil {
			if !errors.Is(err, errs.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if 8*cap(bl.supersedes) > len(b) || blobRowHead*cap(bl.rows) > len(b) {
			t.Fatalf("%d-byte blob decoded into %d IDs and %d rows", len(b), cap(bl.supersedes), cap(bl.rows))
		}
		if bl.keyed && len(bl.rows) != int(rows) || !bl.keyed && len(bl.rows) != 0 {
			t.Fatalf("blob of %d rows decoded %d (keyed %v)", rows, len(bl.rows), bl.keyed)
		}
		var keys, payloads [][]byte
		for _, r := range bl.rows {
			keys = append(keys, b[r.off:r.off+uint64(r.klen)])
			payloads = append(payloads, b[r.off+uint64(r.klen):r.off+uint64(r.klen)+uint64(r.plen)])
		}
		if err := checkBatchArgs(int(rows), keys, payloads, bl.supersedes); err != nil && bl.keyed {
			t.Fatalf("decoded arguments AppendRecords refuses: %v", err)
		}
		if enc := encodeBlob(keys, payloads, bl.supersedes); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, want %x", enc, b)
		}
	})
}

func FuzzDecodeTrailer(f *testing.F) {
	valid := trailer{rows: 4, blobEnd: 9000, rowDirOff: tablesAt(9000), rowDirLen: 64, k: bloomK}
	valid.keyTabOff, valid.keyTabLen = valid.rowDirOff+64, 36
	valid.bloomOff, valid.bloomLen = valid.keyTabOff+36, 8
	f.Add(encodeTrailer(fuzzSalt, valid))
	f.Add(encodeTrailer(fuzzSalt, trailer{rows: 7, blobEnd: 8192, rowDirOff: 8192, keyTabOff: 8192, bloomOff: 8192}))
	f.Add(make([]byte, trailerSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeTrailer(t, b)
		if len(b) >= trailerSize {
			b := bytes.Clone(b)
			binary.LittleEndian.PutUint64(b[88:], trailerSum(fuzzSalt, b[:88]))
			checkDecodeTrailer(t, b)
		}
	})
}

func checkDecodeTrailer(t *testing.T, b []byte) {
	t.Helper()
	tr, err := decodeTrailer(fuzzSalt, b)
	if err != nil {
		if !errors.Is(err, errs.ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	if enc := encodeTrailer(fuzzSalt, tr); !bytes.Equal(enc, b[:trailerSize]) {
		t.Fatalf("encodeTrailer(%+v) = %x, want %x", tr, enc, b[:trailerSize])
	}
	if tr.tablesEnd() > maxBlobEnd || tr.rowDirOff < tr.blobEnd || tr.keyTabOff < tr.rowDirOff || tr.bloomOff < tr.keyTabOff ||
		tr.keyTabLen/keyTabEntry > tr.rows || tr.rowDirLen != 0 && tr.rowDirLen != tr.rows*rowDirEntry {
		t.Fatalf("accepted trailer %+v", tr)
	}
}

// FuzzKeyTable looks keys up in arbitrary table bytes (row directory, key
// table, bloom filter and blob area cut from the input): never a panic,
// and never a row whose key is not the one asked for. Its seeds are real
// tables, where every key is found.
func FuzzKeyTable(f *testing.F) {
	for _, n := range []int{1, 5, 40} {
		var keys [][]byte
		for i := range n {
			keys = append(keys, []byte{byte('a' + i%26), byte(i)})
		}
		area, tb := realTables(keys)
		f.Add(area, tb.rowDir, tb.keyTab, tb.bloom, keys[n-1])
	}
	f.Fuzz(func(t *testing.T, area, rowDir, keyTab, bloom, key []byte) {
		const blobStart = 64
		rows := uint64(len(rowDir) / rowDirEntry)
		rowDir = rowDir[:rows*rowDirEntry]
		keyTab = keyTab[:len(keyTab)/keyTabEntry*keyTabEntry]
		bloom = bloom[:len(bloom)/8*8]
		file := append(append(make([]byte, blobStart), area...), make([]byte, int(tablesAt(uint64(blobStart+len(area))))-blobStart-len(area))...)
		tr := trailer{rows: rows, blobEnd: uint64(blobStart + len(area)), rowDirOff: uint64(len(file)), rowDirLen: uint64(len(rowDir)), k: bloomK}
		tr.keyTabOff, tr.keyTabLen = tr.rowDirOff+tr.rowDirLen, uint64(len(keyTab))
		tr.bloomOff, tr.bloomLen = tr.keyTabOff+tr.keyTabLen, uint64(len(bloom))
		file = append(append(append(file, rowDir...), keyTab...), bloom...)
		d := newDiskIndex(file, tr, blobStart)
		for r := range rows + 1 {
			if l, err := d.loc(r); err == nil && l.klen > 0 {
				if k := file[l.off : l.off+uint64(l.klen)]; !bytes.Equal(k, key) {
					if row, ok := d.lookup(k); ok {
						checkFoundKey(t, d, row, k)
					}
				}
			}
		}
		if row, ok := d.lookup(key); ok {
			checkFoundKey(t, d, row, key)
		}
	})
}

func checkFoundKey(t *testing.T, d *diskIndex, row uint64, key []byte) {
	t.Helper()
	l, err := d.loc(row)
	if err != nil || !bytes.Equal(d.file[l.off:l.off+uint64(l.klen)], key) {
		t.Fatalf("lookup(%q) found row %d holding another key (%v)", key, row, err)
	}
}

// realTables lays keys out as one keyed batch's blob at offset 64 and
// returns the blob area and the tables Seal would write for it.
func realTables(keys [][]byte) ([]byte, tables) {
	raw := encodeBlob(keys, nil, nil)
	bl, err := decodeBlob(raw, uint32(len(keys)))
	if err != nil {
		panic(err)
	}
	m := &memIndex{}
	m.add(Record{Rows: uint32(len(keys)), BlobOff: 64, BlobLen: uint64(len(raw))}, raw, bl)
	return raw, buildTables(m, uint64(len(keys)))
}

// FuzzRecoverKeyedTail damages a small active keyed segment at arbitrary
// places (each 3 input bytes: a 2-byte offset and an xor mask; the file
// runs past 64 KiB only in its last blob) and opens it with no durable
// bound. Open never panics; it refuses with ErrCorrupt without touching
// the file, or keeps a prefix of the batches with exactly their keys,
// payloads and superseded IDs, and takes a keyed batch.
func FuzzRecoverKeyedTail(f *testing.F) {
	const dim, capacity = 2, 12
	orig, m, km := fuzzKeyedSegment(f, dim, capacity, false)
	lay := newLayout(dim, capacity)
	at := func(off int64, mask byte) []byte { return []byte{byte(off), byte(off >> 8), mask} }
	f.Add(at(lay.size+3, 0x01))
	f.Add(at(lay.size+int64(km.blobLen[0])+1, 0x80))
	f.Add(at(lay.recordAt(1)+40, 0x01))
	f.Add(at(lay.recordAt(2)+48, 0x10))
	f.Add(at(int64(len(orig))-1, 0xff))
	f.Fuzz(func(t *testing.T, damage []byte) {
		dir, s := openDamaged(t, withDamage(orig, damage), dim, capacity, 0)
		if s == nil {
			return
		}
		k := batchesHeld(m, s.Rows())
		s.Close()
		if k < 0 {
			t.Fatalf("recovered %d rows: not a batch boundary of %v", s.Rows(), m.start)
		}
		checkTorn(t, "fuzz", dir, dim, capacity, 0, m, km, k)
	})
}

// FuzzSealedKeyed damages a sealed keyed segment anywhere and looks every
// key up: a lookup finds the key's row or nothing, never another row;
// when Verify passes, every key, payload and lookup is exact.
func FuzzSealedKeyed(f *testing.F) {
	const dim, capacity = 2, 12
	orig, m, km := fuzzKeyedSegment(f, dim, capacity, true)
	var seal Seal
	{
		dir := f.TempDir()
		if err := os.WriteFile(segPath(dir, 1), orig, 0o644); err != nil {
			f.Fatal(err)
		}
		s, err := OpenActive(nil, dir, 1, dim, capacity, 0)
		if err != nil {
			f.Fatal(err)
		}
		// Sealing here would change the file; the seal is what the
		// fuzzed file was sealed with, recomputed from the rows.
		rows := s.Rows()
		seal = Seal{Rows: rows, Checksum: s.DataSum(rows), Runs: s.Runs()}
		s.Close()
	}
	lay := newLayout(dim, capacity)
	tr, err := decodeTrailerFor(Version, fuzzSalt, orig[trailerOff:])
	if err != nil {
		f.Fatal(err)
	}
	at := func(off uint64, mask byte) []byte { return []byte{byte(off), byte(off >> 8), mask} }
	f.Add(at(trailerOff+8, 1))
	f.Add(at(tr.rowDirOff+1, 0x40))
	f.Add(at(tr.keyTabOff+3, 0x02))
	f.Add(at(tr.bloomOff, 0xff))
	f.Add(at(uint64(lay.size)+9, 0x08))
	f.Add(at(tr.sumOff+5, 0x04))
	f.Add(at(trailerOff+trailerSizeV5-1, 0x01))
	f.Fuzz(func(t *testing.T, damage []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(segPath(dir, 1), withDamage(orig, damage), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(nil, dir, 1, dim, capacity, &seal)
		if err != nil {
			return // the header: Open's own checks, fuzzed elsewhere
		}
		defer s.Close()
		want := km.lastRow()
		for k, row := range want {
			if got, ok := s.LookupKey([]byte(k)); ok && got != row {
				if key, err := s.Key(got); err != nil || string(key) != k {
					t.Fatalf("LookupKey(%q) = row %d, which holds %q (%v)", k, got, key, err)
				}
			}
		}
		if s.Verify(context.Background(), &seal) == nil {
			checkKeys(t, s, km, false)
		}
		// Format 5: rows and code blocks that pass their checks are the
		// rows written, whatever the damage (to them, to the sum table
		// or to the trailer that places it).
		if s.CheckRows(0, seal.Rows) == nil && s.CheckCodes(0, seal.Rows) == nil {
			checkModel(t, s, m)
		}
	})
}

// fuzzKeyedSegment builds, deterministically, the bytes of a small keyed
// segment (fixed salt, fixed rows; sealed or active) and its models.
func fuzzKeyedSegment(tb testing.TB, dim int, capacity uint64, sealed bool) ([]byte, *model, *keyModel) {
	dir, s := fuzzSegment(tb, dim, capacity)
	m, km := &model{dim: dim}, &keyModel{}
	appendKeyed(tb, s, m, km, rand.New(rand.NewPCG(61, 62)), []keyedSpec{
		{batchSpec: batchSpec{firstID: 1, rows: 2}, keyed: true, payloads: true},
		{batchSpec: batchSpec{firstID: 3, rows: 1}, supersedes: 2},
		{batchSpec: batchSpec{firstID: 9, rows: 2}},
		{batchSpec: batchSpec{firstID: 12, rows: 3}, keyed: true, payloads: true, reuse: 1, supersedes: 1},
	})
	if sealed {
		if _, err := s.Seal(); err != nil {
			tb.Fatal(err)
		}
	}
	mustClose(tb, s)
	b, err := os.ReadFile(segPath(dir, 1))
	if err != nil {
		tb.Fatal(err)
	}
	return b, m, km
}
