package quant

import "unsafe"

// nativeLE says whether this machine stores integers little-endian, the
// order of an encoded Meta.
var nativeLE = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// DecodeMetas returns the len(b)/MetaSize metas encoded back to back in b.
// On a little-endian machine, when b is 4-byte aligned (a segment's meta
// area is), the result is b itself seen as []Meta, whose fields are four
// little-endian 32-bit words in the encoded order: the code pass reads a
// block's metas once, where they lie, rather than copying them first.
// Otherwise they are decoded into buf, which must be long enough, and the
// result aliases buf.
func DecodeMetas(b []byte, buf []Meta) []Meta {
	n := len(b) / MetaSize
	if n == 0 {
		return nil
	}
	if nativeLE && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*Meta)(unsafe.Pointer(&b[0])), n)
	}
	buf = buf[:n]
	for i := range buf {
		buf[i] = DecodeMeta(b[i*MetaSize:])
	}
	return buf
}

// The view above needs Meta to be exactly its encoding: four 32-bit
// fields, no padding.
var _ [1]struct{} = [unsafe.Sizeof(Meta{}) - MetaSize + 1]struct{}{}
