package segment

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/memvec/memvec/internal/errs"
)

// Limits on what one row and one batch may carry (format version 3).
const (
	MaxKeyLen     = 1024     // bytes of a key; a key has at least one
	MaxPayloadLen = 64 << 10 // bytes of a payload
)

const (
	blobKeyed     = 1 << 0 // flags: the batch's rows carry keys
	blobHead      = 5      // flags u8, superseded count u32
	blobRowHead   = 6      // per row: key len u16, payload len u32
	maxSupersedes = math.MaxUint32
)

// blob is a decoded batch blob (see the package doc).
type blob struct {
	keyed      bool
	supersedes []uint64
	rows       []blobRow // keyed: one per row of the batch
}

// blobRow places one row's key and payload: the key at off (from the start
// of the blob), the payload right after it.
type blobRow struct {
	off  uint64
	klen uint16
	plen uint32
}

// checkBatchArgs checks the keys, payloads and superseded IDs given for a
// batch of n rows (see AppendRecords).
func checkBatchArgs(n int, keys, payloads [][]byte, supersedes []uint64) error {
	if len(keys) == 0 {
		if len(payloads) != 0 {
			return fmt.Errorf("payloads for rows without keys: %w", errs.ErrInvalidArgument)
		}
	} else if len(keys) != n || len(payloads) != 0 && len(payloads) != n {
		return fmt.Errorf("%d rows, %d keys, %d payloads: %w", n, len(keys), len(payloads), errs.ErrInvalidArgument)
	}
	// In a keyed batch a row may have no key (an empty one, and then no
	// payload): a compaction copies rows added with and without keys into
	// one batch.
	for i, k := range keys {
		if len(k) > MaxKeyLen {
			return fmt.Errorf("row %d: key of %d bytes, want at most %d: %w", i, len(k), MaxKeyLen, errs.ErrInvalidArgument)
		}
		if len(k) == 0 && len(payloads) != 0 && len(payloads[i]) != 0 {
			return fmt.Errorf("row %d: payload without a key: %w", i, errs.ErrInvalidArgument)
		}
	}
	for i, p := range payloads {
		if len(p) > MaxPayloadLen {
			return fmt.Errorf("row %d: payload of %d bytes, at most %d: %w", i, len(p), MaxPayloadLen, errs.ErrInvalidArgument)
		}
	}
	if uint64(len(supersedes)) > maxSupersedes {
		return fmt.Errorf("%d superseded IDs: %w", len(supersedes), errs.ErrInvalidArgument)
	}
	return nil
}

// encodeBlob returns the blob of a batch, nil when it has no keys and
// supersedes nothing (an Add costs what it did before version 3), in a
// buffer of blobBufs. The arguments have passed checkBatchArgs.
func encodeBlob(keys, payloads [][]byte, supersedes []uint64) []byte {
	if len(keys) == 0 && len(supersedes) == 0 {
		return nil
	}
	size := blobHead + 8*len(supersedes) + blobRowHead*len(keys)
	for i, k := range keys {
		size += len(k)
		if len(payloads) != 0 {
			size += len(payloads[i])
		}
	}
	b := blobBufs.get(size) // every byte is set below
	b[0] = 0
	if len(keys) != 0 {
		b[0] = blobKeyed
	}
	binary.LittleEndian.PutUint32(b[1:], uint32(len(supersedes)))
	at := blobHead
	for _, id := range supersedes {
		binary.LittleEndian.PutUint64(b[at:], id)
		at += 8
	}
	data := at + blobRowHead*len(keys)
	for i, k := range keys {
		var p []byte
		if len(payloads) != 0 {
			p = payloads[i]
		}
		binary.LittleEndian.PutUint16(b[at:], uint16(len(k)))
		binary.LittleEndian.PutUint32(b[at+2:], uint32(len(p)))
		at += blobRowHead
		data += copy(b[data:], k)
		data += copy(b[data:], p)
	}
	return b
}

// decodeBlob parses the blob of a batch of rows rows. An empty blob is a
// batch without keys that supersedes nothing. It allocates in proportion
// to len(b), whatever rows says, and checks that the parts fill the blob
// exactly.
func decodeBlob(b []byte, rows uint32) (blob, error) {
	var bl blob
	if len(b) == 0 {
		return bl, nil
	}
	if len(b) < blobHead {
		return bl, fmt.Errorf("blob: %d bytes: %w", len(b), errs.ErrCorrupt)
	}
	if b[0]&^blobKeyed != 0 {
		return bl, fmt.Errorf("blob: unknown flags %#x: %w", b[0], errs.ErrCorrupt)
	}
	bl.keyed = b[0]&blobKeyed != 0
	n := uint64(binary.LittleEndian.Uint32(b[1:]))
	rest := uint64(len(b) - blobHead)
	if n > rest/8 {
		return bl, fmt.Errorf("blob: %d superseded IDs in %d bytes: %w", n, len(b), errs.ErrCorrupt)
	}
	if n > 0 {
		bl.supersedes = make([]uint64, n)
		for i := range bl.supersedes {
			bl.supersedes[i] = binary.LittleEndian.Uint64(b[blobHead+8*i:])
		}
	}
	at := uint64(blobHead) + 8*n
	if !bl.keyed {
		if at != uint64(len(b)) {
			return blob{}, fmt.Errorf("blob: %d bytes past the superseded IDs of an unkeyed batch: %w", uint64(len(b))-at, errs.ErrCorrupt)
		}
		if n == 0 {
			return blob{}, fmt.Errorf("blob: empty but not absent: %w", errs.ErrCorrupt)
		}
		return bl, nil
	}
	if uint64(rows) > (uint64(len(b))-at)/blobRowHead {
		return blob{}, fmt.Errorf("blob: %d rows' lengths in %d bytes: %w", rows, len(b), errs.ErrCorrupt)
	}
	bl.rows = make([]blobRow, rows)
	data := at + uint64(rows)*blobRowHead
	for i := range bl.rows {
		klen := binary.LittleEndian.Uint16(b[at:])
		plen := binary.LittleEndian.Uint32(b[at+2:])
		at += blobRowHead
		if klen > MaxKeyLen || plen > MaxPayloadLen || klen == 0 && plen != 0 {
			return blob{}, fmt.Errorf("blob: row %d: key of %d bytes, payload of %d: %w", i, klen, plen, errs.ErrCorrupt)
		}
		size := uint64(klen) + uint64(plen)
		if size > uint64(len(b))-data {
			return blob{}, fmt.Errorf("blob: row %d runs past the end: %w", i, errs.ErrCorrupt)
		}
		bl.rows[i] = blobRow{off: data, klen: klen, plen: plen}
		data += size
	}
	if data != uint64(len(b)) {
		return blob{}, fmt.Errorf("blob: %d bytes past the last row: %w", uint64(len(b))-data, errs.ErrCorrupt)
	}
	return bl, nil
}
