package main

import (
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/brigsandbox/brig/sandbox"
)

// defaultGrace is how long `brig stop` lets a workload end after SIGTERM
// before it kills the sandbox, as `docker stop` does.
const defaultGrace = 10 * time.Second

// stopCmd ends running sandboxes: SIGTERM to the workload, SIGKILL to the
// whole sandbox after the grace period. An ID may be shortened to any
// prefix that names one sandbox.
func stopCmd(args []string) int {
	fs := pflag.NewFlagSet("stop", pflag.ContinueOnError)
	grace := fs.Duration("grace", defaultGrace, "how long to wait after SIGTERM before SIGKILL")
	ids, code, done := parseCommandFlags(fs, args, "stop [--grace 10s] ID...")
	if done {
		return code
	}
	if len(ids) == 0 {
		return report(usageErrorf("no sandbox named: write 'brig stop ID' (see 'brig ps' for the ids)"))
	}
	if *grace < 0 {
		return report(usageErrorf("--grace %v: write a duration like 10s or 0s", *grace))
	}
	state := sandbox.StateDir()
	for _, arg := range ids {
		id, err := resolveRun(state, arg)
		if err == nil {
			err = sandbox.Stop(state, id, *grace)
		}
		if err != nil {
			return report(err)
		}
		say("stopped %s", id)
	}
	return exitOK
}

// resolveRun turns a unique prefix of a running sandbox's id into the id.
func resolveRun(state, prefix string) (string, error) {
	runs, err := sandbox.List(state)
	if err != nil {
		return "", err
	}
	var found []string
	for _, r := range runs {
		if r.ID == prefix {
			return r.ID, nil
		}
		if prefix != "" && strings.HasPrefix(r.ID, prefix) {
			found = append(found, r.ID)
		}
	}
	switch len(found) {
	case 0:
		return "", usageErrorf("no running sandbox %q (see 'brig ps')", prefix)
	case 1:
		return found[0], nil
	}
	return "", usageErrorf("%q names %d sandboxes (%s): give more of the id", prefix, len(found), strings.Join(found, ", "))
}
