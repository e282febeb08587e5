package engine

// Every public operation enters the engine in one of two ways, so that
// each method shows only its own exceptions (Add validates before it takes
// writeMu; Range lets go of opMu while fn runs).

// reading enters a read: it returns the current version and done, which
// releases the version and the operation; after Close has begun it fails
// with ErrClosed.
func (e *Engine) reading() (v *version, done func(), err error) {
	if err := e.begin(); err != nil {
		return nil, nil, err
	}
	v = e.acquire()
	return v, func() {
		v.release()
		e.opMu.RUnlock()
	}, nil
}

// Whether writing checks that the engine takes writes: Sync and
// IDMapsSince only need writeMu.
const (
	mustWrite = true
	lockOnly  = false
)

// writing enters a write: it holds writeMu until done is called, and fails
// with ErrClosed after Close has begun, and, with mustWrite, with the error
// of a write to a read-only or failed engine.
func (e *Engine) writing(write bool) (done func(), err error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	e.writeMu.Lock()
	done = func() {
		e.writeMu.Unlock()
		e.opMu.RUnlock()
	}
	if write {
		if err := e.writable(); err != nil {
			done()
			return nil, err
		}
	}
	return done, nil
}
