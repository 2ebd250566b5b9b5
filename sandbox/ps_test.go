package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeRun creates runs/<id> with info.json (when info is set) and a lock,
// held by the test when locked, as a running brig would hold it.
func fakeRun(t *testing.T, stateDir, id string, info *Info, locked bool) {
	t.Helper()
	dir := filepath.Join(stateDir, runsDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if info != nil {
		if err := writeJSON(filepath.Join(dir, "info.json"), info); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	if locked {
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListShowsOnlyLiveDescribedRuns(t *testing.T) {
	state := t.TempDir()
	older := time.Now().Add(-time.Hour).Truncate(time.Second)
	newer := time.Now().Add(-time.Minute).Truncate(time.Second)
	fakeRun(t, state, "aaaa", &Info{ID: "aaaa", Profile: "strict", Command: []string{"sleep", "9"}, StartedAt: newer, InitPID: 42}, true)
	fakeRun(t, state, "bbbb", &Info{ID: "bbbb", Profile: "default", Command: []string{"true"}, StartedAt: older}, true)
	fakeRun(t, state, "dead", &Info{ID: "dead", StartedAt: older}, false) // its brig died
	fakeRun(t, state, "born", nil, true)                                  // still starting
	fakeRun(t, state, "liar", &Info{ID: "other", StartedAt: older}, true) // info of another run

	got, err := List(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "bbbb" || got[1].ID != "aaaa" {
		t.Fatalf("want runs bbbb, aaaa (oldest first), got %+v", got)
	}
	a := got[1]
	if a.Profile != "strict" || a.InitPID != 42 || len(a.Command) != 2 {
		t.Errorf("info not carried over: %+v", a)
	}
	if a.UptimeMS < 59_000 || a.UptimeMS > 120_000 {
		t.Errorf("uptime of a run started a minute ago: %d ms", a.UptimeMS)
	}
	if a.Usage != nil {
		t.Errorf("a run without libcontainer state has no usage, got %+v", a.Usage)
	}
	// Listing must not disturb the lock of a live run.
	if alive(state, "aaaa") != true {
		t.Error("run aaaa no longer alive after List")
	}
}

func TestListEmpty(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		got, err := List(dir)
		if err != nil || len(got) != 0 {
			t.Errorf("List(%s) = %v, %v; want nothing", dir, got, err)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadUsageV1(t *testing.T) {
	root := t.TempDir()
	mem, pids, acct := filepath.Join(root, "memory/x"), filepath.Join(root, "pids/x"), filepath.Join(root, "cpuacct/x")
	writeFiles(t, mem, map[string]string{"memory.usage_in_bytes": "1048576\n", "memory.max_usage_in_bytes": "4194304\n"})
	writeFiles(t, pids, map[string]string{"pids.current": "7\n"})
	writeFiles(t, acct, map[string]string{"cpuacct.usage": "2500000000\n"})
	// Hybrid hosts also report the unified hierarchy under "".
	u := readUsage(map[string]string{"memory": mem, "pids": pids, "cpuacct": acct, "": filepath.Join(root, "unified/x")})
	want := Usage{MemoryBytes: 1 << 20, MemoryPeakBytes: 4 << 20, Pids: 7, CPUMS: 2500}
	if u == nil || *u != want {
		t.Errorf("usage = %+v, want %+v", u, want)
	}
}

func TestReadUsageV2(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"memory.current": "2097152\n",
		"memory.peak":    "8388608\n",
		"pids.current":   "3\n",
		"cpu.stat":       "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n",
	})
	u := readUsage(map[string]string{"": dir})
	want := Usage{MemoryBytes: 2 << 20, MemoryPeakBytes: 8 << 20, Pids: 3, CPUMS: 1234}
	if u == nil || *u != want {
		t.Errorf("usage = %+v, want %+v", u, want)
	}
	// Before Linux 5.19 there is no memory.peak: the peak is at least now.
	os.Remove(filepath.Join(dir, "memory.peak"))
	if u := readUsage(map[string]string{"": dir}); u.MemoryPeakBytes != 2<<20 {
		t.Errorf("peak without memory.peak = %d, want memory.current", u.MemoryPeakBytes)
	}
}

func TestStopRefusesUnknownRuns(t *testing.T) {
	state := t.TempDir()
	fakeRun(t, state, "dead", &Info{ID: "dead"}, false)
	for _, id := range []string{"", "nope", "dead", "..", "../runs", "a/b"} {
		err := Stop(state, id, time.Millisecond)
		if !errors.Is(err, ErrNoRun) {
			t.Errorf("Stop(%q) = %v, want ErrNoRun", id, err)
		}
	}
}

func TestWaitEnded(t *testing.T) {
	state := t.TempDir()
	fakeRun(t, state, "live", &Info{ID: "live"}, true)
	start := time.Now()
	if waitEnded(state, "live", 100*time.Millisecond) {
		t.Error("a locked run reported ended")
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Error("waitEnded gave up before its time")
	}
	if !waitEnded(state, "gone", time.Second) {
		t.Error("a run without a directory is not ended")
	}
}
