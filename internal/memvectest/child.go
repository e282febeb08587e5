package memvectest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// Child is one helper test of the running test binary, run in a child
// process so that it can be killed (kill -9) or have its file system cut
// under it: the parent test starts it with StartChild, reads what it says
// on Stdout, and checks the store it left behind.
type Child struct {
	Cmd    *exec.Cmd
	Stdin  io.WriteCloser // nil unless StartChild was asked for it
	Stdout io.ReadCloser
	stderr bytes.Buffer // written by exec's copier: read only after Wait
}

// StartChild starts the test binary running only the test named test (an
// exact name, anchored), with env added to this process's environment and
// a pipe to its stdin when withStdin is set. It fails t if the child does
// not start.
func StartChild(t testing.TB, test string, withStdin bool, env ...string) *Child {
	t.Helper()
	c := &Child{Cmd: exec.Command(os.Args[0], "-test.run=^"+test+"$")}
	c.Cmd.Env = append(os.Environ(), env...)
	c.Cmd.Stderr = &c.stderr
	var err error
	if withStdin {
		if c.Stdin, err = c.Cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if c.Stdout, err = c.Cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// Kill sends SIGKILL to the child (nothing if it has exited).
func (c *Child) Kill() { c.Cmd.Process.Kill() }

// Wait waits for the child to exit, after Stdout has been read to its end.
func (c *Child) Wait() error { return c.Cmd.Wait() }

// Killed reports, after Wait, whether the child was ended by SIGKILL.
func (c *Child) Killed() bool {
	ws, ok := c.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// Stderr returns what the child wrote to its stderr; call it only after
// Wait.
func (c *Child) Stderr() string { return c.stderr.String() }

// ReadLines reads r to its end and calls fn with every whole line that
// starts with prefix, the prefix and newline removed; other lines (the
// testing package's own output) are skipped. A last fragment without its
// newline was cut short by a kill and is dropped, which only widens what a
// check of the lines accepts. It returns the read error, nil at EOF.
func ReadLines(r io.Reader, prefix string, fn func(rest string)) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), prefix); ok {
			fn(rest)
		}
	}
}

// Say is the child's side of ReadLines: it writes one line, prefix first,
// to stdout in a single write(2), unbuffered, so that what the parent
// reads is exactly what had happened when a kill came (a line cut short
// is a fragment ReadLines drops).
func Say(prefix, format string, a ...any) {
	os.Stdout.Write([]byte(prefix + fmt.Sprintf(format, a...) + "\n"))
}

// Fail is the child's report of an error: it writes "who: what: err" to
// stderr and returns the exit status 2, for os.Exit.
func Fail(who, what string, err error) int {
	fmt.Fprintf(os.Stderr, "%s: %s: %v\n", who, what, err)
	return 2
}
