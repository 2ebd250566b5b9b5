package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeTree is a fake host (/proc/self/..., /sys/fs/cgroup/..., /run, /etc)
// under a temporary directory. Paths are host paths; writability is what
// the test says it is, whatever the files' modes.
type fakeTree struct {
	t    *testing.T
	root string
	rw   map[string]bool
}

func newFakeTree(t *testing.T) *fakeTree {
	return &fakeTree{t: t, root: t.TempDir(), rw: map[string]bool{}}
}

func (f *fakeTree) file(p, content string) {
	f.t.Helper()
	full := f.root + p
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeTree) dir(p string) {
	f.t.Helper()
	if err := os.MkdirAll(f.root+p, 0o755); err != nil {
		f.t.Fatal(err)
	}
}

// cgroup makes a cgroup directory with an empty cgroup.procs, writable by
// the caller when rw.
func (f *fakeTree) cgroup(p string, rw bool) {
	f.file(p+"/cgroup.procs", "")
	if rw {
		f.rw[p], f.rw[p+"/cgroup.procs"] = true, true
	}
}

func (f *fakeTree) env(euid int, name string, vars map[string]string) hostEnv {
	return hostEnv{
		root:     f.root,
		euid:     euid,
		egid:     euid,
		userName: name,
		getenv:   func(k string) string { return vars[k] },
		writable: func(p string) bool { return f.rw[strings.TrimPrefix(p, f.root)] },
	}
}

// This host's layout: cgroup v1 hybrid, every controller in its own
// hierarchy, the memory cgroup below a supervisor's cgroup.
const v1Mountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const v1ProcCgroup = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`

var v1Dirs = []string{"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd"}

// v1Host lays out this host's hierarchies.
func v1Host(f *fakeTree) {
	f.file("/proc/self/mountinfo", v1Mountinfo)
	f.file("/proc/self/cgroup", v1ProcCgroup)
	f.file("/proc/self/uid_map", "         0          0 4294967295\n")
	for _, d := range v1Dirs {
		f.cgroup("/sys/fs/cgroup/"+d, false)
	}
	f.cgroup("/sys/fs/cgroup/memory/process_api/abc", false)
	f.file("/sys/fs/cgroup/blkio/blkio.bfq.io_service_bytes", "Total 0\n")
}

// ownV1 is this process's cgroup directory in hierarchy dir d of v1Host.
func ownV1(d string) string {
	if d == "memory" {
		return "/sys/fs/cgroup/memory/process_api/abc"
	}
	return "/sys/fs/cgroup/" + d
}

func v2Host(f *fakeTree, own string, rootType bool) {
	f.file("/proc/self/mountinfo", "25 20 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n")
	f.file("/proc/self/cgroup", "0::"+own+"\n")
	f.file("/proc/self/uid_map", "         0          0 4294967295\n")
	f.cgroup("/sys/fs/cgroup", false)
	f.file("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
	if rootType { // a cgroup namespace's root is not the real root
		f.file("/sys/fs/cgroup/cgroup.type", "domain\n")
	}
}

var allControllers = []string{"memory", "pids", "cpu", "io", "cpuset"}

func TestDetectFrom(t *testing.T) {
	const uid = 1000
	tests := []struct {
		name    string
		build   func(f *fakeTree) hostEnv
		want    CgroupHost
		problem string // substring of Problem
		fix     string // substring of Fix
	}{{
		name: "v1 delegated below own cgroups",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			for _, d := range v1Dirs {
				f.cgroup(ownV1(d)+"/brig-alice", true)
			}
			return f.env(uid, "alice", nil)
		},
		want: CgroupHost{Version: 1, Driver: DriverFS, Kind: KindV1Delegated, Parent: "brig-alice", Controllers: allControllers},
	}, {
		name: "v1 delegated at the hierarchy roots",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			for _, d := range v1Dirs {
				f.cgroup("/sys/fs/cgroup/"+d+"/brig-alice", true)
			}
			return f.env(uid, "alice", nil)
		},
		want: CgroupHost{Version: 1, Driver: DriverFS, Kind: KindV1Delegated, Parent: "/brig-alice", Controllers: allControllers},
	}, {
		name: "v1 name=systemd is optional",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			for _, d := range v1Dirs[:len(v1Dirs)-1] {
				f.cgroup(ownV1(d)+"/brig-alice", true)
			}
			return f.env(uid, "alice", nil)
		},
		want: CgroupHost{Version: 1, Driver: DriverFS, Kind: KindV1Delegated, Parent: "brig-alice", Controllers: allControllers},
	}, {
		name: "v1 a hierarchy missing",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			for _, d := range v1Dirs {
				if d != "freezer" {
					f.cgroup(ownV1(d)+"/brig-alice", true)
				}
			}
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 1, Driver: DriverNone, Kind: KindNone},
		problem: "no cgroup brig-alice writable by alice in freezer",
		fix:     "sudo brig setup --user alice",
	}, {
		name: "v1 delegated to someone else",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			for _, d := range v1Dirs {
				f.cgroup(ownV1(d)+"/brig-alice", d != "memory")
			}
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 1, Driver: DriverNone, Kind: KindNone},
		problem: "in memory",
		fix:     "sudo brig setup --user alice",
	}, {
		name: "v1 nothing delegated",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 1, Driver: DriverNone, Kind: KindNone},
		problem: "cpuset, devices, memory, cpu, cpuacct, pids, blkio, freezer",
		fix:     "sudo brig setup --user alice",
	}, {
		name: "v1 without a blkio weight policy",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			os.Remove(f.root + "/sys/fs/cgroup/blkio/blkio.bfq.io_service_bytes")
			for _, d := range v1Dirs {
				f.cgroup(ownV1(d)+"/brig-alice", true)
			}
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 1, Driver: DriverFS, Kind: KindV1Delegated, Parent: "brig-alice", Controllers: []string{"memory", "pids", "cpu", "cpuset"}},
		problem: "blkio has no IO weight policy",
		fix:     "sudo modprobe bfq",
	}, {
		name: "v1 user without a name",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			return f.env(uid, "", nil)
		},
		want:    CgroupHost{Version: 1, Driver: DriverNone, Kind: KindNone},
		problem: "uid 1000 has no user name",
	}, {
		name: "v1 root",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			for _, d := range v1Dirs {
				f.rw["/sys/fs/cgroup/"+d] = true
			}
			return f.env(0, "root", nil)
		},
		want: CgroupHost{Version: 1, Driver: DriverFS, Kind: KindRoot, Parent: "/brig", Controllers: allControllers},
	}, {
		name: "v1 root in a user namespace is not root",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			f.file("/proc/self/uid_map", "0 1000 1\n")
			for _, d := range v1Dirs {
				f.rw["/sys/fs/cgroup/"+d] = true
			}
			return f.env(0, "root", nil)
		},
		want:    CgroupHost{Version: 1, Driver: DriverNone, Kind: KindNone},
		problem: "no cgroup brig-root writable by root",
	}, {
		name: "v1 root on a read-only cgroupfs",
		build: func(f *fakeTree) hostEnv {
			v1Host(f)
			return f.env(0, "root", nil)
		},
		want:    CgroupHost{Version: 1, Driver: DriverNone, Kind: KindNone},
		problem: "not writable",
	}, {
		name: "v2 systemd user manager, stock Debian delegation",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/user.slice/user-1000.slice/session-2.scope", false)
			f.dir("/run/systemd/system")
			f.file("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers", "cpu memory pids\n")
			f.file("/run/user/1000/bus", "")
			return f.env(uid, "alice", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"})
		},
		want:    CgroupHost{Version: 2, Driver: DriverSystemd, Kind: KindSystemdUser, Parent: "user.slice", Controllers: []string{"memory", "pids", "cpu"}},
		problem: "user@1000.service is not delegated io, cpuset",
		fix:     "Delegate=cpu cpuset io memory pids",
	}, {
		name: "v2 systemd user manager, everything delegated",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/user.slice/user-1000.slice/session-2.scope", false)
			f.dir("/run/systemd/system")
			f.file("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers", "cpuset cpu io memory pids\n")
			return f.env(uid, "alice", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus"})
		},
		want: CgroupHost{Version: 2, Driver: DriverSystemd, Kind: KindSystemdUser, Parent: "user.slice", Controllers: allControllers},
	}, {
		// --user self: brig re-executes itself as root of an outer user
		// namespace; the manager is still the caller's.
		name: "v2 systemd user manager from brig's outer user namespace",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/user.slice/user-1000.slice/session-2.scope", false)
			f.file("/proc/self/uid_map", "         0       1000          1\n         1     100000      65536\n")
			f.dir("/run/systemd/system")
			f.file("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers", "cpuset cpu io memory pids\n")
			return f.env(0, "alice", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus"})
		},
		want: CgroupHost{Version: 2, Driver: DriverSystemd, Kind: KindSystemdUser, Parent: "user.slice", Controllers: allControllers},
	}, {
		name: "v2 systemd user manager without a bus",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/user.slice/user-1000.slice/session-2.scope", false)
			f.dir("/run/systemd/system")
			f.file("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers", "cpuset cpu io memory pids\n")
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 2, Driver: DriverNone, Kind: KindNone},
		problem: "D-Bus session bus is not reachable",
		fix:     "export XDG_RUNTIME_DIR=/run/user/1000",
	}, {
		name: "v2 systemd without a user manager",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/system.slice/cron.service", false)
			f.dir("/run/systemd/system")
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 2, Driver: DriverNone, Kind: KindNone},
		problem: "no systemd user manager runs for uid 1000",
		fix:     "sudo loginctl enable-linger alice",
	}, {
		name: "v2 delegated own cgroup",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/ci/job", false)
			f.cgroup("/sys/fs/cgroup/ci/job", true)
			f.rw["/sys/fs/cgroup/ci/job/cgroup.subtree_control"] = true
			f.file("/sys/fs/cgroup/ci/job/cgroup.controllers", "cpu io memory pids\n")
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 2, Driver: DriverFS, Kind: KindV2Delegated, Parent: "/ci/job/brig-runs", Controllers: []string{"memory", "pids", "cpu", "io"}},
		problem: "/sys/fs/cgroup/ci/job was not given cpuset",
		fix:     "sudo tee /sys/fs/cgroup/ci/cgroup.subtree_control",
	}, {
		name: "v2 delegated own cgroup after PrepareV2Delegated",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/ci/job/brig-self", false)
			f.cgroup("/sys/fs/cgroup/ci/job", true)
			f.rw["/sys/fs/cgroup/ci/job/cgroup.subtree_control"] = true
			f.cgroup("/sys/fs/cgroup/ci/job/brig-self", true)
			f.file("/sys/fs/cgroup/ci/job/cgroup.controllers", "cpuset cpu io memory pids\n")
			return f.env(uid, "alice", nil)
		},
		want: CgroupHost{Version: 2, Driver: DriverFS, Kind: KindV2Delegated, Parent: "/ci/job/brig-runs", Controllers: allControllers},
	}, {
		name: "v2 root in a container's cgroup namespace",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/", true)
			f.rw["/sys/fs/cgroup"], f.rw["/sys/fs/cgroup/cgroup.procs"] = true, true
			f.rw["/sys/fs/cgroup/cgroup.subtree_control"] = true
			return f.env(0, "root", nil)
		},
		want: CgroupHost{Version: 2, Driver: DriverFS, Kind: KindV2Delegated, Parent: "/brig-runs", Controllers: allControllers},
	}, {
		name: "v2 root on the real root",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/user.slice/user-0.slice/session-1.scope", false)
			f.rw["/sys/fs/cgroup"] = true
			return f.env(0, "root", nil)
		},
		want: CgroupHost{Version: 2, Driver: DriverFS, Kind: KindRoot, Parent: "/brig", Controllers: allControllers},
	}, {
		name: "v2 setup done but the shell is outside",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/sessions/7", false)
			f.cgroup("/sys/fs/cgroup/sessions/7", false)
			f.cgroup("/sys/fs/cgroup/brig-alice", true)
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 2, Driver: DriverNone, Kind: KindNone},
		problem: "/sys/fs/cgroup/brig-alice exists, but this process runs outside it",
		fix:     "echo $$ | sudo tee /sys/fs/cgroup/brig-alice/cgroup.procs",
	}, {
		name: "v2 nothing",
		build: func(f *fakeTree) hostEnv {
			v2Host(f, "/sessions/7", false)
			f.cgroup("/sys/fs/cgroup/sessions/7", false)
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 2, Driver: DriverNone, Kind: KindNone},
		problem: "cgroup is not writable",
		fix:     "sudo brig setup --user alice",
	}, {
		name: "no cgroup filesystem",
		build: func(f *fakeTree) hostEnv {
			f.file("/proc/self/mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n")
			f.file("/proc/self/cgroup", "")
			return f.env(uid, "alice", nil)
		},
		want:    CgroupHost{Version: 0, Driver: DriverNone, Kind: KindNone},
		problem: "no cgroup filesystem",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := detectFrom(tt.build(newFakeTree(t)))
			problem, fix := got.Problem, got.Fix
			got.Problem, got.Fix = "", ""
			if got.Version != tt.want.Version || got.Driver != tt.want.Driver || got.Kind != tt.want.Kind ||
				got.Parent != tt.want.Parent || !slices.Equal(got.Controllers, tt.want.Controllers) {
				t.Errorf("detectFrom:\n got %+v\nwant %+v\nproblem: %s", got, tt.want, problem)
			}
			if tt.problem == "" && problem != "" || !strings.Contains(problem, tt.problem) {
				t.Errorf("Problem = %q, want it to contain %q", problem, tt.problem)
			}
			if tt.fix == "" && tt.problem == "" && fix != "" || !strings.Contains(fix, tt.fix) {
				t.Errorf("Fix = %q, want it to contain %q", fix, tt.fix)
			}
			if problem != "" && strings.Contains(problem, "\n") {
				t.Errorf("Problem is not one line: %q", problem)
			}
		})
	}
}

func TestParseCgroupMounts(t *testing.T) {
	mi := v1Mountinfo +
		"50 31 0:40 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n" +
		"51 31 0:41 /docker/x /mnt/with\\040space rw - cgroup cgroup rw,xattr,name=systemd\n" +
		"52 22 0:42 / /proc rw - proc proc rw\n"
	mounts, err := parseCgroupMounts(strings.NewReader(mi))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 12 {
		t.Fatalf("got %d cgroup mounts, want 12: %+v", len(mounts), mounts)
	}
	if m := mounts[9]; !m.v2 || m.dir != "/sys/fs/cgroup/unified" {
		t.Errorf("unified mount = %+v", m)
	}
	if m := mounts[10]; !slices.Equal(m.hiers, []string{"net_cls", "net_prio"}) {
		t.Errorf("net_cls,net_prio hierarchies = %v", m.hiers)
	}
	if m := mounts[11]; m.dir != "/mnt/with space" || m.root != "/docker/x" || !slices.Equal(m.hiers, []string{"name=systemd"}) {
		t.Errorf("escaped mount = %+v", m)
	}
}

func TestParseProcCgroup(t *testing.T) {
	own, err := parseProcCgroup(strings.NewReader("3:cpu,cpuacct:/a\n1:name=systemd:/b\n0::/c:d\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cpu": "/a", "cpuacct": "/a", "name=systemd": "/b", "": "/c:d"}
	for k, v := range want {
		if own[k] != v {
			t.Errorf("own[%q] = %q, want %q", k, own[k], v)
		}
	}
}

func TestOwnDirBelowMountRoot(t *testing.T) {
	l := cgroupLayout{
		mounts: []cgroupMount{{dir: "/sys/fs/cgroup/memory", root: "/docker/x", hiers: []string{"memory"}}},
		own:    map[string]string{"memory": "/docker/x/y"},
	}
	if got := l.ownDir("memory"); got != "/sys/fs/cgroup/memory/y" {
		t.Errorf("ownDir = %q", got)
	}
	l.own["memory"] = "/elsewhere"
	if got := l.ownDir("memory"); got != "" {
		t.Errorf("ownDir of an invisible cgroup = %q, want empty", got)
	}
}

func TestHas(t *testing.T) {
	h := CgroupHost{Driver: DriverFS, Controllers: []string{"memory"}}
	if !h.Has("memory") || h.Has("pids") {
		t.Errorf("Has: %+v", h)
	}
	h.Driver = DriverNone
	if h.Has("memory") {
		t.Error("Has(memory) with DriverNone")
	}
}

// TestDetectCgroupHostHere logs what this host offers the user running the
// test; it checks only what holds everywhere.
func TestDetectCgroupHostHere(t *testing.T) {
	h := DetectCgroupHost()
	t.Logf("uid %d: %+v", os.Geteuid(), h)
	if (h.Driver == DriverNone) != (h.Kind == KindNone) {
		t.Errorf("Driver %q with Kind %q", h.Driver, h.Kind)
	}
	if h.Driver == DriverNone && (h.Problem == "" || h.Fix == "") && h.Version != 0 {
		t.Errorf("DriverNone without Problem or Fix: %+v", h)
	}
}
