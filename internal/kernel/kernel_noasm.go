//go:build !amd64 || purego

package kernel

// available lists the implementations this build can run, best first.
func available() []*impl { return []*impl{goImpl} }
