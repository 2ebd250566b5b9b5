package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests cover the commands that teach and inspect: `brig demo`,
// `brig run --explain`, `brig ps` and `brig stop`.

var demoNames = []string{"userns", "pid", "mount", "net", "memory", "pids", "cpu"}

// fitsTerminal fails the test unless every line of out fits 80 columns
// and carries no colour (out is a pipe, not a terminal).
func fitsTerminal(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, "\x1b[") {
		t.Errorf("%s: colour escapes in output to a pipe: %q", what, abbreviate(out, 200))
	}
	for _, line := range strings.Split(out, "\n") {
		if n := len([]rune(line)); n > 80 {
			t.Errorf("%s: line of %d columns: %q", what, n, line)
		}
	}
}

func TestDemoList(t *testing.T) {
	t.Parallel()
	res := runBrig(t, "", "demo", "--list")
	wantCode(t, res, 0)
	for _, name := range demoNames {
		if !strings.Contains("\n"+res.stdout, "\n"+name+" ") {
			t.Errorf("demo --list does not name %q:\n%s", name, res.stdout)
		}
	}
	fitsTerminal(t, "demo --list", res.stdout)
}

func TestDemoUnknown(t *testing.T) {
	t.Parallel()
	res := runBrig(t, "", "demo", "nosuch")
	wantCode(t, res, 125)
	if line := oneLine(t, res.stderr); !strings.Contains(line, `"nosuch"`) || !strings.Contains(line, "brig demo --list") {
		t.Errorf("want the unknown name and the way to list demos: %q", line)
	}
}

// limitsEnforceable asks `brig doctor --json`, as requireLimits does, but
// returns the answer so that a test can check the failure path instead.
func limitsEnforceable(t *testing.T) bool {
	t.Helper()
	res := runBrig(t, "", "doctor", "--json")
	var rep struct {
		LimitsEnforceable bool `json:"limits_enforceable"`
	}
	return json.Unmarshal([]byte(res.stdout), &rep) == nil && rep.LimitsEnforceable
}

// TestDemos runs every demo for real. Each must end with the kernel having
// behaved as narrated, show the real values it names, and fit 80 columns.
// Where limits cannot be enforced, the limit demos must instead fail with
// one line that points to `brig doctor`.
func TestDemos(t *testing.T) {
	requireUserNS(t)
	uid := os.Getuid()
	shows := map[string][]string{
		"userns": {"uid_map: 0 " + strconv.Itoa(uid) + " 1", "uid 0 inside is uid " + strconv.Itoa(uid) + " (you) outside",
			"owner seen outside: " + strconv.Itoa(uid) + ":"},
		"pid":   {"pid 1 .brig-init", "NSpid (host, inside): ", "pid:["},
		"mount": {"Read-only file system", "/tmp  tmpfs"},
		"net":   {"interfaces: lo\n", "Connection refused", "net:["},
		// Usually one OOM kill; under load the feeder sometimes hits the
		// limit too before the hog's memory is freed, and is killed second.
		"memory": {"memory.current", "receipt: reason oom (signal 9)", "oom kills "},
		"pids":   {"pids.current  32 of 32", "pids.events: max ", "meanwhile on the host: 'true' started"},
		"cpu":    {"quota (read inside): 50000 µs of CPU per 100000 µs period", "busy loops: wall "},
	}
	limits := map[string]bool{"memory": true, "pids": true, "cpu": true}
	enforceable := limitsEnforceable(t)
	for _, name := range demoNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := runBrig(t, "", "demo", name)
			if limits[name] && !enforceable {
				wantCode(t, res, 1)
				if line := oneLine(t, res.stderr); !strings.Contains(line, "brig doctor") {
					t.Errorf("a limit demo that cannot run must point to brig doctor: %q", line)
				}
				return
			}
			wantCode(t, res, 0)
			if !strings.Contains(res.stdout, "demo "+name+": the kernel behaved as narrated.") {
				t.Errorf("no conclusion line:\n%s", res.stdout)
			}
			if strings.Contains(res.stdout, "FAIL") {
				t.Errorf("a failed check in a passing demo:\n%s", res.stdout)
			}
			for _, want := range shows[name] {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("demo %s does not show %q:\n%s", name, want, res.stdout)
				}
			}
			fitsTerminal(t, "demo "+name, res.stdout)
		})
	}
}

func TestRunExplain(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	res := runBrig(t, "", "run", "--explain", "--profile", "strict", "--", "sh", "-c", "echo ran")
	if res.code == 125 && strings.Contains(res.stderr, "cannot be enforced") {
		t.Skipf("strict's limits cannot be enforced here: %s", res.stderr)
	}
	wantOutput(t, res, 0, "ran\n")
	for _, want := range []string{"network: none", "memory   512.0 MiB", "pids     256", "capabilities: none", "seccomp: ", " → /tmp"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("--explain does not mention %q:\n%s", want, res.stderr)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n") {
		if !strings.HasPrefix(line, "brig: ") {
			t.Errorf("brig's own line on stderr without its prefix: %q", line)
		}
	}
	fitsTerminal(t, "run --explain", res.stderr)
}

// TestRunExplainDryRun needs no user namespace: nothing runs.
func TestRunExplainDryRun(t *testing.T) {
	t.Parallel()
	state, env := stateDirEnv(t)
	dir := t.TempDir()
	res := runBrigEnv(t, dir, env, "", "run", "--explain", "--dry-run", "--profile", "strict", "--memory", "64M", "--", "touch", "ran")
	wantCode(t, res, 0)
	for _, want := range []string{"network: ", "memory   64.0 MiB", "uid 0 inside is uid " + strconv.Itoa(os.Getuid())} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("--explain --dry-run does not print %q on stdout:\n%s", want, res.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("--dry-run ran the command")
	}
	fitsTerminal(t, "run --explain --dry-run", res.stdout)
	requireNoRunState(t, state)
}

// psEntry is what the tests read of `brig ps --json`.
type psEntry struct {
	ID       string   `json:"id"`
	Profile  string   `json:"profile"`
	Command  []string `json:"command"`
	InitPID  int      `json:"init_pid"`
	UptimeMS int64    `json:"uptime_ms"`
	Usage    *struct {
		MemoryBytes int64 `json:"memory_bytes"`
		Pids        int64 `json:"pids"`
	} `json:"usage"`
}

// psWait waits up to 10 s for brig ps to list the sandbox whose command
// contains marker: brig records a run just after starting it, so the
// workload may print before.
func psWait(t *testing.T, env []string, marker string) psEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if run, ok := psFind(t, env, marker); ok {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("brig ps does not list the running sandbox %s", marker)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// psFind lists the sandboxes in the state of env and returns the one whose
// command contains marker.
func psFind(t *testing.T, env []string, marker string) (psEntry, bool) {
	t.Helper()
	res := runBrigEnv(t, t.TempDir(), env, "", "ps", "--json")
	wantCode(t, res, 0)
	var runs []psEntry
	if err := json.Unmarshal([]byte(res.stdout), &runs); err != nil {
		t.Fatalf("brig ps --json: %v\n%s", err, res.stdout)
	}
	for _, r := range runs {
		if strings.Contains(strings.Join(r.Command, " "), marker) {
			return r, true
		}
	}
	return psEntry{}, false
}

func TestPsEmpty(t *testing.T) {
	t.Parallel()
	_, env := stateDirEnv(t)
	res := runBrigEnv(t, t.TempDir(), env, "", "ps", "--json")
	wantOutput(t, res, 0, "[]\n")
	res = runBrigEnv(t, t.TempDir(), env, "", "ps")
	wantCode(t, res, 0)
	if !strings.HasPrefix(res.stdout, "ID ") || strings.Count(res.stdout, "\n") != 1 {
		t.Errorf("want only the header, got %q", res.stdout)
	}
}

// TestPsListsAndStopEnds starts a sleep with brig run, finds it with
// brig ps (table and JSON), and ends it with brig stop.
func TestPsListsAndStopEnds(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	state, env := stateDirEnv(t)
	marker := uniqueSleep()
	bg := startBrig(t, t.TempDir(), env, "run", "--", "sh", "-c", "echo ready; exec sleep "+marker)
	bg.waitLine(t, "ready", 30*time.Second)

	run := psWait(t, env, marker)
	if run.Profile != "default" || run.InitPID <= 0 || len(run.ID) != 12 || run.UptimeMS < 0 {
		t.Errorf("ps entry: %+v", run)
	}
	if run.Usage != nil && (run.Usage.MemoryBytes <= 0 || run.Usage.Pids < 2) {
		t.Errorf("usage of a running sandbox: %+v", *run.Usage)
	}
	table := runBrigEnv(t, t.TempDir(), env, "", "ps")
	wantCode(t, table, 0)
	var row string
	for _, line := range strings.Split(table.stdout, "\n") {
		if strings.HasPrefix(line, run.ID+" ") {
			row = line
		}
	}
	if !strings.Contains(row, "default") || !strings.Contains(row, strconv.Itoa(run.InitPID)) || !strings.Contains(row, "sh -c") {
		t.Errorf("no table row for %s with profile, pid and command:\n%s", run.ID, table.stdout)
	}
	fitsTerminal(t, "ps", table.stdout)

	stop := runBrigEnv(t, t.TempDir(), env, "", "stop", run.ID[:6])
	wantCode(t, stop, 0)
	res := bg.wait(t, 15*time.Second)
	wantCode(t, res, 128+int(syscall.SIGTERM))
	if _, ok := psFind(t, env, marker); ok {
		t.Error("brig ps still lists the stopped sandbox")
	}
	requireNoProcess(t, marker, 5*time.Second)
	requireNoRunState(t, state)
}

// TestStopKillsAfterGrace stops a workload that ignores SIGTERM: after the
// grace period, SIGKILL takes the whole sandbox down.
func TestStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	_, env := stateDirEnv(t)
	marker := uniqueSleep()
	bg := startBrig(t, t.TempDir(), env, "run", "--", "sh", "-c",
		`trap "" TERM; echo ready; while :; do sleep `+marker+`; done`)
	bg.waitLine(t, "ready", 30*time.Second)
	run := psWait(t, env, marker)
	start := time.Now()
	wantCode(t, runBrigEnv(t, t.TempDir(), env, "", "stop", "--grace", "1s", run.ID), 0)
	if took := time.Since(start); took < time.Second {
		t.Errorf("stop returned after %v, before the 1s grace period", took)
	}
	res := bg.wait(t, 15*time.Second)
	wantCode(t, res, 128+int(syscall.SIGKILL))
	requireNoProcess(t, marker, 5*time.Second)
}

func TestStopUnknown(t *testing.T) {
	t.Parallel()
	_, env := stateDirEnv(t)
	res := runBrigEnv(t, t.TempDir(), env, "", "stop", "0123456789ab")
	wantCode(t, res, 125)
	if line := oneLine(t, res.stderr); !strings.Contains(line, "brig ps") {
		t.Errorf("want a pointer to brig ps: %q", line)
	}
}

// TestColourOnTerminal: colour on a terminal, none with NO_COLOR.
func TestColourOnTerminal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env    []string
		colour bool
	}{{nil, true}, {[]string{"NO_COLOR=1"}, false}} {
		out := runOnTerminal(t, append(tc.env, "TERM=xterm"), "demo", "--list")
		if got := strings.Contains(out, "\x1b["); got != tc.colour {
			t.Errorf("env %v: colour %v, want %v: %q", tc.env, got, tc.colour, out)
		}
		if !strings.Contains(out, "userns") {
			t.Errorf("env %v: no demo list on the terminal: %q", tc.env, out)
		}
	}
}

// runOnTerminal runs brig with a pseudo-terminal as stdin, stdout and
// stderr, and returns what it wrote.
func runOnTerminal(t *testing.T, env []string, args ...string) string {
	t.Helper()
	master, slave, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := brigCommand(ctx, t.TempDir(), env, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		t.Fatal(err)
	}
	slave.Close()
	output := make(chan string, 1)
	go func() {
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, master) // ends with EIO once brig has exited
		output <- buf.String()
	}()
	wantCode(t, finish(t, cmd, cmd.Wait(), "", ""), 0)
	select {
	case out := <-output:
		return out
	case <-time.After(10 * time.Second):
		t.Fatal("terminal output did not end after brig exited")
	}
	return ""
}
