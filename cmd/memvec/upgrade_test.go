package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUpgradeCommand upgrades a store an earlier build wrote: segments
// are rewritten and get codes, stats show them, and a second run has
// nothing to do.
func TestUpgradeCommand(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	if err := os.CopyFS(store, os.DirFS(filepath.Join("..", "..", "testdata", "store-v3", "store"))); err != nil {
		t.Fatal(err)
	}
	var before statsOut
	okJSON(t, dir, &before, "stats", store)
	if before.CodeBytes != 0 {
		t.Fatalf("stats of a format 3 store: %d code bytes", before.CodeBytes)
	}
	var res upgradeResult
	okJSON(t, dir, &res, "upgrade", store)
	if res.Rewritten == 0 || res.CodeBytesBefore != 0 || res.CodeBytesAfter <= 0 {
		t.Fatalf("upgrade: %+v", res)
	}
	var after statsOut
	okJSON(t, dir, &after, "stats", store)
	if after.CodeBytes != res.CodeBytesAfter || after.Live != before.Live || after.NextID != before.NextID {
		t.Fatalf("stats after upgrade %+v, before %+v", after, before)
	}
	ok(t, dir, "verify", store)
	if out := ok(t, dir, "upgrade", store); out != "nothing to upgrade: every segment is in the current format\n" {
		t.Fatalf("second upgrade: %q", out)
	}
}
