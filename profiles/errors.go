package profiles

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns about a profile is an
// [*Error] that unwraps to one of these, so callers can test the kind with
// errors.Is and still print the precise one-line message.
var (
	// ErrUnknownKey: the file sets a key brig does not know (often a typo).
	ErrUnknownKey = errors.New("unknown key")
	// ErrBadValue: a key has the wrong type, a bad unit or a value out of range,
	// or the file is not valid TOML.
	ErrBadValue = errors.New("bad value")
	// ErrNotFound: no profile has the requested name.
	ErrNotFound = errors.New("profile not found")
	// ErrCycle: profiles extend each other in a loop.
	ErrCycle = errors.New("profile extends itself")
)

// Error is a problem in a profile, located as precisely as possible.
//
// Its message is one line: `strict.toml:12: limits.pidz: unknown key (did
// you mean "pids"?)`. File, Line and Key are left empty when unknown (a
// profile that is not found has no file).
type Error struct {
	File string // the profile file as the user knows it: a path, or builtin/NAME.toml
	Line int    // 1-based line in File; 0 when unknown
	Key  string // dotted key such as "limits.pids" or "filesystem.binds[0].source"
	Msg  string // what is wrong
	Hint string // how to fix it, e.g. `did you mean "pids"?`; may be empty

	err error // one of the sentinels above
}

// Error formats the problem as `FILE:LINE: KEY: MSG (HINT)`, leaving out
// the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// Unwrap returns the sentinel that classifies the error.
func (e *Error) Unwrap() error { return e.err }
