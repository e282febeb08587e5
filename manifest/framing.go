package manifest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/memvec/memvec/internal/errs"
	"github.com/memvec/memvec/internal/vfs"
)

// readNamed reads a file the manifest names: its absence is corruption,
// not a missing optional file.
func readNamed(fsys vfs.FS, path string) ([]byte, error) {
	b, err := vfs.Or(fsys).ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: named by the manifest but missing: %w (%w)", path, err, errs.ErrCorrupt)
	}
	return b, err
}

// readNumbered reads the file at path through fsys (nil: vfs.OS), a file
// the manifest names that holds number n (an ID map's epoch, a tombstone
// checkpoint's generation), and decodes it with decode. Errors name the
// file; a file holding another number is ErrCorrupt, and holds says what it
// held in that error ("id map holds epoch").
func readNumbered[T any](fsys vfs.FS, path string, n uint64, decode func([]byte) (uint64, T, error), holds string) (T, error) {
	var zero T
	b, err := readNamed(fsys, path)
	if err != nil {
		return zero, err
	}
	got, v, err := decode(b)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	if got != n {
		return zero, fmt.Errorf("%s: manifest: %s %d, not %d: %w", path, holds, got, n, errs.ErrCorrupt)
	}
	return v, nil
}

// The helpers below implement the framing shared by the manifest, ID-map and
// tombstone checkpoint files:
//
//	magic (8) | version u32 | body length u32 | body | xxhash64 of every preceding byte

// frameStart returns a buffer holding magic, version and a body length to
// be filled in by frameEnd, with room for a body of bodyHint bytes.
func frameStart(magic string, version uint32, bodyHint int) []byte {
	b := make([]byte, 16, 16+bodyHint+8)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[8:], version)
	return b
}

// frameEnd fills in the body length of a buffer begun by frameStart and
// appends the checksum. A body over math.MaxUint32 bytes cannot be framed;
// writeFramed refuses the result.
func frameEnd(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)-16))
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

// unframe checks the framing of file bytes b and returns the body; Decode,
// DecodeIDMap and DecodeTombs all use it. The checksum is checked before
// the version, so a damaged version field is ErrCorrupt and only an intact
// unknown one is ErrVersion. what names the kind of file in errors.
func unframe(b []byte, magic string, version uint32, what string) ([]byte, error) {
	body, _, err := unframeVersions(b, magic, version, version, what)
	return body, err
}

// unframeVersions is unframe for a file kind whose readers accept every
// format version in [oldest, newest]; it also returns the file's version.
func unframeVersions(b []byte, magic string, oldest, newest uint32, what string) ([]byte, uint32, error) {
	if len(b) < 24 || string(b[:8]) != magic {
		return nil, 0, fmt.Errorf("manifest: %s: bad magic: %w", what, errs.ErrCorrupt)
	}
	le := binary.LittleEndian
	if n := le.Uint32(b[12:]); uint64(n) != uint64(len(b)-24) {
		return nil, 0, fmt.Errorf("manifest: %s: body of %d bytes in a file of %d: %w", what, n, len(b), errs.ErrCorrupt)
	}
	if le.Uint64(b[len(b)-8:]) != xxhash.Sum64(b[:len(b)-8]) {
		return nil, 0, fmt.Errorf("manifest: %s: checksum mismatch: %w", what, errs.ErrCorrupt)
	}
	v := le.Uint32(b[8:])
	if v > newest {
		return nil, 0, fmt.Errorf("manifest: %s: format version %d, this build reads %d: %w", what, v, newest, errs.ErrVersion)
	}
	if v < oldest {
		return nil, 0, fmt.Errorf("manifest: %s: format version %d: %w", what, v, errs.ErrCorrupt)
	}
	return b[16 : len(b)-8], v, nil
}

// writeFramed creates or truncates path through fsys (nil: vfs.OS), writes
// b, fsyncs and closes the file. It does not fsync the directory.
func writeFramed(fsys vfs.FS, path string, b []byte) error {
	if uint64(len(b)-24) > math.MaxUint32 {
		return fmt.Errorf("manifest: write %s: body of %d bytes exceeds the format's limit: %w", path, len(b)-24, errs.ErrInvalidArgument)
	}
	if err := vfs.WriteFile(vfs.Or(fsys), path, b); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return nil
}
