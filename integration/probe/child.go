package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Child modes, as in "probe -child MODE ARGS...".
const (
	modeCheck = "check" // run one check and print its line
	modeSleep = "sleep" // sit still, as a target for ptrace
	modeNS    = "ns"    // print /proc/self/ns/KIND
	modeMount = "mount" // try a mount: ARGS = tmpfs|cgroup new|same
)

// spawnTimeout bounds helper children inside a check.
const spawnTimeout = 2 * time.Second

// maxSleep bounds the sleep helper in case nobody kills it.
const maxSleep = 10 * time.Second

// childAttr says which namespaces a helper child starts in. Namespaces
// are created by the fork itself (clone) or right after it (unshare),
// never in this multi-threaded process: the kernel refuses CLONE_NEWUSER
// to threaded callers, and a half-moved process would poison later checks.
type childAttr struct {
	clone   uintptr
	unshare uintptr
	mapRoot bool // map uid/gid 0 in a new user namespace to our own ids
}

func (a childAttr) sys() *syscall.SysProcAttr {
	sp := &syscall.SysProcAttr{
		Cloneflags:   a.clone,
		Unshareflags: a.unshare,
		Pdeathsig:    syscall.SIGKILL,
	}
	if a.mapRoot {
		sp.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		sp.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		sp.GidMappingsEnableSetgroups = false
	}
	return sp
}

// childOutput is what a helper child left behind.
type childOutput struct {
	stdout   string
	stderr   string
	startErr error // the fork or exec failed: the namespace request was refused
	waitErr  error
	timedOut bool
}

// spawn re-executes the probe in a child mode and waits at most timeout.
// The child gets our stdin and, as fds 3 and 4, our stdout and stderr, so
// terminal checks see the same terminal the probe was given.
func spawn(cfg *config, attr childAttr, timeout time.Duration, mode string, args ...string) childOutput {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(cfg.flagArgs(), "-child", mode)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, cfg.exe, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = os.Stdin
	cmd.Stdout = &limitedWriter{buf: &stdout, max: 64 << 10}
	cmd.Stderr = &limitedWriter{buf: &stderr, max: 64 << 10}
	cmd.ExtraFiles = []*os.File{os.Stdout, os.Stderr}
	cmd.SysProcAttr = attr.sys()
	cmd.WaitDelay = time.Second
	var out childOutput
	if err := cmd.Start(); err != nil {
		out.startErr = err
		return out
	}
	out.waitErr = cmd.Wait()
	out.timedOut = ctx.Err() != nil
	out.stdout, out.stderr = stdout.String(), stderr.String()
	return out
}

// signal reports the signal that killed the child, by name.
func (o childOutput) signal() (string, bool) {
	var ee *exec.ExitError
	if !errors.As(o.waitErr, &ee) {
		return "", false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return "", false
	}
	if o.timedOut {
		return "SIGKILL (timed out)", true
	}
	return unix.SignalName(ws.Signal()), true
}

// ok says whether the child ran to a clean exit.
func (o childOutput) ok() bool { return o.startErr == nil && o.waitErr == nil }

func (o childOutput) lastLine() string {
	lines := strings.Split(strings.TrimSpace(o.stdout), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// stderrTail is the end of the child's stderr, ready to append to a detail.
func (o childOutput) stderrTail() string {
	s := strings.TrimSpace(o.stderr)
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = "…" + s[len(s)-200:]
	}
	return " (stderr: " + s + ")"
}

// failure describes a child that did not finish cleanly.
func (o childOutput) failure() string {
	if sig, ok := o.signal(); ok {
		return "killed by " + sig
	}
	if o.timedOut {
		return "timed out"
	}
	return fmt.Sprintf("%v%s", o.waitErr, o.stderrTail())
}

// limitedWriter keeps at most max bytes so a runaway child cannot eat memory.
type limitedWriter struct {
	buf *bytes.Buffer
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		if len(p) > room {
			w.buf.Write(p[:room])
		} else {
			w.buf.Write(p)
		}
	}
	return len(p), nil
}

// runChildMode is the entry point of a re-executed probe.
func runChildMode(cfg *config, args []string, stdout, stderr io.Writer) int {
	switch cfg.child {
	case modeCheck:
		if len(args) != 1 {
			fmt.Fprintln(stderr, "probe: -child check wants one check name")
			return 2
		}
		checks, err := selectChecks(args)
		if err != nil {
			fmt.Fprintf(stderr, "probe: %v\n", err)
			return 2
		}
		cfg.ttyFDs = []int{0, 3, 4}
		fmt.Fprintln(stdout, checks[0].run(cfg).line(checks[0].name))
		return 0
	case modeSleep:
		time.Sleep(maxSleep)
		return 0
	case modeNS:
		if len(args) != 1 {
			fmt.Fprintln(stderr, "probe: -child ns wants a namespace kind")
			return 2
		}
		ns, err := os.Readlink("/proc/self/ns/" + args[0])
		if err != nil {
			fmt.Fprintf(stderr, "probe: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, ns)
		return 0
	case modeMount:
		if len(args) != 2 || (args[1] != "new" && args[1] != "same") {
			fmt.Fprintln(stderr, "probe: -child mount wants tmpfs|cgroup new|same")
			return 2
		}
		fmt.Fprintln(stdout, mountAttempt(args[0], args[1] == "new").line("mount"))
		return 0
	}
	fmt.Fprintf(stderr, "probe: unknown child mode %q\n", cfg.child)
	return 2
}

// attempt is one way of trying a check; a check is allowed when any of its
// attempts is.
type attempt struct {
	how string
	r   result
}

// combine folds attempts: any allowed wins; otherwise any skip (an attempt
// that could not be judged) makes the whole check a skip; else blocked.
func combine(atts []attempt) result {
	var parts []string
	status := statusBlocked
	for _, a := range atts {
		if a.r.status == statusAllowed {
			return allowed("%s: %s", a.how, a.r.detail)
		}
		if a.r.status == statusSkip {
			status = statusSkip
		}
		parts = append(parts, a.how+": "+a.r.detail)
	}
	return result{status, strings.Join(parts, "; ")}
}

// nsAttempt starts a child in new namespaces and asks it which namespace
// of kind it sees; allowed when that differs from ours.
func nsAttempt(cfg *config, how string, attr childAttr, kind string) attempt {
	own, err := os.Readlink("/proc/self/ns/" + kind)
	if err != nil {
		return attempt{how, skipped("read own namespace: %v", err)}
	}
	out := spawn(cfg, attr, spawnTimeout, modeNS, kind)
	switch {
	case out.startErr != nil:
		return attempt{how, blocked("%s", errnoName(out.startErr))}
	case !out.ok():
		if sig, _ := out.signal(); sig == "SIGSYS" {
			return attempt{how, blocked("killed by SIGSYS")}
		}
		return attempt{how, skipped("child failed: %s", out.failure())}
	case out.lastLine() == own:
		return attempt{how, blocked("child stayed in %s", own)}
	}
	return attempt{how, allowed("child entered %s", out.lastLine())}
}

// mountChildAttempt starts a child in new namespaces and lets it mount.
func mountChildAttempt(cfg *config, how string, attr childAttr, fstype string) attempt {
	out := spawn(cfg, attr, spawnTimeout, modeMount, fstype, "new")
	switch {
	case out.startErr != nil:
		return attempt{how, blocked("%s", errnoName(out.startErr))}
	case !out.ok():
		if sig, _ := out.signal(); sig == "SIGSYS" {
			return attempt{how, blocked("killed by SIGSYS")}
		}
		return attempt{how, skipped("child failed: %s", out.failure())}
	}
	_, r, ok := parseLine(out.lastLine())
	if !ok {
		return attempt{how, skipped("child printed no result%s", out.stderrTail())}
	}
	return attempt{how, r}
}

// errnoName renders an error as its errno name (EPERM) when it has one.
func errnoName(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		if n := unix.ErrnoName(en); n != "" {
			return n
		}
		return en.Error()
	}
	return err.Error()
}

// isErrno reports whether err is one of the given errnos.
func isErrno(err error, errnos ...syscall.Errno) bool {
	for _, e := range errnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
