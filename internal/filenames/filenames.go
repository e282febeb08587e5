// Package filenames is the one list of the files memvec keeps in a store
// directory: their kinds, how a name is made from a kind and a number, and
// how a name is parsed back. Every package that names a store file asks
// this one (segment.FileName and the like are thin wrappers), and
// recovery's rules for unknown and orphaned files read names only through
// Parse, so a file kind exists in exactly one place: the table below.
//
// Parse accepts a name only in exactly the form Make writes: "1.seg" and
// "0000001.seg" are not segment 1, so a file memvec did not write is never
// taken for one of its own (and never removed as an orphan).
//
// The WAL's own files live in the WAL directory and are named by package
// wal after tidwall/wal's layout; they are not store files in this sense.
package filenames

import (
	"fmt"
	"strconv"
	"strings"
)

// Type is the kind of a file (or directory) in a store directory.
type Type int

// The kinds of store files. Adding one is a constant here and a row of
// table; a numbered kind that a crash can leave behind also needs an
// evidence rule in recovery's isOrphan (until it has one, such files are
// never removed).
const (
	Manifest     Type = iota + 1 // the manifest, replaced atomically
	ManifestTemp                 // the manifest's temp file, stale after a crash
	Lock                         // the lock file
	WAL                          // the tombstone WAL's directory
	Segment                      // a segment, numbered by its segment number
	Tombs                        // a tombstone checkpoint, numbered by its manifest generation
	IDMap                        // an ID map, numbered by its compaction epoch
	numTypes
)

// spec says how names of one kind are spelled: a fixed name, or a number
// printed as %06d followed by a suffix.
type spec struct {
	fixed  string
	suffix string
}

// table holds one row per kind: the only place a store file name is spelled.
var table = [numTypes]spec{
	Manifest:     {fixed: "MANIFEST"},
	ManifestTemp: {fixed: "MANIFEST.tmp"},
	Lock:         {fixed: "LOCK"},
	WAL:          {fixed: "wal"},
	Segment:      {suffix: ".seg"},
	Tombs:        {suffix: ".tombs"},
	IDMap:        {suffix: ".idmap"},
}

// Numbered reports whether names of kind t carry a number.
func (t Type) Numbered() bool { return t > 0 && t < numTypes && table[t].suffix != "" }

// String returns the kind's name pattern, for messages.
func (t Type) String() string {
	if t <= 0 || t >= numTypes {
		return fmt.Sprintf("filenames.Type(%d)", int(t))
	}
	if s := table[t]; s.suffix != "" {
		return "NNNNNN" + s.suffix
	}
	return table[t].fixed
}

// Make returns the name of the file of kind t and number n inside a store
// directory; n is ignored for a kind with a fixed name. It panics on a Type
// that is not one of the constants above.
func Make(t Type, n uint64) string {
	if t <= 0 || t >= numTypes {
		panic(fmt.Sprintf("filenames: Make of unknown %v", t))
	}
	s := table[t]
	if s.suffix == "" {
		return s.fixed
	}
	return fmt.Sprintf("%06d%s", n, s.suffix)
}

// Parse returns the kind and number (0 for a fixed name) of a store file
// name, with ok false unless Make(t, n) gives name back exactly.
func Parse(name string) (t Type, n uint64, ok bool) {
	for t := Type(1); t < numTypes; t++ {
		s := table[t]
		if s.suffix == "" {
			if name == s.fixed {
				return t, 0, true
			}
			continue
		}
		num, found := strings.CutSuffix(name, s.suffix)
		if !found {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || Make(t, n) != name {
			return 0, 0, false
		}
		return t, n, true
	}
	return 0, 0, false
}
