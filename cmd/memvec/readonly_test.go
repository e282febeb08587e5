package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyMedia: on a store on read-only media (a read-only bind
// mount; root only), every command that only reads works and exits 0, and
// a command that writes fails with one line and never reports success
// (issue 10, item 7).
func TestReadOnlyMedia(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a read-only bind mount")
	}
	dir := t.TempDir()
	ok(t, dir, "import", "store", writeNpy32(t, filepath.Join(dir, "v.npy"), randRows(21, 300, 8)), "--segment-bytes", "8192")
	ok(t, dir, "delete", "store", "1", "2", "3")
	ok(t, dir, "compact", "store")
	mnt := filepath.Join(dir, "ro")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "--bind", filepath.Join(dir, "store"), mnt).CombinedOutput(); err != nil {
		t.Skipf("mount --bind: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", mnt).CombinedOutput(); err != nil {
		t.Skipf("remount ro: %v: %s", err, out)
	}
	for _, args := range [][]string{
		{"stats", "ro"},
		{"verify", "ro"},
		{"get", "ro", "100"},
		{"search", "ro", "--id", "100", "-k", "3"},
		{"export", "ro", filepath.Join(dir, "out.npy")},
		{"maps", "ro"},
	} {
		ok(t, dir, args...)
	}
	out := fails(t, dir, 1, nil, "delete", "ro", "100")
	if strings.Contains(runCLI(t, dir, "delete", "ro", "100").stdout, "deleted") {
		t.Fatalf("delete on read-only media reported success: %s", out)
	}
	fails(t, dir, 1, nil, "maps", "ro", "--release", "1")
	fails(t, dir, 1, nil, "compact", "ro")
}
