//go:build !linux

package main

import "os"

func dropCache(f *os.File, off, n int64)        {}
func writeBackAndDrop(f *os.File, off, n int64) {}
