// Package memvectest holds the test helpers that several of memvec's test
// suites share, written once (like bbolt's internal/btesting): the exact
// float64 oracle of a search, bit-exact vector comparison, random vectors,
// the harness that runs a test binary's helper test as a child process,
// and the structural check of a store directory's files.
//
// It imports none of memvec's root package, so that the root package's own
// (internal) tests can import it; helpers that need a *memvec.DB live in
// the root package's tests and call these.
package memvectest
