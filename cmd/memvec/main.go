// Command memvec is the tool around the memvec vector store: a demo on
// real data, import and export of vector files, search, inspection,
// compaction, verification and a benchmark.
//
// Usage:
//
//	memvec <command> [arguments]
//
// Run "memvec -h" for the list of commands and "memvec <command> -h" for a
// command's flags. Flags may come before or after the positional
// arguments; "--" ends the flags.
//
// The exit status is 0 on success, 1 on failure (one line on stderr
// saying why) and 2 on a usage error (the message and the command's usage
// on stderr). Commands that a script may want to parse take --json, which
// prints one JSON object on stdout and never a progress bar.
//
// Progress bars are drawn on stderr when it is a terminal; otherwise long
// operations print a plain line every few seconds. -q silences both.
//
// The commands open stores with background compaction disabled, so IDs
// move only when "memvec compact" is run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name  string
	args  string // the synopsis after the name
	short string // one line for the command list
	long  string // a paragraph for -h
	// flags declares the command's flags on fs and returns the function
	// that checks the arguments and calls the command's run function.
	flags func(fs *flag.FlagSet) func(ctx context.Context, c *cli, args []string) error
}

// commands is every subcommand, in the order "memvec -h" lists them: a
// new command is one constructor in its own file and one line here.
func commands() []*command {
	return []*command{
		newDemoCommand(),
		newImportCommand(),
		newExportCommand(),
		newSearchCommand(),
		newGetCommand(),
		newDeleteCommand(),
		newCompactCommand(),
		newMapsCommand(),
		newUpgradeCommand(),
		newStatsCommand(),
		newVerifyCommand(),
		newBenchCommand(),
		newColdBenchCommand(),
	}
}

// cli carries what every command writes to.
type cli struct {
	stdout, stderr io.Writer
	cmd            *command
	fs             *flag.FlagSet
	quiet          bool
}

// usageError is a bad invocation: exit 2 with the command's usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	// The first interrupt cancels the command, which stops cleanly (the
	// store is closed, what was done is reported); a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// mainUsage prints the list of commands.
func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "memvec is the command-line tool of the memvec vector store.\n\nUsage:\n  memvec <command> [arguments]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, "\nRun \"memvec <command> -h\" for a command's flags.\n"+
		"Exit status: 0 ok, 1 failure, 2 usage error.\n")
}

// run executes one invocation and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		mainUsage(stdout)
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "memvec: unknown command %q\n\n", args[0])
		mainUsage(stderr)
		return 2
	}
	c := &cli{stdout: stdout, stderr: stderr, cmd: cmd}
	c.fs = flag.NewFlagSet("memvec "+cmd.name, flag.ContinueOnError)
	c.fs.SetOutput(io.Discard)
	c.fs.Usage = func() {}
	do := cmd.flags(c.fs)
	if c.fs.Lookup("q") != nil {
		panic("flag -q is common to every command")
	}
	c.fs.BoolVar(&c.quiet, "q", false, "no progress output")
	pos, err := parseInterspersed(c.fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		c.usage(stdout)
		return 0
	}
	if err == nil {
		err = do(ctx, c, pos)
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue) || isFlagError(err):
		fmt.Fprintf(stderr, "memvec %s: %s\n\n", cmd.name, oneLine(err.Error()))
		c.usage(stderr)
		return 2
	default:
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = fmt.Errorf("interrupted (%w)", err)
		}
		fmt.Fprintf(stderr, "memvec %s: %s\n", cmd.name, oneLine(strings.TrimPrefix(err.Error(), "memvec: ")))
		return 1
	}
}

// flagError wraps an error of flag.FlagSet.Parse.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// usage prints the command's synopsis, description and flags.
func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: memvec %s %s\n\n%s\n", c.cmd.name, c.cmd.args, c.cmd.long)
	var any bool
	c.fs.VisitAll(func(*flag.Flag) { any = true })
	if !any {
		return
	}
	fmt.Fprintf(w, "\nFlags:\n")
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
}

// parseInterspersed parses flags found anywhere among args and returns
// the positional arguments; everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError{err}
		}
		rest := fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, min, max int) error {
	switch {
	case len(args) < min:
		return usagef("missing arguments")
	case max >= 0 && len(args) > max:
		return usagef("unexpected argument %q", args[max])
	}
	return nil
}
