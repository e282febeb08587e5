package segment

import (
	"bytes"
	"testing"
)

// A blob encoded in a recycled buffer holding other bytes is the blob
// encoded in a fresh one: encodeBlob sets every byte.
func TestEncodeBlobInDirtyBuffer(t *testing.T) {
	keys := [][]byte{[]byte("a"), nil, []byte("ccc")}
	payloads := [][]byte{[]byte("pp"), nil, nil}
	for _, c := range []struct {
		keys, payloads [][]byte
		supersedes     []uint64
	}{
		{keys, payloads, []uint64{7, 9}},
		{keys, nil, nil},
		{nil, nil, []uint64{3}},
	} {
		want := encodeBlob(c.keys, c.payloads, c.supersedes)
		want = bytes.Clone(want)
		dirty := bytes.Repeat([]byte{0xff}, 4096)
		blobBufs.put(dirty)
		got := encodeBlob(c.keys, c.payloads, c.supersedes)
		if !bytes.Equal(got, want) {
			t.Fatalf("in a dirty buffer: %x, want %x", got, want)
		}
		if _, err := decodeBlob(got, uint32(len(c.keys))); err != nil && c.keys != nil {
			t.Fatal(err)
		}
	}
}
