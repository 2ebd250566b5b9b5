package main

import "errors"

var (
	// errUsage marks command-line mistakes: exit 2 after the message.
	errUsage = errors.New("usage")
	// errNotSandboxed is why the probe refuses to run on the host.
	errNotSandboxed = errors.New("/proc/self/uid_map is the host's identity map (no user namespace)")
)
