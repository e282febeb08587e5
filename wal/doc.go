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
//
//	offset    size     field
//	0         4        magic "MVTB"
//	4         1        format version (1)
//	5         8        Seq: the tidwall index of the entry (1, 2, 3, ...)
//	13        8        Synced: highest Seq known durable when this was written
//	21        4        count n of IDs (n >= 1)
//	25        8*n      the IDs, in the order Delete received them
//	25+8n     8        xxhash64 of bytes [0, 25+8n)
//
// A frame is exactly 33+8n bytes, and Synced < Seq. Anything else, or a
// checksum mismatch, is errs.ErrCorrupt (DecodeRecord). A frame whose
// checksum holds but whose version is unknown is errs.ErrVersion and is
// never cut off as a torn tail.
//
// # Invariants
//
//   - Seq equals the tidwall index, so Seqs are dense and increase by one
//     per Append, including across TruncateFront (even of every record) and
//     reopen. Append assigns them; Replay, Verify and Open check them.
//   - Synced is Seq-1 in sync mode: tidwall fsyncs every Write (Append).
//     With Options.NoSync it is the highest Seq made durable by Sync, by
//     Open, or by tidwall's fsync of a full segment before it starts the
//     next one (Append, noteCycle). It never decreases (Verify).
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
// corruption: Open fails with errs.ErrCorrupt naming the file and b.
//
// This cuts what power loss can leave behind: a partial last entry (which
// makes tidwall.Open itself fail), a zero-filled tail (each 0x00 byte reads
// as an empty entry), and, with NoSync, any unsynced records, even valid
// ones after a damaged one, since none of them was promised durable. In sync
// mode every record's Synced is Seq-1, so only the last record can be torn
// and damage anywhere before it is reported.
//
// # Outside the file-system seam
//
// The rest of the store does its file operations through an
// internal/vfs.FS, so that tests can fail them or cut the power. This
// package cannot: tidwall opens, writes, fsyncs, renames and removes the log
// files itself. So the package does all of its I/O directly (the os package
// and vfs.OS for directory syncs), and its failures and crashes are tested
// with real files (kill -9, torn tails written by the tests).
//
// # Concurrency
//
// One goroutine at a time may write (Append, Sync, TruncateFront, Close);
// the caller serialises them. Size, FirstSeq and LastSeq are safe from any
// goroutine; Size never waits for an fsync.
package wal
