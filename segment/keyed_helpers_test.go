package segment

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// keyModel is what a test believes the keys, payloads and superseded IDs
// of a segment are, beside the rows its model holds.
type keyModel struct {
	keys, payloads [][]byte   // by row; nil key: a row without one
	supersedes     [][]uint64 // by batch
	blobLen        []int      // by batch: the blob's length, 0 for none
	next           int        // serial number of the last new key
}

// keyedSpec is one AppendRecords call.
type keyedSpec struct {
	batchSpec
	keyed      bool
	payloads   bool
	supersedes int
	reuse      int // keyed: how many rows take a key already used
}

// newKeyed creates segment 1 of dim and capacity in a fresh directory and
// appends specs to it with rows drawn from rng; it returns the directory,
// the open segment and its models.
func newKeyed(t testing.TB, dim int, capacity uint64, rng *rand.Rand, specs []keyedSpec) (string, *Segment, *model, *keyModel) {
	t.Helper()
	dir := t.TempDir()
	s := mustCreate(t, dir, 1, dim, capacity)
	m, km := &model{dim: dim}, &keyModel{}
	appendKeyed(t, s, m, km, rng, specs)
	return dir, s, m, km
}

// checkSealing runs check on s active, just sealed and reopened sealed,
// and returns the reopened segment and its seal.
func checkSealing(t testing.TB, s *Segment, check func(s *Segment, what string)) (*Segment, Seal) {
	t.Helper()
	check(s, "active")
	seal := mustSeal(t, s)
	check(s, "sealed")
	s = reopenSealed(t, s, seal)
	check(s, "reopened sealed")
	return s, seal
}

// appendKeyed appends each spec with fresh rows, keys, payloads and
// superseded IDs, recording them in both models.
func appendKeyed(t testing.TB, s *Segment, m *model, km *keyModel, rng *rand.Rand, specs []keyedSpec) {
	t.Helper()
	synced := s.synced
	for _, b := range specs {
		if err := putKeyed(s, m, km, rng, b, synced); err != nil {
			t.Fatalf("AppendRecords(%d, %d rows): %v", b.firstID, b.rows, err)
		}
		synced = syncedAfter(t, s, m, b.batchSpec, synced)
	}
}

// putKeyed appends spec b with fresh rows, keys, payloads and superseded
// IDs, its record carrying synced, and records it in both models first:
// after an error (a power cut in the middle of it) the batch may still
// be found on disk.
func putKeyed(s *Segment, m *model, km *keyModel, rng *rand.Rand, b keyedSpec, synced uint64) error {
	vecs, norms := randomRows(rng, b.rows, m.dim)
	var keys, payloads [][]byte
	if b.keyed {
		for i := range b.rows {
			keys = append(keys, km.newKey(rng, i < b.reuse))
			if b.payloads {
				p := make([]byte, rng.IntN(40))
				for j := range p {
					p[j] = byte(rng.Uint32())
				}
				payloads = append(payloads, p)
			}
		}
	}
	var sup []uint64
	for range b.supersedes {
		sup = append(sup, rng.Uint64())
	}
	m.add(b.firstID, vecs, norms, synced)
	for i := range b.rows {
		var k, p []byte
		if keys != nil {
			k = keys[i]
		}
		if payloads != nil && len(payloads[i]) > 0 {
			p = payloads[i]
		}
		km.keys = append(km.keys, k)
		km.payloads = append(km.payloads, p)
	}
	km.supersedes = append(km.supersedes, sup)
	raw := encodeBlob(keys, payloads, sup)
	km.blobLen = append(km.blobLen, len(raw))
	blobBufs.put(raw)
	return s.AppendRecords(b.firstID, vecs, norms, keys, payloads, sup, b.durable)
}

// newKey returns a key not used before (random bytes ending in a serial
// number, now and then up to MaxKeyLen bytes long) or, with reuse, one of
// the keys already held (to be replaced).
func (km *keyModel) newKey(rng *rand.Rand, reuse bool) []byte {
	if reuse {
		var used [][]byte
		for _, k := range km.keys {
			if k != nil {
				used = append(used, k)
			}
		}
		if len(used) > 0 {
			return slices.Clone(used[rng.IntN(len(used))])
		}
	}
	km.next++
	serial := fmt.Sprintf("#%d", km.next)
	n := rng.IntN(24)
	if rng.IntN(8) == 0 {
		n = MaxKeyLen - len(serial)
	}
	k := make([]byte, n, n+len(serial))
	for i := range k {
		k[i] = byte(rng.Uint32())
	}
	return append(k, serial...)
}

// prefix is the key model of the first k batches of m.
func (km *keyModel) prefix(m *model, k int) *keyModel {
	rows := m.prefix(k).rows()
	return &keyModel{
		keys:       slices.Clone(km.keys[:rows]),
		payloads:   slices.Clone(km.payloads[:rows]),
		supersedes: slices.Clone(km.supersedes[:k]),
		blobLen:    slices.Clone(km.blobLen[:k]),
		next:       km.next,
	}
}

// lastRow maps each key to the last row holding it.
func (km *keyModel) lastRow() map[string]uint64 {
	out := map[string]uint64{}
	for r, k := range km.keys {
		if k != nil {
			out[string(k)] = uint64(r)
		}
	}
	return out
}

// checkKeys asserts that s holds exactly the keys and payloads of km, that
// every key leads to its last row and that absent keys lead nowhere; with
// active, also the superseded IDs.
func checkKeys(t testing.TB, s *Segment, km *keyModel, active bool) {
	t.Helper()
	if got, want := s.Rows(), uint64(len(km.keys)); got != want {
		t.Fatalf("Rows() = %d, want %d", got, want)
	}
	for r := range km.keys {
		k, err := s.Key(uint64(r))
		if err != nil {
			t.Fatalf("Key(%d): %v", r, err)
		}
		if !bytes.Equal(k, km.keys[r]) || (k == nil) != (km.keys[r] == nil) {
			t.Fatalf("Key(%d) = %q, want %q", r, k, km.keys[r])
		}
		p, err := s.Payload(uint64(r))
		if err != nil {
			t.Fatalf("Payload(%d): %v", r, err)
		}
		if !bytes.Equal(p, km.payloads[r]) {
			t.Fatalf("Payload(%d) = %q, want %q", r, p, km.payloads[r])
		}
	}
	for k, want := range km.lastRow() {
		if row, ok := s.LookupKey([]byte(k)); !ok || row != want {
			t.Fatalf("LookupKey(%q) = %d, %v, want %d", k, row, ok, want)
		}
		// A key one byte longer or shorter is another key.
		if _, ok := km.lastRow()[k+"~"]; !ok {
			if row, ok := s.LookupKey([]byte(k + "~")); ok {
				t.Fatalf("LookupKey(%q+~) = %d, want absent", k, row)
			}
		}
	}
	if row, ok := s.LookupKey([]byte("absent key")); ok {
		t.Fatalf("LookupKey(absent) = %d", row)
	}
	if _, err := s.Key(s.Rows()); err == nil {
		t.Fatal("Key past the rows succeeded")
	}
	if active {
		var want []uint64
		for _, b := range km.supersedes {
			want = append(want, b...)
		}
		if got := s.Supersedes(); !slices.Equal(got, want) {
			t.Fatalf("Supersedes() = %v, want %v", got, want)
		}
	}
}
