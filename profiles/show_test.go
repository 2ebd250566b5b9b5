package profiles

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.resolved.toml from the current builtins")

var builtinNames = []string{"strict", "default", "network", "ci"}

// TestGolden pins each builtin's resolved form, so a change to a builtin or
// to resolution shows up as a readable diff. Regenerate with
// go test ./profiles/ -run TestGolden -update.
func TestGolden(t *testing.T) {
	for _, name := range builtinNames {
		t.Run(name, func(t *testing.T) {
			out, err := Show(mustLoad(t, Loader{}, name))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".resolved.toml")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("Show(%s) differs from %s (run with -update if the change is intended):\n%s", name, golden, out)
			}
		})
	}
}

// TestShowRoundTrip loads Show's output as a profile file and expects the
// same profile back.
func TestShowRoundTrip(t *testing.T) {
	l, user, _ := twoDirs(t)
	writeFile(t, user, "rich.toml", `extends = "network"
description = "every kind of value: \"quotes\", tabs\tand unicode é"
[filesystem]
binds = [{source = "/src", target = "/work", readonly = true}, {source = "/cache", target = "/cache"}]
tmpfs = [{target = "/run/cache", size = "1536M"}]
[identity]
user = "self"
[security]
seccomp = "unconfined"
seccomp_deny = ["ptrace", "some_future_call"]
[limits]
cpus = 1.5
cpu_weight = 200
io_weight = 50
cpuset = "0-1"
swap = "1000"
timeout = "1h30m"
[environment.set]
GOFLAGS = "-mod=mod"
EMPTY = ""
`)
	for _, name := range append(slices.Clone(builtinNames), "rich") {
		t.Run(name, func(t *testing.T) {
			p := mustLoad(t, l, name)
			out, err := Show(p)
			if err != nil {
				t.Fatal(err)
			}
			shown := writeFile(t, t.TempDir(), name+".toml", out)
			back := mustLoad(t, Loader{ProfileFile: shown}, "")
			back.Source = p.Source
			if !reflect.DeepEqual(p, back) {
				t.Errorf("round trip changed the profile:\n%s\ndiff: %q", out, Diff(p, back))
			}
		})
	}
}

func TestExplain(t *testing.T) {
	strict := strings.Join(Explain(mustLoad(t, Loader{}, "strict")), "\n")
	for _, want := range []string{
		"network: cannot open network connections; only a private loopback interface exists",
		"files: cannot change the system's files; / is read-only",
		"working directory: visible read-only",
		"privileges: has no special privileges (no capabilities) and cannot gain them (setuid programs do not raise privileges)",
		"kernel: dangerous kernel interfaces are blocked (debugging other processes, kernel keyrings, BPF,",
		"memory: at most 512 MiB; exceeding it kills the workload",
		"processes: at most 256 at once",
		"CPU: at most 1 core\n",
		"time: no time limit",
	} {
		if !strings.Contains(strict, want) {
			t.Errorf("Explain(strict) lacks %q:\n%s", want, strict)
		}
	}
	p := mustLoad(t, Loader{}, "network")
	p.Limits.CPUs, p.Limits.Memory, p.Limits.Timeout = 2.5, 3*GiB/2, Duration(90e9)
	p.Filesystem.Binds = []Bind{{Source: "/data", Target: "/data", ReadOnly: true}}
	p.Environment.Set = map[string]string{"B": "1", "A": "2"}
	text := strings.Join(Explain(p), "\n")
	for _, want := range []string{
		"network: can connect out", "CPU: at most 2.5 cores", "memory: at most 1.5 GiB", "time: stopped after 1m30s",
		"extra files: /data is visible at /data, read-only", "plus http_proxy,", "; sets A and B",
		"keeps 14 of root's special privileges",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Explain lacks %q:\n%s", want, text)
		}
	}
}

func TestDiff(t *testing.T) {
	strict, def := mustLoad(t, Loader{}, "strict"), mustLoad(t, Loader{}, "default")
	d := Diff(strict, def)
	for _, want := range []string{"limits.memory: 512M → 2G", "filesystem.workdir: ro → rw", "limits.cpus: 1 → 0",
		"security.deny_namespaces: true → false", "limits.pids: 256 → 1024"} {
		if !slices.Contains(d, want) {
			t.Errorf("Diff(strict, default) lacks %q:\n%s", want, strings.Join(d, "\n"))
		}
	}
	if d := Diff(strict, strict); len(d) != 0 {
		t.Errorf("Diff of a profile with itself: %q", d)
	}
	a, b := mustLoad(t, Loader{}, "default"), mustLoad(t, Loader{}, "default")
	b.Environment.Set = map[string]string{"X": "1"}
	b.Filesystem.Binds = []Bind{{Source: "/a", Target: "/b", ReadOnly: true}}
	if got, want := Diff(a, b), []string{"filesystem.binds: [] → [/a:/b:ro]", `environment.set.X: (unset) → "1"`}; !slices.Equal(got, want) {
		t.Errorf("Diff = %q; want %q", got, want)
	}
}
