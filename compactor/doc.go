// Package compactor gives back the space of deleted vectors. It owns the
// policy (which segments to rewrite), the copy (live rows into new segment
// files under fresh IDs, building the old-to-new ID map), and the background
// goroutine that runs it. It works beside the engine through the narrow
// Store interface: the engine plans a job (snapshot, reserved IDs), the
// compactor copies without holding any lock, and the engine commits the
// result in one manifest replacement.
//
// # Invariants
//
//   - Live rows are copied in ascending old-ID order and get consecutive
//     fresh IDs from a block the engine reserved, so the map is a short list
//     of runs sorted by old ID, and every new ID is above every old one.
//   - Vector bytes and their stored inverse norms are copied bit for bit;
//     nothing is recomputed.
//   - Output segments are sealed (fsynced, checksummed) before the job is
//     handed to Commit. A job that fails or is cancelled removes its files;
//     one that dies with the process leaves orphans that recovery removes.
//     Either way the store is as it was before the job.
//   - One compaction runs at a time (Compactor.mu).
package compactor
