package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// requireSandbox refuses the host: the probe must sit in a user namespace,
// which every brig sandbox (and `unshare -U`) provides.
func requireSandbox() error {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return fmt.Errorf("cannot read /proc/self/uid_map to prove a user namespace: %w", err)
	}
	if isIdentityUIDMap(string(b)) {
		return errNotSandboxed
	}
	return nil
}

// isIdentityUIDMap reports whether a uid_map is the initial namespace's
// "0 0 4294967295". An empty map (an unmapped namespace) is not identity.
func isIdentityUIDMap(s string) bool {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 1 {
		return false
	}
	f := strings.Fields(lines[0])
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// parseStatus reads "Key:\tvalue" lines of /proc/PID/status.
func parseStatus(s string) map[string]string {
	m := make(map[string]string)
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func readStatus() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	return parseStatus(string(b)), nil
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	mountPoint string
	opts       []string // per-mount options: ro, nosuid, ...
	fstype     string
	source     string
	superOpts  []string
}

func (m mountEntry) hasOpt(o string) bool {
	for _, x := range m.opts {
		if x == o {
			return true
		}
	}
	return false
}

// parseMountinfo reads /proc/self/mountinfo (see proc(5)).
func parseMountinfo(s string) []mountEntry {
	var out []mountEntry
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		sep := -1
		for i, x := range f {
			if x == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+3 {
			continue
		}
		out = append(out, mountEntry{
			mountPoint: unescapeOctal(f[4]),
			opts:       strings.Split(f[5], ","),
			fstype:     f[sep+1],
			source:     unescapeOctal(f[sep+2]),
			superOpts:  strings.Split(f[len(f)-1], ","),
		})
	}
	return out
}

func readMountinfo() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return parseMountinfo(string(b)), nil
}

// mountOf returns the entry whose mount point is the longest prefix of
// path; later entries win ties, as later mounts cover earlier ones.
func mountOf(mounts []mountEntry, path string) (mountEntry, bool) {
	var best mountEntry
	found := false
	for _, m := range mounts {
		if !underPath(path, m.mountPoint) {
			continue
		}
		if !found || len(m.mountPoint) >= len(best.mountPoint) {
			best, found = m, true
		}
	}
	return best, found
}

// underPath reports whether path is dir or inside it.
func underPath(path, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// statStartTime returns field 22 (starttime, clock ticks after boot) of a
// /proc/PID/stat line. The command name may contain spaces and
// parentheses, so fields are counted from the last ')'.
func statStartTime(s string) (uint64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in stat line")
	}
	f := strings.Fields(s[i+1:])
	const idx = 22 - 3 // fields after ")" start at field 3 (state)
	if len(f) <= idx {
		return 0, fmt.Errorf("stat line has %d fields after the name, want > %d", len(f), idx)
	}
	return strconv.ParseUint(f[idx], 10, 64)
}

func startTimeOf(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return statStartTime(string(b))
}

// cgroupPaths parses /proc/self/cgroup into hierarchy → path, where the
// hierarchy is the controller list ("memory", "cpu,cpuacct") for v1 and
// "" for the unified v2 hierarchy. Named hierarchies keep their
// "name=" prefix.
func cgroupPaths(s string) map[string]string {
	m := make(map[string]string)
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 {
			m[f[1]] = f[2]
		}
	}
	return m
}

// fdInfo is an open descriptor and what it points to.
type fdInfo struct {
	fd     int
	target string
}

// openFDs lists the descriptors other than 0, 1 and 2 that the probe
// inherited. It reads /proc/self/fd with raw syscalls so that no Go file
// (and no poller descriptor) is created first; without /proc it probes
// descriptors 3..1023 with fcntl. Descriptors marked close-on-exec cannot
// have come through exec: they are the Go runtime's own (it keeps the
// cgroup CPU quota files open to follow limit changes), and are left out.
func openFDs() []fdInfo {
	dirfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return scanFDs()
	}
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(dirfd, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	unix.Close(dirfd)
	var out []fdInfo
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd <= 2 || fd == dirfd || closeOnExec(fd) {
			continue
		}
		out = append(out, fdInfo{fd, fdTarget(fd)})
	}
	return out
}

func scanFDs() []fdInfo {
	var out []fdInfo
	for fd := 3; fd < 1024; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC == 0 {
			out = append(out, fdInfo{fd, fdTarget(fd)})
		}
	}
	return out
}

// closeOnExec reports whether fd is open and marked close-on-exec.
func closeOnExec(fd int) bool {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil && flags&unix.FD_CLOEXEC != 0
}

func fdTarget(fd int) string {
	t, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "?"
	}
	return t
}

// numericDirs lists the pids visible in /proc.
func numericDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
