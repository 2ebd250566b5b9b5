// Command brig runs untrusted workloads in a rootless sandbox: fresh
// namespaces, a named hardening profile, and cgroup limits that are
// enforced or refused, never silently dropped.
//
//	brig run --profile strict -- ./tool args
//	brig profile explain strict
//	brig doctor
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/brigsandbox/brig/sandbox"
)

// version is stamped by scripts/build.
var version = "dev"

func init() {
	// libcontainer re-executes this binary as `brig init` to set up the
	// sandbox; that must happen before anything else runs.
	sandbox.MaybeInit()
}

func main() {
	// libcontainer and containerd's cgroups library log through logrus,
	// to stderr by default ("unable to parse PSI data" on kernels booted
	// with psi=0, as RHEL's are): brig's stderr carries only its own lines.
	logrus.SetOutput(io.Discard)
	if err := sandbox.AwaitOuterMaps(); err != nil {
		os.Exit(report(err))
	}
	os.Exit(dispatch(os.Args[1:]))
}

// commands maps each subcommand to its function; each lives in its own
// file.
var commands = map[string]func(args []string) int{
	"run":     runCmd,
	"spec":    specCmd,
	"profile": profileCmd,
	"doctor":  doctorCmd,
	"setup":   setupCmd,
	"version": versionCmd,
	"image":   imageCmd,
	"demo":    demoCmd,
	"ps":      psCmd,
	"stop":    stopCmd,
}

const usage = `usage: brig COMMAND [flags]

commands:
  run [flags] -- CMD [ARGS...]   run CMD in a sandbox
  spec [flags] -- CMD [ARGS...]  print the OCI config.json that run would use
  profile list|show|explain|diff inspect hardening profiles
  doctor [--json]                check what this host can enforce
  setup --user NAME [--undo]     (root) delegate cgroups to NAME
  version                        print brig's version
  image ls|prune|verify          manage unpacked OCI images (run them with run --image)
  demo --list | NAME             watch namespaces and cgroups at work
  ps [--json]                    list your running sandboxes
  stop [--grace 10s] ID...       stop running sandboxes

'brig COMMAND --help' describes a command's flags.`

func dispatch(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, usage)
		return exitOK
	}
	if args[0] == "--version" {
		return versionCmd(nil)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return report(usageErrorf("unknown command %q (see 'brig --help')", args[0]))
	}
	return cmd(args[1:])
}
