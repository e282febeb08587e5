package realfs

import (
	"os"
	"testing"
)

// TestProbe sets up each file system and checks that Shutdown cuts it like
// a power cut. Opt-in, as memvec's TestRealFS: MEMVEC_REALFS=1, as root.
func TestProbe(t *testing.T) {
	if os.Getenv("MEMVEC_REALFS") == "" {
		t.Skip("set MEMVEC_REALFS=1 to run (needs root, a loop device, xfsprogs)")
	}
	for _, fstype := range []string{"xfs", "ext4"} {
		t.Run(fstype, func(t *testing.T) {
			if err := Check(fstype); err != nil {
				t.Skipf("%s: %v", fstype, err)
			}
			f := New(t, fstype, 300<<20)
			if err := f.Probe(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
