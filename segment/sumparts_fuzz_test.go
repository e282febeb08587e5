package segment

import (
	"encoding/binary"
	"testing"
)

// FuzzPartList: for any table size, the parts cover the table exactly,
// are whole pages but the last, and fit the header page; any flipped
// byte of the list (bytes read from disk) changes its sealed checksum.
func FuzzPartList(f *testing.F) {
	f.Add(uint32(0), uint16(0), byte(1))
	f.Add(uint32(131200), uint16(17), byte(0x80))
	f.Add(uint32(8<<20+3), uint16(3000), byte(7))
	f.Fuzz(func(t *testing.T, tabLen uint32, at uint16, x byte) {
		tabLen %= 64 << 20
		tab := make([]byte, tabLen)
		for i := 0; i+8 <= len(tab); i += 8 {
			binary.LittleEndian.PutUint64(tab[i:], uint64(i)*0x9e3779b97f4a7c15)
		}
		p, n := sumPart(uint64(tabLen)), sumParts(uint64(tabLen))
		if p%sumPageSize != 0 || n > maxSumParts || n*p < uint64(tabLen) || (n > 0 && (n-1)*p >= uint64(tabLen)) {
			t.Fatalf("table of %d bytes: %d parts of %d", tabLen, n, p)
		}
		list := partList(tab)
		if uint64(len(list)) != 8*n || sumPartsOff+len(list) > HeaderSize {
			t.Fatalf("table of %d bytes: list of %d bytes for %d parts", tabLen, len(list), n)
		}
		if len(list) == 0 || x == 0 {
			return
		}
		sum := listSum(7, list)
		list[int(at)%len(list)] ^= x
		if listSum(7, list) == sum {
			t.Fatal("a flipped byte of the part list keeps its checksum")
		}
	})
}
