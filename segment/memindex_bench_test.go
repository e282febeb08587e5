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
