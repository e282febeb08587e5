// Package segment owns one segment file: a fixed-capacity file of vectors,
// sparse until its rows fill it, that is appended to and read through a
// read-only memory map,
// with (format version 3 on) a key, a payload and superseded IDs per batch
// in a blob area after it, indexed by key (see keys.go and tables.go), and
// (format version 4) an int8 code and its meta per row for the certified
// prefilter of package quant (see codes.go), and (format version 5) a sum
// table, a checksum per row and per code block, so that a read of a
// sealed segment checks what it reads and nothing else (see sums.go).
//
// # File format
//
// All integers are little-endian. A segment of capacity C rows and dimension
// D is laid out as
//
//	offset                       size   contents
//	0                            4096   header (below), zero padded
//	4096                         C*D*4  vectors, row-major float32
//	4096+C*D*4                   C*4    inverse L2 norm of each row, float32
//	K = align64(4096+C*D*4+C*4)  C*CS   codes (version 4): CS = D int8 per
//	                                    row, row-major; CS = 0 (no codes)
//	                                    when D > quant.MaxDim
//	M = align64(K+C*CS)          C*MS   metas (version 4): MS =
//	                                    quant.MetaSize bytes per row
//	                                    (quant.Meta.Put); MS = 0 when CS = 0
//	align8(M+C*MS)               C*R    batch commit records, one per batch,
//	                                    R = 64 bytes (versions 3 and 4; 48
//	                                    before)
//	F = the above rounded up to 4096    end of the fixed part: the file's
//	                                    size from Create on (sparse, see
//	                                    Disk footprint), mapped read-only
//	F                            grows  blob area (version 3 on): one blob
//	                                    per batch that has one, back to back
//	align8(blob end)             sealed key tables (version 3 on, below),
//	                             only
//	align8(key tables end)       sealed sum table (version 5, below),
//	                             only
//
// Before version 4 there are no code and meta areas: the records start at
// align8(4096+C*D*4+C*4).
//
// Header:
//
//	0   8  magic "memvecSG"
//	8   4  format version (5)
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
//	128 96 seal trailer (version 3 on; 112 bytes in version 5), written
//	       by Seal (below)
//	256 8P version 5, sealed: the checksums of the P parts of the sum
//	       table (below), written by Seal with the trailer
//
// # Versions
//
// A file keeps the version it was created with: it is opened, appended to
// and sealed in its own layout. Create writes the current version.
//
//   - Version 1 (before issue 10) had no generation: its header checksum,
//     of bytes 0..40, is at offset 40. It is read with generation 0.
//   - Version 2 added the generation and the named record. Versions 1 and
//     2 have 48-byte batch records and nothing past the fixed part: they
//     hold no keys, payloads or superseded IDs (AppendRecords refuses
//     them; the engine seals such a segment before a keyed batch).
//   - Version 3 (issue 12) has 64-byte records that place a blob of keys,
//     payloads and superseded IDs in the blob area after the fixed part,
//     and, once sealed, key tables after the blobs and a seal trailer in
//     the header page. The header is that of version 2.
//   - Version 4 (issue 13) adds the code and meta areas to the fixed part
//     (a row costs CS+MS more bytes: about a fifth fewer rows per file at
//     D = 512). Its records, blobs, tables, trailer and header are those
//     of version 3; its record checksums and its sealed checksum also
//     cover the codes and metas. Files of versions 1 to 3 have no codes
//     (HasCodes false) and are searched in float32; compactor.Rewrite
//     copies one into a version 4 file with the same rows and IDs.
//   - Version 5 (issue 14) adds the sum table to a sealed segment, after
//     its key tables, and the sum table's place to the seal trailer
//     (which grows from 96 to 112 bytes). The manifest's checksum of a
//     sealed version 5 segment is that of its sum table (below), not of
//     its bytes. The fixed part, the records, the blobs and the header
//     are those of version 4, and an active segment is checked batch by
//     batch as before. A sealed segment of versions 1 to 4 is checked in
//     full before its first row is served (VerifyData); Upgrade and
//     compaction rewrite it as version 5.
//
// A batch's codes and metas are written by the batch itself, with its
// rows (pwrite, before its record; the same fdatasync), either as the
// caller gives them (a compaction copies them bit for bit) or encoded by
// the segment with quant.Encode. Nothing reads a code that a checksum has
// not covered: the same checks as the vectors' (below) guard them.
//
// Batch commit record i, versions 3 and 4 (one per batch, written after
// its rows, norms, codes, metas and blob):
//
//	0   4  magic "MVBT"
//	4   4  rows in the batch (n >= 1)
//	8   8  first row of the batch (== first row + rows of record i-1)
//	16  8  first ID of the batch (the batch's IDs are consecutive)
//	24  8  rows known durable when the batch was written ("synced")
//	32  8  batch index i
//	40  8  blob offset, from the start of the file (== F for the first
//	       batch, == blob offset + blob length of record i-1 after it)
//	48  8  blob length (0: no keys, no payloads, no superseded IDs)
//	56  8  xxhash64(salt, bytes 0..56, the batch's vector bytes, its norm
//	       bytes, its code bytes and its meta bytes (version 4; none
//	       before), its blob bytes)
//
// Batch commit record i, versions 1 and 2: bytes 0..40 as above, then
//
//	40  8  xxhash64(salt, bytes 0..40, the batch's vector bytes, its norm bytes)
//
// Blob of a batch of n rows (version 3 on), only when it has keys or
// superseded IDs:
//
//	0   1  flags: bit 0 set when the rows carry keys; the others zero
//	1   4  count s of superseded IDs
//	5   8s superseded IDs: the batch replaces them (the engine deletes them;
//	       recovery deletes them again from the active segment's batches)
//	then, with keys, for each row: key length u16 (0..1024), payload
//	length u32 (0..65536); then each row's key bytes followed by its
//	payload bytes, row by row, filling the blob exactly. A key length
//	of 0 is a row without a key, and then without a payload: a
//	compaction copies rows added with and without keys into one batch
//
// Seal trailer (version 3 on, header page offset 128), written by Seal
// with the tables it describes and synced with the rows:
//
//	0   4  magic "MVSL"
//	4   4  bloom probes per key k (0 without keys)
//	8   8  rows sealed
//	16  8  blob end (the end of the last blob)
//	24  8  row directory offset (align8(blob end)) and, 32, its length
//	40  8  key table offset (after the row directory) and, 48, its length
//	56  8  bloom filter offset (after the key table) and, 64, its length
//	72  8  xxhash64 of the three tables, from the row directory to the end
//	80  8  xxhash64 of the blob area [F, blob end)
//	88  8  xxhash64(salt, bytes 0..88)
//
// Seal trailer, version 5: bytes 0..88 as above, then
//
//	88  8  sum table offset (align8(bloom filter offset + its length))
//	96  8  sum table length: 8 * (rows + code blocks)
//	104 8  xxhash64(salt, bytes 0..104)
//
// Key tables, all empty when no row has a key:
//
//	row directory  16 bytes per row: offset of the row's key in the file
//	               u64, payload length u32, key length u16 (0: no key),
//	               zero u16; the payload follows the key
//	key table      12 bytes per distinct key, sorted by hash then row:
//	               xxhash64(key) u64, row u32 (the last row holding it)
//	bloom filter   about 10 bits per key, a multiple of 64 bits; probes
//	               h, h+d, ..., h+(k-1)d mod bits, d = rotl(h, 31)|1
//
// Sum table (version 5), of a segment sealed with n rows, written by Seal
// after the key tables (present also when those are empty):
//
//	row sums    8 bytes per row r < n: xxhash64 of row r's vector bytes
//	            then its norm bytes (what Get, SearchIn and rescoring
//	            read of it)
//	block sums  8 bytes per code block b < ceil(n/SumBlockRows), only
//	            with codes: xxhash64 of the code bytes, then the meta
//	            bytes, then the norm bytes of rows [b*SumBlockRows,
//	            min((b+1)*SumBlockRows, n)) (what the code pass reads of
//	            them: it scales each row's bounds by its norm);
//	            SumBlockRows = 1024, the code pass's rows per kernel call
//
// The table is cut into P parts of sumPart bytes each (4096, or the
// least multiple of 4096 that keeps P <= 480; the last part may be
// short), and the header page lists the xxhash64 of each part from
// offset 256, 8 bytes each (sumparts.go). The manifest's checksum of the
// segment (Seal.Checksum, DataSum) is xxhash64(n as 8 bytes, that list):
// the manifest authenticates the list, the list each part of the table,
// the table each row and code block. Open keeps the list (read with the
// header page; 8 bytes per 512 rows), so the first read of a row of a
// cold segment reads one page of its table, not the whole table.
//
// The tables and the trailer are derived data: the trailer is read only
// when the manifest says the segment is sealed, and a bad trailer or table
// (or a failed write of them at Seal) makes the segment rebuild its key
// index in memory from the blobs on first use, never lose a key; Verify
// reports the damage as ErrCorrupt. The manifest's Seal (rows, checksum
// of the rows, ID runs) is unchanged by version 3; in version 4 its
// checksum (DataSum) covers the vector, norm, code and meta bytes of the
// rows, in that order; in version 5 it is the sum table's (above). The sum
// table is derived data too: written with the key tables (a failed write
// leaves the seal without it), and when it is missing, damaged, or does
// not hash to the manifest's checksum, the segment recomputes it from its
// rows on first use (one pass, the cost of a whole-segment check); if the
// recomputed table hashes to the checksum the rows are good and are
// served, and Verify reports the damaged table (ErrTables, ErrCorrupt);
// if not, every read of the segment fails with ErrCorrupt.
//
// # What is checked when
//
//   - Active segment: every batch record, with its rows, norms, codes,
//     metas and blob, at OpenActive from the durable mark on, and (the
//     engine) the whole segment (VerifyData) before its first row is
//     served.
//   - Sealed segment, versions 1 to 4: all of its rows, codes and blobs
//     against the manifest's checksum and the trailer's (VerifyData),
//     once, before its first row is served.
//   - Sealed segment, version 5: on first use, the list of part
//     checksums Open read from the header page against the manifest's
//     checksum (when it does not match: the whole table, read through a
//     mapping, against it; then the table recomputed from the rows).
//     Then CheckRows checks the rows a read reads, each once per process
//     (a bitmap), against their sums, after checking the part of the
//     table that holds their sums against the list, once (a bitmap; the
//     table is read through a mapping, never copied to the heap; a part
//     that does not match makes the segment recompute the table from its
//     rows, as above); CheckCodes the code blocks the code pass reads,
//     each once, likewise; VerifyBlobs the blob area,
//     whole, once, before a key or payload is read. A failed check names
//     the file and the offset of the row's vector or the block's first
//     code and wraps ErrCorrupt; the bytes are never served, and the next
//     read of the row or block checks it again. A segment whose rows
//     match neither its table nor, recomputed, the manifest's checksum
//     fails every read.
//   - Verify checks every byte: rows (for version 5 the sum table
//     recomputed against the manifest, naming the first bad row or block
//     when the table on disk is intact), blobs, key tables, the trailer,
//     the sum table on disk and the list of its parts' checksums.
//
// # Disk footprint
//
// Create sets the file's size to F with a truncate, which allocates no
// block, and syncs it with the header: the mapping covers [0, F) and
// never reaches past the end of the file, and the parts no row has
// reached are holes, which read as zeros (an empty record ends the
// batches, as it always has). The five areas that grow with the rows
// (vectors, norms, codes, metas: by row; records: by batch) are far apart,
// so each is allocated on its own (File.Preallocate: fallocate with
// KEEP_SIZE, which changes neither the size nor a byte) from its start,
// in steps: when a batch needs more of an area than is allocated, the
// area grows to the largest of what the batch needs, twice what it has,
// and the rows of allocStep (64 KiB) of vectors, up to capacity. A segment
// of the default 64 MiB at D = 512 takes about 100 KiB of disk for its
// first rows, and doubles its way to full in about ten steps per area.
// The blob area past F grows by pwrite, as before.
//
// Crash safety is unchanged:
//
//   - A batch's steps are allocated before any byte of it is written (and
//     before the key index takes its keys). A refused allocation (ENOSPC)
//     fails the batch with nothing written: the segment is not poisoned
//     (Err is nil) and takes the next batch. A batch that fits in what is
//     allocated cannot fail for lack of space (on a file system that does
//     not copy on write), as with the preallocated files before.
//   - The allocation is not synced by itself: the batch's fdatasync makes
//     its blocks durable with its bytes (the metadata needed to read the
//     data back), which is what a durable batch needs. A crash before it
//     may lose the allocation, but only with rows that were not durable
//     either: their range reads as zeros, a torn tail. Without a sync
//     (NoSync) nothing is promised, as before.
//   - Nothing on disk records the allocation: Open takes as allocated
//     only what the rows and records hold, and the next batch allocates
//     again from there (allocating allocated blocks costs nothing). So
//     the format is unchanged by it (version 4, and older files, fully
//     allocated, open as before), and a file whose unused part has no
//     blocks at all, or has them, opens the same.
//   - Open of the active segment looks for stale records past the last
//     good one only where the record area holds data (File.NextData,
//     SEEK_DATA), and zeroes them run by run: a huge sparse segment opens
//     at the cost of the records written, not of its capacity.
//   - A file shorter than F is still refused (ErrCorrupt): the size is
//     synced at Create before any manifest can name the file, so no crash
//     leaves one.
//   - On a file system without fallocate nothing is allocated ahead: the
//     writes allocate, and a full disk fails one of them, which poisons
//     the segment (the store reopens with every acknowledged row).
//
// # Page cache
//
// Everything is read through the mapping, so what stays in RAM is the
// kernel's page cache. A search reads every row's inverse norm, code and
// meta (the code pass) and the float32 vectors of a few rows (the
// rescoring), so on a store larger than RAM the norms, codes and metas
// must stay cached and the vectors must cost what is read of them. The
// segment tells the kernel so (advise.go; advice only: nothing is
// written, and advice the kernel refuses changes no result):
//
//   - The header page and the vector area of a sealed segment are
//     MADV_RANDOM (at Open and at Seal): a fault on a row reads its own
//     pages, where the kernel's read-around would read the rows around it
//     too (read_ahead_kb: 128 KiB by default, 2.5 to 8 MiB on some
//     virtual disks), filling the page cache with rows nobody asked for.
//     The norms, codes and metas keep the default read-around, for the
//     code pass; PrefetchVectors asks for a row's norm with the row, so
//     that a fault on the norm finds its page read. The mapping through
//     which the sum table is read (sums.go) is MADV_RANDOM as a whole,
//     and the table's pages are asked for when it is read whole.
//   - AdviseCodes (MADV_WILLNEED on the norms, codes and metas, in steps
//     of 2 MiB as the kernel caps one call) starts reading them without
//     waiting; the engine calls it once per sealed segment at the first
//     search, on four goroutines: the submission blocks about 2 ms per cold
//     16 MiB, too long for Open of hundreds of segments.
//   - PrefetchVectors (MADV_WILLNEED on a row range) lets a reader ask
//     for rows before it touches them: the engine asks for every row it
//     is about to rescore, so the reads are in flight together, and for
//     each chunk of a float32 scan, the read-ahead the random advice
//     turns off, and for the rows of a SearchIn when VectorCached (one
//     mincore) finds a sample of them out of the page cache.
//   - StreamVectors hands a sequential reader (DataSum, hence Verify;
//     compactions; Range, hence export) the rows in runs of 8 MiB,
//     asking for the next run while the reader works on this one, and
//     drops behind it the pages it found out of the page cache (mincore)
//     when it reached them: MADV_DONTNEED on the mapping (which only
//     unmaps them from this process: the mapping is of the file, read
//     only, so no byte can be lost) then FADV_DONTNEED on the file (which
//     drops clean pages no process maps), through vfs.File.Fadvise. A
//     pass over rows already cached (a store that fits in RAM) drops
//     nothing; a pass over a store larger than RAM leaves the codes
//     where they were. The kernel drops whole folios only (up to 2 MiB,
//     aligned), so a run's drop stops at a 2 MiB boundary and the rest
//     waits for the next run's; a folio astride the edge of the rows
//     stays. Verify reads a sealed segment's rows twice (the sealed
//     checksum, then the batch records): it notes which pages are cold
//     first, keeps them through both passes, and drops them after, so
//     each is read from disk once.
//   - DropVectors drops the vector pages of rows just written and synced
//     that no one will read soon (a compaction's output, when its
//     sources were out of the page cache).
//   - LockCodes (Options.LockCodes) locks the norms, codes and metas in
//     RAM with mlock2(MLOCK_ONFAULT): the call reads nothing, and each
//     page is locked when first read. Unmapping (Close) unlocks.
//
// Norms, codes and metas are never dropped: only vector pages, and only
// whole pages inside the rows given.
//
// # Invariants
//
//   - A row is visible (counted by Rows) only once its batch record is
//     written; readers never touch bytes at or past Rows, so a concurrent
//     Append never changes bytes a reader sees. The active key index may
//     take a large batch's keys while the batch is being written (on a
//     goroutine beside the writes); every lookup is bounded by a row count
//     read from Rows, so none finds them before the rows are visible.
//   - Nothing is ever written through the mapping: all writes are pwrite on
//     the file descriptor, so a full disk is an error, not a SIGBUS. The
//     file's size covers the fixed part from Create on and is never cut
//     below it while mapped, so no mapped page lies past end of file; its
//     blocks are allocated in steps before rows land in them (see Disk
//     footprint).
//   - On open of the active segment, records are checked in order. The first
//     record that fails to check ends the segment (a torn tail from a crash)
//     unless a later valid record says that the failed batch had already been
//     made durable, in which case the segment is corrupt (ErrCorrupt). Records
//     past the cut are zeroed so that a stale record can never validate again.
//   - The mapping covers only the fixed part. Blobs are written past the
//     end of the file and read with pread, so the blob area can be cut
//     back under the mapping; a sealed segment's tables are read through
//     a second mapping of the whole file, made on first lookup.
//   - Version 4: a record's checksum covers its codes and metas, so a torn
//     or flipped code or meta fails its record like torn rows do (a torn
//     tail past the durable mark; corruption below it, found by Verify,
//     VerifyData and Seal), and a sealed segment's codes and metas are
//     checked against the manifest's checksum with its rows.
//   - Version 3: a record's checksum covers its blob, so a torn blob fails
//     its record like torn rows do. On open of the active segment the file
//     is truncated back to the end of the last valid blob (never below the
//     fixed part), dropping torn blobs and the tables of a seal that no
//     manifest recorded. The blob offset of each record must be the end of
//     the previous record's blob: a mismatch makes the record bad.
//   - A sealed segment is never written again; its row count, ID runs and a
//     checksum of its rows (version 5: of its sum table) live in the
//     manifest, so opening it reads only the header page (with the seal
//     trailer): no key is read until a lookup, no sum until a read.
//   - Every file operation (open, pwrite, fdatasync, fallocate, mmap,
//     remove) goes through the vfs.FS given to Create or Open, so tests can
//     fail each one or cut the power between any two. A failed write or
//     sync poisons the segment (Append, Sync and Seal return that error
//     from then on, and Err reports it), and a failed fdatasync is never
//     retried; a failed fallocate fails only its batch (above). The one
//     exception is the write of the key tables, sum table and seal trailer
//     at Seal: they are derived and checksummed, so the seal goes on
//     without them.
package segment
