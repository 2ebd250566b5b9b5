package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// delegUser is the user a subtree is delegated to.
type delegUser struct {
	name     string
	uid, gid int
}

// Delegate gives user a cgroup subtree for brig's sandboxes, as `brig setup
// --user NAME` does. It must run as root, once per user (running it again
// only repairs ownership and cpusets), and it writes nothing but cgroups.
//
// On cgroup v1 (and hybrid) hosts it creates brig-NAME below the cgroup
// Delegate itself runs in, in every mounted hierarchy libcontainer uses
// (cpu, cpuacct, cpuset, memory, devices, freezer, blkio, pids, hugetlb,
// net_cls, net_prio, perf_event, rdma, misc, name=systemd): limits set
// above that cgroup keep applying to the sandboxes. The cpuset is filled
// from its parent (an empty cpuset admits no process), and the whole
// directory is handed to the user (chown -R uid:gid). The user's brig finds
// it at run time as brig-NAME below its own cgroups (so brig must run in the
// same cgroups as setup did: the same session or service) or, failing that,
// as /brig-NAME at every hierarchy root (run setup from the root cgroups for
// that).
//
// On cgroup v2 it creates brig-NAME below setup's cgroup, enables the
// controllers in that cgroup's cgroup.subtree_control when the kernel allows
// it (it refuses while that cgroup holds processes, unless it is the root),
// and hands the user the directory and its cgroup.procs,
// cgroup.subtree_control and cgroup.threads, as systemd's Delegate=yes does.
// On v2 that is not enough by itself: the kernel lets a user move a process
// only between cgroups whose common ancestor's cgroup.procs the user may
// write, so the user's shell must be moved into brig-NAME once by root
// (echo PID > brig-NAME/cgroup.procs); brig then finds it as a "v2-delegated"
// host. On systemd hosts, delegating through user@.service is the better
// way (see CgroupHost.Fix).
//
// Delegate returns the delegated directories. Its error wraps ErrNotRoot
// when not run as root, and ErrUnknownUser when user does not exist.
func Delegate(userName string, log *slog.Logger) ([]string, error) {
	u, err := lookupDelegUser(userName)
	if err != nil {
		return nil, err
	}
	return delegateIn(realHostEnv(), u, logger(log))
}

// Undelegate removes what Delegate created for user (`brig setup --undo`):
// every brig-NAME directory below setup's cgroups or at the hierarchy roots,
// with the empty cgroups left inside it. It refuses, removing nothing, while
// any process is still in there (ErrCgroupBusy). The user need not exist any
// more. It returns the removed directories.
func Undelegate(userName string, log *slog.Logger) ([]string, error) {
	if !validCgroupName(userName) {
		return nil, fmt.Errorf("%w: %q cannot name a cgroup (give a user name such as alice)", ErrUnknownUser, userName)
	}
	return undelegateIn(realHostEnv(), userName, logger(log))
}

func lookupDelegUser(name string) (delegUser, error) {
	if !validCgroupName(name) {
		return delegUser{}, fmt.Errorf("%w: %q cannot name a cgroup (give a user name such as alice)", ErrUnknownUser, name)
	}
	u, err := user.Lookup(name)
	if err != nil {
		return delegUser{}, fmt.Errorf("%w: %q: %v (create it first, or check the spelling)", ErrUnknownUser, name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return delegUser{}, fmt.Errorf("%w: %q has non-numeric ids %s:%s", ErrUnknownUser, name, u.Uid, u.Gid)
	}
	return delegUser{name: u.Username, uid: uid, gid: gid}, nil
}

// validCgroupName: the name becomes one path element, brig-NAME.
func validCgroupName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\n\x00")
}

func requireRoot(e hostEnv, what, command string) error {
	if e.isRoot() {
		return nil
	}
	return fmt.Errorf("%s: %w (run it with sudo: sudo %s)", what, ErrNotRoot, command)
}

func delegateIn(e hostEnv, u delegUser, log *slog.Logger) ([]string, error) {
	if err := requireRoot(e, "delegate cgroups", "brig setup --user "+u.name); err != nil {
		return nil, err
	}
	l, err := readLayout(e)
	if err != nil {
		return nil, fmt.Errorf("delegate cgroups: %w", err)
	}
	switch l.version {
	case 2:
		return delegateV2(e, l, u, log)
	case 1:
		return delegateV1(e, l, u, log)
	}
	return nil, fmt.Errorf("delegate cgroups: no cgroup filesystem is mounted at %s", cgroupRoot)
}

func delegateV1(e hostEnv, l cgroupLayout, u delegUser, log *slog.Logger) ([]string, error) {
	sub := delegPrefix + u.name
	var dirs []string
	for _, key := range l.v1Mounted(slices.Concat(v1Required, v1Optional)) {
		m, _ := l.mountOf(key)
		own := l.ownDir(key)
		if own == "" {
			return dirs, fmt.Errorf("delegate cgroup %s: this process's own cgroup %s is not visible below %s", key, l.own[key], m.dir)
		}
		dir := own + "/" + sub
		if slices.Contains(dirs, dir) { // cpu,cpuacct mounted together
			continue
		}
		created, err := ensureDir(e.p(dir))
		if err != nil {
			return dirs, fmt.Errorf("delegate cgroup %s: %w", key, err)
		}
		if slices.Contains(m.hiers, "cpuset") {
			if err := copyCpuset(e.p(own), e.p(dir)); err != nil {
				return dirs, err
			}
		}
		if err := chownTree(e.p(dir), u.uid, u.gid); err != nil {
			return dirs, fmt.Errorf("delegate cgroup %s: %w", key, err)
		}
		log.Info("delegated cgroup", "dir", dir, "created", created, "user", u.name, "uid", u.uid)
		dirs = append(dirs, dir)
	}
	if len(dirs) == 0 {
		return nil, errors.New("delegate cgroups: no cgroup v1 hierarchy is mounted")
	}
	return dirs, nil
}

func delegateV2(e hostEnv, l cgroupLayout, u delegUser, log *slog.Logger) ([]string, error) {
	own := l.ownDir("")
	if own == "" {
		return nil, fmt.Errorf("delegate cgroups: this process's own cgroup %s is not visible below %s", l.own[""], cgroupRoot)
	}
	if err := enableMissing(e.p(own), intersect(readFields(e.p(own+"/cgroup.controllers")), wantControllers)); err != nil {
		log.Warn("controllers not enabled for the delegated cgroup; limits will be missing",
			"cgroup", own, "err", err,
			"hint", "run setup from a cgroup without processes, or enable them in "+own+"/cgroup.subtree_control")
	}
	dir := own + "/" + delegPrefix + u.name
	created, err := ensureDir(e.p(dir))
	if err != nil {
		return nil, fmt.Errorf("delegate cgroup: %w", err)
	}
	for _, f := range []string{"", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads"} {
		err := os.Lchown(e.p(dir+f), u.uid, u.gid)
		if err != nil && !(f == "/cgroup.threads" && errors.Is(err, fs.ErrNotExist)) {
			return nil, fmt.Errorf("delegate cgroup: %w", err)
		}
	}
	log.Info("delegated cgroup", "dir", dir, "created", created, "user", u.name, "uid", u.uid)
	log.Info("the user's processes must be moved into the delegated cgroup once by root",
		"command", "echo $$ | sudo tee "+dir+"/cgroup.procs")
	return []string{dir}, nil
}

// enableMissing enables controllers in dir's cgroup.subtree_control that are
// not enabled yet.
func enableMissing(dir string, controllers []string) error {
	enabled := readFields(dir + "/cgroup.subtree_control")
	var plus []string
	for _, c := range controllers {
		if !slices.Contains(enabled, c) {
			plus = append(plus, "+"+c)
		}
	}
	if len(plus) == 0 {
		return nil
	}
	if err := writeCgroupFile(dir+"/cgroup.subtree_control", strings.Join(plus, " ")); err != nil {
		return fmt.Errorf("enable %s in %s: %w", strings.Join(plus, " "), dir, err)
	}
	return nil
}

// writeCgroupFile writes one value to an existing cgroup control file.
func writeCgroupFile(p, value string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ensureDir creates dir unless it exists; it reports whether it did.
func ensureDir(dir string) (bool, error) {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return err == nil, err
}

// copyCpuset fills the child's cpus and mems from its parent: a v1 cpuset
// starts empty and admits no process until both are set.
func copyCpuset(parent, child string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		b, err := os.ReadFile(parent + "/" + f)
		if err != nil {
			return fmt.Errorf("copy cpuset: %w", err)
		}
		want := strings.TrimSpace(string(b))
		if want == "" {
			return fmt.Errorf("copy cpuset: %s/%s is empty", parent, f)
		}
		cur, _ := os.ReadFile(child + "/" + f)
		if strings.TrimSpace(string(cur)) == want {
			continue
		}
		if err := os.WriteFile(child+"/"+f, []byte(want), 0o644); err != nil {
			return fmt.Errorf("copy cpuset: %w", err)
		}
	}
	return nil
}

// chownTree is chown -R without following symlinks.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func undelegateIn(e hostEnv, name string, log *slog.Logger) ([]string, error) {
	if err := requireRoot(e, "remove delegated cgroups", "brig setup --undo --user "+name); err != nil {
		return nil, err
	}
	l, err := readLayout(e)
	if err != nil {
		return nil, fmt.Errorf("remove delegated cgroups: %w", err)
	}
	dirs := delegationDirs(e, l, delegPrefix+name)
	// Check everything first so that a refusal leaves the delegation whole.
	for _, d := range dirs {
		if busy, pids := busyCgroup(e.p(d)); busy != "" {
			return nil, fmt.Errorf("remove %s: %w (%s holds pids %s; stop them, e.g. running sandboxes of %s, and retry)",
				d, ErrCgroupBusy, strings.TrimPrefix(busy, e.root), strings.Join(pids, " "), name)
		}
	}
	var removed []string
	for _, d := range dirs {
		if err := removeCgroupTree(e.p(d)); err != nil {
			return removed, fmt.Errorf("remove delegated cgroups: %w", err)
		}
		log.Info("removed delegated cgroup", "dir", d)
		removed = append(removed, d)
	}
	return removed, nil
}

// delegationDirs lists the existing brig-NAME directories: below our own
// cgroup and at the root of every hierarchy.
func delegationDirs(e hostEnv, l cgroupLayout, sub string) []string {
	var cands []string
	if l.version == 2 {
		if own := l.ownDir(""); own != "" {
			cands = append(cands, own+"/"+sub)
		}
		cands = append(cands, l.unified.dir+"/"+sub)
	} else {
		for _, key := range l.v1Mounted(slices.Concat(v1Required, v1Optional)) {
			m, _ := l.mountOf(key)
			if own := l.ownDir(key); own != "" {
				cands = append(cands, own+"/"+sub)
			}
			cands = append(cands, m.dir+"/"+sub)
		}
	}
	var dirs []string
	for _, d := range cands {
		if !slices.Contains(dirs, d) && e.exists(d) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// busyCgroup returns the first cgroup in the tree at dir that holds
// processes, and their pids.
func busyCgroup(dir string) (string, []string) {
	var busy string
	var pids []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if f := readFields(p + "/cgroup.procs"); len(f) > 0 {
			busy, pids = p, f
			return filepath.SkipAll
		}
		return nil
	})
	return busy, pids
}

// removeCgroupTree removes the cgroup dir and every cgroup below it,
// deepest first. A cgroup's control files go with its directory.
func removeCgroupTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range slices.Backward(dirs) {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("rmdir %s: %w", d, err)
		}
	}
	return nil
}

// PrepareV2Delegated makes a "v2-delegated" host's cgroup O (the parent of
// h.Parent) able to give its children controllers; for other kinds it does
// nothing. Call it before starting runs below h.Parent.
//
// The kernel's "no internal processes" rule forbids enabling controllers in
// O/cgroup.subtree_control while O itself holds processes, and O holds at
// least brig itself (in a CI container, every process of the container). So,
// as runc's and podman's container entrypoints do, it moves every process of
// O into the leaf O/brig-self, then enables in O the controllers that
// h.Controllers lists. Processes only move one level down: limits set on O
// still apply to them. Runs then go to O/brig-runs/<id>; libcontainer
// enables the controllers in brig-runs itself.
//
// It is idempotent and cheap once done (one read of O/cgroup.subtree_control),
// and safe to run concurrently.
func PrepareV2Delegated(h CgroupHost) error {
	if h.Kind != KindV2Delegated {
		return nil
	}
	return prepareV2(filepath.Join(cgroupRoot, path.Dir(h.Parent)), h.Controllers)
}

func prepareV2(own string, controllers []string) error {
	enabled := readFields(own + "/cgroup.subtree_control")
	if !slices.ContainsFunc(controllers, func(c string) bool { return !slices.Contains(enabled, c) }) {
		return nil
	}
	self := own + "/" + v2SelfDir
	if _, err := ensureDir(self); err != nil {
		return fmt.Errorf("prepare delegated cgroup: %w", err)
	}
	// Processes forked meanwhile land in O again; a few rounds catch them.
	var err error
	for range 5 {
		if err = moveProcs(own, self); err != nil {
			return fmt.Errorf("prepare delegated cgroup: %w", err)
		}
		if err = enableMissing(own, controllers); !errors.Is(err, unix.EBUSY) {
			break
		}
	}
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("prepare delegated cgroup: %w: %w", ErrCgroupBusy, err)
	}
	if err != nil {
		return fmt.Errorf("prepare delegated cgroup: %w", err)
	}
	return nil
}

// moveProcs moves every process of cgroup from into cgroup to.
func moveProcs(from, to string) error {
	for _, pid := range readFields(from + "/cgroup.procs") {
		err := writeCgroupFile(to+"/cgroup.procs", pid)
		if err != nil && !errors.Is(err, unix.ESRCH) { // exited meanwhile
			return fmt.Errorf("move pid %s to %s: %w", pid, to, err)
		}
	}
	return nil
}
