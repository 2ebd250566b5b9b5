package main

import (
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNames indexes capability names by bit number (linux/capability.h).
var capNames = [...]string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
	"SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
	"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// capList names the bits set in a capability mask.
func capList(mask uint64) string {
	var names []string
	for i := 0; i < 64; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if i < len(capNames) {
			names = append(names, capNames[i])
		} else {
			names = append(names, "cap"+strconv.Itoa(i))
		}
	}
	return strings.Join(names, ",")
}

// capCheck reads one capability set from /proc/self/status.
func capCheck(key string) func(*config) result {
	return func(*config) result {
		st, err := readStatus()
		if err != nil {
			return skipped("read /proc/self/status: %v", err)
		}
		v, ok := st[key]
		if !ok {
			return skipped("no %s line in /proc/self/status (old kernel?)", key)
		}
		mask, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			return skipped("%s=%q is not hex", key, v)
		}
		if mask == 0 {
			return blocked("%s=%s", key, v)
		}
		return allowed("%s=%s (%d: %s)", key, v, bits.OnesCount64(mask), capList(mask))
	}
}

func checkNoNewPrivs(*config) result {
	st, err := readStatus()
	if err != nil {
		return skipped("read /proc/self/status: %v", err)
	}
	if st["NoNewPrivs"] == "1" {
		return blocked("NoNewPrivs=1")
	}
	return allowed("NoNewPrivs=%s: exec of setuid or file-capability binaries can grant privileges", st["NoNewPrivs"])
}

func checkSeccomp(*config) result {
	st, err := readStatus()
	if err != nil {
		return skipped("read /proc/self/status: %v", err)
	}
	mode, filters := st["Seccomp"], st["Seccomp_filters"]
	switch mode {
	case "2":
		return blocked("Seccomp=2 (filter), Seccomp_filters=%s", filters)
	case "":
		return skipped("no Seccomp line in /proc/self/status (kernel without seccomp)")
	}
	return allowed("Seccomp=%s (no filter)", mode)
}

// maxSetuidScan bounds the number of directory entries examined.
const maxSetuidScan = 30000

// checkSetuid decides whether any setuid/setgid file could raise
// privileges. The kernel honours the bits only if no_new_privs is off,
// the file's mount lacks nosuid, and both the owner and the group are
// mapped in our user namespace (fs/exec.c: bprm_fill_uid); we do not
// exec the files, as their behaviour is unknown.
func checkSetuid(*config) result {
	st, err := readStatus()
	if err != nil {
		return skipped("read /proc/self/status: %v", err)
	}
	if st["NoNewPrivs"] == "1" {
		return blocked("NoNewPrivs=1: the kernel ignores setuid bits")
	}
	mounts, err := readMountinfo()
	if err != nil {
		return skipped("read /proc/self/mountinfo: %v", err)
	}
	ids, err := readIDMaps()
	if err != nil {
		return skipped("%v", err)
	}
	// Scanned one level deep.
	dirs := []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin", "/usr/lib", "/usr/libexec"}
	files := findSetuid(dirs)
	if len(files) == 0 {
		return skipped("NoNewPrivs=0 but no setuid/setgid files found under %s", strings.Join(dirs, " "))
	}
	var nosuid, unmapped, own int
	for _, f := range files {
		real, err := filepath.EvalSymlinks(f.path)
		if err != nil {
			real = f.path
		}
		m, ok := mountOf(mounts, real)
		switch {
		case ok && m.hasOpt("nosuid"):
			nosuid++
		case !ids.uidMapped(f.uid) || !ids.gidMapped(f.gid):
			unmapped++
		case f.harmlessFor(os.Geteuid(), os.Getegid()):
			own++
		default:
			return allowed("NoNewPrivs=0 and %s (mode %o, uid %d, gid %d) would run with its owner's ids", f.path, f.mode&07777, f.uid, f.gid)
		}
	}
	return blocked("NoNewPrivs=0 but all %d setuid/setgid files are neutralised: %d on nosuid mounts, %d with owners unmapped in this user namespace, %d owned by us", len(files), nosuid, unmapped, own)
}

// suidFile is a setuid or setgid file as seen from inside.
type suidFile struct {
	path     string
	mode     uint32
	uid, gid uint32
}

// harmlessFor reports whether running f changes nothing for euid/egid.
func (f suidFile) harmlessFor(euid, egid int) bool {
	if f.mode&syscall.S_ISUID != 0 && int(f.uid) != euid {
		return false
	}
	if f.mode&syscall.S_ISGID != 0 && int(f.gid) != egid {
		return false
	}
	return true
}

// findSetuid lists executable setuid/setgid regular files in dirs and
// their immediate subdirectories, visiting each real directory once.
func findSetuid(dirs []string) []suidFile {
	seen := make(map[string]bool)
	budget := maxSetuidScan
	var out []suidFile
	var visit func(dir string, depth int)
	visit = func(dir string, depth int) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || seen[real] || budget <= 0 {
			return
		}
		seen[real] = true
		ents, err := os.ReadDir(real)
		if err != nil {
			return
		}
		for _, e := range ents {
			if budget--; budget <= 0 {
				return
			}
			p := filepath.Join(real, e.Name())
			if e.IsDir() {
				if depth > 0 {
					visit(p, depth-1)
				}
				continue
			}
			if e.Type()&fs.ModeType != 0 {
				continue // symlinks are reached through their targets' directories
			}
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) != nil {
				continue
			}
			if st.Mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 && st.Mode&0o111 != 0 {
				out = append(out, suidFile{p, st.Mode, st.Uid, st.Gid})
			}
		}
	}
	for _, d := range dirs {
		visit(d, 1)
	}
	return out
}

// idMaps are our uid_map and gid_map.
type idMaps struct{ uids, gids []idRange }

// idRange is one line of a uid_map/gid_map: ids [inside, inside+count).
type idRange struct{ inside, count uint64 }

func parseIDMap(s string) []idRange {
	var out []idRange
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		n, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 == nil && err2 == nil {
			out = append(out, idRange{in, n})
		}
	}
	return out
}

func readIDMaps() (idMaps, error) {
	u, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return idMaps{}, fmt.Errorf("read uid_map: %w", err)
	}
	g, err := os.ReadFile("/proc/self/gid_map")
	if err != nil {
		return idMaps{}, fmt.Errorf("read gid_map: %w", err)
	}
	return idMaps{parseIDMap(string(u)), parseIDMap(string(g))}, nil
}

func (m idMaps) uidMapped(id uint32) bool { return inRanges(id, m.uids) }
func (m idMaps) gidMapped(id uint32) bool { return inRanges(id, m.gids) }

// inRanges reports whether a file owner shown as id is mapped. The kernel
// shows unmapped owners as the overflow id (65534), which lies outside the
// map unless the map covers it; then we cannot tell and say "mapped", the
// safe side.
func inRanges(id uint32, ranges []idRange) bool {
	for _, r := range ranges {
		if uint64(id) >= r.inside && uint64(id) < r.inside+r.count {
			return true
		}
	}
	return false
}
