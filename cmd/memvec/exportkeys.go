package main

import "github.com/memvec/memvec"

// recordLines writes the keys and payloads of the rows export writes, to
// their line files (keysfile.go), as RangeRecords gives them.
type recordLines struct {
	keys     *lineWriter // nil without --keys
	payloads *lineWriter // nil without --payload
}

// newRecordLines creates the files; with neither path, add does nothing.
func newRecordLines(keysPath, payloadPath string) (*recordLines, error) {
	r := &recordLines{}
	var err error
	if keysPath != "" {
		if r.keys, err = createLines(keysPath, "key"); err != nil {
			return nil, err
		}
	}
	if payloadPath != "" {
		if r.payloads, err = createLines(payloadPath, "payload"); err != nil {
			r.abort()
			return nil, err
		}
	}
	return r, nil
}

// add writes the lines of record rec.
func (r *recordLines) add(rec memvec.Record) error {
	if r.keys != nil {
		if err := r.keys.write(rec.ID, []byte(rec.Key)); err != nil {
			return err
		}
	}
	if r.payloads != nil {
		if err := r.payloads.write(rec.ID, rec.Payload); err != nil {
			return err
		}
	}
	return nil
}

// close completes the files (after the last flush); if one fails, both
// are removed.
func (r *recordLines) close() error {
	for _, lw := range []*lineWriter{r.keys, r.payloads} {
		if lw == nil {
			continue
		}
		if err := lw.Close(); err != nil {
			r.abort()
			return err
		}
	}
	return nil
}

// abort removes the files.
func (r *recordLines) abort() {
	for _, lw := range []*lineWriter{r.keys, r.payloads} {
		if lw != nil {
			lw.Abort()
		}
	}
}
