package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/brigsandbox/brig/spec"
)

// The reaper is brig's tiny init: the sandbox's pid 1. The kernel shields
// a pid-namespace init from signals it has no handler for, so a workload
// running as pid 1 would survive `kill -TERM $$` and never reap orphans.
// Like docker --init and bubblewrap, brig runs the workload as the
// reaper's child instead: the reaper forwards signals, reaps zombies, and
// reports how the workload ended on a status pipe (fd 3), which it closes
// before exec so the workload only ever holds fds 0-2.
const (
	// ReaperArg is argv[1] of a brig process acting as the reaper.
	ReaperArg = spec.InitArg
	// ReaperPath is where the brig binary is bound, read-only, inside
	// (spec.WithInit adds the mount).
	ReaperPath = spec.InitPath
	statusFD   = 3
)

// forwarded are the signals the reaper passes on to the workload.
var forwarded = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGCONT, unix.SIGALRM}

// IsReaper reports whether this process was started as the reaper.
func IsReaper() bool { return len(os.Args) > 1 && os.Args[1] == ReaperArg }

// Reap runs args as the sandbox's workload and returns the exit code
// brig's reaper should exit with. It is the whole of the reaper's life.
func Reap(args []string) int {
	status := os.NewFile(statusFD, "status")
	unix.CloseOnExec(statusFD)
	report := func(kind string, n int) {
		if status != nil {
			_, _ = fmt.Fprintf(status, "%s %d\n", kind, n)
		}
	}
	if len(args) == 0 {
		report("exec", 127)
		return 127
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, append([]os.Signal{unix.SIGCHLD}, forwarded...)...)
	go dieWithBrig()

	child, err := startWorkload(args)
	if err != nil {
		code := execErrorCode(err)
		fmt.Fprintf(os.Stderr, "brig: %s: %s\n", args[0], execErrorText(err))
		report("exec", code)
		lingerForBrig()
		return code // not reached: dieWithBrig exits
	}
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			_ = unix.Kill(child, sig.(syscall.Signal))
			continue
		}
		if ws, done := reapAll(child); done {
			if ws.Signaled() {
				report("signal", int(ws.Signal()))
			} else {
				report("exit", ws.ExitStatus())
			}
			lingerForBrig()
		}
	}
	return 255
}

// dieWithBrig kills the whole sandbox when brig is gone. The status
// pipe's read end lives only in brig, so the kernel reports POLLERR on our
// write end the moment brig dies, however it dies (SIGKILL included), and
// at once if it died before we got here. A parent-death signal cannot do
// this: libcontainer's init is forked twice on its way into the namespaces
// and the setting does not survive fork.
func dieWithBrig() {
	fds := []unix.PollFd{{Fd: statusFD, Events: 0}}
	for {
		n, err := unix.Poll(fds, -1)
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		if err != nil || fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			// pid 1 of the namespace: kill(-1) reaches every other process.
			_ = unix.Kill(-1, unix.SIGKILL)
			os.Exit(128 + int(unix.SIGKILL))
		}
	}
}

// lingerForBrig keeps the sandbox, and so its cgroup, alive after the
// report until brig has read the cgroup's statistics and closed its end of
// the status pipe; dieWithBrig then ends the sandbox. Without it the
// statistics race the cgroup's removal: systemd removes a transient scope
// the moment its last process exits.
func lingerForBrig() {
	select {} // dieWithBrig exits the process
}

// startWorkload looks args[0] up in the workload's PATH and starts it with
// the reaper's own stdio, environment and terminal.
func startWorkload(args []string) (int, error) {
	bin, err := exec.LookPath(args[0])
	if err != nil {
		return 0, err
	}
	p, err := os.StartProcess(bin, args, &os.ProcAttr{
		Env:   os.Environ(),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		return 0, err
	}
	pid := p.Pid
	_ = p.Release()
	return pid, nil
}

// reapAll collects every exited child; done is true once the workload
// itself has exited.
func reapAll(workload int) (unix.WaitStatus, bool) {
	var final unix.WaitStatus
	done := false
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil || pid <= 0 {
			return final, done
		}
		if pid == workload {
			final, done = ws, true
		}
	}
}

// execErrorCode follows the shells: 127 not found, 126 found but not
// executable.
func execErrorCode(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return 127
	}
	return 126
}

func execErrorText(err error) string {
	switch {
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist):
		return "command not found"
	case errors.Is(err, os.ErrPermission):
		return "permission denied (not executable?)"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

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
