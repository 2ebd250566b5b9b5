package main

// All of brig's output rules live in this file.
//
//   - stdout carries only the workload's output, or a command's data (the
//     JSON of `brig spec`, the TOML of `brig profile show`, tables).
//   - stderr carries brig's own lines, each prefixed "brig: ".
//   - An error is one line naming the problem and the fix; brig then exits
//     125 (exitBrig) and the workload never ran.
//   - Exit codes follow docker and podman: the workload's own code, 128+N
//     when a signal N killed it, 124 on --timeout, 125 when brig failed,
//     126 when the command is not executable, 127 when it does not exist.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

const (
	exitOK      = 0
	exitTimeout = 124
	exitBrig    = 125
)

// stdout and stderr are the two streams; tests swap them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

// userError is an error brig reports without decoration: its text already
// names the problem and the fix.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &userError{msg: fmt.Sprintf(format, args...)}
}

// report prints err as one "brig: " line and returns the exit code.
func report(err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintln(stderr, "brig: "+msg)
	return exitBrig
}

// say prints one of brig's own informational lines to stderr.
func say(format string, args ...any) {
	fmt.Fprintf(stderr, "brig: "+format+"\n", args...)
}

// newLogger writes library warnings (always) and debug lines (with -v)
// to stderr as "brig: " lines.
func newLogger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(&lineHandler{level: level})
}

// lineHandler formats records as "brig: [warning: ]msg key=value ...".
type lineHandler struct {
	level slog.Level
	attrs []slog.Attr
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("brig: ")
	if r.Level >= slog.LevelWarn {
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	_, err := io.WriteString(stderr, b.String())
	return err
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &lineHandler{level: h.level, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
