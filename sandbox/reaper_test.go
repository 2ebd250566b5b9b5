package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brigsandbox/brig/spec"
)

// The reaper is C that runs from a constructor in every binary linking
// this package, the test binary included: these tests run it as brig
// does, minus the namespaces (the integration tests add those), so
// kill(-1) is never reached here (the reaper only uses it as pid 1).

type reaperRun struct {
	cmd    *exec.Cmd
	status *os.File // read end of the status pipe; nil without one
	stdout bytes.Buffer
	stderr bytes.Buffer
}

// startReaper starts the test binary as the reaper of args, with a status
// pipe when withStatus is set.
func startReaper(t *testing.T, withStatus bool, args ...string) *reaperRun {
	t.Helper()
	r := &reaperRun{cmd: exec.Command(os.Args[0], append([]string{spec.InitArg}, args...)...)}
	r.cmd.Env = os.Environ()
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	var w *os.File
	if withStatus {
		var err error
		if r.status, w, err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
		r.cmd.ExtraFiles = []*os.File{w}
		r.cmd.Env = append(r.cmd.Env, fmt.Sprintf("%s=%d", reaperStatusEnv, statusFD))
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if w != nil {
		w.Close()
	}
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		if r.status != nil {
			r.status.Close()
		}
	})
	return r
}

// line reads the reaper's status line.
func (r *reaperRun) line(t *testing.T) string {
	t.Helper()
	line, err := bufio.NewReader(r.status).ReadString('\n')
	if err != nil {
		t.Fatalf("status line: %v (stderr %q)", err, r.stderr.String())
	}
	return strings.TrimSpace(line)
}

// exitCode waits for the reaper, at most a few seconds.
func (r *reaperRun) exitCode(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(10 * time.Second):
		t.Fatal("reaper did not exit")
	}
	return -1
}

func TestReaperReportsAndLingersUntilBrigCloses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sh", "-c", "exit 3"}, "exit 3"},
		{[]string{"true"}, "exit 0"},
		{[]string{"sh", "-c", "kill -TERM $$"}, "signal 15"},
		{[]string{"brig-no-such-command"}, "exec 127"},
		{[]string{"/dev/null"}, "exec 126"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			r := startReaper(t, true, tc.args...)
			if got := r.line(t); got != tc.want {
				t.Fatalf("status %q, want %q", got, tc.want)
			}
			if _, ok := parseOutcome(tc.want + "\n"); !ok {
				t.Fatalf("brig cannot parse %q", tc.want)
			}
			// The reaper waits for brig to close the pipe, then ends.
			time.Sleep(50 * time.Millisecond)
			if hasExited(r.cmd.Process.Pid) {
				t.Fatal("reaper exited before brig closed the status pipe")
			}
			r.status.Close()
			if code := r.exitCode(t); code != 128+int(syscall.SIGKILL) {
				t.Fatalf("exit code %d after brig left, want %d", code, 128+int(syscall.SIGKILL))
			}
		})
	}
}

// hasExited reports whether a child has exited (a zombie not yet reaped).
func hasExited(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name in parentheses.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return len(rest) > 1 && rest[1] == 'Z'
}

func TestReaperExecErrorsNameTheCommand(t *testing.T) {
	r := startReaper(t, false, "brig-no-such-command")
	if code := r.exitCode(t); code != 127 {
		t.Fatalf("exit code %d, want 127", code)
	}
	if want := "brig: brig-no-such-command: command not found\n"; r.stderr.String() != want {
		t.Fatalf("stderr %q, want %q", r.stderr.String(), want)
	}
	r = startReaper(t, false, "/dev/null")
	if code := r.exitCode(t); code != 126 {
		t.Fatalf("exit code %d, want 126", code)
	}
	if !strings.Contains(r.stderr.String(), "permission denied") {
		t.Fatalf("stderr %q does not say permission denied", r.stderr.String())
	}
}

// Without brig (runc or crun running an exported config.json) the reaper
// exits as the workload did, whatever fd 3 happens to be.
func TestReaperWithoutBrigExitsLikeTheWorkload(t *testing.T) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	for args, want := range map[string]int{"exit 5": 5, "kill -TERM $$": 128 + 15, "exit 0": 0} {
		r := &reaperRun{cmd: exec.Command(os.Args[0], spec.InitArg, "sh", "-c", args)}
		r.cmd.ExtraFiles = []*os.File{devnull} // an unrelated fd 3
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := r.exitCode(t); code != want {
			t.Errorf("sh -c %q: exit code %d, want %d", args, code, want)
		}
	}
}

// The workload sees neither the status pipe nor the variable naming it.
func TestReaperHidesTheStatusPipe(t *testing.T) {
	r := startReaper(t, true, "sh", "-c",
		"echo ${"+reaperStatusEnv+"-unset}; for f in /proc/$$/fd/*; do readlink $f; done; true")
	if got := r.line(t); got != "exit 0" {
		t.Fatalf("status %q (stderr %q)", got, r.stderr.String())
	}
	lines := strings.Fields(r.stdout.String())
	if len(lines) == 0 || lines[0] != "unset" {
		t.Fatalf("workload saw %s: %q", reaperStatusEnv, r.stdout.String())
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(r.status.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	pipe := fmt.Sprintf("pipe:[%d]", st.Ino)
	if slices.Contains(lines[1:], pipe) {
		t.Fatalf("the status pipe %s leaked into the workload: %q", pipe, lines[1:])
	}
}

func TestReaperForwardsSignals(t *testing.T) {
	r := startReaper(t, true, "sleep", "30")
	time.Sleep(100 * time.Millisecond) // let it start the workload
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := r.line(t); got != "signal 15" {
		t.Fatalf("status %q, want signal 15", got)
	}
}

// When brig dies, the status pipe's read end goes with it: the reaper
// kills the workload and exits at once.
func TestReaperDiesWithBrig(t *testing.T) {
	r := startReaper(t, true, "sleep", "30")
	time.Sleep(100 * time.Millisecond)
	r.status.Close()
	if code := r.exitCode(t); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit code %d, want %d", code, 128+int(syscall.SIGKILL))
	}
}
