// Package wal owns memvec's tombstone write-ahead log: each Delete appends
// one record holding the IDs it newly deleted, and on open the caller replays
// the log into its tombstone bitsets. Compaction later drops records it has
// folded into segments with TruncateFront.
//
// The log is stored by github.com/tidwall/wal (binary format) in a
// directory of its own. tidwall frames each entry as uvarint(len) ‖ payload
// with no checksum, cannot repair a torn tail, and never fsyncs its
// directory; this package puts a checksummed frame in every payload and
// supplies the rest.
//
// # Record format
//
// Each tidwall entry holds exactly one frame. Integers are little-endian.
// Append writes version 2:
//
//	offset    size     field
//	0         4        magic "MVTB"
//	4         1        format version (2)
//	5         8        Seq: the tidwall index of the entry (1, 2, 3, ...)
//	13        8        Synced: highest Seq known durable when this was written
//	21        8        Gen: the caller's generation when this was written (SetGen)
//	29        4        count n of IDs (n >= 1)
//	33        8*n      the IDs, in the order Delete received them
//	33+8n     8        xxhash64 of bytes [0, 33+8n)
//
// A version 2 frame is exactly 41+8n bytes. Version 1, written before Gen
// existed, is still read (Gen reads as 0); it lacks the Gen field:
//
//	offset    size     field
//	0         4        magic "MVTB"
//	4         1        format version (1)
//	5         8        Seq
//	13        8        Synced
//	21        4        count n of IDs (n >= 1)
//	25        8*n      the IDs
//	25+8n     8        xxhash64 of bytes [0, 25+8n)
//
// A version 1 frame is exactly 33+8n bytes. Every version shares the
// envelope: magic, version byte, and last the xxhash64 of everything before
// it. DecodeRecord checks the magic and the checksum before it reads the
// version, so a frame of an unknown version whose checksum holds is
// errs.ErrVersion (never cut off as a torn tail), while anything else that
// does not decode, a frame of the wrong length for its count, or Synced >=
// Seq, is errs.ErrCorrupt. A log written by older code and continued by
// this one holds version 1 frames followed by version 2 frames; readers
// accept any mix, and the version of a frame never changes its Seq and
// Synced rules.
//
// # Invariants
//
//   - Seq equals the tidwall index, so Seqs are dense and increase by one
//     per Append, including across TruncateFront (even of every record) and
//     reopen. Append assigns them; Replay, Verify and Open check them.
//   - Each segment file is named after the Seq of its first entry (20
//     digits) and holds exactly the entries up to the next file's first
//     Seq: no fewer (a file cut short, or a missing file between two
//     others) and no more. Open checks this for every file but the last
//     before tidwall reads any (checkChain), and Replay and Verify check it
//     again; a violation is errs.ErrCorrupt naming the file, the Seq and
//     the byte offset. tidwall trusts it blindly: its Read panics on a file
//     cut at an entry boundary. The package reads records with its own
//     parser and never calls tidwall's Read, and every call into tidwall is
//     guarded so that a panic in it becomes errs.ErrCorrupt.
//   - Synced is Seq-1 in sync mode: tidwall fsyncs every Write (Append).
//     With Options.NoSync it is the highest Seq made durable by Sync, by
//     Open, or by tidwall's fsync of a full segment before it starts the
//     next one (Append, noteCycle). It never decreases (Verify).
//   - Gen is whatever the last SetGen set (0 before any), so it never
//     decreases as long as the caller's generation does not.
//   - Every directory entry a record depends on is fsynced before the
//     record is reported durable: the log directory and its parent when
//     Open creates them (makeDir), the first segment (Open), each segment
//     tidwall creates when it cycles (noteCycle, in Append), and the renames
//     and removes of a truncation (TruncateFront, prepare).
//   - After Open the last segment file holds only good records (prepare,
//     repairTail, checkTail). Any other segment was fsynced in full before
//     its successor was created, so a bad record there is never a torn write
//     and is reported as errs.ErrCorrupt by Replay and Verify.
//   - After a failed write, fsync or truncation the Log refuses all work
//     (Log.fail): neither tidwall's in-memory tail nor the page cache can be
//     trusted until the log is reopened and its tail checked again.
//   - Close releases every descriptor, even when the final fsync fails
//     (tidwall's own Close then returns without closing its file; see
//     closeTidwall), and returns the failure.
//
// # Contract with the caller
//
// Some damage only the caller can see, because only it knows what the log
// must hold (its manifest records a checkpoint C, the first Seq not yet
// folded elsewhere, and a durable Seq D):
//
//   - A missing first segment file leaves files that still chain, so Open
//     succeeds and FirstSeq reports the first Seq actually present.
//     Whenever records at or past C remain (LastSeq() >= C), FirstSeq()
//     must be non-zero and at most C; otherwise records C..FirstSeq()-1
//     are lost, and the caller must treat the log as corrupt.
//   - LastSeq() must be at least D (a missing last file, or a cut the
//     caller's Options.Durable did not cover).
//   - A record whose Gen is greater than the caller's current generation
//     was written under a later generation: the caller's own state (its
//     manifest) was rolled back.
//
// # Torn tail rule
//
// Open walks the last segment file in order. The first entry whose framing
// is cut short, whose frame fails to decode, or whose Seq is not its index
// ends the good prefix; call its Seq b. Everything from there to the end of
// the file is a torn tail and is cut off (ftruncate, fsync) unless some
// valid frame in it, found by searching for the magic whether or not
// tidwall's framing still lines up, has Synced >= b. Such a frame proves
// that b had been made durable before it was written, so the damage is
// corruption: Open fails with errs.ErrCorrupt naming the file, b and its
// offset. So it does when the caller knows b was durable (b <=
// Options.Durable), and then leaves the file as it is.
//
// This cuts what power loss can leave behind: a partial last entry (which
// makes tidwall.Open itself fail), a zero-filled tail (each 0x00 byte reads
// as an empty entry), and, with NoSync, any unsynced records, even valid
// ones after a damaged one, since none of them was promised durable. In sync
// mode every record's Synced is Seq-1, so only the last record can be torn
// and damage anywhere before it is reported.
//
// The search after the first bad entry finds frames of versions 1 and 2 by
// their header (the count gives the length); a frame of an unknown version
// is found by a tidwall length prefix that ends just before its magic, and
// stops Open with errs.ErrVersion.
//
// # Read-only open
//
// With Options.ReadOnly, Open writes nothing at all: it does not create
// the directory (a missing one is an error wrapping os.ErrNotExist), does
// not let tidwall open the last file for writing, and neither cuts a torn
// tail nor finishes an interrupted truncation nor removes temp files. It
// reads the files with the package's own parser and applies in memory
// exactly what a writable Open would do on disk: the files tidwall's load
// would leave after a pending .START or .END file, the same chain checks,
// and the same torn tail rule, so records past the good prefix are ignored
// and damage that is corruption is reported the same way. Append, Sync and
// TruncateFront return errors wrapping errs.ErrReadOnly. A read-only Log
// holds no descriptor between calls.
//
// # Outside the file-system seam
//
// The rest of the store does its file operations through an
// internal/vfs.FS, so that tests can fail them or cut the power. This
// package cannot: tidwall opens, writes, fsyncs, renames and removes the log
// files itself. So the package does all of its I/O directly (the os package
// and vfs.OS for directory syncs), and its failures and crashes are tested
// with real files (kill -9, torn tails written by the tests, a pipe dup'ed
// over tidwall's descriptor to fail its fsync, a read-only bind mount).
// To release tidwall's file after its Close failed, the package reaches its
// unexported field through reflect and unsafe (tidwallFile); a test pins
// that field for tidwall/wal v1.2.1.
//
// # Concurrency
//
// One goroutine at a time may write (Append, SetGen, Sync, TruncateFront,
// Close); the caller serialises them, and Replay must not run alongside
// TruncateFront. Size, FirstSeq and LastSeq are safe from any goroutine;
// Size never waits for an fsync.
package wal
