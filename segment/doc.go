// Package segment owns one segment file: a fixed-capacity, preallocated file
// of vectors that is appended to and read through a read-only memory map.
//
// # File format
//
// All integers are little-endian. A segment of capacity C rows and dimension
// D is laid out as
//
//	offset                     size          contents
//	0                          4096          header (below), zero padded
//	4096                       C*D*4         vectors, row-major float32
//	4096+C*D*4                 C*4           inverse L2 norm of each row, float32
//	align8(4096+C*D*4+C*4)     C*48          batch commit records, one per Append
//	                                         (file size rounded up to 4096)
//
// Header:
//
//	0   8  magic "memvecSG"
//	8   4  format version (2)
//	12  4  dimension D
//	16  8  capacity C (rows)
//	24  8  segment number (the file's name)
//	32  8  salt: random per file, mixed into every record checksum; the
//	       manifest records it, so a file put in another's place is refused
//	40  8  generation: the manifest generation in force at Create; only a
//	       later manifest can name the file (see Header.Gen)
//	48  8  xxhash64 of bytes 0..48
//	64 24  named record, written after the first manifest naming the file
//	       was committed (see named.go): evidence against a rolled-back
//	       manifest, never data
//
// Version 1 (before issue 10) had no generation: its checksum, of bytes
// 0..40, is at offset 40. It is read with generation 0. Everything past
// the header is the same in both versions, and a file keeps the version
// it was created with.
//
// Batch commit record i (one per Append call, written after its rows):
//
//	0   4  magic "MVBT"
//	4   4  rows in the batch (n >= 1)
//	8   8  first row of the batch (== first row + rows of record i-1)
//	16  8  first ID of the batch (the batch's IDs are consecutive)
//	24  8  rows known durable when the batch was written ("synced")
//	32  8  batch index i
//	40  8  xxhash64(salt, bytes 0..40, the batch's vector bytes, its norm bytes)
//
// # Invariants
//
//   - A row is visible (counted by Rows) only once its batch record is
//     written; readers never touch bytes at or past Rows, so a concurrent
//     Append never changes bytes a reader sees.
//   - Nothing is ever written through the mapping: all writes are pwrite on
//     the file descriptor, so a full disk is an error, not a SIGBUS. The file
//     is preallocated at Create and never truncated while mapped, so no
//     mapped page lies past end of file.
//   - On open of the active segment, records are checked in order. The first
//     record that fails to check ends the segment (a torn tail from a crash)
//     unless a later valid record says that the failed batch had already been
//     made durable, in which case the segment is corrupt (ErrCorrupt). Records
//     past the cut are zeroed so that a stale record can never validate again.
//   - A sealed segment is never written again; its row count, ID runs and a
//     checksum of its rows live in the manifest, so opening it reads only the
//     header.
//   - Every file operation (open, pwrite, fdatasync, fallocate, mmap,
//     remove) goes through the vfs.FS given to Create or Open, so tests can
//     fail each one or cut the power between any two. A failed write or
//     sync poisons the segment (Append, Sync and Seal return that error
//     from then on), and a failed fdatasync is never retried.
package segment
