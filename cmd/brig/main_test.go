package main

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/brigsandbox/brig/image"
	"github.com/brigsandbox/brig/sandbox"
	"github.com/brigsandbox/brig/spec"
)

func TestMain(m *testing.M) {
	// Tests that start sandboxes re-execute this binary as libcontainer's
	// init; none here do, but keep the hook honest.
	sandbox.MaybeInit()
	os.Exit(m.Run())
}

// runMain runs brig's dispatcher with captured streams.
func runMain(t *testing.T, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	stdout, stderr = &o, &e
	t.Cleanup(func() { stdout, stderr = os.Stdout, os.Stderr })
	t.Setenv("BRIG_STATE_DIR", t.TempDir())
	return dispatch(args), o.String(), e.String()
}

// TestUserErrors: every bad input is one "brig: " line naming the problem
// and the fix, exit 125, and nothing left in the state directory.
func TestUserErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`, "brig --help"}},
		{[]string{"run"}, []string{"no command given"}},
		{[]string{"run", "--profile", "strcit", "--", "true"}, []string{`"strcit" not found`, `"strict"`}},
		{[]string{"run", "--memory", "12XB", "--", "true"}, []string{"--memory", "512M"}},
		{[]string{"run", "--pids", "-3", "--", "true"}, []string{"--pids", "whole number"}},
		{[]string{"run", "--cpus", "lots", "--", "true"}, []string{"--cpus"}},
		{[]string{"run", "--timeout", "soon", "--", "true"}, []string{"--timeout", "30s"}},
		{[]string{"run", "--net", "wifi", "--", "true"}, []string{"--net", "none"}},
		{[]string{"run", "--user", "bob", "--", "true"}, []string{"--user", "self"}},
		{[]string{"run", "--bind", "/does/not/exist:/x", "--", "true"}, []string{"--bind", "does not exist"}},
		{[]string{"run", "--bind", "/tmp", "--", "true"}, []string{"--bind", "SRC:DST"}},
		{[]string{"run", "--bind", "/tmp:relative", "--", "true"}, []string{"absolute"}},
		{[]string{"run", "--tmpfs", "/x:big", "--", "true"}, []string{"--tmpfs", "64M"}},
		{[]string{"run", "--cgroups", "maybe", "--", "true"}, []string{"--cgroups", "best-effort"}},
		{[]string{"run", "--rootfs", "/does/not/exist", "--", "true"}, []string{"--rootfs", "not a directory"}},
		{[]string{"run", "--no-such-flag", "--", "true"}, []string{"no-such-flag", "brig run --help"}},
		{[]string{"profile", "show"}, []string{"profile name"}},
		{[]string{"profile", "explain", "nope"}, []string{`"nope" not found`}},
		{[]string{"setup"}, []string{"--user NAME"}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			state := t.TempDir()
			t.Setenv("BRIG_STATE_DIR", state)
			code, out, errOut := runMain(t, c.args...)
			if code != exitBrig {
				t.Errorf("exit %d, want %d", code, exitBrig)
			}
			if out != "" {
				t.Errorf("stdout must stay the workload's: %q", out)
			}
			line := strings.TrimSuffix(errOut, "\n")
			if !strings.HasPrefix(line, "brig: ") || strings.Contains(line, "\n") {
				t.Fatalf("want one \"brig: \" line, got %q", errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("%q does not mention %q", line, w)
				}
			}
			if entries, _ := os.ReadDir(state); len(entries) != 0 {
				t.Errorf("state left behind: %v", entries)
			}
		})
	}
}

func TestSpecIsJSONOnStdout(t *testing.T) {
	code, out, errOut := runMain(t, "spec", "--profile", "strict", "--", "/bin/true")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "{") {
		t.Fatalf("exit %d, stderr %q, stdout starts %.20q", code, errOut, out)
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{}, {"--help"}, {"version"}, {"run", "--help"}, {"profile"},
		{"doctor", "--help"}, {"ps", "--help"}, {"stop", "--help"}, {"setup", "--help"}, {"demo", "--help"}} {
		code, out, errOut := runMain(t, args...)
		if code != 0 || out == "" || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestWorkdirsThatWouldUndoTheSandbox(t *testing.T) {
	for dir, refused := range map[string]bool{
		"/": true, "/proc": true, "/proc/self": true, "/sys/fs": true, "/dev": true,
		"/etc": true, "/tmp": true, "/run": true, "/run/docker": true, "/run/user/1000/x": true,
		"/home/me/project": false, "/tmp/build": false, "/etc/nginx": false, "/procfs": false,
		"/devel": false, "/usr/src": false, "/srv/runner": false,
	} {
		err := checkWorkdirShown(dir, "/run/user/1000")
		if (err != nil) != refused {
			t.Errorf("%s: refused=%v, want %v (%v)", dir, err != nil, refused, err)
		}
	}
	if err := checkWorkdirShown("/home/me/xdg/sub", "/home/me/xdg"); err == nil {
		t.Error("a directory under $XDG_RUNTIME_DIR was accepted")
	}
}

// Under brig's outer user namespace the spec maps to that namespace's
// ids; --explain carries them on to the host's.
func TestExplainIDsThroughOuterNamespace(t *testing.T) {
	inner := []specs.LinuxIDMapping{
		{ContainerID: 0, HostID: 1, Size: 1001},
		{ContainerID: 1001, HostID: 0, Size: 1},
		{ContainerID: 1002, HostID: 1002, Size: 64535},
	}
	outer := []idMap{{inside: 0, outside: 1001, count: 1}, {inside: 1, outside: 100000, count: 65536}}
	got := throughOuter(inner, outer)
	want := []specs.LinuxIDMapping{
		{ContainerID: 0, HostID: 100000, Size: 1001},
		{ContainerID: 1001, HostID: 1001, Size: 1},
		{ContainerID: 1002, HostID: 101001, Size: 64535},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("throughOuter:\n got %v\nwant %v", got, want)
	}
	if got := throughOuter(inner, nil); !slices.Equal(got, inner) {
		t.Fatalf("without outer maps the mappings changed: %v", got)
	}
	// A range the outer maps split comes out in pieces.
	split := throughOuter([]specs.LinuxIDMapping{{ContainerID: 10, HostID: 0, Size: 3}}, outer)
	if want := []specs.LinuxIDMapping{{ContainerID: 10, HostID: 1001, Size: 1}, {ContainerID: 11, HostID: 100000, Size: 2}}; !slices.Equal(split, want) {
		t.Fatalf("split range: got %v, want %v", split, want)
	}
}

// An image's user needs subordinate ids; without them the run stays root
// inside and says so.
func TestImageUserNeedsSubordinateIDs(t *testing.T) {
	var e bytes.Buffer
	stderr = &e
	t.Cleanup(func() { stderr = os.Stderr })
	u := image.User{UID: 1000, GID: 1000}
	if _, ok := imageUser(spec.Identity{HostUID: 1001, HostGID: 1001}, u, "./layout:v1"); ok {
		t.Fatal("the image's user applied without subordinate ids")
	}
	if !strings.Contains(e.String(), "runs as root inside") {
		t.Errorf("no word of running as root: %q", e.String())
	}
	ranges := []spec.IDRange{{Start: 100000, Count: 65536}}
	if _, ok := imageUser(spec.Identity{HostUID: 1001, HostGID: 1001, SubUIDs: ranges, SubGIDs: ranges}, u, "./layout:v1"); !ok {
		t.Fatal("the image's user did not apply with subordinate ids")
	}
}
