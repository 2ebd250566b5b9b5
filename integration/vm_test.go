package integration

// The VM tests prove brig's systemd cgroup path: on a cgroup v2 host with
// systemd as PID 1 and a per-user systemd manager with delegated
// controllers, every limited run gets a transient scope created over the
// user's D-Bus session bus, the kernel enforces the limits there, and the
// receipt reads its statistics from it.
//
// They only make sense inside the guest that scripts/vm-test boots (Debian
// bookworm, systemd.unified_cgroup_hierarchy=1, the user brig-ci with a
// lingering manager), whose runner (scripts/vm/guest-run) sets:
//   - BRIG_VM=1: we are in that guest, as the unprivileged test user, in a
//     login session (XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS set);
//   - BRIG_VM_PHASE=suite: user@.service delegates cpu, cpuset, io, memory
//     and pids (the standard delegate.conf drop-in);
//   - BRIG_VM_PHASE=nodelegate: the drop-in is replaced by Delegate=pids,
//     the TestVMNoDelegation* tests' setting.
// Anywhere else they skip and say why.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireVM skips unless the test runs in scripts/vm-test's guest, in the
// given phase of guest-run.
func requireVM(t *testing.T, phase string) {
	t.Helper()
	if os.Getenv("BRIG_VM") != "1" {
		t.Skip("only in the cgroup v2 + systemd guest that scripts/vm-test boots (BRIG_VM=1)")
	}
	if got := os.Getenv("BRIG_VM_PHASE"); got != phase {
		t.Skipf("needs guest-run's %q phase, this is %q", phase, got)
	}
	if os.Geteuid() == 0 {
		t.Fatal("the VM tests must run as the unprivileged test user, not root")
	}
}

// vmReceipt is the part of brig's --report JSON these tests read.
type vmReceipt struct {
	ID              string `json:"id"`
	Reason          string `json:"reason"`
	ExitCode        int    `json:"exit_code"`
	Signal          int    `json:"signal"`
	MemoryPeakBytes int64  `json:"memory_peak_bytes"`
	CPUUserMS       int64  `json:"cpu_user_ms"`
	CPUSystemMS     int64  `json:"cpu_system_ms"`
	PidsPeak        int64  `json:"pids_peak"`
	PidsLimitHits   int64  `json:"pids_limit_hits"`
	OOMKills        int64  `json:"oom_kills"`
	CgroupDriver    string `json:"cgroup_driver"`
	Enforced        struct {
		Memory bool `json:"memory"`
		Pids   bool `json:"pids"`
		CPU    bool `json:"cpu"`
		IO     bool `json:"io"`
	} `json:"enforced"`
	Limits struct {
		MemoryBytes int64   `json:"memory_bytes"`
		Pids        int64   `json:"pids"`
		CPUs        float64 `json:"cpus"`
	} `json:"limits"`
}

func readReceipt(t *testing.T, path string, res result) vmReceipt {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no receipt: %v\n%v", err, res)
	}
	var rc vmReceipt
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatalf("receipt %s: %v\n%s", path, err, b)
	}
	return rc
}

// vmDoctor is the part of `brig doctor --json` these tests read.
type vmDoctor struct {
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Detail string `json:"detail"`
		Fix    string `json:"fix"`
	} `json:"checks"`
	LimitsEnforceable bool `json:"limits_enforceable"`
	Cgroups           struct {
		Version     int      `json:"version"`
		Driver      string   `json:"driver"`
		Kind        string   `json:"kind"`
		Parent      string   `json:"parent"`
		Controllers []string `json:"controllers"`
		Problem     string   `json:"problem"`
		Fix         string   `json:"fix"`
	} `json:"cgroups"`
}

func runDoctor(t *testing.T) (vmDoctor, result) {
	t.Helper()
	res := runBrig(t, "", "doctor", "--json")
	var d vmDoctor
	if err := json.Unmarshal([]byte(res.stdout), &d); err != nil {
		t.Fatalf("brig doctor --json: %v\n%v", err, res)
	}
	return d, res
}

// scopePattern matches the cgroup (as /proc/PID/cgroup shows it from the
// host's cgroup namespace) of a brig run: a scope in the slice user.slice
// of the user's own systemd manager.
func scopePattern() *regexp.Regexp {
	uid := os.Getuid()
	return regexp.MustCompile(fmt.Sprintf(`^/user\.slice/user-%d\.slice/user@%d\.service/user\.slice/brig-([^/]+)\.scope$`, uid, uid))
}

// procCgroup reads the v2 cgroup of pid.
func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatalf("cgroup of pid %d: %v", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			return rest
		}
	}
	t.Fatalf("pid %d has no cgroup v2 line: %s", pid, b)
	return ""
}

func readCgroupFile(t *testing.T, cgroup, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", cgroup, file))
	if err != nil {
		t.Fatalf("reading %s of the run's cgroup: %v", file, err)
	}
	return strings.TrimSpace(string(b))
}

// systemctlUser runs `systemctl --user` on the test user's manager.
func systemctlUser(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("systemctl", append([]string{"--user"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl --user %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestVMDoctorGreen: on a host set up the way brig's docs ask, every check
// of `brig doctor` is ok, and the cgroups go through the user's systemd.
func TestVMDoctorGreen(t *testing.T) {
	requireVM(t, "suite")
	d, res := runDoctor(t)
	if res.code != 0 {
		t.Errorf("brig doctor --json exit %d, want 0", res.code)
	}
	for _, c := range d.Checks {
		if c.Status != "ok" {
			t.Errorf("doctor check %q is %s: %s (fix: %s)", c.Name, c.Status, c.Detail, c.Fix)
		}
	}
	if len(d.Checks) == 0 {
		t.Errorf("doctor reported no checks")
	}
	cg := d.Cgroups
	if !d.LimitsEnforceable || cg.Version != 2 || cg.Driver != "systemd" || cg.Kind != "systemd-user" || cg.Problem != "" {
		t.Errorf("want limits enforceable via the systemd driver (v2, kind systemd-user, no problem), got %+v (limits_enforceable %v)", cg, d.LimitsEnforceable)
	}
	for _, c := range []string{"memory", "pids", "cpu", "io", "cpuset"} {
		if !slices.Contains(cg.Controllers, c) {
			t.Errorf("controller %s not reported usable: %v", c, cg.Controllers)
		}
	}
	human := runBrig(t, "", "doctor")
	if human.code != 0 || strings.Contains(human.stdout, "fail") || strings.Contains(human.stdout, "warn") {
		t.Errorf("brig doctor (text) is not all green:\n%v", human)
	}
	if t.Failed() {
		t.Logf("doctor: %s", res.stdout)
	}
}

// TestVMLimitsInTransientScope: a limited run lives in a transient scope of
// the user's systemd manager, whose cgroup holds exactly the limits asked
// for; the scope is gone when brig returns, and the receipt names the
// systemd driver.
func TestVMLimitsInTransientScope(t *testing.T) {
	requireVM(t, "suite")
	dir := t.TempDir()
	report := filepath.Join(t.TempDir(), "receipt.json")
	sleep := uniqueSleep()
	b := startBrig(t, dir, nil, "run", "--memory", "64M", "--pids", "32", "--cpus", "0.5", "--report", report,
		"--", "sh", "-c", "echo ready; exec sleep "+sleep)
	b.waitLine(t, "ready", 2*runTimeout)
	pid := waitForProcess(t, "sleep "+sleep, runTimeout)
	cgroup := procCgroup(t, pid)
	m := scopePattern().FindStringSubmatch(cgroup)
	if m == nil {
		t.Fatalf("workload's cgroup %q is not a brig scope of user@%d.service's user.slice (%s)", cgroup, os.Getuid(), scopePattern())
	}
	unit := filepath.Base(cgroup)
	for file, want := range map[string]string{
		"memory.max": "67108864",
		"pids.max":   "32",
		"cpu.max":    "50000 100000",
	} {
		if got := readCgroupFile(t, cgroup, file); got != want {
			t.Errorf("%s of %s: %q, want %q", file, cgroup, got, want)
		}
	}
	show := systemctlUser(t, "show", "--property=Transient,ActiveState,Slice,MemoryMax,TasksMax", unit)
	for _, want := range []string{"Transient=yes", "ActiveState=active", "Slice=user.slice", "MemoryMax=67108864", "TasksMax=32"} {
		if !strings.Contains(show, want+"\n") {
			t.Errorf("systemctl --user show %s: no %s in\n%s", unit, want, show)
		}
	}

	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res := b.wait(t, runTimeout)
	if res.code != 143 {
		t.Errorf("want exit 143 (SIGTERM forwarded to the workload), got %v", res)
	}
	rc := readReceipt(t, report, res)
	if "brig-"+rc.ID+".scope" != unit {
		t.Errorf("receipt id %q does not name the scope %s", rc.ID, unit)
	}
	if rc.CgroupDriver != "systemd" || !rc.Enforced.Memory || !rc.Enforced.Pids || !rc.Enforced.CPU {
		t.Errorf("want cgroup_driver systemd with memory, pids and cpu enforced, got %+v", rc)
	}
	if rc.Limits.MemoryBytes != 64<<20 || rc.Limits.Pids != 32 || rc.Limits.CPUs != 0.5 {
		t.Errorf("receipt limits %+v, want 64 MiB, 32 pids, 0.5 CPUs", rc.Limits)
	}
	if rc.MemoryPeakBytes <= 0 || rc.PidsPeak < 2 {
		t.Errorf("receipt statistics not read from the scope: memory peak %d, pids peak %d", rc.MemoryPeakBytes, rc.PidsPeak)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", cgroup)); !os.IsNotExist(err) {
		t.Errorf("the run's cgroup %s outlived brig (stat: %v)", cgroup, err)
	}
	if out, _ := exec.Command("systemctl", "--user", "is-active", unit).Output(); strings.TrimSpace(string(out)) == "active" {
		t.Errorf("scope %s still active after brig returned", unit)
	}
}

// TestVMOOMKill: at the memory limit the kernel's OOM killer kills the
// workload inside its scope; brig exits 137 and the receipt says "oom".
func TestVMOOMKill(t *testing.T) {
	requireVM(t, "suite")
	report := filepath.Join(t.TempDir(), "receipt.json")
	// tail keeps the current line in memory, and /dev/zero has no newline.
	res := runBrig(t, "", "run", "--memory", "48M", "--report", report, "--", "tail", "/dev/zero")
	if res.code != 137 {
		t.Errorf("want exit 137 (SIGKILL by the OOM killer), got %v", res)
	}
	rc := readReceipt(t, report, res)
	if rc.Reason != "oom" || rc.OOMKills < 1 || rc.Signal != int(syscall.SIGKILL) {
		t.Errorf("want reason oom, oom_kills >= 1, signal 9; got %+v", rc)
	}
	if rc.CgroupDriver != "systemd" || !rc.Enforced.Memory {
		t.Errorf("want the memory limit enforced by the systemd driver, got %+v", rc)
	}
	const limit = 48 << 20
	if rc.MemoryPeakBytes < limit/2 || rc.MemoryPeakBytes > limit+limit/8 {
		t.Errorf("memory peak %d bytes, want about the 48 MiB limit", rc.MemoryPeakBytes)
	}
	if !strings.Contains(strings.ToLower(res.stderr), "oom") && !strings.Contains(strings.ToLower(res.stderr), "memory") {
		t.Errorf("stderr does not say the memory limit killed the workload:\n%v", res)
	}
}

// TestVMPidsLimit: forks beyond the pids limit fail inside the scope, and
// the receipt counts the peak and the refusals.
func TestVMPidsLimit(t *testing.T) {
	requireVM(t, "suite")
	report := filepath.Join(t.TempDir(), "receipt.json")
	// The limit counts tasks (threads too): brig's reaper, a Go program,
	// takes about six of them, sh one. Thirty background sleeps under a
	// limit of 16 must hit it (dash gives up at the first failed fork).
	// Long sleeps: forks are slow under emulation.
	const limit = 16
	script := `i=0; while [ $i -lt 30 ]; do sleep 10 & i=$((i+1)); done; wait; echo done`
	start := time.Now()
	res := runBrig(t, "", "run", "--pids", fmt.Sprint(limit), "--report", report, "--", "sh", "-c", script)
	rc := readReceipt(t, report, res)
	if rc.CgroupDriver != "systemd" || !rc.Enforced.Pids || rc.Limits.Pids != limit {
		t.Errorf("want the pids limit %d enforced by the systemd driver, got %+v", limit, rc)
	}
	if rc.PidsLimitHits < 1 {
		t.Errorf("pids_limit_hits %d, want >= 1 (30 forks under --pids %d)\n%v", rc.PidsLimitHits, limit, res)
	}
	if rc.PidsPeak < limit/2 || rc.PidsPeak > limit {
		t.Errorf("pids_peak %d, want %d..%d", rc.PidsPeak, limit/2, limit)
	}
	t.Logf("pids peak %d, limit hits %d, %v", rc.PidsPeak, rc.PidsLimitHits, time.Since(start).Round(time.Millisecond))
}

// TestVMConcurrentScopes: runs at the same time get scopes of their own.
func TestVMConcurrentScopes(t *testing.T) {
	requireVM(t, "suite")
	const n = 4
	type out struct {
		res result
		rc  vmReceipt
	}
	done := make(chan out, n)
	for range n {
		go func() {
			report := filepath.Join(t.TempDir(), "receipt.json")
			res := runBrigNoFatal(report, "run", "--memory", "32M", "--pids", "16", "--report", report, "--", "cat", "/proc/self/cgroup")
			var rc vmReceipt
			if b, err := os.ReadFile(report); err == nil {
				_ = json.Unmarshal(b, &rc)
			}
			done <- out{res, rc}
		}()
	}
	ids := map[string]bool{}
	for range n {
		o := <-done
		if o.res.code != 0 || o.rc.CgroupDriver != "systemd" || o.rc.ID == "" {
			t.Errorf("concurrent limited run failed: receipt %+v\n%v", o.rc, o.res)
			continue
		}
		// The sandbox has its own cgroup namespace: its root is the scope.
		if strings.TrimSpace(o.res.stdout) != "0::/" {
			t.Errorf("inside the sandbox /proc/self/cgroup should be the namespace root, got %q", o.res.stdout)
		}
		if ids[o.rc.ID] {
			t.Errorf("two runs shared the id %s", o.rc.ID)
		}
		ids[o.rc.ID] = true
	}
}

// runBrigNoFatal runs brig from the directory of path, for goroutines that
// must not call t.Fatal.
func runBrigNoFatal(path string, args ...string) result {
	cmd := exec.Command(brigBin, args...)
	cmd.Dir = filepath.Dir(path)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		res.code, res.stderr = -1, res.stderr+"\n[harness: "+err.Error()+"]"
	}
	return res
}

// TestVMNoDelegationRefuses: when user@.service does not delegate the cpu
// controller, --cpus is refused in one line that names the controller and
// the drop-in that fixes it; what is still delegated keeps working.
func TestVMNoDelegationRefuses(t *testing.T) {
	requireVM(t, "nodelegate")
	res := runBrig(t, "", "run", "--cpus", "0.5", "--", "true")
	if res.code != 125 {
		t.Fatalf("want exit 125 (limits this host cannot enforce), got %v", res)
	}
	line := oneLine(t, res.stderr)
	for _, want := range []string{"cpu", "not delegated", "/etc/systemd/system/user@.service.d/delegate.conf", "Delegate=", "best-effort"} {
		if !strings.Contains(line, want) {
			t.Errorf("the refusal does not mention %q: %s", want, line)
		}
	}

	report := filepath.Join(t.TempDir(), "receipt.json")
	ok := runBrig(t, "", "run", "--memory", "64M", "--pids", "16", "--report", report, "--", "true")
	if ok.code != 0 {
		t.Fatalf("memory and pids are still delegated, yet the run failed: %v", ok)
	}
	if rc := readReceipt(t, report, ok); rc.CgroupDriver != "systemd" || !rc.Enforced.Memory || !rc.Enforced.Pids {
		t.Errorf("want memory and pids enforced by the systemd driver, got %+v", rc)
	}
}

// TestVMNoDelegationBestEffort: --cgroups=best-effort runs without the
// limit it cannot enforce, and the receipt says so.
func TestVMNoDelegationBestEffort(t *testing.T) {
	requireVM(t, "nodelegate")
	report := filepath.Join(t.TempDir(), "receipt.json")
	res := runBrig(t, "", "run", "--cpus", "0.5", "--memory", "64M", "--cgroups", "best-effort", "--report", report, "--", "true")
	if res.code != 0 {
		t.Fatalf("best effort must run: %v", res)
	}
	if !strings.Contains(res.stderr, "cpu") {
		t.Errorf("best effort must warn that the cpu limit is not enforced:\n%v", res)
	}
	rc := readReceipt(t, report, res)
	if rc.Enforced.CPU || !rc.Enforced.Memory || rc.CgroupDriver != "systemd" {
		t.Errorf("want cpu not enforced, memory enforced, driver systemd; got %+v", rc)
	}
}

// TestVMNoDelegationDoctor: doctor names the missing controllers and the
// fix, and no longer calls limits enforceable.
func TestVMNoDelegationDoctor(t *testing.T) {
	requireVM(t, "nodelegate")
	d, res := runDoctor(t)
	if res.code == 0 || d.LimitsEnforceable {
		t.Errorf("want doctor to fail (cpu is not delegated), got exit %d, limits_enforceable %v", res.code, d.LimitsEnforceable)
	}
	found := false
	for _, c := range d.Checks {
		if c.Name != "cgroup controllers" {
			continue
		}
		found = true
		if c.Status != "fail" || !strings.Contains(c.Detail, "cpu") || !strings.Contains(c.Fix, "delegate.conf") {
			t.Errorf("want the controllers check to fail naming cpu with the delegate.conf fix, got %+v", c)
		}
	}
	if !found {
		t.Errorf("no \"cgroup controllers\" check in %s", res.stdout)
	}
}

// TestVMNoSessionBus: without the login session's environment (sudo -u,
// su without -l, cron) the user's manager runs but brig cannot reach its
// bus; limits are refused with the exports that fix it.
func TestVMNoSessionBus(t *testing.T) {
	requireVM(t, "suite")
	uid := os.Getuid()
	state := t.TempDir()
	res := runBrigEnv(t, t.TempDir(), []string{"XDG_RUNTIME_DIR=", "DBUS_SESSION_BUS_ADDRESS=", "BRIG_STATE_DIR=" + state},
		"", "run", "--memory", "64M", "--", "true")
	if res.code != 125 {
		t.Fatalf("want exit 125 without the session bus, got %v", res)
	}
	line := oneLine(t, res.stderr)
	for _, want := range []string{"memory", "D-Bus", fmt.Sprintf("XDG_RUNTIME_DIR=/run/user/%d", uid),
		fmt.Sprintf("DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/%d/bus", uid)} {
		if !strings.Contains(line, want) {
			t.Errorf("the refusal does not mention %q: %s", want, line)
		}
	}
}
