package floor

import (
	"math/rand"
	"testing"

	"github.com/memvec/memvec/internal/kernel"
)

// TestReadCoversEveryByte: Read over any split equals one Stream over the
// whole buffer when parts are whole words (XOR is order-free), so every
// part is read exactly once.
func TestReadCoversEveryByte(t *testing.T) {
	buf := make([]byte, 1<<20+8*37)
	rand.New(rand.NewSource(1)).Read(buf)
	want := kernel.Stream(buf)
	for _, size := range []int{8, 4096, 1 << 16, 1 << 20, len(buf), 2 * len(buf)} {
		if got := Read(Split(buf, size)); got != want {
			t.Fatalf("parts of %d: %#x, want %#x", size, got, want)
		}
	}
	if got := Read(nil); got != 0 {
		t.Fatalf("no parts: %#x", got)
	}
}
