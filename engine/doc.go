// Package engine ties segments, the tombstone WAL and the manifest into a
// store: it owns the write path (Add, Delete, Sync), the read path (Get,
// Search, SearchIn, SearchBatch, Range, Verify, Stats, SegmentDetails) and
// the life cycle of segment mappings.
//
// # Snapshots
//
// Readers never take a lock that a writer holds across I/O. The engine's
// state is an immutable *version: the list of segments with the number of
// rows each shows, its tombstone bitset and the ID index. A writer (one at a
// time, under writeMu) does its I/O, builds the next version from the
// current one (copying only what changed: a bitset, the row count of the
// active segment) and publishes it with one atomic store. A reader acquires
// the current version, reads, and releases it.
//
// A Delete or an Add into the active segment costs the same with 10 or
// 15,000 segments: the list is a persistent tree (segList: one path is
// copied), the ID index is appended to, not rebuilt (an Add's IDs lie
// above every ID held), and the new version shares its predecessor's
// segSet. Writes that change the set of segments or seal one (a new
// segment, a compaction) rebuild all three, as they rewrite the manifest,
// which lists every segment, anyway.
//
// # Edits
//
// Every write that replaces the manifest (new segments, a seal, a
// compaction's commit, a tombstone checkpoint, an ID reservation, released
// ID maps, a clean close) says what it changes as one edit value, and
// apply alone turns the current manifest and version into the next ones
// (edit.go). A segment's sealed state is the segment's own record
// (segment.Segment.SealInfo); the manifest entry and the version derive
// theirs from it. Verify checks that the version lists exactly what the
// manifest names.
//
// # Keyed records
//
// Put stores rows under the application's keys (keys.go). A key's live row
// is found newest segment first through each segment's key index (the
// active segment's in memory, a sealed one's on disk: a bloom filter, then
// a sorted table); within a segment only the last row holding a key can be
// live. A store-wide filter of the sealed segments' key hashes
// (keyfilter.go: in memory, derived, built by the first Put or DeleteKeys
// rather than at Open, extended when segments are sealed or written by a
// compaction, rebuilt when it fills) spares a key it rejects the sealed
// segments it covers, so a batch of new keys costs one probe a key rather
// than one per sealed segment; a segment it does not cover (the active
// one, one whose key index is lost) is always asked. A Put names the IDs of the rows its keys held in its own batch
// record (supersedes), so the replacement costs the batch's one fsync:
// recovery re-applies the supersedes of the active segment's batches, and
// the engine keeps them in pending until a tombstone checkpoint covers
// them or, before a manifest seals that segment, the WAL takes them
// (flushPendingLocked), synced after the segment. The version that shows a
// Put's rows already shows its supersedes deleted, so no snapshot holds a
// key live twice.
//
// # Search through int8 codes
//
// A search reads each row's int8 code (segment format 4) before its
// float32 bytes (prefilter.go): a certified interval per row (package
// quant), the float32 kernel only for rows whose interval reaches the
// k-th best lower bound, a final top k of exact scores only, and a
// float32 scan of any chunk that leaves too many candidates. Segments
// without codes (written before format 4, or dimensions above
// quant.MaxDim) and Exhaustive searches take the float32 scan (scan.go).
// Writers compute codes before taking writeMu (codes.go). Upgrade
// rewrites segments of older formats into the current one without moving
// any ID (upgrade.go).
//
// # Shared scans
//
// Search calls that overlap in time share cyclic scans (shared.go): a call
// joins the running scan of the current version at its next chunk, is
// scanned over every chunk once (wrapping around), and leaves; a scan
// carries at most maxGroup calls. While Searches run, compactions work at
// most a third of the time (pace.go, through compactor.Job.Pace).
//
// # Checks before bytes are served
//
// Open reads headers, the active tail and the WAL; bytes of a segment are
// checked when they are first read (segRef in version.go). Segments this
// process wrote are trusted. A sealed segment of format 5 is checked as it
// is read: Get, GetRecord, SearchIn, SearchInKeys and the rescoring of a
// prefiltered search check each row they read (segRef.checkRows), a float32
// scan (Exhaustive, a segment without codes, a chunk that falls back) the
// rows of each chunk it scans, the code pass each code block it reads
// (checkCodes), and the keys and payloads attached to a hit or a record
// the segment's blob area, whole (checkBlobs): each row and block once per
// process (segment.Segment.CheckRows). Any other segment opened from disk
// (the active one, sealed ones of formats 1 to 4) is checked in full
// before its first row is served (verify). Compaction, Upgrade and export
// (Range) call verify, a full pass, before they copy a segment; Verify
// reads everything.
//
// # Invariants
//
//   - No byte of a segment opened from disk is served before the check
//     that covers it passed (above); a failed check returns ErrCorrupt
//     naming the file and offset.
//   - A version holds one reference on its segSet, and a segSet one on
//     each segment it lists; a segment's file is unmapped only when the
//     last version listing it is released, so no reader ever touches an
//     unmapped page.
//   - A published version only shows rows whose batch record is written and,
//     unless NoSync, synced; and tombstones whose WAL record is written and,
//     unless NoSync, synced.
//   - No key is live in two rows of any version, and after a crash each
//     key of a batch holds its old record or its new one.
//   - IDs come from one counter (nextID) that only grows; a batch's IDs are
//     consecutive. The manifest's NextID plus the runs of the segments it
//     lists bound every ID ever acknowledged, so a reopened store never
//     hands out an acknowledged ID again.
//   - A batch lands either in the free space of the active segment (one
//     checksummed batch record makes it visible, atomically) or in fresh
//     segment files that become part of the store through a single manifest
//     replacement; it is never split across an existing segment and a new
//     one, so a crash leaves a batch wholly present or wholly absent.
//   - After a failed write or sync the engine refuses every later write
//     with the same error (reads go on): the state on disk is unknown, and
//     a failed fsync must never be retried as if it had succeeded. The
//     exceptions are failures confined to files nothing names yet (the
//     fresh segments of an Add, a compaction's output and commit files):
//     those files are removed and the store stays writable, so a full
//     disk (ENOSPC) during a compaction only abandons it.
//   - A search through the codes returns exactly what the float32 scan of
//     the same snapshot returns: IDs, score bits, order and MinScore cut.
//   - A Search served by a shared scan returns exactly what it would alone
//     on the scan's version, which is never older than the version current
//     at its call; Close returns only after the scans' workers have exited.
//   - Every file operation on the store directory goes through Config.FS
//     (package internal/vfs), the WAL's excepted.
package engine
