// Package integration tests the real brig binary end to end, the way a user
// runs it: as a separate process, from a working directory, with signals,
// pipes and terminals.
//
// brig exists to sandbox workloads without root, so these tests are meant to
// run as an unprivileged user; scripts/test arranges that (as root it creates
// the user brig-ci and drops to it with setpriv). Run as root they still
// pass, but prove less; tests whose point only holds without root call
// requireRootless.
//
// Which brig is tested:
//   - BRIG_BIN=/path/to/brig: that binary (scripts/test sets it);
//   - BRIG_BIN unset and CI unset: TestMain builds one from this checkout
//     into bin/itest-*/ (a developer's `go test ./integration`);
//   - BRIG_BIN unset and CI set: every test is skipped, because scripts/test
//     runs this package separately, against bin/brig, as an unprivileged user.
//
// Tests state what the host must offer (requireUserNS, requireLimits) and
// skip with the reason when it does not, like runc's `requires` in bats.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// brigBin is the absolute path of the brig binary under test, set once by
// TestMain before any test runs.
var brigBin string

// runTimeout bounds every brig run started by runBrig: a sandbox that hangs
// must fail its test, not the whole suite at -test.timeout.
var runTimeout = scaled(60 * time.Second)

// timeScale multiplies every timeout of these tests: BRIG_TEST_TIME_SCALE=N
// (a whole number, default 1). scripts/vm-test sets it when its guest runs
// under software emulation, where a sandbox starts about 50 times slower
// than on the host; a timeout here bounds a hang, it asserts no speed.
var timeScale = func() time.Duration {
	n, err := strconv.Atoi(os.Getenv("BRIG_TEST_TIME_SCALE"))
	if err != nil || n < 1 {
		return 1
	}
	return time.Duration(n)
}()

// scaled stretches a timeout by timeScale.
func scaled(d time.Duration) time.Duration { return d * timeScale }

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	bin, cleanup, skip, err := findBrig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n", err)
		return 1
	}
	if skip != "" {
		// TestMain cannot call t.Skip; saying why and running nothing is the
		// clean equivalent.
		fmt.Printf("integration: skipping all tests: %s\n", skip)
		return 0
	}
	defer cleanup()
	brigBin = bin
	fmt.Printf("integration: testing %s as uid %d (euid %d)\n", brigBin, os.Getuid(), os.Geteuid())
	return m.Run()
}

// findBrig returns the binary to test and how to clean it up, or a reason
// to skip everything, or an error when BRIG_BIN names something unusable.
func findBrig() (bin string, cleanup func(), skip string, err error) {
	noop := func() {}
	if env := os.Getenv("BRIG_BIN"); env != "" {
		abs, err := filepath.Abs(env)
		if err != nil {
			return "", noop, "", fmt.Errorf("BRIG_BIN=%s: %w", env, err)
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", noop, "", fmt.Errorf("BRIG_BIN=%s is not an executable file", env)
		}
		return abs, noop, "", nil
	}
	if os.Getenv("CI") != "" {
		return "", noop, "BRIG_BIN is unset and CI is set: scripts/test runs these tests against bin/brig as an unprivileged user", nil
	}
	dir, err := buildBrig()
	if err != nil {
		return "", noop, fmt.Sprintf("BRIG_BIN is unset and building brig failed: %v", err), nil
	}
	return filepath.Join(dir, "brig"), func() { os.RemoveAll(dir) }, "", nil
}

// buildBrig builds ./cmd/brig into a fresh directory under the checkout's
// bin/. Not under /tmp: libcontainer seals its binary with an overlay over
// the binary's directory, and that fast path is lost when the directory
// overlaps brig's state directory.
func buildBrig() (dir string, err error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		return "", fmt.Errorf("creating bin/: %w", err)
	}
	dir, err = os.MkdirTemp(filepath.Join(root, "bin"), "itest-")
	if err != nil {
		return "", fmt.Errorf("creating build directory: %w", err)
	}
	// The same build as scripts/build: static, because brig is the
	// sandbox's pid 1 and must run inside --rootfs and --image trees.
	cmd := exec.Command("go", "build", "-tags", "seccomp netgo osusergo runc_nocriu", "-ldflags", "-s -w -extldflags -static",
		"-o", filepath.Join(dir, "brig"), "./cmd/brig")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build ./cmd/brig: %w\n%s", err, out)
	}
	return dir, nil
}

// repoRoot walks up from the working directory (the package directory under
// `go test`) to the go.mod of this module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the checkout: %w", err)
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(mod, []byte("module github.com/brigsandbox/brig\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no brig checkout above the working directory; set BRIG_BIN")
		}
		dir = parent
	}
}

// result is what a finished brig run left behind. code is brig's exit
// status; -1 when brig itself was killed by a signal (stderr then ends with
// a "[harness: ...]" line saying which), which is never what a test wants.
type result struct {
	stdout, stderr string
	code           int
}

// runBrig runs brig with args in a fresh per-test working directory,
// feeding it stdin ("" means /dev/null), with the test's environment.
func runBrig(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runBrigEnv(t, t.TempDir(), nil, stdin, args...)
}

// runBrigIn is runBrig from the working directory dir.
func runBrigIn(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	return runBrigEnv(t, dir, nil, stdin, args...)
}

// runBrigEnv is runBrigIn with env ("K=V" entries) added to the inherited
// environment; later entries win.
func runBrigEnv(t *testing.T, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := brigCommand(ctx, dir, env, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("brig %s: still running after %v; killed\nstderr: %s", strings.Join(args, " "), runTimeout, stderr.String())
	}
	return finish(t, cmd, err, stdout.String(), stderr.String())
}

// brigCommand prepares (does not start) a brig process. Stdin defaults to
// /dev/null, as with exec.Cmd.
func brigCommand(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, brigBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// A workload that keeps our pipes open must not hang Wait forever.
	cmd.WaitDelay = scaled(10 * time.Second)
	return cmd
}

// finish turns the outcome of cmd.Wait into a result; errors other than a
// non-zero exit (brig missing, pipes broken) fail the test.
func finish(t *testing.T, cmd *exec.Cmd, err error, stdout, stderr string) result {
	t.Helper()
	res := result{stdout: stdout, stderr: stderr}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		res.code = 0
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		t.Fatalf("running brig %s: %v", strings.Join(cmd.Args[1:], " "), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.code = -1
		res.stderr += fmt.Sprintf("\n[harness: brig itself was killed by signal %d (%v)]", int(ws.Signal()), ws.Signal())
	}
	return res
}

// String makes failure messages show everything about a run.
func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// background is a brig run in progress whose stdout is read line by line,
// for tests that signal brig or its workload while it runs.
type background struct {
	cmd    *exec.Cmd
	lines  chan string // stdout lines; closed at EOF
	stderr bytes.Buffer
	done   chan struct{} // closed when Wait returned
	err    error         // Wait's error, valid after done
	out    strings.Builder
}

// startBrig starts brig in dir with env added. The process is killed at the
// end of the test if it is still running.
func startBrig(t *testing.T, dir string, env []string, args ...string) *background {
	t.Helper()
	b := &background{lines: make(chan string, 1024), done: make(chan struct{})}
	b.cmd = brigCommand(context.Background(), dir, env, args...)
	b.cmd.Stderr = &b.stderr
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting brig: %v", err)
	}
	go b.readLines(stdout)
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// readLines forwards stdout lines, then reaps brig once stdout is closed
// (exec requires all reads from the pipe to finish before Wait).
func (b *background) readLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		b.out.WriteString(sc.Text() + "\n")
		select {
		case b.lines <- sc.Text():
		default: // nobody is waiting for lines any more; keep draining
		}
	}
	close(b.lines)
	b.err = b.cmd.Wait()
	close(b.done)
}

// waitLine waits until the workload prints the line want, failing the test
// if it exits or the timeout passes first.
func (b *background) waitLine(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	timeout = scaled(timeout)
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				<-b.done
				t.Fatalf("brig exited before printing %q\nstderr: %s", want, b.stderr.String())
			}
			if line == want {
				return
			}
		case <-deadline:
			_ = b.cmd.Process.Kill()
			<-b.done
			t.Fatalf("no line %q within %v; killed brig\nstdout: %s\nstderr: %s", want, timeout, b.out.String(), b.stderr.String())
		}
	}
}

// wait waits up to timeout for brig to exit; on timeout it kills brig and
// fails the test.
func (b *background) wait(t *testing.T, timeout time.Duration) result {
	t.Helper()
	timeout = scaled(timeout)
	select {
	case <-b.done:
	case <-time.After(timeout):
		_ = b.cmd.Process.Kill()
		<-b.done
		t.Fatalf("brig did not exit within %v after the signal; killed\nstderr: %s", timeout, b.stderr.String())
	}
	return finish(t, b.cmd, b.err, b.out.String(), b.stderr.String())
}

// requireRootless skips tests whose assertion only means something when
// brig runs without privileges (as root, "cannot write /etc" is false).
func requireRootless(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("integration tests prove rootless behaviour; run scripts/test (it runs them as an unprivileged user)")
	}
}

// requireUserNS skips when this host does not let the current user create
// user namespaces, without which a rootless sandbox cannot start.
func requireUserNS(t *testing.T) {
	t.Helper()
	out, err := exec.Command("unshare", "-Ur", "true").CombinedOutput()
	if err != nil {
		t.Skipf("user namespaces unavailable to uid %d (unshare -Ur true: %v: %s)", os.Getuid(), err, strings.TrimSpace(string(out)))
	}
}

// requireLimits skips unless brig can enforce resource limits here.
//
// Contract with `brig doctor --json`: stdout holds a JSON object whose
// top-level boolean "limits_enforceable" is true when --memory, --pids and
// --cpus will really be enforced for this user (e.g. cgroup v2 delegation,
// or a subtree delegated by `brig setup`). A missing key, false, unparsable
// output or a failing doctor all mean "skip"; the doctor's output is quoted
// in the reason.
func requireLimits(t *testing.T) {
	t.Helper()
	res := runBrig(t, "", "doctor", "--json")
	var report struct {
		LimitsEnforceable *bool `json:"limits_enforceable"`
	}
	err := json.Unmarshal([]byte(res.stdout), &report)
	if err == nil && report.LimitsEnforceable != nil && *report.LimitsEnforceable {
		return
	}
	msg := fmt.Sprintf("brig doctor --json does not report \"limits_enforceable\": true for uid %d (exit %d): %s %s",
		os.Getuid(), res.code, abbreviate(res.stdout, 400), abbreviate(res.stderr, 200))
	if os.Getenv("BRIG_REQUIRE_LIMITS") == "1" {
		// scripts/test delegated cgroups to this user: a skip here would
		// hide a broken limits path.
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func abbreviate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// uniqueSleep returns an argument for sleep(1) that is long and, with
// overwhelming likelihood, unique on this host, so that the workload's
// processes can be found in /proc by their command line.
func uniqueSleep() string {
	return fmt.Sprintf("%d.%06d", 7000+rand.IntN(1000), rand.IntN(1000000))
}

// processesWith returns the pids (and command lines, arguments joined by
// spaces) of all processes whose command line contains marker, except the
// pids in skip. Processes that vanish while being read are ignored.
func processesWith(marker string, skip ...int) map[int]string {
	found := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || containsInt(skip, pid) {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		cmdline := strings.TrimRight(strings.ReplaceAll(string(raw), "\x00", " "), " ")
		if strings.Contains(cmdline, marker) {
			found[pid] = cmdline
		}
	}
	return found
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// waitForProcess waits until a process whose command line is exactly
// cmdline exists (other than those in skip) and returns its pid.
func waitForProcess(t *testing.T, cmdline string, within time.Duration, skip ...int) int {
	t.Helper()
	within = scaled(within)
	deadline := time.Now().Add(within)
	for {
		for pid, c := range processesWith(cmdline, skip...) {
			if c == cmdline {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no process %q appeared within %v", cmdline, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requireNoProcess waits up to within for every process whose command line
// contains marker to be gone, and fails the test listing the survivors.
// Reap brig first: a zombie has an empty command line, a live brig has the
// marker in its own.
func requireNoProcess(t *testing.T, marker string, within time.Duration) {
	t.Helper()
	within = scaled(within)
	deadline := time.Now().Add(within)
	for {
		left := processesWith(marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes with %q still running %v later: %v", marker, within, left)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireNoRunState fails the test if brig's state directory still holds
// anything of a run: every entry must be an empty directory. brig keeps a
// few fixed subdirectories (such as one for libcontainer and one for runs);
// anything below them, or any file, is a run's leftover.
func requireNoRunState(t *testing.T, dir string) {
	t.Helper()
	var left []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel != "." && (!d.IsDir() || strings.Contains(rel, string(filepath.Separator))) {
			left = append(left, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading state directory: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("state directory %s holds leftovers: %v", dir, left)
	}
}

// stateDirEnv gives the test a private, empty brig state directory and
// returns the environment entry that makes brig use it.
func stateDirEnv(t *testing.T) (dir string, env []string) {
	t.Helper()
	dir = t.TempDir()
	return dir, []string{"BRIG_STATE_DIR=" + dir}
}

// oneLine fails the test unless s is a single non-empty line of brig's own,
// as the output rules require of errors.
func oneLine(t *testing.T, s string) string {
	t.Helper()
	line := strings.TrimSuffix(s, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Fatalf("want exactly one line on stderr, got %q", s)
	}
	if !strings.HasPrefix(line, "brig: ") {
		t.Errorf("brig's own message should start with %q: %q", "brig: ", line)
	}
	return line
}
