package main

import "fmt"

// The raw format: little-endian float32 rows one after the other with no
// header, what ndarray.tofile writes and the Python MemMapVector library
// keeps in its vectors.vec file; the dimension comes from --dim.

// initRaw takes the dimension from --dim and the row count from the size.
func (vr *vecReader) initRaw(dim int) error {
	if dim <= 0 {
		return usagef("raw float32 rows need --dim N")
	}
	row := int64(dim) * 4
	if vr.size%row != 0 {
		return fmt.Errorf("size %d is not a whole number of rows of %d float32 (%d bytes): wrong --dim?", vr.size, dim, row)
	}
	vr.dim, vr.rows = dim, vr.size/row
	return nil
}
