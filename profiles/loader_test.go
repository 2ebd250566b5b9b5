package profiles

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// twoDirs returns a loader over a user and a system directory, both empty.
func twoDirs(t *testing.T) (l Loader, user, system string) {
	t.Helper()
	root := t.TempDir()
	user, system = filepath.Join(root, "user"), filepath.Join(root, "system")
	return Loader{ConfigDirs: []string{user, system}}, user, system
}

func mustLoad(t *testing.T, l Loader, name string) *Profile {
	t.Helper()
	p, err := l.Load(name)
	if err != nil {
		t.Fatalf("Load(%q): %v", name, err)
	}
	return p
}

func TestBuiltins(t *testing.T) {
	l := Loader{}
	strict := mustLoad(t, l, "strict")
	if strict.Network.Mode != NetNone || !strict.Filesystem.RootReadonly || strict.Filesystem.Workdir != WorkdirReadOnly ||
		len(strict.Security.Capabilities) != 0 || !strict.Security.NoNewPrivileges || !strict.Security.DenyNamespaces ||
		strict.Limits.Memory != 512*MiB || strict.Limits.Pids != 256 || strict.Limits.CPUs != 1 || strict.Limits.Nofile != 1024 ||
		strict.Filesystem.TmpSize != 64*MiB || strict.Filesystem.TmpInodes != 16384 || strict.Source != "builtin" {
		t.Errorf("strict is not as documented: %+v", strict)
	}
	for _, sc := range []string{"ptrace", "keyctl", "bpf", "io_uring_setup", "unshare", "mount", "open_by_handle_at", "quotactl_fd"} {
		if !slices.Contains(strict.Security.SeccompDeny, sc) {
			t.Errorf("strict does not deny %s", sc)
		}
	}
	def := mustLoad(t, l, "default")
	if def.Filesystem.Workdir != WorkdirReadWrite || len(def.Security.Capabilities) != 14 || def.Limits.Memory != 2*GiB ||
		def.Limits.Pids != 1024 || def.Limits.Nofile != 65536 || !slices.Equal(def.Security.SeccompDeny, []string{"ptrace"}) || def.Filesystem.TmpSize != 512*MiB {
		t.Errorf("default is not as documented: %+v", def)
	}
	net := mustLoad(t, l, "network")
	if net.Network.Mode != NetUser || !slices.Contains(net.Environment.Pass, "HTTPS_PROXY") || net.Limits.Memory != 2*GiB {
		t.Errorf("network is not as documented: %+v", net)
	}
	ci := mustLoad(t, l, "ci")
	if ci.Limits.Memory != 4*GiB || ci.Limits.Pids != 4096 || ci.Limits.Timeout.String() != "1h" ||
		!slices.Contains(ci.Environment.Pass, "GITHUB_ACTIONS") || ci.Network.Mode != NetNone {
		t.Errorf("ci is not as documented: %+v", ci)
	}
	for _, p := range []*Profile{strict, def, net, ci} {
		if p.Extends != "" || p.Description == "" {
			t.Errorf("%s: Extends = %q, Description = %q", p.Name, p.Extends, p.Description)
		}
	}
}

func TestLookupPrecedence(t *testing.T) {
	l, user, system := twoDirs(t)
	writeFile(t, system, "mine.toml", "description = \"system\"\n")
	if p := mustLoad(t, l, "mine"); p.Description != "system" || p.Source != filepath.Join(system, "mine.toml") {
		t.Errorf("system file not found: %q from %s", p.Description, p.Source)
	}
	writeFile(t, user, "mine.toml", "description = \"user\"\n")
	if p := mustLoad(t, l, "mine"); p.Description != "user" {
		t.Errorf("user file does not shadow the system one: %q", p.Description)
	}
	l.ProfileFile = writeFile(t, t.TempDir(), "mine.toml", "description = \"flag\"\n")
	if p := mustLoad(t, l, "mine"); p.Description != "flag" || p.Source != l.ProfileFile || p.Name != "mine" {
		t.Errorf("--profile-file does not come first: %q from %s", p.Description, p.Source)
	}
	if p := mustLoad(t, l, ""); p.Description != "flag" {
		t.Errorf(`Load("") does not load --profile-file: %q`, p.Description)
	}
	// Other names are still found past the profile file.
	if p := mustLoad(t, l, "ci"); p.Source != "builtin" {
		t.Errorf("ci from %s", p.Source)
	}
}

func TestUserFileShadowsBuiltin(t *testing.T) {
	l, user, _ := twoDirs(t)
	path := writeFile(t, user, "strict.toml", "extends = \"strict\"\ndescription = \"my strict\"\n[limits]\nmemory = \"1G\"\n")
	p := mustLoad(t, l, "strict")
	if p.Source != path || p.Limits.Memory != GiB || p.Limits.Pids != 256 || p.Description != "my strict" {
		t.Errorf("user strict.toml extending the builtin strict: %+v", p)
	}
	// Another profile extending "strict" gets the user's strict.
	writeFile(t, user, "other.toml", "extends = \"strict\"\n")
	if p := mustLoad(t, l, "other"); p.Limits.Memory != GiB {
		t.Errorf("extends = strict from another file: memory %s, want the user's 1G", p.Limits.Memory)
	}
}

func TestSameNameExtendsNextInOrder(t *testing.T) {
	l, user, system := twoDirs(t)
	writeFile(t, system, "default.toml", "extends = \"default\"\n[limits]\npids = 7\n")
	writeFile(t, user, "default.toml", "extends = \"default\"\n[limits]\nnofile = 9\n")
	p := mustLoad(t, l, "default")
	if p.Limits.Pids != 7 || p.Limits.Nofile != 9 || p.Filesystem.Workdir != WorkdirReadWrite {
		t.Errorf("user → system → builtin default chain: %+v", p.Limits)
	}
}

func TestNoExtendsStartsFromStrict(t *testing.T) {
	l, user, _ := twoDirs(t)
	writeFile(t, user, "bare.toml", "[network]\nmode = \"host\"\n")
	p := mustLoad(t, l, "bare")
	strict := mustLoad(t, Loader{}, "strict")
	if d := Diff(strict, p); !slices.Equal(d, []string{
		`description: untrusted code: no network, read-only files, small limits → ""`,
		"network.mode: none → host",
	}) {
		t.Errorf("a profile without extends differs from strict in more than it says:\n%q", d)
	}
}

func TestMerge(t *testing.T) {
	l, user, _ := twoDirs(t)
	writeFile(t, user, "parent.toml", `extends = "default"
[filesystem]
binds = [{source = "/a", target = "/a"}, {source = "/b", target = "/b", readonly = true}]
[security]
capabilities = ["CAP_KILL", "CAP_CHOWN"]
[environment]
pass = ["A", "B"]
[environment.set]
X = "parent"
Y = "parent"
`)
	writeFile(t, user, "child.toml", `extends = "parent"
[filesystem]
root_readonly = false
binds = [{source = "/c", target = "/c"}]
[security]
capabilities = []
no_new_privileges = false
[limits]
memory = 0
[environment.set]
Y = "child"
Z = "child"
`)
	p := mustLoad(t, l, "child")
	if p.Filesystem.RootReadonly {
		t.Error("root_readonly = false in the child did not override true in the parent")
	}
	if p.Security.NoNewPrivileges {
		t.Error("no_new_privileges = false in the child did not override true")
	}
	if p.Limits.Memory != 0 {
		t.Error("memory = 0 in the child did not lift the parent's limit")
	}
	if !reflect.DeepEqual(p.Filesystem.Binds, []Bind{{Source: "/c", Target: "/c"}}) {
		t.Errorf("binds were not replaced: %+v", p.Filesystem.Binds)
	}
	if len(p.Security.Capabilities) != 0 {
		t.Errorf("capabilities = [] did not replace the parent's list: %v", p.Security.Capabilities)
	}
	if !slices.Equal(p.Environment.Pass, []string{"A", "B"}) {
		t.Errorf("pass not inherited: %v", p.Environment.Pass)
	}
	if want := map[string]string{"X": "parent", "Y": "child", "Z": "child"}; !reflect.DeepEqual(p.Environment.Set, want) {
		t.Errorf("environment.set = %v; want %v", p.Environment.Set, want)
	}
	if p.Filesystem.Workdir != WorkdirReadWrite || p.Limits.Pids != 1024 {
		t.Errorf("keys nobody set are not default's: workdir %q pids %d", p.Filesystem.Workdir, p.Limits.Pids)
	}
	if p.Description != "" {
		t.Errorf("description was inherited: %q", p.Description)
	}
}

func TestCycle(t *testing.T) {
	l, user, _ := twoDirs(t)
	writeFile(t, user, "a.toml", "extends = \"b\"\n")
	writeFile(t, user, "b.toml", "# b\nextends = \"c\"\n")
	c := writeFile(t, user, "c.toml", "\n\nextends = \"a\"\n")
	_, err := l.Load("a")
	if !errors.Is(err, ErrCycle) {
		t.Fatalf("Load(a) = %v; want ErrCycle", err)
	}
	want := c + `:3: extends: profiles extend each other in a loop: a → b → c → a (remove one of these extends)`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	self := writeFile(t, user, "self.toml", "extends = \"self\"\n") // nothing of that name below it
	want = self + `:1: extends: profile "self" extends itself (a profile may extend its own name only to build on a system or builtin profile of that name)`
	if _, err := l.Load("self"); !errors.Is(err, ErrCycle) || err.Error() != want {
		t.Errorf("self-extending profile: %v; want %s", err, want)
	}
}

func TestNotFound(t *testing.T) {
	l, user, _ := twoDirs(t)
	writeFile(t, user, "myproject.toml", "")
	for name, want := range map[string]string{
		"strcit":    `profile "strcit" not found (did you mean "strict"? see 'brig profile list')`,
		"myprojcet": `profile "myprojcet" not found (did you mean "myproject"? see 'brig profile list')`,
		"zzzzzzzz":  `profile "zzzzzzzz" not found (see 'brig profile list')`,
	} {
		_, err := l.Load(name)
		if !errors.Is(err, ErrNotFound) || err.Error() != want {
			t.Errorf("Load(%q) = %v; want %s", name, err, want)
		}
	}
	if _, err := l.Load("../etc/passwd"); !errors.Is(err, ErrBadValue) {
		t.Errorf("Load(../etc/passwd) = %v; want ErrBadValue", err)
	}
	if _, err := l.Load(""); !errors.Is(err, ErrNotFound) {
		t.Errorf(`Load("") without a profile file = %v; want ErrNotFound`, err)
	}
	l.ProfileFile = filepath.Join(t.TempDir(), "missing.toml")
	if _, err := l.Load(""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing --profile-file: %v; want fs.ErrNotExist", err)
	}
}

func TestUnreadableDirIsAnError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	l, user, _ := twoDirs(t)
	writeFile(t, user, "x.toml", "")
	if err := os.Chmod(user, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(user, 0o755) })
	if _, err := l.Load("strict"); err == nil {
		t.Error("an unreadable profile directory was skipped silently")
	}
}

func TestList(t *testing.T) {
	l, user, system := twoDirs(t)
	writeFile(t, user, "strict.toml", "extends = \"strict\"\ndescription = \"mine\"\n")
	writeFile(t, system, "strict.toml", "extends = \"strict\"\n")
	writeFile(t, system, "broken.toml", "[limits]\npidz = 1\n")
	writeFile(t, system, "notes.txt", "")
	got, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Summary{
		{"broken", filepath.Join(system, "broken.toml"), "(invalid: see 'brig profile show broken')"},
		{"ci", "builtin", "CI jobs: like default, 4 GiB, 4096 processes, one hour"},
		{"default", "builtin", "developer tools on the current project: no network, writable working directory"},
		{"network", "builtin", "like default, plus outbound network access"},
		{"strict", filepath.Join(user, "strict.toml"), "mine"},
		{"strict", filepath.Join(system, "strict.toml") + " (shadowed)", `(no description; extends "strict")`},
		{"strict", "builtin (shadowed)", "untrusted code: no network, read-only files, small limits"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List() =\n%q\nwant\n%q", got, want)
	}
}

func TestDefaultLoader(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	t.Setenv("HOME", "/home/u")
	if got := DefaultLoader().ConfigDirs; !slices.Equal(got, []string{"/xdg/brig/profiles", "/etc/brig/profiles"}) {
		t.Errorf("with XDG_CONFIG_HOME: %v", got)
	}
	t.Setenv("XDG_CONFIG_HOME", "relative") // ignored, as the XDG rules say
	if got := DefaultLoader().ConfigDirs; !slices.Equal(got, []string{"/home/u/.config/brig/profiles", "/etc/brig/profiles"}) {
		t.Errorf("with HOME: %v", got)
	}
	t.Setenv("HOME", "")
	if got := DefaultLoader().ConfigDirs; !slices.Equal(got, []string{"/etc/brig/profiles"}) {
		t.Errorf("with neither: %v", got)
	}
}
