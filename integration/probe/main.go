// Command probe is brig's adversarial workload: run inside a sandbox, it
// tries the things an escaping or misbehaving program would try and prints
// one line per attempt:
//
//	CHECKNAME STATUS detail
//
// where STATUS is "blocked" (the sandbox prevented it), "allowed" (the
// workload could do it) or "skip" (it cannot be tested here; the detail says
// why). Lines starting with "#" are progress notes, not results.
//
// Usage:
//
//	probe [-home PATH] [-hostpid N] [-secret NAME] [-tcp HOST:PORT] [-abstract NAME] [check...]
//	probe -list
//	probe -expect
//
// Without check names it runs every check except the resource ones
// (fork_bomb, memory_bomb, tmpfs_fill), which run only when named.
// `probe -list` prints "name<TAB>description" for every check, the source
// of the README's table; `probe -expect` prints what each builtin profile
// allows on purpose (see expect.go). They are the only modes allowed
// outside a sandbox.
//
// Several checks change state (they create files, mount, fork), so the probe
// refuses to run unless it sits in a user namespace: /proc/self/uid_map must
// not be the host's identity map. Every check is bounded in time, opens
// dangerous files for writing without ever writing a byte, and removes what
// it creates. Each check except extra_fds and the resource checks runs in a
// re-executed copy of the probe ("probe -child check NAME"), so a seccomp
// filter that kills the process costs one line, not the whole table.
//
// Exit status: 0 when every requested check printed its line, 2 on bad
// usage, when refusing to run, or on an internal failure.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	// Record inherited descriptors before anything (flag parsing, the
	// runtime's poller) can open one of our own.
	startFDs := openFDs()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, startFDs))
}

func run(args []string, stdout, stderr io.Writer, startFDs []fdInfo) int {
	cfg, names, listOnly, err := parseArgs(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "probe: %v\n", err)
		}
		return 2
	}
	if listOnly && cfg.expectOnly {
		printExpectations(stdout)
		return 0
	}
	if listOnly {
		for _, c := range catalogue() {
			fmt.Fprintf(stdout, "%s\t%s\n", c.name, c.desc)
		}
		return 0
	}
	if err := requireSandbox(); err != nil {
		fmt.Fprintf(stderr, "probe: refusing to run outside a sandbox: %v\n", err)
		return 2
	}
	cfg.startFDs = startFDs
	cfg.ttyFDs = []int{0, 1, 2}
	cfg.progress = stdout
	if cfg.child != "" {
		return runChildMode(cfg, names, stdout, stderr)
	}
	checks, err := selectChecks(names)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 2
	}
	for _, c := range checks {
		fmt.Fprintln(stdout, runCheck(cfg, c).line(c.name))
	}
	return 0
}

// parseArgs reads the flags; the remaining arguments are check names (or,
// in child mode, the child's arguments).
func parseArgs(args []string, stderr io.Writer) (*config, []string, bool, error) {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the one-line error itself
	cfg := &config{}
	list := fs.Bool("list", false, "print `name<TAB>description` for every check and exit")
	expect := fs.Bool("expect", false, "print `profile<TAB>check<TAB>reason` for every check a builtin profile allows on purpose, and exit")
	fs.StringVar(&cfg.home, "home", "", "host `path` (a home directory or a marker file in it) that must not be visible")
	fs.IntVar(&cfg.hostPID, "hostpid", 0, "host `pid` that must not be signalable")
	fs.StringVar(&cfg.secret, "secret", "", "`name` of an environment variable set on brig that must not leak in")
	fs.StringVar(&cfg.tcp, "tcp", "", "host loopback `address` (127.0.0.1:PORT) with a listener that must be unreachable")
	fs.StringVar(&cfg.abstract, "abstract", "", "`name` of a host abstract unix socket (without @) that must be unreachable")
	fs.StringVar(&cfg.child, "child", "", "internal: run as a helper child in `mode`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: probe [flags] [check...]   (only inside a sandbox; see probe -list)")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, nil, false, err
		}
		return nil, nil, false, fmt.Errorf("%w: %v (see probe -h)", errUsage, err)
	}
	if cfg.hostPID < 0 {
		return nil, nil, false, fmt.Errorf("%w: -hostpid %d: want a positive pid", errUsage, cfg.hostPID)
	}
	exe, err := os.Executable()
	if err != nil && !*list {
		return nil, nil, false, fmt.Errorf("find own executable for re-exec: %w", err)
	}
	cfg.exe = exe
	cfg.expectOnly = *expect
	return cfg, fs.Args(), *list || *expect, nil
}

// selectChecks maps names to checks; no names means the default set.
func selectChecks(names []string) ([]check, error) {
	all := catalogue()
	if len(names) == 0 {
		var out []check
		for _, c := range all {
			if !c.resource {
				out = append(out, c)
			}
		}
		return out, nil
	}
	byName := make(map[string]check, len(all))
	for _, c := range all {
		byName[c.name] = c
	}
	out := make([]check, 0, len(names))
	for _, n := range names {
		c, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("%w: unknown check %q (see probe -list)", errUsage, n)
		}
		out = append(out, c)
	}
	return out, nil
}
