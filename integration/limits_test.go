package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// receipt is the part of brig's --report JSON these tests read.
type receipt struct {
	ID              string `json:"id"`
	Reason          string `json:"reason"`
	ExitCode        int    `json:"exit_code"`
	Signal          int    `json:"signal"`
	WallMS          int64  `json:"wall_ms"`
	CPUUserMS       int64  `json:"cpu_user_ms"`
	CPUSystemMS     int64  `json:"cpu_system_ms"`
	MemoryPeakBytes int64  `json:"memory_peak_bytes"`
	PidsPeak        int64  `json:"pids_peak"`
	PidsLimitHits   int64  `json:"pids_limit_hits"`
	OOMKills        int64  `json:"oom_kills"`
	Enforced        struct {
		Memory, Pids, CPU, IO bool
	} `json:"enforced"`
}

// runWithReport runs brig with --report and returns the result and the
// receipt it wrote.
func runWithReport(t *testing.T, args ...string) (result, receipt) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "receipt.json")
	res := runBrigIn(t, dir, "", append([]string{"run", "--report", file}, args...)...)
	var rc receipt
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no receipt: %v (%v)", err, res)
	}
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatalf("receipt is not JSON: %v\n%s", err, b)
	}
	t.Logf("receipt: %s", b)
	requireNoCgroup(t, rc.ID)
	return res, rc
}

// requireNoCgroup checks that no cgroup directory named after the run is
// left in any hierarchy this process can see.
func requireNoCgroup(t *testing.T, id string) {
	t.Helper()
	if id == "" {
		t.Fatal("receipt has no id")
	}
	var left []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == id {
			left = append(left, p)
			return filepath.SkipDir
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("cgroups left after the run: %v", left)
	}
}

func TestLimitsMemoryOOM(t *testing.T) {
	t.Parallel()
	requireLimits(t)
	// The shell's variable grows until the kernel kills it at 64 MiB.
	res, rc := runWithReport(t, "--memory", "64M", "--", "sh", "-c",
		`x=a; while :; do x="$x$x"; done`)
	wantCode(t, res, 137)
	if rc.Reason != "oom" || rc.OOMKills < 1 || !rc.Enforced.Memory {
		t.Errorf("want reason oom with an OOM kill, got %+v", rc)
	}
	if rc.MemoryPeakBytes < 48<<20 || rc.MemoryPeakBytes > 72<<20 {
		t.Errorf("memory peak %d is not near 64 MiB", rc.MemoryPeakBytes)
	}
	if !strings.Contains(res.stderr, "OOM") {
		t.Errorf("an OOM kill must be reported on stderr: %q", res.stderr)
	}
}

func TestLimitsForkBomb(t *testing.T) {
	t.Parallel()
	requireLimits(t)
	start := time.Now()
	// A fork bomb that gives up after a few hundred failures, so that the
	// test measures containment rather than waiting for a timeout.
	script := `fails=0; while [ $fails -lt 200 ]; do (sleep 5) 2>/dev/null & [ $? -ne 0 ] && fails=$((fails+1)); ` +
		`[ "$(ls /proc | grep -c '^[0-9]')" -ge 40 ] && fails=$((fails+1)); done; echo contained`
	res, rc := runWithReport(t, "--pids", "32", "--timeout", "60s", "--", "sh", "-c", script)
	if rc.PidsLimitHits < 1 || !rc.Enforced.Pids {
		t.Errorf("want the pids limit hit, got %+v (%v)", rc, res)
	}
	if rc.PidsPeak > 32 {
		t.Errorf("pids peak %d exceeds the limit of 32", rc.PidsPeak)
	}
	if d := time.Since(start); d > scaled(30*time.Second) {
		t.Errorf("containing the fork bomb took %s", d)
	}
	// The host stays responsive: a fresh sandbox starts at once.
	quick := time.Now()
	wantCode(t, runBrig(t, "", "run", "--", "true"), 0)
	if d := time.Since(quick); d > scaled(5*time.Second) {
		t.Errorf("a sandbox after the fork bomb took %s to run true", d)
	}
}

func TestLimitsCPUHalf(t *testing.T) {
	t.Parallel()
	requireLimits(t)
	// The receipt's CPU time includes the sandbox's start, its wall time
	// does not: the loop must run long enough to dwarf the start, which
	// takes seconds of CPU under emulation (BRIG_TEST_TIME_SCALE).
	loop := fmt.Sprint(3 * int(timeScale))
	res, rc := runWithReport(t, "--cpus", "0.5", "--", "timeout", loop, "sh", "-c", "while :; do :; done")
	if res.code != 124 {
		t.Fatalf("the busy loop should end by coreutils' timeout (124): %v", res)
	}
	cpu := float64(rc.CPUUserMS + rc.CPUSystemMS)
	ratio := cpu / float64(rc.WallMS)
	if ratio < 0.3 || ratio > 0.7 || !rc.Enforced.CPU {
		t.Errorf("--cpus 0.5: CPU time %.0f ms over %d ms wall (ratio %.2f), want about half", cpu, rc.WallMS, ratio)
	}
}

func TestLimitsTimeout(t *testing.T) {
	t.Parallel()
	marker := uniqueSleep()
	start := time.Now()
	res, rc := runWithReport(t, "--cgroups", "best-effort", "--timeout", "2s", "--", "sh", "-c",
		"sleep "+marker+" & sleep "+marker+" & sleep "+marker)
	wantCode(t, res, 124)
	if rc.Reason != "timeout" {
		t.Errorf("want reason timeout, got %+v", rc)
	}
	if d := time.Since(start); d < 2*time.Second || d > scaled(10*time.Second) {
		t.Errorf("the run took %s, want a little over 2s", d)
	}
	if !strings.Contains(res.stderr, "time limit") {
		t.Errorf("a timeout must be reported on stderr: %q", res.stderr)
	}
	requireNoProcess(t, marker, 5*time.Second)
}

// TestLimitsRefusedWithoutDelegation runs brig from a cgroup where nothing
// is delegated to this user: asking for limits must exit 125 with the fix,
// and best effort must run and say the limits were not enforced.
func TestLimitsRefusedWithoutDelegation(t *testing.T) {
	requireRootless(t)
	requireLimits(t)
	dir := undelegatedMemoryCgroup(t)
	run := func(extra ...string) result {
		script := `echo $$ > "$1/cgroup.procs" && shift && exec "$@"`
		args := append([]string{"-c", script, "sh", dir, brigBin, "run"}, extra...)
		return runCommand(t, "sh", args...)
	}
	res := run("--memory", "64M", "--", "true")
	wantCode(t, res, 125)
	line := oneLine(t, res.stderr)
	if !strings.Contains(line, "memory") || !strings.Contains(line, "brig setup --user") {
		t.Errorf("refusal does not name the limit and the fix: %q", line)
	}
	res = run("--memory", "64M", "--cgroups", "best-effort", "--report", filepath.Join(t.TempDir(), "r.json"), "--", "true")
	wantCode(t, res, 0)
	if !strings.Contains(res.stderr, "WITHOUT memory") {
		t.Errorf("best effort must warn that memory is not limited: %q", res.stderr)
	}
}

// undelegatedMemoryCgroup makes a child of this user's delegated memory
// cgroup (cgroup v1) to run brig from: below it, brig finds no delegation.
func undelegatedMemoryCgroup(t *testing.T) string {
	t.Helper()
	own := ownCgroup(t, "memory")
	user := os.Getenv("USER")
	base := filepath.Join("/sys/fs/cgroup/memory", own, "brig-"+user)
	if _, err := os.Stat(base); err != nil {
		t.Skipf("needs the cgroup v1 delegation of 'brig setup --user %s' at %s: %v", user, base, err)
	}
	dir := filepath.Join(base, "itest-undelegated-"+randomHex(4))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a child cgroup: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	return dir
}

// ownCgroup returns this process's cgroup in a v1 hierarchy.
func ownCgroup(t *testing.T, controller string) string {
	t.Helper()
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ","+controller+",") {
			return parts[2]
		}
	}
	t.Skipf("no cgroup v1 %s hierarchy", controller)
	return ""
}

// runCommand runs a command other than brig (here: a shell that moves
// itself into a cgroup, then execs brig) and collects its result.
func runCommand(t *testing.T, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = t.TempDir()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", name, err)
	}
	return res
}
