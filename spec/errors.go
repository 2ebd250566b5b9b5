package spec

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrInvalid reports a value that cannot be expressed in a spec.
	ErrInvalid = errors.New("invalid sandbox setting")
	// ErrSeccomp reports a seccomp profile that could not be built.
	ErrSeccomp = errors.New("cannot build seccomp filter")
)
