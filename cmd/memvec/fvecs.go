package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The .fvecs format (of the TEXMEX corpora): each vector is a
// little-endian int32 dimension followed by that many little-endian
// float32.

// initFvecs takes the dimension from the first row and checks that the
// file holds whole rows of it.
func (vr *vecReader) initFvecs() error {
	b, err := vr.r.Peek(4)
	if err == io.EOF || len(b) == 0 {
		return errors.New("empty .fvecs file: no vector to take the dimension from")
	}
	if err != nil {
		return errors.New("truncated .fvecs file")
	}
	d := int32(binary.LittleEndian.Uint32(b))
	if d <= 0 || d > maxFileDim {
		return fmt.Errorf("not an .fvecs file: first vector has dimension %d", d)
	}
	row := 4 + int64(d)*4
	if vr.size%row != 0 {
		return fmt.Errorf("size %d is not a whole number of .fvecs rows of dimension %d (%d bytes)", vr.size, d, row)
	}
	vr.dim, vr.rows = int(d), vr.size/row
	return nil
}

// readFvecsRow reads one row into dst, checking its dimension.
func (vr *vecReader) readFvecsRow(dst []float32) error {
	need := 4 + 4*vr.dim
	if cap(vr.buf) < need {
		vr.buf = make([]byte, need)
	}
	b := vr.buf[:need]
	if _, err := io.ReadFull(vr.r, b); err != nil {
		return fmt.Errorf("%s: row %d: %w", vr.path, vr.read, unexpected(err))
	}
	if d := int32(binary.LittleEndian.Uint32(b)); int(d) != vr.dim {
		return fmt.Errorf("%s: row %d has dimension %d, the first row %d", vr.path, vr.read, d, vr.dim)
	}
	decodeFloats(dst, b[4:], 4, false)
	return nil
}
