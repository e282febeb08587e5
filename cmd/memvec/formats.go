package main

// Vector file formats:
//
//   - .npy: NumPy's format (versions 1 to 3): a header naming the dtype
//     and shape, then the array in C order. Read: float32 or float64, either
//     byte order, 2-D (n, dim) or 1-D (one vector). Written: little-endian
//     float32, 2-D.
//   - .fvecs: each vector is a little-endian int32 dimension followed by
//     that many little-endian float32 (the format of the TEXMEX corpora).
//   - raw: little-endian float32 rows one after the other with no header,
//     what ndarray.tofile writes and the Python MemMapVector library keeps
//     in its vectors.vec file; the dimension comes from --dim.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/memvec/memvec"
)

const (
	fmtNpy   = "npy"
	fmtFvecs = "fvecs"
	fmtRaw   = "raw"
)

// formatOf picks a file's format from --raw or its extension.
func formatOf(path string, raw bool) (string, error) {
	if raw {
		return fmtRaw, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return fmtNpy, nil
	case ".fvecs":
		return fmtFvecs, nil
	}
	return "", usagef("cannot tell the format of %s: use a .npy or .fvecs file, or --raw --dim N for raw float32 rows", path)
}

// maxFileDim bounds the dimension a vector file may declare, so that a
// damaged or hostile header cannot make the reader allocate without bound:
// no store can hold more.
const maxFileDim = memvec.MaxDimension

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

// vecReader reads the vectors of a file, a batch at a time.
type vecReader struct {
	path   string
	format string
	dim    int
	rows   int64 // -1: unknown
	size   int64 // file size
	f      *os.File
	r      *bufio.Reader
	elem   int // bytes per component
	big    bool
	read   int64 // rows read so far
	buf    []byte
}

// openVectors opens a vector file; dim is needed for raw files only.
func openVectors(path, format string, dim int) (*vecReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	vr := &vecReader{path: path, format: format, f: f, r: bufio.NewReaderSize(f, 1<<20), size: fi.Size(), elem: 4}
	if err := vr.init(dim); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vr, nil
}

func (vr *vecReader) init(dim int) error {
	switch vr.format {
	case fmtRaw:
		if dim <= 0 {
			return usagef("raw float32 rows need --dim N")
		}
		row := int64(dim) * 4
		if vr.size%row != 0 {
			return fmt.Errorf("size %d is not a whole number of rows of %d float32 (%d bytes): wrong --dim?", vr.size, dim, row)
		}
		vr.dim, vr.rows = dim, vr.size/row
	case fmtFvecs:
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
	case fmtNpy:
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
	}
	if dim > 0 && dim != vr.dim && vr.format != fmtRaw {
		return fmt.Errorf("--dim %d, but the file's vectors have dimension %d", dim, vr.dim)
	}
	return nil
}

// Read fills dst with up to len(dst)/dim rows and returns how many; it
// returns 0, io.EOF after the last row.
func (vr *vecReader) Read(dst []float32) (int, error) {
	n := int(min(int64(len(dst)/vr.dim), vr.rows-vr.read))
	if n <= 0 {
		return 0, io.EOF
	}
	comp := n * vr.dim
	if vr.format == fmtFvecs {
		for i := 0; i < n; i++ {
			if err := vr.readFvecsRow(dst[i*vr.dim : (i+1)*vr.dim]); err != nil {
				return 0, err
			}
			vr.read++
		}
		return n, nil
	}
	need := comp * vr.elem
	if cap(vr.buf) < need {
		vr.buf = make([]byte, need)
	}
	b := vr.buf[:need]
	if _, err := io.ReadFull(vr.r, b); err != nil {
		return 0, fmt.Errorf("%s: row %d: %w", vr.path, vr.read, unexpected(err))
	}
	decodeFloats(dst[:comp], b, vr.elem, vr.big)
	vr.read += int64(n)
	return n, nil
}

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

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodeFloats converts float32 or float64 components to float32.
func decodeFloats(dst []float32, b []byte, elem int, big bool) {
	var order binary.ByteOrder = binary.LittleEndian
	if big {
		order = binary.BigEndian
	}
	if elem == 8 {
		for i := range dst {
			dst[i] = float32(math.Float64frombits(order.Uint64(b[i*8:])))
		}
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(order.Uint32(b[i*4:]))
	}
}

// Close closes the file.
func (vr *vecReader) Close() error { return vr.f.Close() }

// readAllVectors reads every vector of a (small) file, such as queries.
func readAllVectors(path, format string, dim int) ([][]float32, error) {
	vr, err := openVectors(path, format, dim)
	if err != nil {
		return nil, err
	}
	defer vr.Close()
	if vr.rows*int64(vr.dim) > 1<<28 {
		return nil, fmt.Errorf("%s: %d vectors is too many to hold in memory", path, vr.rows)
	}
	flat := make([]float32, vr.rows*int64(vr.dim))
	for off := 0; off < len(flat); {
		n, err := vr.Read(flat[off:])
		if err != nil {
			return nil, err
		}
		off += n * vr.dim
	}
	out := make([][]float32, vr.rows)
	for i := range out {
		out[i] = flat[i*vr.dim : (i+1)*vr.dim : (i+1)*vr.dim]
	}
	return out, nil
}

// vecWriter writes vectors to a file in one of the formats.
type vecWriter struct {
	path   string
	format string
	dim    int
	rows   int64
	f      *os.File
	w      *bufio.Writer
	hdrLen int
	buf    []byte
}

// createVectors creates path for vectors of dimension dim.
func createVectors(path, format string, dim int) (*vecWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	vw := &vecWriter{path: path, format: format, dim: dim, f: f, w: bufio.NewWriterSize(f, 1<<20), buf: make([]byte, 4+4*dim)}
	if format == fmtNpy {
		// The row count is known at the end: the header is written with a
		// width that fits any count and rewritten in place by Close.
		vw.hdrLen = len(npyHeaderBytes("<f4", []int64{math.MaxInt64, int64(dim)}, 0))
		if _, err := vw.w.Write(npyHeaderBytes("<f4", []int64{0, int64(dim)}, vw.hdrLen)); err != nil {
			vw.Abort()
			return nil, err
		}
	}
	return vw, nil
}

// Write appends one vector.
func (vw *vecWriter) Write(vec []float32) error {
	b := vw.buf[:0]
	if vw.format == fmtFvecs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(vec)))
	}
	for _, x := range vec {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	vw.rows++
	_, err := vw.w.Write(b)
	return err
}

// Close flushes the file and completes its header.
func (vw *vecWriter) Close() error {
	err := vw.w.Flush()
	if err == nil && vw.format == fmtNpy {
		_, err = vw.f.WriteAt(npyHeaderBytes("<f4", []int64{vw.rows, int64(vw.dim)}, vw.hdrLen), 0)
	}
	if cerr := vw.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(vw.path)
		return fmt.Errorf("write %s: %w", vw.path, err)
	}
	return nil
}

// Abort closes and removes a file that could not be completed.
func (vw *vecWriter) Abort() {
	vw.f.Close()
	os.Remove(vw.path)
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
