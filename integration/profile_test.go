package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// userConfigEnv gives brig a fresh ~/.config/brig/profiles holding files.
func userConfigEnv(t *testing.T, files map[string]string) []string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, ".config", "brig", "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"HOME=" + home, "XDG_CONFIG_HOME="}
}

func TestProfileList(t *testing.T) {
	t.Parallel()
	res := runBrig(t, "", "profile", "list")
	wantCode(t, res, 0)
	for _, name := range []string{"strict", "default", "network", "ci"} {
		if !strings.Contains(res.stdout, "\n"+name+" ") {
			t.Errorf("profile list lacks %s:\n%s", name, res.stdout)
		}
	}
}

func TestProfileExplainStrictIsPlain(t *testing.T) {
	t.Parallel()
	res := runBrig(t, "", "profile", "explain", "strict")
	wantCode(t, res, 0)
	text := strings.ToLower(res.stdout)
	for _, want := range []string{"network", "memory", "read-only", "process"} {
		if !strings.Contains(text, want) {
			t.Errorf("explain strict does not mention %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(text, "seccomp") || strings.Contains(text, "cap_") {
		t.Errorf("explain strict uses jargon a newcomer would not know:\n%s", res.stdout)
	}
}

func TestUserProfileExtendsStrict(t *testing.T) {
	t.Parallel()
	env := userConfigEnv(t, map[string]string{"x.toml": "extends = \"strict\"\n\n[limits]\npids = 17\n"})
	res := runBrigEnv(t, t.TempDir(), env, "", "spec", "--profile", "x", "--", "/bin/true")
	wantCode(t, res, 0)
	var s specs.Spec
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		t.Fatalf("brig spec did not print JSON: %v\n%s", err, res.stdout)
	}
	if !strings.Contains(res.stdout, `"pids": {`+"\n"+`        "limit": 17`) || s.Linux.Resources.Pids == nil || *s.Linux.Resources.Pids.Limit != 17 {
		t.Errorf(`want "pids": {"limit": 17}, got %+v`, s.Linux.Resources.Pids)
	}
	if !s.Process.NoNewPrivileges || s.Linux.Resources.Memory == nil || *s.Linux.Resources.Memory.Limit != 512<<20 {
		t.Error("x lost what it extends from strict")
	}
}

func TestProfileTypoRefused(t *testing.T) {
	t.Parallel()
	env := userConfigEnv(t, map[string]string{"typo.toml": "extends = \"strict\"\n[limits]\npidz = 17\n"})
	stateDir, stateEnv := stateDirEnv(t)
	res := runBrigEnv(t, t.TempDir(), append(env, stateEnv...), "", "run", "--profile", "typo", "--", "true")
	wantCode(t, res, 125)
	line := oneLine(t, res.stderr)
	for _, want := range []string{"typo.toml", "pidz", `"pids"`} {
		if !strings.Contains(line, want) {
			t.Errorf("error does not name %s: %q", want, line)
		}
	}
	requireNoRunState(t, stateDir)
}

func TestSpecStrict(t *testing.T) {
	t.Parallel()
	res := runBrig(t, "", "spec", "--profile", "strict", "--", "/bin/true")
	wantCode(t, res, 0)
	var s specs.Spec
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges is not true")
	}
	c := s.Process.Capabilities
	if len(c.Bounding)+len(c.Effective)+len(c.Permitted)+len(c.Inheritable)+len(c.Ambient) != 0 {
		t.Errorf("capability sets are not empty: %+v", c)
	}
	for _, ns := range []specs.LinuxNamespaceType{specs.UserNamespace, specs.NetworkNamespace} {
		if !slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == ns }) {
			t.Errorf("no %s namespace", ns)
		}
	}
	if s.Linux.Resources.Memory == nil || s.Linux.Resources.Pids == nil {
		t.Error("no memory or pids limit")
	}
	if s.Linux.Seccomp == nil || !strings.Contains(res.stdout, `"ptrace"`) || !strings.Contains(res.stdout, `"io_uring_setup"`) {
		t.Error("no seccomp section with the strict denials")
	}
}

func TestProfileShowRoundTrip(t *testing.T) {
	t.Parallel()
	show := runBrig(t, "", "profile", "show", "strict")
	wantCode(t, show, 0)
	dir := t.TempDir()
	file := filepath.Join(dir, "copy.toml")
	if err := os.WriteFile(file, []byte(show.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	a := runBrigIn(t, dir, "", "spec", "--profile", "strict", "--", "/bin/true")
	b := runBrigIn(t, dir, "", "spec", "--profile-file", file, "--", "/bin/true")
	wantCode(t, b, 0)
	// Only the run's own root directory differs between two specs.
	if strip(a.stdout) != strip(b.stdout) {
		t.Errorf("profile show strict does not reproduce strict")
	}
	diff := runBrig(t, "", "profile", "diff", "strict", "default")
	wantCode(t, diff, 0)
	if !strings.Contains(diff.stdout, "limits.memory") {
		t.Errorf("diff strict default does not show the memory limit:\n%s", diff.stdout)
	}
}

// strip removes the per-run paths (the run id) from a spec.
func strip(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "/runs/") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
