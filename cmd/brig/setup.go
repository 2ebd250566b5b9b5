package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/brigsandbox/brig/sandbox"
)

// setupCmd delegates cgroups to a user once, as root: the cgroup v1 (and
// systemd-less v2) equivalent of systemd's Delegate=yes.
func setupCmd(args []string) int {
	fs := pflag.NewFlagSet("setup", pflag.ContinueOnError)
	userName := fs.String("user", "", "the user who will run brig")
	undo := fs.Bool("undo", false, "remove the delegation again")
	if _, code, done := parseCommandFlags(fs, args, "setup --user NAME [--undo]"); done {
		return code
	}
	if *userName == "" {
		return report(usageErrorf("setup needs --user NAME: the user who will run brig (e.g. sudo brig setup --user $USER)"))
	}
	log := newLogger(false)
	do, verb := sandbox.Delegate, "delegated"
	if *undo {
		do, verb = sandbox.Undelegate, "removed"
	}
	dirs, err := do(*userName, log)
	if err != nil {
		return report(err)
	}
	for _, d := range dirs {
		fmt.Fprintf(stdout, "%s %s\n", verb, d)
	}
	return exitOK
}
