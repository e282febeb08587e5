package main

import (
	"io"
	"os"
)

// A vector file that import reads or export writes can be far larger than
// RAM. Read or written through the page cache as it is, it would fill it
// and push out what the store's searches need (the int8 codes; see README,
// "Page cache"): its pages are handed back to the kernel behind the
// reader and the writer, a dropChunk at a time (Linux; elsewhere they are
// plain readers and writers).

// dropChunk is how far a dropReader or dropWriter lets the file's pages
// pile up behind it before it hands them back.
const dropChunk = 8 << 20

// dropReader reads f sequentially from its offset, dropping what it has
// read from the page cache behind it.
type dropReader struct {
	f       *os.File
	off     int64 // bytes read
	dropped int64 // pages below it were handed back
}

func (d *dropReader) Read(p []byte) (int, error) {
	n, err := d.f.Read(p)
	d.off += int64(n)
	if d.off-d.dropped >= dropChunk {
		dropCache(d.f, d.dropped, d.off-d.dropped)
		d.dropped = d.off
	}
	return n, err
}

// dropWriter writes f sequentially from offset 0, writing back what it
// has written and dropping it from the page cache, a chunk behind.
type dropWriter struct {
	f       *os.File
	off     int64 // bytes written
	dropped int64
}

func (d *dropWriter) Write(p []byte) (int, error) {
	n, err := d.f.Write(p)
	d.off += int64(n)
	// One chunk stays behind the writer, so the write-back of the chunk
	// before it has had time to run.
	if d.off-d.dropped >= 2*dropChunk {
		writeBackAndDrop(d.f, d.dropped, dropChunk)
		d.dropped += dropChunk
	}
	return n, err
}

var (
	_ io.Reader = (*dropReader)(nil)
	_ io.Writer = (*dropWriter)(nil)
)
