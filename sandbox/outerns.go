package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/brigsandbox/brig/spec"
)

// An unprivileged caller who wants its own uid inside the sandbox (--user
// self) cannot be served by libcontainer directly: libcontainer chowns its
// start fifo to the id that is root inside, and an unprivileged process can
// only chown to itself, which is already taken by the caller's own id.
// Like podman's rootless mode, brig then re-executes itself in an outer
// user namespace where the caller is root and its subordinate ids are
// mapped; there, libcontainer may chown to any mapped id, and the sandbox's
// own user namespace maps the caller's id (outer root) to itself inside.
const (
	// outerEnv is set in the re-executed brig: "UID:GID:NAME" of the caller.
	outerEnv = "_BRIG_OUTER_USERNS"
	// goAheadFD is where the re-executed brig waits until its id maps are
	// written.
	goAheadFD = 3
)

// Caller is who started brig, seen from inside the outer user namespace.
type Caller struct {
	UID, GID int
	Name     string
}

// OuterCaller reports whether this process is brig re-executed in an outer
// user namespace, and for whom.
func OuterCaller() (Caller, bool) {
	v := os.Getenv(outerEnv)
	if v == "" {
		return Caller{}, false
	}
	f := strings.SplitN(v, ":", 3)
	if len(f) != 3 {
		return Caller{}, false
	}
	uid, err1 := strconv.Atoi(f[0])
	gid, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return Caller{}, false
	}
	return Caller{UID: uid, GID: gid, Name: f[2]}, true
}

// AwaitOuterMaps blocks the re-executed brig until its parent has written
// the id maps of the outer user namespace, then executes brig once more:
// the first exec happened before the maps existed, as no user at all, and
// so dropped every capability; an exec as the namespace's root regains
// them. Call it first thing in main.
func AwaitOuterMaps() error {
	if _, ok := OuterCaller(); !ok || os.Getenv(outerMappedEnv) != "" {
		return nil
	}
	f := os.NewFile(goAheadFD, "go-ahead")
	var b [1]byte
	n, _ := f.Read(b[:])
	f.Close()
	if n != 1 || b[0] != 'y' {
		return fmt.Errorf("%w: the outer user namespace was not set up", ErrStart)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	env := append(os.Environ(), outerMappedEnv+"=1")
	return fmt.Errorf("%w: re-exec in the outer user namespace: %w", ErrStart, unix.Exec(self, os.Args, env))
}

// outerMappedEnv marks the brig that runs after the maps were written.
const outerMappedEnv = "_BRIG_OUTER_MAPPED"

// RunInOuterUserNS re-executes the running brig with args in a new user
// namespace that maps the caller to root and its subordinate ranges to
// 1..N, forwards signals to it, and returns its exit code.
func RunInOuterUserNS(args []string, subUIDs, subGIDs []spec.IDRange, signals <-chan os.Signal) (int, error) {
	if len(subUIDs) == 0 || len(subGIDs) == 0 {
		return 0, fmt.Errorf("%w: your own id inside needs a subordinate id range in /etc/subuid and /etc/subgid (see 'brig doctor')", ErrStart)
	}
	self, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer r.Close()
	defer w.Close()
	name := "?"
	if u := os.Getenv("USER"); u != "" {
		name = u
	}
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r}
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d:%s", outerEnv, os.Getuid(), os.Getgid(), name))
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, Pdeathsig: syscall.SIGKILL}
	// The parent-death signal follows the thread that forked: keep it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%w: outer user namespace: %w", ErrStart, err)
	}
	if err := writeOuterMaps(cmd.Process.Pid, subUIDs, subGIDs); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, err
	}
	if _, err := w.Write([]byte{'y'}); err != nil {
		_ = cmd.Process.Kill()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				_ = cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	return exitCode(cmd.ProcessState, err)
}

func exitCode(ps *os.ProcessState, err error) (int, error) {
	if ps == nil {
		return 0, fmt.Errorf("%w: %w", ErrStart, err)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ps.ExitCode(), nil
}

// writeOuterMaps maps the caller to 0 and its ranges from 1 upwards, with
// the setuid helpers from the uidmap package.
func writeOuterMaps(pid int, subUIDs, subGIDs []spec.IDRange) error {
	for _, m := range []struct {
		tool   string
		id     int
		ranges []spec.IDRange
	}{{"newuidmap", os.Getuid(), subUIDs}, {"newgidmap", os.Getgid(), subGIDs}} {
		args := []string{strconv.Itoa(pid), "0", strconv.Itoa(m.id), "1"}
		next := 1
		for _, r := range m.ranges {
			args = append(args, strconv.Itoa(next), strconv.FormatUint(uint64(r.Start), 10), strconv.FormatUint(uint64(r.Count), 10))
			next += int(r.Count)
		}
		if out, err := exec.Command(m.tool, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s: %v: %s", ErrStart, m.tool, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// OuterIDs returns the subordinate ranges as seen inside the outer user
// namespace: what RunInOuterUserNS mapped from 1 upwards.
func OuterIDs(ranges []spec.IDRange) []spec.IDRange {
	var total uint32
	for _, r := range ranges {
		total += r.Count
	}
	if total == 0 {
		return nil
	}
	return []spec.IDRange{{Start: 1, Count: total}}
}
