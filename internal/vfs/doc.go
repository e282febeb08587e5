// Package vfs is memvec's file-system seam: every file operation that the
// packages segment, manifest, recovery and engine do themselves goes
// through an FS, so that tests can fail any one of them or cut the power
// between any two. It owns the durability primitives the store rests on
// (data sync, directory sync, preallocation, atomic replacement of a small
// file, the exclusive lock, the read-only mapping of a file) and their
// implementations:
//
//   - OS, the real operating system, which the store uses unless a test
//     says otherwise;
//   - Fault, a test double over another FS (normally OS) that injects
//     errors (EIO, ENOSPC, short writes, ...) into chosen operations,
//     counts operations by kind, and simulates power loss (Crash).
//
// # Invariants the store keeps on top of it
//
//   - A file's contents are synced (File.Sync or File.Datasync) before a
//     step that depends on them: before it is renamed into place, before a
//     manifest names it, before a write is acknowledged.
//   - The directory is synced (FS.SyncDir) after any create, rename or
//     remove whose survival a later step depends on.
//   - Nothing is ever written through a mapping (FS.Map is read-only): all
//     writes are File.WriteAt, so a full disk is an error, never a SIGBUS,
//     and every write is visible to Fault.
//   - A failed Sync, Datasync or SyncDir is never retried as if it had
//     succeeded: the kernel may already have dropped the dirty pages
//     ("fsyncgate"), so the caller reports the failure and stops writing.
//
// # What the seam cannot reach
//
// The seam sees every call memvec's own code makes, and nothing else:
//
//   - The tombstone WAL (package wal) is written by github.com/tidwall/wal,
//     which opens, writes, fsyncs, renames and removes its files itself;
//     package wal also reads and repairs them with the os package and
//     syncs the WAL directory with OS. None of that can fail on demand,
//     and Fault.Crash does not roll the WAL back: in sync mode every WAL
//     record is fsynced before Delete returns, so a crash would keep it
//     anyway, but unsynced WAL records (Options.NoSync) survive a simulated
//     power loss that would lose them for real. The WAL is covered by the
//     kill -9 tests and by its own torn-tail tests instead.
//   - Reads through a mapping (segment rows, records and headers are read
//     from the memory map that github.com/edsrzf/mmap-go sets up) are page
//     faults, not calls: an I/O error there is a SIGBUS, and Fault cannot
//     inject one. Only the Map call itself can fail.
//   - The kernel's writeback: Fault decides what survives a Crash from the
//     syncs it has seen (and, for a torn crash, a random choice of unsynced
//     sectors), not from what the page cache really flushed. It does not
//     model a kernel that silently drops dirty pages after a failed
//     writeback and then reports a later fsync as successful; the store's
//     answer to that (stop writing after the first failed sync) is checked
//     behaviourally instead. Nor can anything in a process tell, after a
//     restart, that pages it reads back from the page cache never reached
//     the disk because an fsync of an earlier process failed. Fault treats
//     Datasync like Sync (a file's size is durable with its data) and
//     tears at sector granularity (Fault.Sector), never inside a sector.
//   - Metadata the store never syncs on purpose (timestamps, the LOCK
//     file's directory entry) and file-system-level failures (a volume
//     remounted read-only, a lost directory block) are not modelled.
package vfs
