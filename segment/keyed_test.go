package segment

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/vfs"
)

// keyedSpecs mixes every kind of batch: keyed with and without payloads,
// unkeyed (no blob), supersede-only, keyed batches that replace keys of
// earlier rows (and of rows of the same batch), keyed ones that supersede.
func keyedSpecs() []keyedSpec {
	return []keyedSpec{
		{batchSpec: batchSpec{firstID: 1, rows: 3}, keyed: true, payloads: true},
		{batchSpec: batchSpec{firstID: 4, rows: 2}},
		{batchSpec: batchSpec{firstID: 10, rows: 4, durable: true}, keyed: true},
		{batchSpec: batchSpec{firstID: 14, rows: 1}, supersedes: 3},
		{batchSpec: batchSpec{firstID: 20, rows: 5}, keyed: true, payloads: true, reuse: 3, supersedes: 2},
		{batchSpec: batchSpec{firstID: 25, rows: 2, syncAfter: true}},
		{batchSpec: batchSpec{firstID: 30, rows: 3}, keyed: true, payloads: true, reuse: 3},
	}
}

// Keys, payloads and superseded IDs read back after AppendRecords, after a
// reopen of the active segment (rebuilt from the blobs), after Seal (from
// the tables just written) and after a reopen sealed (tables mapped).
func TestKeyedRoundTrip(t *testing.T) {
	const dim, capacity = 3, 40
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(31, 32))
	s := mustCreate(t, dir, 7, dim, capacity)
	if !s.Keyed() || s.Version() != Version {
		t.Fatalf("new segment: Keyed %v, version %d", s.Keyed(), s.Version())
	}
	m, km := &model{dim: dim}, &keyModel{}
	specs := keyedSpecs()
	appendKeyed(t, s, m, km, rng, specs[:4])
	checkModel(t, s, m)
	checkKeys(t, s, km, true)
	if km.blobLen[1] != 0 {
		t.Fatalf("an unkeyed batch wrote a %d-byte blob", km.blobLen[1])
	}
	mustClose(t, s)

	s, err := OpenActive(nil, dir, 7, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, s, m)
	checkKeys(t, s, km, true)
	appendKeyed(t, s, m, km, rng, specs[4:])
	checkKeys(t, s, km, true)
	if err := s.Verify(context.Background(), nil); err != nil {
		t.Fatalf("Verify active: %v", err)
	}
	seal := mustSeal(t, s)
	checkKeys(t, s, km, true)
	if err := s.TablesErr(); err != nil {
		t.Fatalf("TablesErr after Seal: %v", err)
	}
	checkFileSize(t, s)

	s = reopenSealed(t, s, seal)
	defer s.Close()
	checkModel(t, s, m)
	checkKeys(t, s, km, false)
	if s.disk == nil || s.mem != nil || s.TablesErr() != nil || s.IndexErr() != nil {
		t.Fatalf("sealed lookups did not use the tables: disk %v mem %v: %v, %v", s.disk != nil, s.mem != nil, s.TablesErr(), s.IndexErr())
	}
	checkFileSize(t, s)
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatalf("Verify sealed: %v", err)
	}
}

func checkFileSize(t *testing.T, s *Segment) {
	t.Helper()
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != s.Size() {
		t.Fatalf("Size() = %d, file is %d bytes", s.Size(), fi.Size())
	}
}

// Lookups compare the key bytes: with every key hashing to one of three
// values, the sealed table is all collisions and still finds each key.
func TestKeyedHashCollisions(t *testing.T) {
	old := hashKey
	hashKey = func(b []byte) uint64 { return uint64(len(b) % 3) }
	defer func() { hashKey = old }()
	_, s, _, km := newKeyed(t, 2, 64, rand.New(rand.NewPCG(33, 34)), []keyedSpec{
		{batchSpec: batchSpec{firstID: 1, rows: 20}, keyed: true, payloads: true},
		{batchSpec: batchSpec{firstID: 21, rows: 20}, keyed: true, reuse: 10},
	})
	seal := mustSeal(t, s)
	checkKeys(t, s, km, true)
	s = reopenSealed(t, s, seal)
	defer s.Close()
	checkKeys(t, s, km, false)
	if s.disk == nil {
		t.Fatalf("tables not used: %v", s.TablesErr())
	}
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatal(err)
	}
}

// A key given again, in a later batch or in the same one, is held by its
// last row, through every way of reading the segment.
func TestKeyedLastRowWins(t *testing.T) {
	s := mustCreate(t, t.TempDir(), 1, 1, 16)
	app := func(id uint64, keys ...string) {
		t.Helper()
		var ks [][]byte
		var vs [][]float32
		for _, k := range keys {
			ks = append(ks, []byte(k))
			vs = append(vs, []float32{float32(id)})
		}
		if err := s.AppendRecords(id, vs, make([]float32, len(vs)), ks, nil, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	app(1, "a", "b", "a") // rows 0 1 2
	app(4, "b", "c")      // rows 3 4
	app(6, "a")           // row 5
	want := map[string]uint64{"a": 5, "b": 3, "c": 4}
	s, _ = checkSealing(t, s, func(s *Segment, what string) {
		t.Helper()
		for k, row := range want {
			if got, ok := s.LookupKey([]byte(k)); !ok || got != row {
				t.Fatalf("%s: LookupKey(%s) = %d, %v, want %d", what, k, got, ok, row)
			}
		}
	})
	defer s.Close()
	// The key table holds each key once.
	if n := len(s.disk.keyTab) / keyTabEntry; n != 3 {
		t.Fatalf("key table of %d entries, want 3", n)
	}
}

// A keyed batch may hold rows without a key (an empty one, with no
// payload), as a compaction writes when it copies rows added with and
// without keys: they have no key before and after the seal, and the key
// tables hold only the keyed rows.
func TestKeyedRowsWithoutKeys(t *testing.T) {
	s := mustCreate(t, t.TempDir(), 1, 1, 8)
	keys := [][]byte{[]byte("a"), nil, []byte("b"), {}}
	payloads := [][]byte{[]byte("pa"), nil, nil, nil}
	vecs := [][]float32{{1}, {2}, {3}, {4}}
	if err := s.AppendRecords(1, vecs, make([]float32, len(vecs)), keys, payloads, nil, true); err != nil {
		t.Fatal(err)
	}
	s, seal := checkSealing(t, s, func(s *Segment, what string) {
		t.Helper()
		for row, k := range keys {
			got, err := s.Key(uint64(row))
			if err != nil || !bytes.Equal(got, k) || len(k) == 0 && got != nil {
				t.Fatalf("%s: Key(%d) = %q, %v; want %q", what, row, got, err, k)
			}
			p, err := s.Payload(uint64(row))
			if err != nil || !bytes.Equal(p, payloads[row]) {
				t.Fatalf("%s: Payload(%d) = %q, %v", what, row, p, err)
			}
		}
		if row, ok := s.LookupKey(nil); ok {
			t.Fatalf("%s: LookupKey of no key found row %d", what, row)
		}
		if row, ok := s.LookupKey([]byte("b")); !ok || row != 2 {
			t.Fatalf("%s: LookupKey(b) = %d, %v", what, row, ok)
		}
	})
	defer s.Close()
	if n := len(s.disk.keyTab) / keyTabEntry; n != 2 {
		t.Fatalf("key table of %d entries, want 2", n)
	}
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatal(err)
	}
}

// Bad keys, payloads and shapes are refused with ErrInvalidArgument and
// write nothing; the limits themselves are accepted.
func TestKeyedLimits(t *testing.T) {
	const dim, capacity = 2, 8
	s := mustCreate(t, t.TempDir(), 1, dim, capacity)
	defer s.Close()
	v := [][]float32{{1, 2}}
	n := []float32{1}
	key := func(n int) [][]byte { return [][]byte{bytes.Repeat([]byte{'k'}, n)} }
	pay := func(n int) [][]byte { return [][]byte{make([]byte, n)} }
	for _, tc := range []struct {
		name           string
		keys, payloads [][]byte
		vecs           [][]float32
	}{
		{"key over the limit", key(MaxKeyLen + 1), nil, v},
		{"payload over the limit", key(3), pay(MaxPayloadLen + 1), v},
		{"payload without a key", nil, pay(3), v},
		{"fewer keys than rows", key(3), nil, [][]float32{{1, 2}, {3, 4}}},
		{"more payloads than rows", key(3), append(pay(1), pay(1)...), v},
		{"payload of a row without a key", [][]byte{[]byte("a"), {}}, [][]byte{nil, []byte("p")}, [][]float32{{1, 2}, {3, 4}}},
	} {
		vecs := tc.vecs
		err := s.AppendRecords(1, vecs, make([]float32, len(vecs)), tc.keys, tc.payloads, nil, true)
		if !errors.Is(err, errs.ErrInvalidArgument) {
			t.Fatalf("%s: AppendRecords: %v, want ErrInvalidArgument", tc.name, err)
		}
		if s.Rows() != 0 || s.blobEnd != s.lay.size || s.Size() != s.lay.size {
			t.Fatalf("%s: a refused batch changed the segment", tc.name)
		}
	}
	if err := s.AppendRecords(1, v, n, key(MaxKeyLen), pay(MaxPayloadLen), []uint64{7}, true); err != nil {
		t.Fatalf("AppendRecords at the limits: %v", err)
	}
	if err := s.AppendRecords(2, v, n, key(1), [][]byte{nil}, nil, true); err != nil {
		t.Fatalf("AppendRecords with a 1-byte key and a nil payload: %v", err)
	}
	if p, err := s.Payload(0); err != nil || len(p) != MaxPayloadLen {
		t.Fatalf("Payload(0): %d bytes, %v", len(p), err)
	}
	if row, ok := s.LookupKey(key(MaxKeyLen + 1)[0]); ok {
		t.Fatalf("LookupKey of an over-long key found row %d", row)
	}
	if row, ok := s.LookupKey(nil); ok {
		t.Fatalf("LookupKey of an empty key found row %d", row)
	}
}

// Files of versions 1 and 2 keep their 48-byte records: they open, take
// appends (but no keys), seal, reopen and verify as before version 3.
func TestOldVersionsKeepTheirFormat(t *testing.T) {
	for _, version := range []uint32{1, 2} {
		const dim, capacity = 3, 12
		dir := t.TempDir()
		rng := rand.New(rand.NewPCG(uint64(version), 35))
		s, err := CreateVersion(nil, dir, 2, dim, capacity, 0, version)
		if err != nil {
			t.Fatal(err)
		}
		if s.Keyed() || s.Version() != version || s.lay.recSize != recordSizeV2 {
			t.Fatalf("v%d: Keyed %v version %d record %d", version, s.Keyed(), s.Version(), s.lay.recSize)
		}
		if got, want := s.Size(), layoutFor(version, dim, capacity).size; got != want {
			t.Fatalf("v%d: size %d, want %d", version, got, want)
		}
		m := &model{dim: dim}
		appendBatches(t, s, m, rng, []batchSpec{{firstID: 1, rows: 2}, {firstID: 5, rows: 3, durable: true}})
		err = s.AppendRecords(9, [][]float32{{1, 2, 3}}, []float32{1}, [][]byte{[]byte("k")}, nil, nil, false)
		if !errors.Is(err, errs.ErrInvalidArgument) {
			t.Fatalf("v%d: keyed append: %v, want ErrInvalidArgument", version, err)
		}
		if err := s.AppendRecords(9, [][]float32{{1, 2, 3}}, []float32{1}, nil, nil, []uint64{1}, false); !errors.Is(err, errs.ErrInvalidArgument) {
			t.Fatalf("v%d: superseding append: %v, want ErrInvalidArgument", version, err)
		}
		path := s.Path()
		mustClose(t, s)
		// The records are where version 2 put them, in its layout.
		lay := layoutFor(version, dim, capacity)
		for i, start := range m.start {
			rec, err := decodeRecordFor(version, readAt(t, path, lay.recordAt(uint64(i)), recordSizeV2))
			if err != nil || rec.FirstRow != start {
				t.Fatalf("v%d: record %d: %+v, %v", version, i, rec, err)
			}
		}
		s, err = OpenActive(nil, dir, 2, dim, capacity, 0)
		if err != nil {
			t.Fatalf("v%d: OpenActive: %v", version, err)
		}
		checkModel(t, s, m)
		appendBatches(t, s, m, rng, []batchSpec{{firstID: 20, rows: 4}})
		if k, err := s.Key(0); k != nil || err != nil {
			t.Fatalf("v%d: Key(0) = %q, %v", version, k, err)
		}
		if _, ok := s.LookupKey([]byte("k")); ok || s.Supersedes() != nil {
			t.Fatalf("v%d: an old file has keys or superseded IDs", version)
		}
		seal := mustSeal(t, s)
		mustClose(t, s)
		if fi, _ := os.Stat(path); fi.Size() != lay.size {
			t.Fatalf("v%d: the file grew to %d bytes, want %d", version, fi.Size(), lay.size)
		}
		if b := readAt(t, path, trailerOff, trailerSize); !isZero(b) {
			t.Fatalf("v%d: Seal wrote a trailer", version)
		}
		s = mustOpen(t, dir, 2, dim, capacity, &seal)
		checkModel(t, s, m)
		if err := s.Verify(context.Background(), &seal); err != nil {
			t.Fatalf("v%d: Verify: %v", version, err)
		}
		mustClose(t, s)
	}
}

// Opening a sealed segment reads its header page and nothing else: not
// one key, whatever the segment holds.
func TestSealedOpenReadsOnlyTheHeaderPage(t *testing.T) {
	const dim, capacity = 2, 64
	dir, s, _, km := newKeyed(t, dim, capacity, rand.New(rand.NewPCG(36, 37)), []keyedSpec{
		{batchSpec: batchSpec{firstID: 1, rows: 30}, keyed: true, payloads: true, supersedes: 4},
	})
	seal := mustSeal(t, s)
	mustClose(t, s)
	f := vfs.NewFault(nil, 0)
	s, err := Open(f, dir, 1, dim, capacity, &seal)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := f.Count(vfs.OpRead); n != 1 {
		t.Fatalf("Open read %d times, want once (the header page)", n)
	}
	checkKeys(t, s, km, false)
}

// Damaged tables or trailer are derived data: lookups rebuild them from the
// blobs and still find every key, TablesErr says what was wrong, and
// Verify reports the damage naming file and offset. Damaged blobs as well
// leave no index (IndexErr) rather than a wrong one.
func TestKeyedTablesDamage(t *testing.T) {
	const dim, capacity = 2, 32
	type sealed struct {
		dir, path string
		seal      Seal
		km        *keyModel
		t         trailer
		lay       layout
	}
	setup := func(t *testing.T) sealed {
		dir, s, _, km := newKeyed(t, dim, capacity, rand.New(rand.NewPCG(38, 39)), keyedSpecs()[:5])
		seal := mustSeal(t, s)
		e := sealed{dir, s.Path(), seal, km, *s.trailer, s.lay}
		mustClose(t, s)
		return e
	}
	for _, tc := range []struct {
		name   string
		off    func(e sealed) int64
		msg    string
		noKeys bool // the blobs are damaged too: no index
	}{
		{"trailer magic", func(sealed) int64 { return trailerOff }, "offset 128", false},
		{"trailer blob end", func(sealed) int64 { return trailerOff + 16 }, "offset 128", false},
		{"trailer checksum", func(sealed) int64 { return trailerOff + 90 }, "offset 128", false},
		{"row directory", func(e sealed) int64 { return int64(e.t.rowDirOff) + 3 }, "offset", false},
		{"key table", func(e sealed) int64 { return int64(e.t.keyTabOff) + 13 }, "offset", false},
		{"bloom filter", func(e sealed) int64 { return int64(e.t.bloomOff) }, "offset", false},
		{"blob and trailer", func(e sealed) int64 { return int64(e.t.blobEnd) - 1 }, "offset", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			off := tc.off(e)
			xorByte(t, e.path, off, 0x04)
			if tc.noKeys {
				xorByte(t, e.path, trailerOff, 0x04)
			}
			s := mustOpen(t, e.dir, 1, dim, capacity, &e.seal)
			defer s.Close()
			if tc.noKeys {
				if row, ok := s.LookupKey(e.km.keys[0]); ok {
					t.Fatalf("LookupKey found row %d without an index", row)
				}
				if err := s.IndexErr(); !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), e.path) {
					t.Fatalf("IndexErr: %v", err)
				}
				if _, err := s.Key(0); !errors.Is(err, errs.ErrCorrupt) {
					t.Fatalf("Key without an index: %v", err)
				}
			} else {
				checkKeys(t, s, e.km, false)
				if s.IndexErr() != nil || s.disk != nil {
					t.Fatalf("damaged tables were used: IndexErr %v", s.IndexErr())
				}
				err := s.TablesErr()
				if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), e.path) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("TablesErr: %v, want ErrCorrupt naming the file and %q", err, tc.msg)
				}
			}
			err := s.Verify(context.Background(), &e.seal)
			if !errors.Is(err, errs.ErrCorrupt) || !strings.Contains(err.Error(), e.path) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("Verify: %v, want ErrCorrupt naming file and offset", err)
			}
			// Damage to derived data only is told apart from damage to
			// the blobs.
			if errors.Is(err, ErrTables) == tc.noKeys {
				t.Fatalf("Verify: %v: ErrTables %v with the blobs damaged %v", err, errors.Is(err, ErrTables), tc.noKeys)
			}
		})
	}
	t.Run("blob only", func(t *testing.T) {
		// With the tables intact a damaged blob is Verify's to find.
		e := setup(t)
		xorByte(t, e.path, e.lay.size+2, 0x01)
		s := mustOpen(t, e.dir, 1, dim, capacity, &e.seal)
		defer s.Close()
		err := s.Verify(context.Background(), &e.seal)
		if !errors.Is(err, errs.ErrCorrupt) || errors.Is(err, ErrTables) || !strings.Contains(err.Error(), e.path) {
			t.Fatalf("Verify: %v, want ErrCorrupt, not ErrTables", err)
		}
	})
}

// The trailer of a seal that no manifest recorded is uncommitted when the
// segment reopens active, and its tables are cut off with the file; the
// next seal writes new ones. A seal whose trailer write fails before its
// last byte leaves no trailer, whatever the previous seal left.
func TestKeyedResealAfterUnrecordedSeal(t *testing.T) {
	const dim, capacity = 2, 32
	rng := rand.New(rand.NewPCG(72, 73))
	dir, s, m, km := newKeyed(t, dim, capacity, rng, keyedSpecs()[:3])
	blobEnd := s.blobEnd
	mustSeal(t, s)
	path := s.Path()
	mustClose(t, s)
	// The manifest did not record the seal: the segment is active.
	s, err := OpenActive(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAt(t, path, trailerOff, 1); b[0] != 0 {
		t.Fatal("the stale trailer is still committed")
	}
	if s.Size() != blobEnd {
		t.Fatalf("Size %d, want the blobs' end %d: stale tables kept", s.Size(), blobEnd)
	}
	checkFileSize(t, s)
	checkKeys(t, s, km, true)
	appendKeyed(t, s, m, km, rng, keyedSpecs()[3:5])
	mustClose(t, s)

	// Now a seal on a full disk: the trailer's body is written, its first
	// byte is not.
	f := vfs.NewFault(nil, 0)
	s, err = OpenActive(f, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.SetHook(func(ev vfs.Event) vfs.Decision {
		if ev.Kind == vfs.OpWrite && ev.Off == trailerOff {
			return vfs.Decision{Err: errFull}
		}
		return vfs.Decision{}
	})
	seal := mustSeal(t, s)
	s = reopenSealed(t, s, seal)
	defer s.Close()
	checkKeys(t, s, km, false)
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := s.TablesErr(); err == nil || errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("TablesErr: %v, want a note that is not ErrCorrupt", err)
	}
}

// A failed write of the tables does not fail the seal: the segment is
// sealed, and its keys are served by an index rebuilt from the blobs.
func TestKeyedSealWithoutTables(t *testing.T) {
	const dim, capacity = 2, 16
	dir := t.TempDir()
	f := vfs.NewFault(nil, 0)
	s, err := Create(f, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, km := &model{dim: dim}, &keyModel{}
	appendKeyed(t, s, m, km, rand.New(rand.NewPCG(40, 41)), keyedSpecs()[:3])
	f.SetHook(vfs.Nth(vfs.OpWrite, "", 1, vfs.Decision{Err: errFull, Short: 3}))
	seal, err := s.Seal()
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if err := s.TablesErr(); !errors.Is(err, errFull) {
		t.Fatalf("TablesErr: %v", err)
	}
	checkKeys(t, s, km, true)
	s = reopenSealed(t, s, seal)
	defer s.Close()
	checkKeys(t, s, km, false)
	if err := s.TablesErr(); err == nil || errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("TablesErr after reopen: %v, want a note that is not ErrCorrupt", err)
	}
	// A seal without tables is not damage.
	if err := s.Verify(context.Background(), &seal); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

var errFull = errors.New("disk full")

// Readers call Key and Payload on committed rows while the writer appends
// keyed batches and seals; the race detector watches.
func TestKeyedConcurrentReaders(t *testing.T) {
	const dim, capacity = 2, 400
	s := mustCreate(t, t.TempDir(), 1, dim, capacity)
	defer s.Close()
	m, km := &model{dim: dim}, &keyModel{}
	rng := rand.New(rand.NewPCG(42, 43))
	appendKeyed(t, s, m, km, rng, []keyedSpec{{batchSpec: batchSpec{firstID: 1, rows: 5}, keyed: true, payloads: true}})
	known := slices.Clone(km.keys) // no later batch replaces them
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 44))
			for {
				select {
				case <-stop:
					return
				default:
				}
				rows := s.Rows()
				row := r.Uint64N(rows)
				if _, err := s.Key(row); err != nil {
					t.Errorf("Key(%d): %v", row, err)
					return
				}
				if _, err := s.Payload(row); err != nil {
					t.Errorf("Payload(%d): %v", row, err)
					return
				}
				k := known[r.IntN(len(known))]
				if _, ok := s.LookupKey(k); !ok {
					t.Errorf("LookupKey(%q) lost an early key", k)
					return
				}
			}
		}()
	}
	for i := range 30 {
		appendKeyed(t, s, m, km, rng, []keyedSpec{{batchSpec: batchSpec{firstID: uint64(100 + 10*i), rows: 1 + i%5}, keyed: i%3 != 0, payloads: true}})
	}
	mustSeal(t, s)
	close(stop)
	wg.Wait()
	checkKeys(t, s, km, true)
}

// A record whose checksum holds but whose blob does not start where the
// previous batch's blob ended is bad: the blobs are back to back.
func TestKeyedBlobOffsetChecked(t *testing.T) {
	const dim, capacity = 2, 8
	dir, s, m, km := newKeyed(t, dim, capacity, rand.New(rand.NewPCG(70, 71)), []keyedSpec{
		{batchSpec: batchSpec{firstID: 1, rows: 2}, keyed: true, payloads: true},
		{batchSpec: batchSpec{firstID: 3, rows: 2}, keyed: true, payloads: true},
	})
	path, lay, salt := s.Path(), s.lay, s.hdr.Salt
	b1, err := s.checkRecord(1, 2, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	vecs, norms := bytes.Clone(s.vectorBytes(2, 4)), bytes.Clone(s.normBytes(2, 4))
	codes, metas := bytes.Clone(s.codeBytes(2, 4)), bytes.Clone(s.metaBytes(2, 4))
	if recordSum(salt, s.recordBytes(1)[:56], vecs, norms, codes, metas, b1.raw) != b1.rec.Sum {
		t.Fatal("the test's checksum is not the segment's")
	}
	mustClose(t, s)
	// Move batch 1's blob 8 bytes on and make its record say so, with a
	// checksum that holds.
	rec := b1.rec
	rec.BlobOff += 8
	writeAt(t, path, int64(rec.BlobOff), b1.raw)
	rb := make([]byte, recordSize)
	rec.Sum = recordSum(salt, rec.encodeFor(Version, rb), vecs, norms, codes, metas, b1.raw)
	rec.encodeFor(Version, rb)
	writeAt(t, path, lay.recordAt(1), rb)
	checkTorn(t, "blob out of place", dir, dim, capacity, 0, m, km, 1)
}

// Opening reads the blobs through a read-ahead buffer: blobs that straddle
// its refills, and blobs larger than half of it, read back whole.
func TestKeyedBlobsPastTheReadAhead(t *testing.T) {
	const dim, capacity = 1, 128
	dir := t.TempDir()
	s := mustCreate(t, dir, 1, dim, capacity)
	m, km := &model{dim: dim}, &keyModel{}
	rng := rand.New(rand.NewPCG(74, 75))
	for i := range 40 {
		n := 1 + i%3
		if i == 20 {
			n = 10 // a blob over half the read-ahead: read directly
		}
		var keys, pays [][]byte
		var vecs [][]float32
		for j := range n {
			keys = append(keys, km.newKey(rng, false))
			p := make([]byte, MaxPayloadLen-rng.IntN(5000)*(j%2))
			for k := range p {
				p[k] = byte(rng.Uint32())
			}
			pays = append(pays, p)
			vecs = append(vecs, []float32{float32(i)})
		}
		norms := make([]float32, n)
		if err := s.AppendRecords(uint64(10*i), vecs, norms, keys, pays, nil, false); err != nil {
			t.Fatal(err)
		}
		m.add(uint64(10*i), vecs, norms, 0)
		km.keys = append(km.keys, keys...)
		km.payloads = append(km.payloads, pays...)
		km.supersedes = append(km.supersedes, nil)
	}
	if s.blobEnd-s.lay.size < 3*blobReadAhead {
		t.Fatalf("blob area of %d bytes: too small for the test", s.blobEnd-s.lay.size)
	}
	mustClose(t, s)
	s, err := OpenActive(nil, dir, 1, dim, capacity, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkModel(t, s, m)
	checkKeys(t, s, km, true)
	if err := s.Verify(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
