package sandbox

// #cgo CFLAGS: -Wall -Wextra -Werror -O2
// #include "reaper.h"
import "C"

import (
	"fmt"
	"strconv"
)

// The reaper is brig's tiny init: the sandbox's pid 1. The kernel shields
// a pid-namespace init from signals it has no handler for, so a workload
// running as pid 1 would survive `kill -TERM $$` and never reap orphans.
// Like docker --init and bubblewrap, brig runs the workload as the
// reaper's child instead: the reaper forwards signals, reaps zombies,
// reports how the workload ended on brig's status pipe, and kills the
// whole sandbox the moment brig is gone.
//
// It is written in C (reaper.c) and runs from an ELF constructor, before
// the Go runtime starts, when argv[1] is spec.InitArg: as Go it was a third
// Go runtime start per launch (about 3 ms, and another process mapping
// all of brig), for a program of one poll loop. runc's nsexec runs the
// same way. The status pipe is named by an environment variable rather
// than assumed at fd 3: under runc or crun, from an exported config.json,
// there is no brig and no pipe, and fd 3 may be anything; the reaper then
// behaves like tini and exits with the workload's status.
const (
	// reaperStatusEnv names the status pipe's fd for the reaper, which
	// removes it from the workload's environment.
	reaperStatusEnv = "_BRIG_STATUS_FD"
	// statusFD is where libcontainer puts the first ExtraFile.
	statusFD = 3
)

// Outcome is how the workload ended, as the reaper saw it.
type Outcome struct {
	Exited   bool // the workload exited by itself with Code
	Code     int
	Signal   int  // the signal that killed it, when not Exited
	ExecFail bool // the command could not be started (Code 126 or 127)
}

// parseOutcome reads the reaper's one status line.
func parseOutcome(line string) (Outcome, bool) {
	var kind, num string
	if _, err := fmt.Sscan(line, &kind, &num); err != nil {
		return Outcome{}, false
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return Outcome{}, false
	}
	switch kind {
	case "exit":
		return Outcome{Exited: true, Code: n}, true
	case "signal":
		return Outcome{Signal: n, Code: 128 + n}, true
	case "exec":
		return Outcome{Exited: true, Code: n, ExecFail: true}, true
	}
	return Outcome{}, false
}
