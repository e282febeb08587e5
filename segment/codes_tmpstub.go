package segment

func (s *Segment) HasCodes() bool                  { return false }
func (s *Segment) CodeStride() int                 { return 0 }
func (s *Segment) Codes(from, to uint64) []int8    { return nil }
func (s *Segment) CodeMeta(from, to uint64) []byte { return nil }
