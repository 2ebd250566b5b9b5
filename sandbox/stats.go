package sandbox

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	cgroupsv1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
)

// collectStats reads the run's cgroup with containerd's cgroups library,
// v1 or v2, before libcontainer removes it.
func collectStats(r *run, rc *Receipt) {
	paths := r.cgroupPaths()
	if len(paths) == 0 {
		return
	}
	// Hybrid v1 hosts report the unified hierarchy under "" too; only a
	// pure v2 host has nothing else.
	var err error
	if unified, ok := paths[""]; ok && len(paths) == 1 {
		err = statsV2(unified, rc)
	} else {
		err = statsV1(paths, rc)
	}
	if err != nil {
		r.log.Debug("cannot read cgroup statistics", "err", err)
	}
	if hits, ok := pidsLimitHits(paths); ok {
		rc.PidsLimitHits = hits
	}
	if peak := r.pidsPeak.Load(); peak > rc.PidsPeak {
		rc.PidsPeak = peak
		rc.PidsPeakSampled = true
	}
}

// cgroupPaths are the run's cgroup directories: controller → absolute
// path on v1, "" → path on v2. They are read once, while the sandbox
// runs: a stopped container no longer reports them.
func (r *run) cgroupPaths() map[string]string {
	if r.cfg.Cgroups.Driver == DriverNone {
		return nil
	}
	if r.paths == nil {
		st, err := r.container.State()
		if err != nil {
			r.log.Debug("cannot read sandbox state", "err", err)
			return nil
		}
		r.paths = st.CgroupPaths
	}
	return r.paths
}

func statsV2(path string, rc *Receipt) error {
	group := strings.TrimPrefix(path, "/sys/fs/cgroup")
	m, err := cgroup2.Load(group)
	if err != nil {
		return err
	}
	st, err := m.Stat()
	if err != nil {
		return err
	}
	if st.Memory != nil {
		rc.MemoryPeakBytes = int64(st.Memory.MaxUsage)
	}
	if st.MemoryEvents != nil {
		rc.OOMKills = int64(st.MemoryEvents.OomKill)
	}
	if st.CPU != nil {
		rc.CPUUserMS = int64(st.CPU.UserUsec / 1000)
		rc.CPUSystemMS = int64(st.CPU.SystemUsec / 1000)
	}
	if peak, ok := readInt(filepath.Join(path, "pids.peak")); ok {
		rc.PidsPeak = peak
	}
	return nil
}

func statsV1(paths map[string]string, rc *Receipt) error {
	cg, err := cgroup1.Load(v1Path(paths), cgroup1.WithHierarchy(statsHierarchy(paths)))
	if err != nil {
		return err
	}
	st, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return err
	}
	if st.Memory != nil && st.Memory.Usage != nil {
		rc.MemoryPeakBytes = int64(st.Memory.Usage.Max)
	}
	if st.MemoryOomControl != nil {
		rc.OOMKills = int64(st.MemoryOomControl.OomKill)
	}
	rc.CPUUserMS, rc.CPUSystemMS = cpuV1(st)
	return nil
}

// cpuV1 converts cpuacct's per-mode usage (nanoseconds) to milliseconds.
func cpuV1(st *cgroupsv1stats.Metrics) (user, system int64) {
	if st.CPU == nil || st.CPU.Usage == nil {
		return 0, 0
	}
	return int64(st.CPU.Usage.User / 1e6), int64(st.CPU.Usage.Kernel / 1e6)
}

// v1Path maps each containerd subsystem to the run's cgroup, relative to
// that hierarchy's mount point, as libcontainer created it.
func v1Path(paths map[string]string) cgroup1.Path {
	return func(name cgroup1.Name) (string, error) {
		p, ok := paths[string(name)]
		if !ok {
			return "", cgroup1.ErrControllerNotActive
		}
		mount := filepath.Join("/sys/fs/cgroup", hierarchyDir(p))
		return strings.TrimPrefix(p, mount), nil
	}
}

// hierarchyDir returns the mount directory of the hierarchy that holds
// path p (e.g. "cpu,cpuacct" or "memory").
func hierarchyDir(p string) string {
	rest := strings.TrimPrefix(p, "/sys/fs/cgroup/")
	dir, _, _ := strings.Cut(rest, "/")
	return dir
}

// statsHierarchy limits containerd to the subsystems the statistics need
// and the run actually has, so a missing controller is not an error.
// containerd finds each controller at /sys/fs/cgroup/<name>, which is a
// directory or, for joint mounts like cpu,cpuacct, a symlink to one.
func statsHierarchy(paths map[string]string) cgroup1.Hierarchy {
	const root = "/sys/fs/cgroup"
	return func() ([]cgroup1.Subsystem, error) {
		var subs []cgroup1.Subsystem
		for name := range paths {
			switch name {
			case "memory":
				subs = append(subs, cgroup1.NewMemory(root))
			case "cpuacct":
				subs = append(subs, cgroup1.NewCpuacct(root))
			case "pids":
				subs = append(subs, cgroup1.NewPids(root))
			}
		}
		return subs, nil
	}
}

// pidsLimitHits reads how often fork failed at pids.max ("max N" in
// pids.events; the file exists on v1 and v2).
func pidsLimitHits(paths map[string]string) (int64, bool) {
	dir, ok := paths["pids"]
	if !ok {
		dir, ok = paths[""]
	}
	if !ok {
		return 0, false
	}
	f, err := os.Open(filepath.Join(dir, "pids.events"))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), "max "); found {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// pidsSampler samples pids.current where the kernel keeps no peak
// counter (cgroup v1, and v2 before Linux 6.1).
type pidsSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
}

const pidsSampleEvery = 50 * time.Millisecond

func newPidsSampler(r *run) *pidsSampler {
	s := &pidsSampler{done: make(chan struct{})}
	paths := r.cgroupPaths()
	dir, ok := paths["pids"]
	if !ok {
		if dir, ok = paths[""]; ok {
			if _, err := os.Stat(filepath.Join(dir, "pids.peak")); err == nil {
				return s // the kernel counts the peak itself
			}
		}
	}
	if !ok {
		return s
	}
	current := filepath.Join(dir, "pids.current")
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(pidsSampleEvery)
		defer t.Stop()
		for {
			if n, ok := readInt(current); ok {
				storeMax(&r.pidsPeak, n)
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *pidsSampler) stop() {
	close(s.done)
	s.wg.Wait()
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
