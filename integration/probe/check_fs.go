package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// probeName is a fresh name for a file or directory the probe creates.
func probeName(dir string) string {
	return filepath.Join(dir, fmt.Sprintf(".brig-probe-%d-%d", os.Getpid(), time.Now().UnixNano()))
}

// openForWrite opens path write-only and closes it at once. It never
// truncates and never writes: being allowed to open is the proof.
func openForWrite(path string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// createIn creates and removes an empty file in dir.
func createIn(dir string) (string, error) {
	name := probeName(dir)
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return name, err
	}
	unix.Close(fd)
	unix.Unlink(name)
	return name, nil
}

// writeCheck tries to create a file in dir and to open an existing file
// there for writing.
func writeCheck(dir, existing string) func(*config) result {
	return func(*config) result {
		name, err := createIn(dir)
		if err == nil {
			return allowed("created (and removed) %s", name)
		}
		detail := fmt.Sprintf("create in %s: %s", dir, errnoName(err))
		if existing != "" {
			err := openForWrite(existing)
			if err == nil {
				return allowed("opened %s for writing (nothing written)", existing)
			}
			detail += fmt.Sprintf("; open %s for writing: %s", existing, errnoName(err))
		}
		return blocked("%s", detail)
	}
}

// openAnyForWrite is allowed when any of paths opens for writing.
func openAnyForWrite(paths ...string) result {
	var parts []string
	for _, p := range paths {
		err := openForWrite(p)
		if err == nil {
			return allowed("opened %s for writing (nothing written)", p)
		}
		parts = append(parts, p+": "+errnoName(err))
	}
	return blocked("%s", strings.Join(parts, "; "))
}

func checkProcSys(*config) result {
	return openAnyForWrite("/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches")
}

func checkSysrq(*config) result {
	return openAnyForWrite("/proc/sysrq-trigger")
}

// errnoTally counts errors by errno name for a compact detail.
type errnoTally map[string]int

func (t errnoTally) add(op string, err error) { t[op+" "+errnoName(err)]++ }

func (t errnoTally) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, t[k])
	}
	return strings.Join(parts, ", ")
}

// checkCgroupWrite tries, on every cgroup filesystem mounted inside, to
// create a child cgroup (at the mount root and at our own cgroup) and to
// open cgroup.procs and release_agent at the root for writing. The tmpfs
// that holds cgroup v1 hierarchies is not a cgroup filesystem: whether it
// is writable is sys_mounts_ro's business.
func checkCgroupWrite(*config) result {
	mounts, err := readMountinfo()
	if err != nil {
		return skipped("read /proc/self/mountinfo: %v", err)
	}
	own := map[string]string{}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		own = cgroupPaths(string(b))
	}
	var roots, dirs []string
	for _, m := range mounts {
		if m.fstype != "cgroup" && m.fstype != "cgroup2" {
			continue
		}
		roots = append(roots, m.mountPoint)
		dirs = append(dirs, m.mountPoint)
		if p := ownCgroup(m, own); p != "" && p != "/" {
			dirs = append(dirs, filepath.Join(m.mountPoint, p))
		}
	}
	if len(roots) == 0 {
		return blocked("no cgroup filesystem is mounted")
	}
	tally := errnoTally{}
	for _, d := range dirs {
		name := probeName(d)
		err := unix.Mkdir(name, 0o700)
		if err == nil {
			unix.Rmdir(name)
			return allowed("created (and removed) cgroup %s", name)
		}
		if !isErrno(err, unix.ENOENT) {
			tally.add("mkdir", err)
		}
	}
	for _, r := range roots {
		for _, f := range []string{"cgroup.procs", "release_agent"} {
			p := filepath.Join(r, f)
			err := openForWrite(p)
			if err == nil {
				return allowed("opened %s for writing (nothing written)", p)
			}
			if !isErrno(err, unix.ENOENT) {
				tally.add(f, err)
			}
		}
	}
	return blocked("%d cgroup mounts: %s", len(roots), tally)
}

// ownCgroup finds our path in the hierarchy mounted by m.
func ownCgroup(m mountEntry, own map[string]string) string {
	if m.fstype == "cgroup2" {
		return own[""]
	}
	for h, p := range own {
		for _, c := range strings.Split(h, ",") {
			for _, o := range m.superOpts {
				if c != "" && o == c {
					return p
				}
			}
		}
	}
	return ""
}

// shadowed reports whether a later mount sits on the same mount point:
// mountinfo lists mounts in the order they were made, and a mount hidden
// under another cannot be reached by any path.
func shadowed(mounts []mountEntry, i int) bool {
	for _, later := range mounts[i+1:] {
		if later.mountPoint == mounts[i].mountPoint {
			return true
		}
	}
	return false
}

func checkSysMountsRO(*config) result {
	mounts, err := readMountinfo()
	if err != nil {
		return skipped("read /proc/self/mountinfo: %v", err)
	}
	var n int
	var rw []string
	for i, m := range mounts {
		if !underPath(m.mountPoint, "/sys") || shadowed(mounts, i) {
			continue
		}
		n++
		if !m.hasOpt("ro") {
			rw = append(rw, m.mountPoint+" ("+m.fstype+")")
		}
	}
	switch {
	case n == 0:
		return blocked("nothing is mounted under /sys")
	case len(rw) > 0:
		if len(rw) > 5 {
			rw = append(rw[:5], fmt.Sprintf("and %d more", len(rw)-5))
		}
		return allowed("%d of %d mounts under /sys are writable: %s", len(rw), n, strings.Join(rw, ", "))
	}
	return blocked("all %d mounts under /sys are read-only", n)
}

// checkMaskedPaths looks at the paths runc and Docker hide by default:
// kernel memory, keys, timers and scheduler state that leak host
// information, and firmware and power counters that enable side channels.
func checkMaskedPaths(*config) result {
	paths := []string{
		"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats",
		"/proc/timer_stats", "/proc/acpi", "/proc/scsi", "/proc/asound",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
	var exposed, hidden []string
	for _, p := range paths {
		ok, why := isMasked(p)
		if ok {
			hidden = append(hidden, p+" "+why)
		} else {
			exposed = append(exposed, p+" "+why)
		}
	}
	if len(exposed) > 0 {
		return allowed("exposed: %s", strings.Join(exposed, ", "))
	}
	return blocked("%s", strings.Join(hidden, ", "))
}

// isMasked reports whether path is absent, unreadable, /dev/null or empty.
func isMasked(path string) (bool, string) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return true, errnoName(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		if unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3 {
			return true, "/dev/null"
		}
		return false, "a character device"
	case unix.S_IFDIR:
		ents, err := os.ReadDir(path)
		if err != nil {
			return true, errnoName(err)
		}
		if len(ents) == 0 {
			return true, "empty"
		}
		return false, fmt.Sprintf("(%d entries)", len(ents))
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return true, errnoName(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 512)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return true, "read " + errnoName(err)
	}
	if n == 0 {
		return true, "empty"
	}
	return false, fmt.Sprintf("(readable, %d+ bytes)", n)
}

func checkHome(cfg *config) result {
	if cfg.home == "" {
		return skipped("no -home given")
	}
	var st unix.Stat_t
	if err := unix.Stat(cfg.home, &st); err != nil {
		return blocked("%s: %s", cfg.home, errnoName(err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return allowed("%s is visible", cfg.home)
	}
	ents, err := os.ReadDir(cfg.home)
	if err != nil {
		return blocked("%s exists but cannot be listed: %s", cfg.home, errnoName(err))
	}
	if len(ents) == 0 {
		return blocked("%s exists but is empty (a placeholder)", cfg.home)
	}
	return allowed("%s is visible with %d entries", cfg.home, len(ents))
}
