// Package compactor gives back the space of deleted vectors. It owns the
// policy (which segments to rewrite), the copy (live rows into new segment
// files under fresh IDs, building the old-to-new ID map), the background
// goroutine that runs it, and Rewrite, which gives one sealed segment the
// current format without moving any ID. It works beside the engine
// through the narrow Store interface: the engine plans a job (snapshot,
// reserved IDs), the compactor copies without holding any lock, and the
// engine commits the result in one manifest replacement. The copy calls
// the job's Pace hook after each chunk, through which the engine slows it
// while searches run.
//
// # Invariants
//
//   - Live rows are copied in ascending old-ID order and get consecutive
//     fresh IDs from a block the engine reserved, so the map is a short list
//     of runs sorted by old ID, and every new ID is above every old one.
//   - Vector bytes and their stored inverse norms are copied bit for bit;
//     nothing is recomputed. So are the int8 codes and metas of a source
//     of segment format 4 on; the rows of a source of an older format, which
//     has none, get theirs from quant.Encode (deterministic: the codes the
//     engine would have written).
//   - Rewrite (rewrite.go) is the other way to give old rows codes: it
//     copies one sealed segment into a new file of the current format
//     under the same IDs and row numbers, for the engine to swap in
//     ("memvec upgrade"); no ID moves and no ID map is written.
//   - Sources are checked in full (Source.Verify) before a byte of them
//     is copied. Output segments are sealed (fsynced, checksummed; format
//     5: with their sum tables) before the job is
//     handed to Commit. A job that fails or is cancelled removes its files;
//     one that dies with the process leaves orphans that recovery removes.
//     Either way the store is as it was before the job.
//   - One compaction runs at a time (Compactor.mu).
package compactor
