package main

// Vector files: this file picks a file's format and reads and writes its
// rows; each format's own part (header, row framing) is in its file:
// npy.go, fvecs.go, raw.go.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/memvec/memvec"
)

const (
	fmtNpy   = "npy"
	fmtFvecs = "fvecs"
	fmtRaw   = "raw"
)

// formatOf picks a file's format from --raw or its extension. rawFlags
// is how the command asks for raw rows ("--raw", "--raw --dim N"), or ""
// if it cannot read or write them, for the message when the extension
// says nothing: it suggests only what the command accepts.
func formatOf(path string, raw bool, rawFlags string) (string, error) {
	if raw {
		return fmtRaw, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return fmtNpy, nil
	case ".fvecs":
		return fmtFvecs, nil
	}
	if rawFlags == "" {
		return "", usagef("cannot tell the format of %s: use a .npy or .fvecs file", path)
	}
	return "", usagef("cannot tell the format of %s: use a .npy or .fvecs file, or %s for raw float32 rows", path, rawFlags)
}

// maxFileDim bounds the dimension a vector file may declare, so that a
// damaged or hostile header cannot make the reader allocate without bound:
// no store can hold more.
const maxFileDim = memvec.MaxDimension

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
	vr := &vecReader{path: path, format: format, f: f, r: bufio.NewReaderSize(&dropReader{f: f}, 1<<20), size: fi.Size(), elem: 4}
	if err := vr.init(dim); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vr, nil
}

// init reads the file's header, if its format has one, and sets the
// dimension and row count.
func (vr *vecReader) init(dim int) error {
	var err error
	switch vr.format {
	case fmtRaw:
		err = vr.initRaw(dim)
	case fmtFvecs:
		err = vr.initFvecs()
	case fmtNpy:
		err = vr.initNpy()
	}
	if err != nil {
		return err
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
	vw := &vecWriter{path: path, format: format, dim: dim, f: f, w: bufio.NewWriterSize(&dropWriter{f: f}, 1<<20), buf: make([]byte, 4+4*dim)}
	if format == fmtNpy {
		if err := vw.startNpy(); err != nil {
			vw.Abort()
			return nil, err
		}
	}
	return vw, nil
}

// Write appends one vector.
func (vw *vecWriter) Write(vec []float32) error {
	b := vw.buf[:0]
	if vw.format == fmtFvecs { // the row's dimension (fvecs.go)
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
		err = vw.finishNpy()
	}
	return closeWritten(vw.f, vw.path, err)
}

// closeWritten closes f, the file at path, after writes that ended with
// err; if they failed or the close does, it removes the file and returns
// the error, naming the file.
func closeWritten(f *os.File, path string, err error) error {
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Abort closes and removes a file that could not be completed.
func (vw *vecWriter) Abort() {
	vw.f.Close()
	os.Remove(vw.path)
}
