package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests cover `brig run` for the user who runs them: identity, exit
// codes, standard streams, isolation of processes, files and environment,
// signals, cleanup and terminals.

func wantCode(t *testing.T, res result, code int) {
	t.Helper()
	if res.code != code {
		t.Fatalf("want exit %d, got %v", code, res)
	}
}

func wantOutput(t *testing.T, res result, code int, stdout string) {
	t.Helper()
	wantCode(t, res, code)
	if res.stdout != stdout {
		t.Fatalf("want stdout %q, got %q\nstderr: %s", stdout, res.stdout, res.stderr)
	}
}

func TestRootInsideByDefault(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	wantOutput(t, runBrig(t, "", "run", "--", "id", "-u"), 0, "0\n")
}

func TestUserSelfKeepsCallerUID(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	dir := t.TempDir()
	uid := strconv.Itoa(os.Getuid())
	res := runBrigIn(t, dir, "", "run", "--user", "self", "--", "sh", "-c", "id -u; id -g; echo x > mine")
	wantOutput(t, res, 0, uid+"\n"+strconv.Itoa(os.Getgid())+"\n")
	fi, err := os.Stat(filepath.Join(dir, "mine"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Getuid() {
		t.Errorf("a file written with --user self belongs to uid %d on the host, want %d", st.Uid, os.Getuid())
	}
}

// TestRootInsideIsNotRootOutside writes through a bind of a root-owned host
// directory: uid 0 in the sandbox is the caller outside, so it must fail.
func TestRootInsideIsNotRootOutside(t *testing.T) {
	t.Parallel()
	requireRootless(t)
	requireUserNS(t)
	probe := "brig-itest-probe-" + randomHex(6)
	res := runBrig(t, "", "run", "--bind", "/etc:/mnt:rw", "--", "sh", "-c", "echo x > /mnt/"+probe)
	if _, err := os.Stat(filepath.Join("/etc", probe)); err == nil {
		os.Remove(filepath.Join("/etc", probe))
		t.Fatalf("sandbox root wrote to the host's /etc: %v", res)
	}
	if res.code == 0 {
		t.Fatalf("writing a root-owned host directory succeeded: %v", res)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	tests := []struct {
		name   string
		script string
		code   int
	}{
		{"exit 7", "exit 7", 7},
		{"exit 0", "true", 0},
		// A pid-namespace init ignores signals it has no handler for, even
		// SIGKILL, when they come from inside; these pass because brig's
		// workload is not the sandbox's pid 1 (brig's reaper is).
		{"kill -TERM $$", "kill -TERM $$", 128 + int(syscall.SIGTERM)},
		{"kill -KILL $$", "kill -KILL $$", 128 + int(syscall.SIGKILL)},
		// A real fault is delivered by the kernel to any process: blow the
		// stack.
		{"SIGSEGV", "ulimit -c 0; ulimit -s 256; f() { f; }; f", 128 + int(syscall.SIGSEGV)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, runBrig(t, "", "run", "--", "sh", "-c", tt.script), tt.code)
		})
	}
}

// TestKilledWorkloadExitCode kills the workload from the host (from outside
// its pid namespace, SIGKILL reaches even pid 1): brig exits 128+9.
func TestKilledWorkloadExitCode(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	arg := uniqueSleep()
	b := startBrig(t, t.TempDir(), nil, "run", "--", "sleep", arg)
	pid := waitForProcess(t, "sleep "+arg, 20*time.Second, b.cmd.Process.Pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill workload %d: %v", pid, err)
	}
	wantCode(t, b.wait(t, 20*time.Second), 128+int(syscall.SIGKILL))
}

func TestStdin(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	t.Run("pipe", func(t *testing.T) {
		t.Parallel()
		wantOutput(t, runBrig(t, "x\n", "run", "--", "cat"), 0, "x\n")
	})
	t.Run("dev null", func(t *testing.T) {
		t.Parallel()
		wantOutput(t, runBrig(t, "", "run", "--", "cat"), 0, "")
	})
}

func TestStdoutToFile(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := brigCommand(ctx, t.TempDir(), nil, "run", "--", "echo", "to a file")
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res := finish(t, cmd, cmd.Run(), "", stderr.String())
	wantCode(t, res, 0)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "to a file\n" {
		t.Fatalf("file holds %q, want %q", got, "to a file\n")
	}
}

// TestLargeStreams pushes a MiB each way: nothing may be lost, reordered or
// deadlock when the pipes fill.
func TestLargeStreams(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	const mib = 1 << 20
	t.Run("through cat", func(t *testing.T) {
		t.Parallel()
		in := make([]byte, mib)
		_, _ = rand.Read(in)
		res := runBrig(t, string(in), "run", "--", "cat")
		wantCode(t, res, 0)
		if res.stdout != string(in) {
			t.Fatalf("1 MiB through cat came back as %d bytes, different", len(res.stdout))
		}
	})
	t.Run("generated inside", func(t *testing.T) {
		t.Parallel()
		res := runBrig(t, "", "run", "--", "sh", "-c", "head -c 1048576 /dev/zero | tr '\\000' a")
		wantCode(t, res, 0)
		if res.stdout != strings.Repeat("a", mib) {
			t.Fatalf("want 1 MiB of 'a', got %d bytes", len(res.stdout))
		}
	})
}

func TestCommandNotFound(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	res := runBrig(t, "", "run", "--", "brig-no-such-command")
	wantCode(t, res, 127)
	if line := oneLine(t, res.stderr); !strings.Contains(line, "brig-no-such-command") || len(line) > 200 {
		t.Errorf("want a short line naming the command, got %q", line)
	}
}

func TestNotExecutable(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\necho ran\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runBrig(t, "", "run", "--bind", dir+":/mnt:ro", "--", "/mnt/noexec")
	wantCode(t, res, 126)
	if res.stdout != "" {
		t.Errorf("non-executable file ran: %q", res.stdout)
	}
	oneLine(t, res.stderr)
}

// TestUsageErrors checks brig's own failures: exit 125, one line that names
// the problem and the fix, and nothing left in the state directory.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	state, env := stateDirEnv(t)
	tests := []struct {
		name string
		dir  string // working directory; "" is a fresh one
		args []string
		want []string // substrings of the error line
	}{
		{"unknown profile", "", []string{"--profile", "nope"}, []string{"nope", "brig profile list"}},
		{"bad memory size", "", []string{"--memory", "12XB"}, []string{"--memory"}},
		{"missing bind source", "", []string{"--bind", "/does/not/exist:/x"}, []string{"/does/not/exist"}},
		// The working directory is shown inside: never the host's
		// process table, nor everything.
		{"run from /proc", "/proc", nil, []string{"/proc", "cannot be shown", "cd to"}},
		{"run from /", "/", nil, []string{"whole host", "cd to"}},
	}
	for _, tt := range tests {
		args := append(append([]string{"run"}, tt.args...), "--", "true")
		dir := tt.dir
		if dir == "" {
			dir = t.TempDir()
		}
		res := runBrigEnv(t, dir, env, "", args...)
		if res.code != 125 {
			t.Errorf("%s: want exit 125, got %v", tt.name, res)
			continue
		}
		line := oneLine(t, res.stderr)
		for _, w := range tt.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: error line %q does not mention %q", tt.name, line, w)
			}
		}
	}
	requireNoRunState(t, state)
}

func TestPIDNamespace(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	t.Run("host processes invisible", func(t *testing.T) {
		t.Parallel()
		res := runBrig(t, "", "run", "--", "sh", "-c", `ls /proc | grep -c "^[0-9]"`)
		wantCode(t, res, 0)
		n, err := strconv.Atoi(strings.TrimSpace(res.stdout))
		if err != nil {
			t.Fatalf("want a count, got %q", res.stdout)
		}
		if n < 1 || n > 5 {
			t.Fatalf("sandbox sees %d processes in /proc; want only its own (sh, ls, grep and perhaps an init)", n)
		}
	})
	t.Run("pid 1 is the sandbox's", func(t *testing.T) {
		t.Parallel()
		// pid 1 is brig's reaper running the workload: its argv ends with
		// the workload's. The host's init would not.
		script := `echo $$; tr '\0' ' ' </proc/1/cmdline; echo`
		res := runBrig(t, "", "run", "--", "sh", "-c", script)
		wantCode(t, res, 0)
		lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("want 2 lines, got %q", res.stdout)
		}
		// brig's reaper is a Go program: its runtime threads take the
		// first few pids, so the workload's is small but not 2.
		if pid, err := strconv.Atoi(lines[0]); err != nil || pid > 64 {
			t.Errorf("the workload's pid inside is %q, want a small number (a fresh pid namespace)", lines[0])
		}
		if want := "sh -c " + script; !strings.HasSuffix(strings.TrimSpace(lines[1]), want) {
			t.Errorf("pid 1 inside is %q, want the workload (%q) or brig's reaper running it", lines[1], want)
		}
	})
}

func TestFilesystem(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	t.Run("default: workdir writable", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		wantCode(t, runBrigIn(t, dir, "", "run", "--", "sh", "-c", "echo hi > out.txt"), 0)
		got, err := os.ReadFile(filepath.Join(dir, "out.txt"))
		if err != nil {
			t.Fatalf("file written in the working directory is not on the host: %v", err)
		}
		if string(got) != "hi\n" {
			t.Fatalf("out.txt holds %q", got)
		}
		st, err := os.Stat(filepath.Join(dir, "out.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
			t.Errorf("out.txt is owned by uid %d on the host, want the caller %d", uid, os.Getuid())
		}
	})
	t.Run("default: /usr read-only", func(t *testing.T) {
		t.Parallel()
		probe := "/usr/brig-itest-" + randomHex(6)
		res := runBrig(t, "", "run", "--", "sh", "-c", "echo x > "+probe)
		if _, err := os.Stat(probe); err == nil {
			os.Remove(probe)
			t.Fatalf("the sandbox wrote %s on the host: %v", probe, res)
		}
		if res.code == 0 {
			t.Fatalf("writing %s succeeded inside: %v", probe, res)
		}
	})
	t.Run("strict: workdir not writable", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		res := runBrigIn(t, dir, "", "run", "--profile", "strict", "--", "sh", "-c", "echo hi > out.txt")
		if _, err := os.Stat(filepath.Join(dir, "out.txt")); err == nil {
			t.Fatalf("strict profile wrote to the working directory: %v", res)
		}
		if res.code == 0 || res.code == 125 {
			t.Fatalf("want the write to fail inside (not 0, not brig's 125): %v", res)
		}
	})
	t.Run("strict: /tmp writable", func(t *testing.T) {
		t.Parallel()
		res := runBrig(t, "", "run", "--profile", "strict", "--", "sh", "-c", "echo x > /tmp/y && cat /tmp/y")
		wantOutput(t, res, 0, "x\n")
	})
}

func TestHomeHidden(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	home := os.Getenv("HOME")
	if home == "" {
		t.Skip("HOME is unset")
	}
	marker := filepath.Join(home, ".brig-itest-"+randomHex(6))
	if err := os.WriteFile(marker, []byte("secret"), 0o600); err != nil {
		t.Skipf("HOME is not writable, cannot place a marker: %v", err)
	}
	t.Cleanup(func() { os.Remove(marker) })
	dir := t.TempDir()
	visible := filepath.Join(dir, "visible")
	if err := os.WriteFile(visible, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The working directory's file is the control: the same probe must see it.
	probe := `for f; do if test -e "$f"; then echo visible; else echo hidden; fi; done`
	res := runBrigIn(t, dir, "", "run", "--", "sh", "-c", probe, "sh", marker, visible)
	wantOutput(t, res, 0, "hidden\nvisible\n")
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	secret := []string{"BRIG_TEST_SECRET=x"}
	show := `echo "[${BRIG_TEST_SECRET-unset}]"`
	t.Run("host variable not passed", func(t *testing.T) {
		t.Parallel()
		wantOutput(t, runBrigEnv(t, t.TempDir(), secret, "", "run", "--", "sh", "-c", show), 0, "[unset]\n")
	})
	t.Run("--pass-env", func(t *testing.T) {
		t.Parallel()
		res := runBrigEnv(t, t.TempDir(), secret, "", "run", "--pass-env", "BRIG_TEST_SECRET", "--", "sh", "-c", show)
		wantOutput(t, res, 0, "[x]\n")
	})
	t.Run("--env", func(t *testing.T) {
		t.Parallel()
		wantOutput(t, runBrig(t, "", "run", "--env", "A=B", "--", "sh", "-c", `echo "$A"`), 0, "B\n")
	})
}

// TestSignalsForwarded sends signals to brig; the workload's traps decide
// the exit code, which proves the signal reached it.
func TestSignalsForwarded(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	tests := []struct {
		name string
		sig  syscall.Signal
		code int
	}{
		{"USR1", syscall.SIGUSR1, 42},
		{"TERM", syscall.SIGTERM, 43},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			script := fmt.Sprintf(`trap "exit %d" %s; echo ready; while :; do sleep 0.1; done`, tt.code, tt.name)
			b := startBrig(t, t.TempDir(), nil, "run", "--", "sh", "-c", script)
			b.waitLine(t, "ready", 20*time.Second)
			if err := b.cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			wantCode(t, b.wait(t, 20*time.Second), tt.code)
		})
	}
}

// TestBrigKilledLeavesNothing: SIGKILL gives brig no chance to clean up, so
// the workload must die with it, and the next run collects the state left.
func TestBrigKilledLeavesNothing(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	state, env := stateDirEnv(t)
	arg := uniqueSleep()
	b := startBrig(t, t.TempDir(), env, "run", "--", "sleep", arg)
	waitForProcess(t, "sleep "+arg, 20*time.Second, b.cmd.Process.Pid)
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.done
	requireNoProcess(t, arg, 5*time.Second)

	wantCode(t, runBrigEnv(t, t.TempDir(), env, "", "run", "--", "true"), 0)
	requireNoRunState(t, state)
}

// TestBrigTerminated: `kill PID` of brig (or Ctrl-C's cousin SIGTERM) ends
// a workload that has no handler of its own, and brig reports 128+15.
func TestBrigTerminated(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	state, env := stateDirEnv(t)
	arg := uniqueSleep()
	b := startBrig(t, t.TempDir(), env, "run", "--", "sleep", arg)
	waitForProcess(t, "sleep "+arg, 20*time.Second, b.cmd.Process.Pid)
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wantCode(t, b.wait(t, 20*time.Second), 128+int(syscall.SIGTERM))
	requireNoProcess(t, arg, 5*time.Second)
	requireNoRunState(t, state)
}

// TestConcurrentRuns: runs must not share cgroup paths or state entries.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	state, env := stateDirEnv(t)
	const n = 20
	type outcome struct {
		err    error
		stderr string
	}
	outcomes := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			cmd := brigCommand(ctx, t.TempDir(), env, "run", "--", "true")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			outcomes[i] = outcome{cmd.Run(), stderr.String()}
		}()
	}
	wg.Wait()
	for i, o := range outcomes {
		if o.err != nil {
			t.Errorf("run %d of %d: %v\n%s", i, n, o.err, o.stderr)
		}
	}
	requireNoRunState(t, state)
}

func TestHostname(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	wantOutput(t, runBrig(t, "", "run", "--hostname", "box", "--", "hostname"), 0, "box\n")
}

// TestTTY runs brig on a pseudo-terminal, as in an interactive shell.
func TestTTY(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	master, slave, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := brigCommand(ctx, t.TempDir(), nil, "run", "-t", "--", "sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		t.Fatal(err)
	}
	slave.Close() // brig holds the only copies now; EOF (EIO) follows its exit

	output := make(chan string, 1)
	go func() {
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, master) // ends with EIO once every slave fd is closed
		output <- buf.String()
	}()
	res := finish(t, cmd, cmd.Wait(), "", "")
	var out string
	select {
	case out = <-output:
	case <-time.After(10 * time.Second):
		t.Fatal("terminal output did not end after brig exited")
	}
	res.stdout = strings.ReplaceAll(out, "\r", "")
	wantCode(t, res, 0)
	if !regexp.MustCompile(`(?m)^/dev/pts/[0-9]+$`).MatchString(res.stdout) {
		t.Errorf("tty inside did not print /dev/pts/N: %q", res.stdout)
	}
	if !strings.Contains(res.stdout, "stdin-is-a-tty\n") {
		t.Errorf("stdin is not a terminal inside: %q", res.stdout)
	}
}

// openPTY opens a new pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes instead)
	return fmt.Sprintf("%x", b)
}
