package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// Inspecting and stopping running sandboxes (`brig ps`, `brig stop`).
//
// A run is alive while the brig process that started it holds the lock
// of its run directory (see state.go). List only looks at runs that have
// written info.json: by then the lock is certainly held, so testing it
// can never make a starting run fail to take its own lock.

// Status is a running sandbox as `brig ps` shows it.
type Status struct {
	Info
	// UptimeMS is how long the workload has run, when List read it.
	UptimeMS int64 `json:"uptime_ms"`
	// Usage is read from the run's cgroup; nil when the run has none
	// (no cgroups on this host) or it could not be read.
	Usage *Usage `json:"usage,omitempty"`
}

// Usage is what a running sandbox uses now, from its cgroup.
type Usage struct {
	MemoryBytes     int64 `json:"memory_bytes"`
	MemoryPeakBytes int64 `json:"memory_peak_bytes"`
	Pids            int64 `json:"pids"`
	CPUMS           int64 `json:"cpu_ms"` // user + system, since start
}

// List returns the running sandboxes whose state is in stateDir, oldest
// first. Runs that are still starting, and leftovers of runs whose brig
// died, are not listed.
func List(stateDir string) ([]Status, error) {
	entries, err := os.ReadDir(filepath.Join(stateDir, runsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrState, err)
	}
	now := time.Now()
	var out []Status
	for _, e := range entries {
		st, ok := status(stateDir, e.Name(), now)
		if ok {
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out, nil
}

// status reads one run; ok is false unless it is alive and described.
func status(stateDir, id string, now time.Time) (Status, bool) {
	info, err := readInfo(stateDir, id)
	if err != nil || !alive(stateDir, id) {
		return Status{}, false
	}
	st := Status{Info: info, UptimeMS: now.Sub(info.StartedAt).Milliseconds()}
	if paths := runCgroupPaths(stateDir, id); len(paths) > 0 {
		st.Usage = readUsage(paths)
	}
	return st, true
}

func readInfo(stateDir, id string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(stateDir, runsDir, id, "info.json"))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("run %s: info.json: %w", id, err)
	}
	if info.ID != id {
		return info, fmt.Errorf("run %s: info.json names run %q", id, info.ID)
	}
	return info, nil
}

// alive reports whether the brig that owns run id still holds its lock.
// A shared lock suffices for the test and lets two `brig ps` run at once.
func alive(stateDir, id string) bool {
	lock, err := os.Open(filepath.Join(stateDir, runsDir, id, "lock"))
	if err != nil {
		return false
	}
	defer lock.Close()
	err = unix.Flock(int(lock.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if err == nil {
		_ = unix.Flock(int(lock.Fd()), unix.LOCK_UN)
		return false
	}
	return errors.Is(err, unix.EWOULDBLOCK)
}

// runCgroupPaths reads the run's cgroup directories from libcontainer's
// state: controller → directory on v1, "" → directory on v2.
func runCgroupPaths(stateDir, id string) map[string]string {
	c, err := libcontainer.Load(filepath.Join(stateDir, lcDir), id)
	if err != nil {
		return nil
	}
	st, err := c.State()
	if err != nil {
		return nil
	}
	return st.CgroupPaths
}

// readUsage reads memory, pids and CPU from the run's cgroup files. A
// hybrid v1 host lists the unified hierarchy under "" too; only a pure v2
// host has nothing else.
func readUsage(paths map[string]string) *Usage {
	if unified, ok := paths[""]; ok && len(paths) == 1 {
		return usageV2(unified)
	}
	return usageV1(paths)
}

func usageV2(dir string) *Usage {
	u := &Usage{}
	u.MemoryBytes, _ = readInt(filepath.Join(dir, "memory.current"))
	u.MemoryPeakBytes, _ = readInt(filepath.Join(dir, "memory.peak")) // Linux 5.19+
	u.MemoryPeakBytes = max(u.MemoryPeakBytes, u.MemoryBytes)
	u.Pids, _ = readInt(filepath.Join(dir, "pids.current"))
	if usec, ok := readKey(filepath.Join(dir, "cpu.stat"), "usage_usec"); ok {
		u.CPUMS = usec / 1000
	}
	return u
}

func usageV1(paths map[string]string) *Usage {
	u := &Usage{}
	if dir, ok := paths["memory"]; ok {
		u.MemoryBytes, _ = readInt(filepath.Join(dir, "memory.usage_in_bytes"))
		u.MemoryPeakBytes, _ = readInt(filepath.Join(dir, "memory.max_usage_in_bytes"))
	}
	if dir, ok := paths["pids"]; ok {
		u.Pids, _ = readInt(filepath.Join(dir, "pids.current"))
	}
	if dir, ok := paths["cpuacct"]; ok {
		if ns, ok := readInt(filepath.Join(dir, "cpuacct.usage")); ok {
			u.CPUMS = ns / 1e6
		}
	}
	return u
}

// readKey reads the value of "key N" from a flat-keyed cgroup file such
// as cpu.stat.
func readKey(path, key string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), key+" "); found {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// stopPoll is how often Stop looks whether the run has ended.
const stopPoll = 20 * time.Millisecond

// killWait bounds how long Stop waits, after SIGKILL, for the run's brig
// to clean up; the kernel has killed the sandbox by then, this only
// makes a following `brig ps` accurate.
const killWait = 5 * time.Second

// Stop ends the running sandbox id: SIGTERM to its init (brig's reaper,
// which passes it on to the workload), then, if the run is still alive
// after grace, SIGKILL, which takes the whole sandbox down. It returns
// once the run's brig has finished (or killWait after the SIGKILL).
func Stop(stateDir, id string, grace time.Duration) error {
	if !validID(id) || !alive(stateDir, id) {
		return fmt.Errorf("%w with id %q", ErrNoRun, id)
	}
	c, err := libcontainer.Load(filepath.Join(stateDir, lcDir), id)
	if err != nil {
		if !alive(stateDir, id) {
			return nil // it ended on its own meanwhile
		}
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if err := c.Signal(unix.SIGTERM); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("stop %s: SIGTERM: %w", id, err)
	}
	if waitEnded(stateDir, id, grace) {
		return nil
	}
	if err := c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return fmt.Errorf("stop %s: SIGKILL: %w", id, err)
	}
	waitEnded(stateDir, id, killWait)
	return nil
}

// waitEnded waits up to d for run id to end; it reports whether it did.
func waitEnded(stateDir, id string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(stateDir, id) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(stopPoll)
	}
	return true
}

// validID accepts only names that stay inside the state directory.
func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`)
}
