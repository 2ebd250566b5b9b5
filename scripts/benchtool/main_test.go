package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestQuantile(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.5, 3}, {1, 5}, {0.95, 4.8}} {
		if got := quantile(xs, c.q); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile([]float64{7}, 0.95); got != 7 {
		t.Errorf("quantile of one = %v, want 7", got)
	}
}

func TestFlags(t *testing.T) {
	f, err := flags([]string{"-in", "a.json", "-bare", "-cgroups", "/x"}, "bare")
	if err != nil {
		t.Fatal(err)
	}
	if f["in"] != "a.json" || f["bare"] != "true" || f["cgroups"] != "/x" {
		t.Errorf("flags = %v", f)
	}
	if _, err := flags([]string{"-in"}); err == nil {
		t.Error("a flag without its value was accepted")
	}
	if _, err := flags([]string{"stray"}); err == nil {
		t.Error("a stray argument was accepted")
	}
}

// TestOCI checks the bundle template made from brig's spec: a per-launch
// cgroup path, an ociVersion crun accepts, and with -bare no reaper.
func TestOCI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "spec.json")
	spec := `{"ociVersion":"1.3.0","process":{"args":["/dev/.brig-init","__brig_reaper__","true"]},
		"mounts":[{"destination":"/proc"},{"destination":"/dev/.brig-init","type":"bind"}],"linux":{}}`
	if err := os.WriteFile(in, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bare := range []bool{false, true} {
		out := filepath.Join(dir, "out.json")
		args := []string{"-in", in, "-out", out, "-cgroups", "/brig-bench/"}
		if bare {
			args = append(args, "-bare")
		}
		if err := ociCmd(args); err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			OCIVersion string `json:"ociVersion"`
			Process    struct{ Args []string }
			Mounts     []struct{ Destination string }
			Linux      struct {
				CgroupsPath string `json:"cgroupsPath"`
			}
		}
		b, _ := os.ReadFile(out)
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.OCIVersion != "1.0.2" || cfg.Linux.CgroupsPath != "/brig-bench/{id}" {
			t.Errorf("bare=%v: ociVersion %q, cgroupsPath %q", bare, cfg.OCIVersion, cfg.Linux.CgroupsPath)
		}
		hasReaper := slices.Contains(cfg.Process.Args, "/dev/.brig-init") || strings.Contains(string(b), `"destination": "/dev/.brig-init"`)
		if hasReaper == bare {
			t.Errorf("bare=%v: args %v, reaper still there: %v", bare, cfg.Process.Args, hasReaper)
		}
		if bare && !slices.Equal(cfg.Process.Args, []string{"true"}) {
			t.Errorf("bare args = %v, want [true]", cfg.Process.Args)
		}
	}
}

// TestRunMeasures runs a tiny plan end to end with /bin/true and echo.
func TestRunMeasures(t *testing.T) {
	dir := t.TempDir()
	plan := Plan{Label: "t", Runs: 3, WorkDir: dir, Parallel: []int{3}, RSSRuns: 1, TimeBin: "/nonexistent/time",
		Launch: []Launcher{
			{Name: "true", Workload: "true", Argv: []string{"true"}, Parallel: true},
			{Name: "echo", Workload: "echo", Argv: []string{"echo", "{id}"}, Expect: "wrong\n"},
		}}
	m := &measurer{plan: plan}
	runs := m.sequential()
	if runs[0].N != 3 || runs[0].Failures != 0 || runs[0].MedianMS <= 0 {
		t.Errorf("true: %+v", runs[0])
	}
	if runs[1].Failures != 3 || !strings.Contains(runs[1].FirstError, "want") {
		t.Errorf("echo with the wrong expectation: %+v", runs[1])
	}
	par := m.parallel()
	if len(par) != 1 || par[0].N != 3 || par[0].Failures != 0 {
		t.Errorf("parallel: %+v", par)
	}
}
