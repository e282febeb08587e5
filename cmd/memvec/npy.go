package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// The .npy format: NumPy's (versions 1 to 3), a header naming the dtype
// and shape, then the array in C order. Read: float32 or float64, either
// byte order, 2-D (n, dim) or 1-D (one vector); for IDs, integers of any
// shape. Written: little-endian float32, 2-D; IDs as 1-D uint64.

// npyMagic opens every .npy file.
const npyMagic = "\x93NUMPY"

// npyHeader is the parsed header of a .npy file.
type npyHeader struct {
	kind      byte // 'f', 'i' or 'u'
	size      int  // bytes per element
	bigEndian bool
	shape     []int64
	dataOff   int64
}

var (
	npyDescrRe   = regexp.MustCompile(`['"]descr['"]\s*:\s*['"]([^'"]*)['"]`)
	npyFortranRe = regexp.MustCompile(`['"]fortran_order['"]\s*:\s*(True|False)`)
	npyShapeRe   = regexp.MustCompile(`['"]shape['"]\s*:\s*\(([^)]*)\)`)
)

// readNpyHeader parses the header at the start of r.
func readNpyHeader(r io.Reader) (npyHeader, error) {
	var h npyHeader
	pre := make([]byte, 8)
	if _, err := io.ReadFull(r, pre); err != nil || string(pre[:6]) != npyMagic {
		return h, errors.New("not a .npy file (bad magic)")
	}
	var n int
	switch pre[6] {
	case 1:
		b := make([]byte, 2)
		if _, err := io.ReadFull(r, b); err != nil {
			return h, errors.New("truncated .npy header")
		}
		n = int(binary.LittleEndian.Uint16(b))
		h.dataOff = 10 + int64(n)
	case 2, 3:
		b := make([]byte, 4)
		if _, err := io.ReadFull(r, b); err != nil {
			return h, errors.New("truncated .npy header")
		}
		n = int(binary.LittleEndian.Uint32(b))
		if n > 1<<24 {
			return h, fmt.Errorf(".npy header of %d bytes", n)
		}
		h.dataOff = 12 + int64(n)
	default:
		return h, fmt.Errorf(".npy format version %d.%d not supported", pre[6], pre[7])
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return h, errors.New("truncated .npy header")
	}
	hdr := string(b)
	m := npyDescrRe.FindStringSubmatch(hdr)
	if m == nil {
		return h, fmt.Errorf(".npy header without descr: %q", strings.TrimSpace(hdr))
	}
	descr := m[1]
	if len(descr) < 3 {
		return h, fmt.Errorf(".npy dtype %q not supported", descr)
	}
	switch descr[0] {
	case '<', '|', '=':
	case '>':
		h.bigEndian = true
	default:
		return h, fmt.Errorf(".npy dtype %q not supported", descr)
	}
	h.kind = descr[1]
	size, err := strconv.Atoi(descr[2:])
	if err != nil || (h.kind != 'f' && h.kind != 'i' && h.kind != 'u') {
		return h, fmt.Errorf(".npy dtype %q not supported", descr)
	}
	h.size = size
	if m := npyFortranRe.FindStringSubmatch(hdr); m == nil {
		return h, fmt.Errorf(".npy header without fortran_order: %q", strings.TrimSpace(hdr))
	} else if m[1] == "True" {
		return h, errors.New(".npy array in Fortran order is not supported: save it in C order (np.ascontiguousarray)")
	}
	m = npyShapeRe.FindStringSubmatch(hdr)
	if m == nil {
		return h, fmt.Errorf(".npy header without shape: %q", strings.TrimSpace(hdr))
	}
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.ParseInt(strings.TrimSuffix(f, "L"), 10, 64)
		if err != nil || d < 0 {
			return h, fmt.Errorf(".npy shape (%s) not understood", m[1])
		}
		h.shape = append(h.shape, d)
	}
	return h, nil
}

// npyHeaderBytes builds a version 1.0 header for descr and shape, padded
// with spaces to a multiple of 64 bytes and at least minLen bytes.
func npyHeaderBytes(descr string, shape []int64, minLen int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.FormatInt(d, 10)
	}
	s := strings.Join(dims, ", ")
	if len(shape) == 1 {
		s += ","
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, s)
	total := 10 + len(dict) + 1
	total = max(minLen, (total+63)/64*64)
	b := make([]byte, 0, total)
	b = append(b, npyMagic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(total-10))
	b = append(b, dict...)
	for len(b) < total-1 {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// startNpy writes a header for vw's rows. The row count is known at the
// end: the header is written with a width that fits any count and
// rewritten in place by finishNpy.
func (vw *vecWriter) startNpy() error {
	vw.hdrLen = len(npyHeaderBytes("<f4", []int64{math.MaxInt64, int64(vw.dim)}, 0))
	_, err := vw.w.Write(npyHeaderBytes("<f4", []int64{0, int64(vw.dim)}, vw.hdrLen))
	return err
}

// finishNpy rewrites the header with the count of rows written.
func (vw *vecWriter) finishNpy() error {
	_, err := vw.f.WriteAt(npyHeaderBytes("<f4", []int64{vw.rows, int64(vw.dim)}, vw.hdrLen), 0)
	return err
}

// initNpy reads the header and checks the array's dtype, shape and size.
func (vr *vecReader) initNpy() error {
	h, err := readNpyHeader(vr.r)
	if err != nil {
		return err
	}
	if h.kind != 'f' || (h.size != 4 && h.size != 8) {
		return fmt.Errorf(".npy dtype %c%d not supported: want float32 or float64", h.kind, h.size)
	}
	switch len(h.shape) {
	case 1:
		vr.rows, vr.dim = 1, int(h.shape[0])
	case 2:
		vr.rows, vr.dim = h.shape[0], int(h.shape[1])
	default:
		return fmt.Errorf(".npy array of %d dimensions: want 2 (rows, dim)", len(h.shape))
	}
	if vr.dim <= 0 || vr.dim > maxFileDim || vr.rows < 0 {
		return fmt.Errorf(".npy array of shape (%d, %d): want rows >= 0 and 1 <= dim <= %d", vr.rows, vr.dim, maxFileDim)
	}
	vr.elem, vr.big = h.size, h.bigEndian
	// Compared by division: rows x dim x elem can overflow for a
	// hostile header.
	if rowBytes := int64(vr.dim) * int64(vr.elem); (vr.size-h.dataOff)/rowBytes < vr.rows {
		return fmt.Errorf("truncated: the header says %d x %d, the file holds %d bytes of data", vr.rows, vr.dim, vr.size-h.dataOff)
	}
	return nil
}

// readNpyIDs reads a .npy array of non-negative integers, of any shape.
func readNpyIDs(path string) ([]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	h, err := readNpyHeader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if (h.kind != 'i' && h.kind != 'u') || (h.size != 1 && h.size != 2 && h.size != 4 && h.size != 8) {
		return nil, fmt.Errorf("%s: .npy dtype %c%d: want integers", path, h.kind, h.size)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// The element count is checked against the bytes the file holds, by
	// division, before anything is allocated: a hostile shape can
	// overflow a product or ask for more memory than the machine has.
	avail := (fi.Size() - h.dataOff) / int64(h.size)
	n := int64(1)
	for _, d := range h.shape {
		if d < 0 || (d > 0 && n > avail/d) {
			return nil, fmt.Errorf("%s: .npy shape %v needs more elements than the file's %d", path, h.shape, avail)
		}
		n *= d
	}
	var order binary.ByteOrder = binary.LittleEndian
	if h.bigEndian {
		order = binary.BigEndian
	}
	ids := make([]uint64, 0, n)
	b := make([]byte, h.size)
	for i := int64(0); i < n; i++ {
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("%s: element %d: %w", path, i, unexpected(err))
		}
		var u uint64
		var neg bool
		switch h.size {
		case 1:
			u, neg = uint64(b[0]), h.kind == 'i' && int8(b[0]) < 0
		case 2:
			v := order.Uint16(b)
			u, neg = uint64(v), h.kind == 'i' && int16(v) < 0
		case 4:
			v := order.Uint32(b)
			u, neg = uint64(v), h.kind == 'i' && int32(v) < 0
		case 8:
			u = order.Uint64(b)
			neg = h.kind == 'i' && int64(u) < 0
		}
		if neg {
			return nil, fmt.Errorf("%s: element %d is negative", path, i)
		}
		ids = append(ids, u)
	}
	return ids, nil
}

// writeNpyIDs writes ids as a 1-D little-endian uint64 array.
func writeNpyIDs(w io.Writer, ids []uint64) error {
	if _, err := w.Write(npyHeaderBytes("<u8", []int64{int64(len(ids))}, 0)); err != nil {
		return err
	}
	b := make([]byte, 8)
	for _, id := range ids {
		binary.LittleEndian.PutUint64(b, id)
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
