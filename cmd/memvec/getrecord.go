package main

import (
	"bufio"
	"fmt"

	"github.com/memvec/memvec"
)

// jsonRecord is a record in get's and search's JSON. A key or payload that
// is not valid UTF-8 is given in base64 in its _base64 field instead.
type jsonRecord struct {
	ID            uint64    `json:"id"`
	Key           string    `json:"key,omitempty"`
	KeyBase64     string    `json:"key_base64,omitempty"`
	Payload       string    `json:"payload,omitempty"`
	PayloadBase64 string    `json:"payload_base64,omitempty"`
	Vector        []float32 `json:"vector"`
}

func newJSONRecord(r memvec.Record) jsonRecord {
	j := jsonRecord{ID: r.ID, Vector: r.Vector}
	j.Key, j.KeyBase64 = textOrBase64([]byte(r.Key))
	j.Payload, j.PayloadBase64 = textOrBase64(r.Payload)
	return j
}

// getRecords prints the records stored under keys, or writes their
// vectors to out.
func getRecords(c *cli, store string, keys []string, out string, jsonOut bool) (err error) {
	db, format, err := openForGet(store, out)
	if err != nil {
		return err
	}
	defer closeStore(db, &err)
	recs := make([]memvec.Record, len(keys))
	for i, k := range keys {
		if recs[i], err = db.GetRecord(k); err != nil {
			return keyArgError(err)
		}
	}
	if out != "" {
		vecs := make([][]float32, len(recs))
		for i, r := range recs {
			vecs[i] = r.Vector
		}
		return writeGot(c, out, format, db.Dimension(), vecs, jsonOut)
	}
	if jsonOut {
		js := make([]jsonRecord, len(recs))
		for i, r := range recs {
			js[i] = newJSONRecord(r)
		}
		return writeJSON(c.stdout, map[string]any{"records": js})
	}
	// A block of lines per record, a blank line between blocks: a key
	// may hold spaces, so one line per record would not split reliably
	// (scripts use --json).
	w := bufio.NewWriter(c.stdout)
	var b []byte
	for i, r := range recs {
		if i > 0 {
			w.WriteByte('\n')
		}
		payload := "(none)"
		if len(r.Payload) > 0 {
			payload = showText(string(r.Payload))
		}
		fmt.Fprintf(w, "key      %s\nid       %d\npayload  %s\n", showText(r.Key), r.ID, payload)
		b = append(b[:0], "vector  "...)
		b = appendVector(b, r.Vector)
		b = append(b, '\n')
		w.Write(b)
	}
	return w.Flush()
}
