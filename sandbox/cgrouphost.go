package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CgroupDriver names how per-run cgroups are created on this host.
type CgroupDriver string

// The cgroup drivers. The runner maps them onto libcontainer: DriverSystemd
// sets Cgroup.Systemd with Parent as the slice; DriverFS sets
// Cgroup.Path = Parent + "/" + runID.
const (
	DriverSystemd CgroupDriver = "systemd"  // transient scope via the user's systemd (v2)
	DriverFS      CgroupDriver = "cgroupfs" // a delegated subtree, or root
	DriverNone    CgroupDriver = "none"     // limits cannot be enforced here
)

// The kinds of host, as CgroupHost.Kind.
const (
	KindSystemdUser = "systemd-user" // v2; the user's systemd (user@UID.service) creates scopes over D-Bus
	KindV2Delegated = "v2-delegated" // v2; our own cgroup is writable (CI container, Delegate=yes scope); call PrepareV2Delegated
	KindV1Delegated = "v1-delegated" // v1/hybrid; root ran `brig setup --user NAME` once
	KindRoot        = "root"         // euid 0 in the initial user namespace: cgroupfs directly
	KindNone        = "none"         // nothing usable; see Problem and Fix
)

// CgroupHost says where and how the sandboxes of the calling user get
// their cgroups, and which resource limits can be enforced.
//
// Driver != DriverNone means a cgroup per run can be created; Has tells
// which limits it can enforce. Parent depends on Driver:
//
//   - DriverSystemd: the slice of the user's systemd manager ("user.slice");
//     libcontainer's systemd driver (Rootless) creates
//     user@UID.service/user.slice/<prefix>-<id>.scope over the user's D-Bus.
//   - DriverFS: the prefix of libcontainer's Cgroup.Path; each run uses
//     Parent + "/" + runID. An absolute Parent ("/brig", "/brig-alice",
//     "/ci/brig-runs") is taken from the root of every hierarchy (v1) or of
//     /sys/fs/cgroup (v2). A relative Parent ("brig-alice", v1 only) is
//     joined, per hierarchy, to the cgroup the calling process runs in:
//     brig must then run in the same cgroups `brig setup` ran in.
type CgroupHost struct {
	Version     int          `json:"version"`           // 1 (v1 or hybrid) or 2 (unified); 0 when no cgroup filesystem is mounted
	Driver      CgroupDriver `json:"driver"`            // how runs get their cgroup
	Kind        string       `json:"kind"`              // "systemd-user", "v2-delegated", "v1-delegated", "root", "none"
	Parent      string       `json:"parent"`            // cgroupfs: Cgroup.Path prefix; systemd: the slice, e.g. "user.slice"
	Controllers []string     `json:"controllers"`       // usable controllers, v2 names: "memory","pids","cpu","io","cpuset"
	Problem     string       `json:"problem,omitempty"` // why limits (or some controllers) can't be enforced; "" when all fine
	Fix         string       `json:"fix,omitempty"`     // exact fix for Problem
}

// Has reports whether limits of the given controller (v2 name: "memory",
// "pids", "cpu", "io", "cpuset") can be enforced.
func (h CgroupHost) Has(controller string) bool {
	return h.Driver != DriverNone && slices.Contains(h.Controllers, controller)
}

// wantControllers are the controllers brig sets limits with, in the order
// they are reported.
var wantControllers = []string{"memory", "pids", "cpu", "io", "cpuset"}

// v1Hierarchy maps each wanted controller to the v1 hierarchy that
// implements it.
var v1Hierarchy = map[string]string{
	"memory": "memory", "pids": "pids", "cpu": "cpu", "io": "blkio", "cpuset": "cpuset",
}

// v1Required are the hierarchies libcontainer's fs driver joins with a hard
// error when it is given an explicit path (github.com/opencontainers/cgroups
// fs.subsystems): a rootless run fails unless every one of them that is
// mounted has a writable cgroup for it.
var v1Required = []string{
	"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio",
	"hugetlb", "net_cls", "net_prio", "perf_event", "freezer", "rdma",
}

// v1Optional are the named hierarchies libcontainer joins when it can and
// ignores otherwise; setup delegates them too, so that a run's processes are
// grouped there as well.
var v1Optional = []string{"name=systemd", "misc"}

// v1Controllers are the v1 controller names that may appear in a cgroup
// mount's options.
var v1Controllers = []string{
	"cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer",
	"net_cls", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc",
}

const (
	cgroupRoot  = "/sys/fs/cgroup"
	v2RunsDir   = "brig-runs" // v2-delegated: the runs' parent below our own cgroup
	v2SelfDir   = "brig-self" // v2-delegated: the leaf our own processes move to
	rootParent  = "/brig"     // root: the runs' parent at every hierarchy root
	delegPrefix = "brig-"     // setup: brig-NAME
)

// hostEnv is what detection reads about the calling process. DetectCgroupHost
// builds the real one; tests build one over a fake tree.
type hostEnv struct {
	root     string              // prefix of every absolute path read; "" on the real host
	euid     int                 // effective uid of the caller
	egid     int                 // effective gid of the caller
	userName string              // the caller's name, "" when euid has no passwd entry
	getenv   func(string) string // environment of the caller
	writable func(string) bool   // whether the caller may write the path
}

func realHostEnv() hostEnv {
	e := hostEnv{
		euid:     os.Geteuid(),
		egid:     os.Getegid(),
		getenv:   os.Getenv,
		writable: accessWritable,
	}
	if u, err := user.LookupId(strconv.Itoa(e.euid)); err == nil {
		e.userName = u.Username
	}
	if c, ok := OuterCaller(); ok {
		// Root of brig's outer user namespace is the caller outside.
		e.userName = c.Name
	}
	return e
}

// accessWritable checks write access with the effective ids, as the kernel
// will when libcontainer writes the file.
func accessWritable(p string) bool {
	return unix.Faccessat(unix.AT_FDCWD, p, unix.W_OK, unix.AT_EACCESS) == nil
}

// p returns where the host path hostPath is in the environment's tree.
func (e hostEnv) p(hostPath string) string { return e.root + hostPath }

func (e hostEnv) exists(p string) bool {
	_, err := os.Stat(e.p(p))
	return err == nil
}

// inUserNS reports whether the caller runs in a user namespace other than
// the initial one, where euid 0 is not the host's root.
func (e hostEnv) inUserNS() bool {
	b, err := os.ReadFile(e.p("/proc/self/uid_map"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) != 3 || f[0] != "0" || f[1] != "0" || f[2] != "4294967295"
}

func (e hostEnv) isRoot() bool { return e.euid == 0 && !e.inUserNS() }

// hostUID is the caller's uid in the parent user namespace (the host's,
// for brig's own outer namespace): euid translated through
// /proc/self/uid_map. Root of brig's outer user namespace (--user self) is
// the caller outside, whose systemd manager is user@UID.service.
func (e hostEnv) hostUID() int {
	b, err := os.ReadFile(e.p("/proc/self/uid_map"))
	if err != nil {
		return e.euid
	}
	for line := range strings.Lines(string(b)) {
		var inside, outside, count int
		if _, err := fmt.Sscan(line, &inside, &outside, &count); err != nil {
			continue
		}
		if e.euid >= inside && e.euid-inside < count {
			return outside + e.euid - inside
		}
	}
	return e.euid
}

// nameOrVar is the user name to put into fixes.
func (e hostEnv) nameOrVar() string {
	if e.userName != "" {
		return e.userName
	}
	return "$USER"
}

// DetectCgroupHost finds out how sandboxes of the calling process (its
// effective uid) get cgroups here. It only reads a few files under /proc and
// /sys (no D-Bus, no exec), so it is cheap enough to run on every `brig run`.
func DetectCgroupHost() CgroupHost {
	return detectFrom(realHostEnv())
}

func detectFrom(e hostEnv) CgroupHost {
	l, err := readLayout(e)
	if err != nil {
		return noneHost(0, fmt.Sprintf("cannot read the cgroup layout: %v", err), "mount /proc (sudo mount -t proc proc /proc)")
	}
	switch {
	case l.version == 0:
		return noneHost(0, "no cgroup filesystem is mounted at "+cgroupRoot,
			"sudo mount -t cgroup2 none "+cgroupRoot)
	case e.isRoot():
		if h, ok := detectRoot(e, l); ok {
			return h
		}
		if l.version == 2 {
			return detectV2User(e, l)
		}
		return noneHost(1, "running as root, but the cgroup v1 hierarchies are not writable (read-only cgroup filesystem?)",
			"give brig a writable cgroup filesystem (in a container: docker run --privileged, or run as an unprivileged user after `brig setup`)")
	case l.version == 2:
		return detectV2User(e, l)
	default:
		return detectV1User(e, l)
	}
}

func noneHost(version int, problem, fix string) CgroupHost {
	return CgroupHost{Version: version, Driver: DriverNone, Kind: KindNone, Controllers: []string{}, Problem: problem, Fix: fix}
}

// detectRoot: euid 0 in the initial user namespace uses cgroupfs directly
// with Parent "/brig", even where systemd is PID 1: libcontainer's fs driver
// needs no D-Bus round trip, and runs are short-lived. It declines (false)
// when the hierarchies are not writable, or, on v2, when /sys/fs/cgroup is a
// cgroup namespace's root rather than the real root: the "no internal
// processes" rule applies there, so that case is handled like a delegated
// subtree.
func detectRoot(e hostEnv, l cgroupLayout) (CgroupHost, bool) {
	if l.version == 2 {
		m := l.unified
		if e.exists(m.dir+"/cgroup.type") || !e.writable(e.p(m.dir)) {
			return CgroupHost{}, false
		}
		h := CgroupHost{Version: 2, Driver: DriverFS, Kind: KindRoot, Parent: rootParent,
			Controllers: intersect(readFields(e.p(m.dir+"/cgroup.controllers")), wantControllers)}
		h.Problem, h.Fix = missingV2(h.Controllers, "the kernel does not offer", "")
		return h, true
	}
	for _, key := range l.v1Mounted(v1Required) {
		m, _ := l.mountOf(key)
		if !e.writable(e.p(m.dir)) {
			return CgroupHost{}, false
		}
	}
	h := CgroupHost{Version: 1, Driver: DriverFS, Kind: KindRoot, Parent: rootParent}
	h.Controllers, h.Problem, h.Fix = v1Usable(e, l)
	return h, true
}

// detectV1User finds the subtree root delegated with `brig setup --user
// NAME`: brig-NAME below our own cgroup in every hierarchy (Parent relative),
// or else brig-NAME at every hierarchy root (Parent absolute). libcontainer
// takes one Path for all hierarchies, so a mix of the two cannot be used.
func detectV1User(e hostEnv, l cgroupLayout) CgroupHost {
	if e.userName == "" {
		return noneHost(1, fmt.Sprintf("uid %d has no user name, so its brig-NAME cgroups cannot be found", e.euid),
			"run brig as a user listed in /etc/passwd")
	}
	sub := delegPrefix + e.userName
	required := l.v1Mounted(v1Required)
	var relMissing, absMissing []string
	for _, key := range required {
		m, _ := l.mountOf(key)
		own := l.ownDir(key)
		if own == "" || !usableCgroup(e, own+"/"+sub) {
			relMissing = append(relMissing, key)
		}
		if !usableCgroup(e, m.dir+"/"+sub) {
			absMissing = append(absMissing, key)
		}
	}
	var parent string
	switch {
	case len(required) == 0:
		return noneHost(1, "no cgroup v1 controller hierarchy is mounted", "")
	case len(relMissing) == 0:
		parent = sub
	case len(absMissing) == 0:
		parent = "/" + sub
	default:
		return noneHost(1, fmt.Sprintf("cgroup v1: no cgroup %s writable by %s in %s (below this process's cgroups or at the hierarchy roots)",
			sub, e.userName, strings.Join(relMissing, ", ")),
			"sudo brig setup --user "+e.userName+" (from the session brig runs in)")
	}
	h := CgroupHost{Version: 1, Driver: DriverFS, Kind: KindV1Delegated, Parent: parent}
	h.Controllers, h.Problem, h.Fix = v1Usable(e, l)
	return h
}

// usableCgroup: a delegated cgroup is usable when the caller can create
// children in it and move processes through it.
func usableCgroup(e hostEnv, dir string) bool {
	fi, err := os.Stat(e.p(dir))
	return err == nil && fi.IsDir() && e.writable(e.p(dir)) && e.writable(e.p(dir+"/cgroup.procs"))
}

// v1Usable lists the wanted controllers whose hierarchy is mounted, and
// says which are not. brig's only IO limit is a weight, so io also needs a
// weight policy in the blkio hierarchy: CFQ's blkio.weight or BFQ's
// blkio.bfq.weight. Their files appear in child cgroups only, but the
// policy's files at the hierarchy root tell whether they will.
func v1Usable(e hostEnv, l cgroupLayout) (have []string, problem, fix string) {
	var problems, fixes []string
	for _, c := range wantControllers {
		hier := v1Hierarchy[c]
		m, ok := l.mountOf(hier)
		switch {
		case !ok:
			dir := cgroupRoot + "/" + hier
			problems = append(problems, "the "+hier+" hierarchy is not mounted")
			fixes = append(fixes, "sudo mkdir -p "+dir+" && sudo mount -t cgroup -o "+hier+" cgroup "+dir)
		case c == "io" && !e.exists(m.dir+"/blkio.weight") && !e.exists(m.dir+"/blkio.bfq.io_service_bytes"):
			problems = append(problems, "blkio has no IO weight policy (neither CFQ nor BFQ)")
			fixes = append(fixes, "sudo modprobe bfq")
		default:
			have = append(have, c)
		}
	}
	return have, strings.Join(problems, "; "), strings.Join(fixes, " && ")
}

// detectV2User tries the user's systemd manager, then a writable own cgroup,
// and otherwise explains what is missing.
func detectV2User(e hostEnv, l cgroupLayout) CgroupHost {
	uid := e.hostUID()
	sd := systemdUserState(e, l, uid)
	if sd.manager && sd.bus {
		h := CgroupHost{Version: 2, Driver: DriverSystemd, Kind: KindSystemdUser, Parent: "user.slice",
			Controllers: intersect(readFields(e.p(sd.controllersFile)), wantControllers)}
		h.Problem, h.Fix = missingV2(h.Controllers, fmt.Sprintf("user@%d.service is not delegated", uid), delegateDropIn)
		return h
	}
	if h, ok := detectV2Delegated(e, l); ok {
		return h
	}
	name := e.nameOrVar()
	switch {
	case sd.manager:
		return noneHost(2, "the systemd user manager runs, but its D-Bus session bus is not reachable (DBUS_SESSION_BUS_ADDRESS unset, no $XDG_RUNTIME_DIR/bus)",
			fmt.Sprintf("export XDG_RUNTIME_DIR=/run/user/%d DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/%d/bus (or log in through PAM: ssh, machinectl shell %s@)", uid, uid, name))
	case sd.booted:
		return noneHost(2, fmt.Sprintf("no systemd user manager runs for uid %d (no login session, no linger)", uid),
			"sudo loginctl enable-linger "+name+", then log in again (ssh or machinectl shell "+name+"@)")
	}
	if dir := findV2Delegation(e, l); dir != "" {
		return noneHost(2, fmt.Sprintf("the delegated cgroup %s exists, but this process runs outside it: the kernel only lets %s move processes within cgroups it owns", dir, name),
			"start brig from a shell inside it: echo $$ | sudo tee "+dir+"/cgroup.procs")
	}
	return noneHost(2, "cgroup v2 without a systemd user manager, and this process's cgroup is not writable",
		"sudo brig setup --user "+name+", then move your shell into the cgroup it prints: echo $$ | sudo tee DIR/cgroup.procs")
}

// delegateDropIn makes systemd delegate every controller brig uses to every
// user's manager.
const delegateDropIn = `sudo mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\nDelegate=cpu cpuset io memory pids\n' | sudo tee /etc/systemd/system/user@.service.d/delegate.conf && sudo systemctl daemon-reload, then log out and in again`

// missingV2 explains which wanted controllers are not in have.
func missingV2(have []string, why, fix string) (problem, outFix string) {
	var missing []string
	for _, c := range wantControllers {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return "", ""
	}
	return fmt.Sprintf("%s %s", why, strings.Join(missing, ", ")), fix
}

type systemdUser struct {
	booted          bool   // the host runs systemd as init
	manager         bool   // user@UID.service exists
	bus             bool   // the user's session bus is reachable
	controllersFile string // user@UID.service/cgroup.controllers
}

// systemdUserState reads files only: libcontainer's systemd driver will talk
// to the bus itself, and reports its own errors if it cannot. hostUID is
// the caller outside any user namespace of brig's (see hostEnv.hostUID).
func systemdUserState(e hostEnv, l cgroupLayout, hostUID int) systemdUser {
	uid := strconv.Itoa(hostUID)
	s := systemdUser{
		booted:          e.exists("/run/systemd/system"),
		controllersFile: l.unified.dir + "/user.slice/user-" + uid + ".slice/user@" + uid + ".service/cgroup.controllers",
	}
	s.manager = e.exists(s.controllersFile)
	if e.getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		s.bus = true
	} else if rt := e.getenv("XDG_RUNTIME_DIR"); rt != "" {
		s.bus = e.exists(rt + "/bus")
	}
	return s
}

// detectV2Delegated: our own cgroup O is writable, so below it we may create
// O/brig-runs/<id> for runs. Enabling controllers for O's children needs O
// to hold no processes (the "no internal processes" rule), which is what
// PrepareV2Delegated arranges by moving them into the leaf O/brig-self.
// After that move our own cgroup is O/brig-self, and detection still
// reports O.
func detectV2Delegated(e hostEnv, l cgroupLayout) (CgroupHost, bool) {
	own := l.ownDir("")
	if own == "" {
		return CgroupHost{}, false
	}
	if path.Base(own) == v2SelfDir {
		own = path.Dir(own)
	}
	for _, f := range []string{"", "/cgroup.procs", "/cgroup.subtree_control"} {
		if !e.writable(e.p(own + f)) {
			return CgroupHost{}, false
		}
	}
	rel := "/" + strings.TrimPrefix(strings.TrimPrefix(own, l.unified.dir), "/")
	h := CgroupHost{Version: 2, Driver: DriverFS, Kind: KindV2Delegated, Parent: path.Join(rel, v2RunsDir),
		Controllers: intersect(readFields(e.p(own+"/cgroup.controllers")), wantControllers)}
	h.Problem, h.Fix = missingV2(h.Controllers, "the cgroup "+own+" was not given",
		"enable them in its parent: echo '+cpu +cpuset +io +memory +pids' | sudo tee "+path.Dir(own)+"/cgroup.subtree_control")
	return h, true
}

// findV2Delegation looks for a brig-NAME cgroup made by `brig setup` at the
// root or beside any ancestor of our own cgroup.
func findV2Delegation(e hostEnv, l cgroupLayout) string {
	if e.userName == "" {
		return ""
	}
	own := l.ownDir("")
	if own == "" {
		own = l.unified.dir
	}
	for dir := own; strings.HasPrefix(dir, l.unified.dir); dir = path.Dir(dir) {
		if d := dir + "/" + delegPrefix + e.userName; e.exists(d) {
			return d
		}
		if dir == l.unified.dir {
			break
		}
	}
	return ""
}

// cgroupMount is one mounted cgroup hierarchy.
type cgroupMount struct {
	dir   string   // mount point, e.g. /sys/fs/cgroup/memory
	root  string   // the cgroup shown at the mount point: "/" unless bind-mounted or in a cgroup namespace
	v2    bool     // cgroup2
	hiers []string // v1: hierarchy keys, e.g. "cpu", "cpuacct", "name=systemd"
}

// cgroupLayout is which hierarchies are mounted and which cgroup of each
// the caller is in.
type cgroupLayout struct {
	version int               // 2 when /sys/fs/cgroup is cgroup2, 1 when any v1 hierarchy is mounted
	mounts  []cgroupMount     // in mountinfo order
	own     map[string]string // hierarchy key → own cgroup; "" is the v2 one
	unified cgroupMount       // the v2 mount when version is 2
}

func readLayout(e hostEnv) (cgroupLayout, error) {
	mi, err := os.Open(e.p("/proc/self/mountinfo"))
	if err != nil {
		return cgroupLayout{}, err
	}
	defer mi.Close()
	mounts, err := parseCgroupMounts(mi)
	if err != nil {
		return cgroupLayout{}, fmt.Errorf("parse /proc/self/mountinfo: %w", err)
	}
	pc, err := os.Open(e.p("/proc/self/cgroup"))
	if err != nil {
		return cgroupLayout{}, err
	}
	defer pc.Close()
	own, err := parseProcCgroup(pc)
	if err != nil {
		return cgroupLayout{}, fmt.Errorf("parse /proc/self/cgroup: %w", err)
	}
	l := cgroupLayout{mounts: mounts, own: own}
	for _, m := range mounts {
		switch {
		case m.v2 && m.dir == cgroupRoot:
			l.version, l.unified = 2, m
		case !m.v2 && l.version == 0:
			l.version = 1
		}
	}
	return l, nil
}

// mountOf returns the first mount of the hierarchy key, as libcontainer does.
func (l cgroupLayout) mountOf(key string) (cgroupMount, bool) {
	for _, m := range l.mounts {
		if key == "" && m.v2 && l.version == 2 && m.dir == cgroupRoot {
			return m, true
		}
		if !m.v2 && slices.Contains(m.hiers, key) {
			return m, true
		}
	}
	return cgroupMount{}, false
}

// v1Mounted filters keys down to the mounted hierarchies.
func (l cgroupLayout) v1Mounted(keys []string) []string {
	var out []string
	for _, k := range keys {
		if _, ok := l.mountOf(k); ok {
			out = append(out, k)
		}
	}
	return out
}

// ownDir is the directory of the caller's own cgroup in the hierarchy key
// ("" for v2), or "" when that cgroup is not visible under the mount.
func (l cgroupLayout) ownDir(key string) string {
	m, ok := l.mountOf(key)
	if !ok {
		return ""
	}
	own, ok := l.own[key]
	if !ok {
		return ""
	}
	rel, err := filepath.Rel(m.root, own)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return ""
	}
	return filepath.Join(m.dir, rel)
}

// parseCgroupMounts reads the cgroup and cgroup2 mounts from mountinfo(5).
func parseCgroupMounts(r io.Reader) ([]cgroupMount, error) {
	var out []cgroupMount
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// 35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, af := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(af) < 3 || (af[0] != "cgroup" && af[0] != "cgroup2") {
			continue
		}
		m := cgroupMount{root: unescapeMount(pf[3]), dir: unescapeMount(pf[4]), v2: af[0] == "cgroup2"}
		if !m.v2 {
			for opt := range strings.SplitSeq(af[2], ",") {
				if slices.Contains(v1Controllers, opt) || strings.HasPrefix(opt, "name=") {
					m.hiers = append(m.hiers, opt)
				}
			}
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
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

// parseProcCgroup reads /proc/PID/cgroup: "4:memory:/x", "3:cpu,cpuacct:/",
// "1:name=systemd:/y", "0::/z" (v2, key "").
func parseProcCgroup(r io.Reader) (map[string]string, error) {
	own := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			own[""] = f[2]
			continue
		}
		for key := range strings.SplitSeq(f[1], ",") {
			own[key] = f[2]
		}
	}
	return own, sc.Err()
}

// readFields reads a space-separated cgroup file such as cgroup.controllers;
// a missing file reads as empty.
func readFields(p string) []string {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// intersect keeps the elements of order that are in have, in order's order.
func intersect(have, order []string) []string {
	var out []string
	for _, c := range order {
		if slices.Contains(have, c) {
			out = append(out, c)
		}
	}
	return out
}
