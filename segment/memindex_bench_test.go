package segment

import (
	"fmt"
	"testing"
)

// BenchmarkMemIndexAdd fills an index as a segment of small vectors fills
// with Puts of new keys: 26 batches of 10,000 keys of 24 bytes. Reported
// per batch.
func BenchmarkMemIndexAdd(b *testing.B) {
	const batches, n = 26, 10_000
	raws := make([][]byte, batches)
	bls := make([]blob, batches)
	for i := range raws {
		keys := make([][]byte, n)
		for j := range keys {
			keys[j] = []byte(fmt.Sprintf("doc-%020d", i*n+j))
		}
		raws[i] = encodeBlob(keys, nil, nil)
		var err error
		if bls[i], err = decodeBlob(raws[i], n); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N / batches {
		m := &memIndex{}
		var off uint64
		for i, raw := range raws {
			m.add(Record{Rows: n, FirstRow: uint64(i * n), BlobOff: off, BlobLen: uint64(len(raw))}, raw, bls[i])
			off += uint64(len(raw))
		}
	}
}

// BenchmarkBuildTables derives the key tables of a segment of 260,000
// rows with distinct keys of 24 bytes, as a seal does.
func BenchmarkBuildTables(b *testing.B) {
	const batches, n = 26, 10_000
	m := &memIndex{}
	var off uint64
	for i := range batches {
		keys := make([][]byte, n)
		for j := range keys {
			keys[j] = []byte(fmt.Sprintf("doc-%020d", i*n+j))
		}
		raw := encodeBlob(keys, nil, nil)
		bl, err := decodeBlob(raw, n)
		if err != nil {
			b.Fatal(err)
		}
		m.add(Record{Rows: n, FirstRow: uint64(i * n), BlobOff: off, BlobLen: uint64(len(raw))}, raw, bl)
		off += uint64(len(raw))
	}
	b.ResetTimer()
	for range b.N {
		buildTables(m, batches*n)
	}
}

// BenchmarkBloomMisses asks the key tables of four sealed segments of
// 260,000 keys each about 10,000 absent keys, as a Put of new keys does.
// Reported per batch of 10,000.
func BenchmarkBloomMisses(b *testing.B) {
	const segs, batches, n = 4, 26, 10_000
	var ds []*diskIndex
	for s := range segs {
		m := &memIndex{}
		var off uint64
		for i := range batches {
			keys := make([][]byte, n)
			for j := range keys {
				keys[j] = []byte(fmt.Sprintf("doc-%020d", (s*batches+i)*n+j))
			}
			raw := encodeBlob(keys, nil, nil)
			bl, err := decodeBlob(raw, n)
			if err != nil {
				b.Fatal(err)
			}
			m.add(Record{Rows: n, FirstRow: uint64(i * n), BlobOff: off, BlobLen: uint64(len(raw))}, raw, bl)
			off += uint64(len(raw))
		}
		t := buildTables(m, batches*n)
		file := t.bytes()
		tr := trailer{rows: batches * n, k: t.k, rowDirLen: uint64(len(t.rowDir))}
		tr.keyTabOff, tr.keyTabLen = tr.rowDirLen, uint64(len(t.keyTab))
		tr.bloomOff, tr.bloomLen = tr.keyTabOff+tr.keyTabLen, uint64(len(t.bloom))
		ds = append(ds, newDiskIndex(file, tr, 0))
	}
	keys := make([][]byte, n)
	hashes := make([]uint64, n)
	for j := range keys {
		keys[j] = []byte(fmt.Sprintf("new-%020d", j))
		hashes[j] = HashKey(keys[j])
	}
	b.ResetTimer()
	for range b.N {
		for _, d := range ds {
			lookupBatch(nil, d, keys, hashes, 1<<40, func(int, uint64) {})
		}
	}
}
