package integration

// The security suite runs the adversarial probe (integration/probe) inside
// brig sandboxes and holds each builtin profile to its promise: every
// attempt the probe makes is "blocked", except the few a profile allows on
// purpose, listed below with the reason.
//
// Which probe runs:
//   - BRIG_PROBE=/path/to/probe: that binary, built with
//     `CGO_ENABLED=0 go build -o probe ./integration/probe` (CI sets it,
//     since the test binary there runs outside the checkout);
//   - otherwise the probe is built from this checkout once per test binary.
//
// Each test copies the probe into its own temporary directory and binds
// that directory at /probe, read-only.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// probeLine is one "NAME STATUS detail" line of the probe's table.
type probeLine struct {
	status string
	detail string
}

// probeTable maps check names to their lines, and keeps the raw output for
// failure messages.
type probeTable struct {
	lines map[string]probeLine
	raw   string
}

// parseProbe reads the probe's output. Lines starting with "#" are progress
// notes; anything else that is not a well-formed line is reported, as is a
// check printed twice.
func parseProbe(out string) (probeTable, []string) {
	tab := probeTable{lines: map[string]probeLine{}, raw: out}
	var problems []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.SplitN(l, " ", 3)
		if len(f) < 2 || (f[1] != "blocked" && f[1] != "allowed" && f[1] != "skip") {
			problems = append(problems, fmt.Sprintf("unparsable line %q", l))
			continue
		}
		if _, dup := tab.lines[f[0]]; dup {
			problems = append(problems, fmt.Sprintf("check %s printed twice", f[0]))
		}
		pl := probeLine{status: f[1]}
		if len(f) == 3 {
			pl.detail = f[2]
		}
		tab.lines[f[0]] = pl
	}
	return tab, problems
}

// probeBuild holds the probe binary's bytes, built or read once.
var probeBuild struct {
	once sync.Once
	data []byte
	err  error
}

// probeDir returns a directory holding only an executable "probe", private
// to the test and removed with it.
func probeDir(t *testing.T) string {
	t.Helper()
	probeBuild.once.Do(func() { probeBuild.data, probeBuild.err = loadProbe() })
	if probeBuild.err != nil {
		t.Fatalf("no probe: %v", probeBuild.err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "probe"), probeBuild.data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadProbe reads $BRIG_PROBE or builds the probe statically from the
// checkout into a scratch directory, keeps the bytes and removes the
// directory, so nothing outlives the test binary.
func loadProbe() ([]byte, error) {
	if p := os.Getenv("BRIG_PROBE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("BRIG_PROBE=%s: %w", p, err)
		}
		return b, nil
	}
	src, err := probeSource()
	if err != nil {
		return nil, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
		if _, err := os.Stat(goBin); err != nil {
			return nil, errors.New("go is not on PATH: set BRIG_PROBE to a probe built with 'CGO_ENABLED=0 go build -o probe ./integration/probe'")
		}
	}
	dir, err := os.MkdirTemp("", "brig-probe-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "probe")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s(set BRIG_PROBE to a prebuilt probe instead)", src, err, msg)
	}
	return os.ReadFile(out)
}

// probeSource finds integration/probe: in the checkout above the working
// directory, or next to this file as it was compiled.
func probeSource() (string, error) {
	if root, err := repoRoot(); err == nil {
		return filepath.Join(root, "integration", "probe"), nil
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "probe")
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("cannot find integration/probe (run from the checkout or set BRIG_PROBE)")
}

// probeListing runs `probe -list`, the one mode the probe allows outside a
// sandbox, and returns the check names with their descriptions.
func probeListing(t *testing.T, dir string) map[string]string {
	t.Helper()
	out, err := exec.Command(filepath.Join(dir, "probe"), "-list").Output()
	if err != nil {
		t.Fatalf("probe -list: %v", err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, desc, ok := strings.Cut(l, "\t")
		if !ok {
			t.Fatalf("probe -list: malformed line %q", l)
		}
		m[name] = desc
	}
	return m
}

// isResourceCheck reports whether a check runs only when named.
func isResourceCheck(desc string) bool { return strings.HasPrefix(desc, "[resource]") }

// hostTargets are the host things a sandbox must not reach: a loopback TCP
// listener, an abstract unix socket, this test's pid, a secret variable in
// brig's environment and the user's home.
type hostTargets struct {
	tcp, abstract, secret, home string
}

// probeArgs renders the targets as probe flags.
func (h hostTargets) probeArgs() []string {
	args := []string{"-hostpid", strconv.Itoa(os.Getpid()), "-tcp", h.tcp, "-abstract", h.abstract, "-secret", h.secret}
	if h.home != "" {
		args = append(args, "-home", h.home)
	}
	return args
}

// setupHostTargets opens the listeners (closed with the test), sets the
// secret in the environment brig inherits, and picks the home to look for:
// a marker file in $HOME when it is writable, else $HOME itself.
func setupHostTargets(t *testing.T) hostTargets {
	t.Helper()
	h := hostTargets{secret: "BRIG_ITEST_SECRET_TOKEN"}
	t.Setenv(h.secret, "s3cret-"+randomToken(t))
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("host TCP listener: %v", err)
	}
	h.tcp = tcp.Addr().String()
	h.abstract = "brig-itest-" + randomToken(t)
	unix, err := net.Listen("unix", "@"+h.abstract)
	if err != nil {
		tcp.Close()
		t.Fatalf("host abstract unix listener: %v", err)
	}
	for _, l := range []net.Listener{tcp, unix} {
		go acceptAndClose(l)
		t.Cleanup(func() { l.Close() })
	}
	if home := os.Getenv("HOME"); home != "" {
		marker := filepath.Join(home, ".brig-itest-marker-"+randomToken(t))
		if err := os.WriteFile(marker, []byte("visible\n"), 0o600); err == nil {
			t.Cleanup(func() { os.Remove(marker) })
			h.home = marker
		} else if _, err := os.Stat(home); err == nil {
			h.home = home
		}
	}
	return h
}

func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// probeRun runs the probe under brig with the extra brig flags and probe
// arguments, from a fresh working directory.
func probeRun(t *testing.T, dir string, brigFlags []string, probeArgs ...string) result {
	t.Helper()
	args := append([]string{"run"}, brigFlags...)
	args = append(args, "--bind", dir+":/probe:ro", "--", "/probe/probe")
	args = append(args, probeArgs...)
	return runBrigIn(t, t.TempDir(), "", args...)
}

// skippable maps the checks that may legitimately skip to why: they need
// something a run without a terminal, or this host, does not offer.
var skippable = map[string]string{
	"tiocsti":          "needs a terminal (TestSecurityTerminal gives it one)",
	"tioclinux":        "needs a virtual console",
	"setuid_raise":     "no setuid files visible",
	"host_tcp_gateway": "no default route without a network",
}

// TestSecurityProfiles runs every default check under each builtin profile
// and compares the table with the profile's promise.
func TestSecurityProfiles(t *testing.T) {
	requireUserNS(t)
	dir := probeDir(t)
	listing := probeListing(t, dir)
	targets := setupHostTargets(t)

	expected := probeExpectations(t, dir)
	profiles := make([]string, 0, len(expected))
	for p := range expected {
		profiles = append(profiles, p)
	}
	sort.Strings(profiles)
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) {
			if profile == "network" {
				if _, err := exec.LookPath("pasta"); err != nil {
					t.Skip("the network profile needs pasta (Debian package passt), not installed")
				}
			}
			// Limits are not what this test is about: run where they
			// cannot be enforced too.
			res := probeRun(t, dir, []string{"--profile", profile, "--cgroups", "best-effort"}, targets.probeArgs()...)
			if res.code == 125 && (profile == "network" || strings.Contains(res.stderr, "not found")) {
				// network is optional: brig may not know it, or not
				// be able to provide it on this host.
				t.Skipf("brig cannot run the profile %q here: %s", profile, strings.TrimSpace(res.stderr))
			}
			if res.code != 0 {
				t.Fatalf("probe under %s did not finish cleanly: %v", profile, res)
			}
			checkTable(t, res, listing, expected[profile], targets.home == "")
		})
	}
}

// checkTable asserts that every default check printed one line and that
// only the allowed ones say "allowed"; skips need a known reason.
func checkTable(t *testing.T, res result, listing map[string]string, allowed map[string]string, noHome bool) {
	t.Helper()
	tab, problems := parseProbe(res.stdout)
	for name, desc := range listing {
		if isResourceCheck(desc) {
			continue
		}
		l, ok := tab.lines[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: no line printed", name))
		case l.status == "allowed" && allowed[name] == "":
			problems = append(problems, fmt.Sprintf("%s ALLOWED (%s): %s", name, desc, l.detail))
		case l.status == "skip" && skippable[name] == "" && !(name == "host_home_visible" && noHome):
			problems = append(problems, fmt.Sprintf("%s skipped without an accepted reason: %s", name, l.detail))
		}
	}
	for name, l := range tab.lines {
		if l.status == "skip" {
			t.Logf("skip %s: %s", name, l.detail)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("the sandbox let the probe through:\n  %s\nfull probe table:\n%s\nstderr:\n%s",
			strings.Join(problems, "\n  "), tab.raw, res.stderr)
	}
}

// TestSecurityProbeDetects runs chosen checks without brig, under a bare
// `unshare -Ur` (a user namespace, nothing else), to prove the probe's
// detectors fire: a probe that always says "blocked" would pass every
// sandbox test.
func TestSecurityProbeDetects(t *testing.T) {
	requireUserNS(t)
	dir := probeDir(t)
	targets := setupHostTargets(t)
	want := []string{"cap_effective", "env_leak", "host_tcp", "host_abstract_unix", "signal_host_pid", "host_pids_visible", "mount_tmpfs", "clone_newns"}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	args := append([]string{"-Ur", filepath.Join(dir, "probe")}, targets.probeArgs()...)
	cmd := exec.CommandContext(ctx, "unshare", append(args, want...)...)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("probe under unshare -Ur: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	tab, problems := parseProbe(stdout.String())
	for _, name := range want {
		if l := tab.lines[name]; l.status != "allowed" {
			problems = append(problems, fmt.Sprintf("%s: want allowed without a sandbox, got %q %s", name, l.status, l.detail))
		}
	}
	if len(problems) > 0 {
		t.Errorf("the probe missed what a bare user namespace allows:\n  %s\nfull table:\n%s", strings.Join(problems, "\n  "), tab.raw)
	}
}

// TestSecurityRefusesHost checks the probe's guard: outside a user
// namespace it must refuse before trying anything.
func TestSecurityRefusesHost(t *testing.T) {
	if b, err := os.ReadFile("/proc/self/uid_map"); err != nil || strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295" {
		t.Skip("this test binary runs in a user namespace, where the probe would not refuse")
	}
	dir := probeDir(t)
	// A check that cannot change anything, in case the guard is broken.
	cmd := exec.Command(filepath.Join(dir, "probe"), "cap_ambient")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "probe: refusing to run outside a sandbox") {
		t.Fatalf("want exit 2 and a refusal on the host, got %v: %s", err, out)
	}
}

// TestSecurityForkBomb: a pids limit stops process creation with EAGAIN.
func TestSecurityForkBomb(t *testing.T) {
	requireUserNS(t)
	requireLimits(t)
	dir := probeDir(t)
	res := probeRun(t, dir, []string{"--profile", "strict", "--pids", "64"}, "fork_bomb")
	tab, problems := parseProbe(res.stdout)
	l := tab.lines["fork_bomb"]
	if res.code != 0 || len(problems) > 0 || l.status != "blocked" || !strings.Contains(l.detail, "EAGAIN") {
		t.Fatalf("want fork_bomb blocked by EAGAIN under --pids 64, got %q %s (problems: %v)\n%v", l.status, l.detail, problems, res)
	}
}

// TestSecurityMemoryBomb: a memory limit kills the workload, brig exits
// 137 and says it was the OOM killer.
func TestSecurityMemoryBomb(t *testing.T) {
	requireUserNS(t)
	requireLimits(t)
	dir := probeDir(t)
	res := probeRun(t, dir, []string{"--profile", "strict", "--memory", "64M"}, "memory_bomb")
	if res.code != 137 || !strings.Contains(strings.ToLower(res.stderr), "oom") {
		t.Fatalf("want exit 137 and an OOM report on stderr under --memory 64M, got %v", res)
	}
	if tab, _ := parseProbe(res.stdout); tab.lines["memory_bomb"].status == "allowed" {
		t.Fatalf("memory_bomb touched its whole budget: %v", res)
	}
}

// TestSecurityTmpfsFill: strict's /tmp runs out of bytes and of inodes.
func TestSecurityTmpfsFill(t *testing.T) {
	requireUserNS(t)
	dir := probeDir(t)
	res := probeRun(t, dir, []string{"--profile", "strict", "--cgroups", "best-effort"}, "tmpfs_fill")
	tab, problems := parseProbe(res.stdout)
	l := tab.lines["tmpfs_fill"]
	if res.code != 0 || len(problems) > 0 || l.status != "blocked" || strings.Count(l.detail, "ENOSPC") != 2 {
		t.Fatalf("want tmpfs_fill blocked by ENOSPC for bytes and inodes, got %q %s (problems: %v)\n%v", l.status, l.detail, problems, res)
	}
}

// TestSecurityTerminal runs the terminal checks on a real pseudo-terminal
// (util-linux script): with brig's own terminal (-t), and sharing the
// caller's, the classic escape where injected keystrokes run in the user's
// shell after the sandbox exits.
func TestSecurityTerminal(t *testing.T) {
	requireUserNS(t)
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("needs script(1) from util-linux for a pseudo-terminal")
	}
	dir := probeDir(t)
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"strict with -t", []string{"--profile", "strict", "-t"}},
		{"strict on the caller's terminal", []string{"--profile", "strict"}},
		{"default on the caller's terminal", []string{"--profile", "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append([]string{brigBin, "run", "--cgroups", "best-effort"}, tc.flags...)
			argv = append(argv, "--bind", dir+":/probe:ro", "--", "/probe/probe", "tiocsti", "tioclinux")
			quoted := make([]string, len(argv))
			for i, a := range argv {
				quoted[i] = shellQuote(a)
			}
			ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, script, "-q", "-e", "-c", strings.Join(quoted, " "), "/dev/null")
			cmd.Dir = t.TempDir()
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			tab := parseTerminal(stdout.String(), "tiocsti", "tioclinux")
			var problems []string
			for _, name := range []string{"tiocsti", "tioclinux"} {
				if l, ok := tab[name]; !ok || l.status != "blocked" {
					problems = append(problems, fmt.Sprintf("%s: want blocked on a terminal, got %q %s", name, l.status, l.detail))
				}
			}
			if len(problems) > 0 {
				t.Fatalf("%s\nscript: %v\nstdout (the terminal):\n%s\nstderr:\n%s", strings.Join(problems, "\n"), err, stdout.String(), stderr.String())
			}
		})
	}
}

// parseTerminal picks the lines of the named checks out of a terminal's
// output, where brig's own lines and echoed input (the pushed keystroke)
// mix with the probe's.
func parseTerminal(out string, names ...string) map[string]probeLine {
	found := map[string]probeLine{}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		for _, name := range names {
			i := strings.Index(l, name+" ")
			if i < 0 {
				continue
			}
			f := strings.SplitN(l[i:], " ", 3)
			pl := probeLine{status: f[1]}
			if len(f) == 3 {
				pl.detail = f[2]
			}
			found[name] = pl
		}
	}
	return found
}

// TestSecurityInheritedFDs starts brig with extra open descriptors (a host
// file and both ends of a pipe), as a careless caller would: none may
// reach the workload.
func TestSecurityInheritedFDs(t *testing.T) {
	requireUserNS(t)
	dir := probeDir(t)
	hostFile, err := os.Create(filepath.Join(t.TempDir(), "host-file"))
	if err != nil {
		t.Fatal(err)
	}
	defer hostFile.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, brigBin, "run", "--profile", "strict", "--cgroups", "best-effort",
		"--bind", dir+":/probe:ro", "--", "/probe/probe", "extra_fds")
	cmd.Dir = t.TempDir()
	cmd.ExtraFiles = []*os.File{hostFile, r, w}
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	tab, problems := parseProbe(stdout.String())
	if l := tab.lines["extra_fds"]; err != nil || len(problems) > 0 || l.status != "blocked" {
		t.Fatalf("want extra_fds blocked with fds 3-5 open in brig, got %q %s (%v, problems %v)\nstdout:\n%s\nstderr:\n%s",
			l.status, l.detail, err, problems, stdout.String(), stderr.String())
	}
}

// TestSecurityBrigBinaryUnchanged tries CVE-2019-5736's first step from
// inside (opening /proc/self/exe and every /proc/N/exe for writing) and
// checks that brig's binary is byte-for-byte the same afterwards.
func TestSecurityBrigBinaryUnchanged(t *testing.T) {
	requireUserNS(t)
	dir := probeDir(t)
	before := fileSHA256(t, brigBin)
	for _, profile := range []string{"default", "strict"} {
		res := probeRun(t, dir, []string{"--profile", profile, "--cgroups", "best-effort"}, "proc_self_exe_write")
		tab, problems := parseProbe(res.stdout)
		if l := tab.lines["proc_self_exe_write"]; l.status != "blocked" {
			problems = append(problems, fmt.Sprintf("proc_self_exe_write: want blocked, got %q %s", l.status, l.detail))
		}
		if res.code != 0 || len(problems) > 0 {
			t.Errorf("under %s: %s\n%v", profile, strings.Join(problems, "; "), res)
		}
	}
	if after := fileSHA256(t, brigBin); after != before {
		t.Fatalf("brig's binary changed during the runs: sha256 %s -> %s", before, after)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// shellQuote quotes s for sh -c.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// probeExpectations asks the probe what each builtin profile allows on
// purpose (`probe -expect`): the same table the README shows.
func probeExpectations(t *testing.T, dir string) map[string]map[string]string {
	t.Helper()
	out, err := exec.Command(filepath.Join(dir, "probe"), "-expect").Output()
	if err != nil {
		t.Fatalf("probe -expect: %v", err)
	}
	expected := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("probe -expect printed %q", line)
		}
		if expected[f[0]] == nil {
			expected[f[0]] = map[string]string{}
		}
		if f[1] != "" {
			expected[f[0]][f[1]] = f[2]
		}
	}
	return expected
}
