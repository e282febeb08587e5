// Package testutil holds the test helpers that the format packages
// (manifest, segment, wal) share for their fuzz targets: reading a file of
// the committed seed corpus, and the rule every decoder's error obeys.
//
// It imports no memvec package but internal/errs, so that any package's
// internal tests can import it without a cycle (internal/memvectest, which
// imports manifest and segment, cannot serve those packages' own tests).
package testutil
