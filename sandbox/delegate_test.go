package sandbox

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// testDelegUser is who fake delegations go to: nobody when the test can
// chown to another user, the test's own user otherwise.
func testDelegUser() delegUser {
	if os.Geteuid() == 0 {
		return delegUser{name: "alice", uid: 65534, gid: 65534}
	}
	return delegUser{name: "alice", uid: os.Getuid(), gid: os.Getgid()}
}

func ownerOf(t *testing.T, p string) (int, int) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func TestDelegateFakeV1(t *testing.T) {
	f := newFakeTree(t)
	v1Host(f)
	f.file("/sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n")
	f.file("/sys/fs/cgroup/cpuset/cpuset.mems", "0\n")
	u := testDelegUser()
	e := f.env(0, "root", nil)
	var want []string
	for _, d := range []string{"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "freezer", "systemd"} {
		want = append(want, ownV1(d)+"/brig-alice")
	}
	for round := range 2 { // the second round finds everything in place
		dirs, err := delegateIn(e, u, cgTestLog(t))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !slices.Equal(dirs, want) {
			t.Fatalf("round %d: dirs\n got %v\nwant %v", round, dirs, want)
		}
	}
	for _, d := range want {
		if uid, gid := ownerOf(t, f.root+d); uid != u.uid || gid != u.gid {
			t.Errorf("%s owned by %d:%d, want %d:%d", d, uid, gid, u.uid, u.gid)
		}
	}
	for file, want := range map[string]string{"cpuset.cpus": "0-1", "cpuset.mems": "0"} {
		p := f.root + "/sys/fs/cgroup/cpuset/brig-alice/" + file
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s = %q, want %q", file, b, want)
		}
		if uid, _ := ownerOf(t, p); uid != u.uid {
			t.Errorf("%s owned by %d, want %d (chown -R)", file, uid, u.uid)
		}
	}
	// What setup made, detection finds.
	for _, d := range want {
		f.rw[d], f.rw[d+"/cgroup.procs"] = true, true
		f.file(d+"/cgroup.procs", "")
	}
	h := detectFrom(f.env(1000, "alice", nil))
	if h.Kind != KindV1Delegated || h.Parent != "brig-alice" {
		t.Errorf("after Delegate, detectFrom = %+v", h)
	}
}

func TestDelegateFakeV2(t *testing.T) {
	f := newFakeTree(t)
	v2Host(f, "/", false)
	f.file("/sys/fs/cgroup/cgroup.subtree_control", "memory\n")
	// The kernel makes these with the directory; the fake makes them first.
	for _, file := range []string{"cgroup.procs", "cgroup.subtree_control", "cgroup.threads", "memory.max"} {
		f.file("/sys/fs/cgroup/brig-alice/"+file, "")
	}
	u := testDelegUser()
	dirs, err := delegateIn(f.env(0, "root", nil), u, cgTestLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dirs, []string{"/sys/fs/cgroup/brig-alice"}) {
		t.Errorf("dirs = %v", dirs)
	}
	if b, _ := os.ReadFile(f.root + "/sys/fs/cgroup/cgroup.subtree_control"); string(b) != "+pids +cpu +io +cpuset" {
		t.Errorf("subtree_control written %q, want the missing controllers enabled", b)
	}
	for _, file := range []string{"", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads"} {
		if uid, _ := ownerOf(t, f.root+"/sys/fs/cgroup/brig-alice"+file); uid != u.uid {
			t.Errorf("brig-alice%s owned by %d, want %d", file, uid, u.uid)
		}
	}
	if os.Geteuid() == 0 {
		if uid, _ := ownerOf(t, f.root+"/sys/fs/cgroup/brig-alice/memory.max"); uid != 0 {
			t.Error("memory.max was given away: the user could raise its own limit")
		}
	}
}

func TestDelegateNeedsRoot(t *testing.T) {
	f := newFakeTree(t)
	v1Host(f)
	_, err := delegateIn(f.env(1000, "alice", nil), testDelegUser(), cgTestLog(t))
	if !errors.Is(err, ErrNotRoot) || !strings.Contains(err.Error(), "sudo brig setup --user alice") {
		t.Errorf("delegateIn as uid 1000: %v, want ErrNotRoot with the sudo command", err)
	}
	f.file("/proc/self/uid_map", "0 1000 1\n")
	if _, err := undelegateIn(f.env(0, "root", nil), "alice", cgTestLog(t)); !errors.Is(err, ErrNotRoot) {
		t.Errorf("undelegateIn as root of a user namespace: %v, want ErrNotRoot", err)
	}
}

func TestDelegateBadUser(t *testing.T) {
	for _, name := range []string{"", "..", "a/b", "no-such-user-brig-test"} {
		if _, err := Delegate(name, nil); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("Delegate(%q): %v, want ErrUnknownUser", name, err)
		}
	}
	if _, err := Undelegate("a/b", nil); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("Undelegate(a/b): %v, want ErrUnknownUser", err)
	}
}

func TestUndelegateFake(t *testing.T) {
	f := newFakeTree(t)
	v1Host(f)
	// Fake cgroups hold no files (rmdir would fail on them), except for the
	// cgroup.procs of the one busy child below.
	for _, d := range v1Dirs {
		f.dir(ownV1(d) + "/brig-alice/run1")
		f.dir("/sys/fs/cgroup/" + d + "/brig-alice")
	}
	f.file("/sys/fs/cgroup/pids/brig-alice/run1/cgroup.procs", "42\n43\n")
	e := f.env(0, "root", nil)
	_, err := undelegateIn(e, "alice", cgTestLog(t))
	if !errors.Is(err, ErrCgroupBusy) || !strings.Contains(err.Error(), "/sys/fs/cgroup/pids/brig-alice/run1 holds pids 42 43") {
		t.Fatalf("undelegateIn with processes left: %v, want ErrCgroupBusy naming the cgroup", err)
	}
	if _, err := os.Stat(f.root + "/sys/fs/cgroup/memory/process_api/abc/brig-alice/run1"); err != nil {
		t.Errorf("a refused undo removed something: %v", err)
	}
	os.Remove(f.root + "/sys/fs/cgroup/pids/brig-alice/run1/cgroup.procs")
	removed, err := undelegateIn(e, "alice", cgTestLog(t))
	if err != nil {
		t.Fatal(err)
	}
	// Memory has two: below our own cgroup and at the root.
	if len(removed) != len(v1Dirs)+1 {
		t.Errorf("removed %d dirs, want %d: %v", len(removed), len(v1Dirs)+1, removed)
	}
	for _, d := range removed {
		if _, err := os.Stat(f.root + d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", d, err)
		}
	}
	if removed, err := undelegateIn(e, "alice", cgTestLog(t)); err != nil || len(removed) != 0 {
		t.Errorf("second undo: %v, %v; want nothing to do", removed, err)
	}
}

// v1Real reports whether this host has cgroup v1 hierarchies mounted.
func v1Real(t *testing.T) bool {
	l, err := readLayout(realHostEnv())
	return err == nil && l.version == 1
}

// TestDelegateRealV1 delegates to nobody on this host and undoes it.
func TestDelegateRealV1(t *testing.T) {
	if os.Geteuid() != 0 || !v1Real(t) {
		t.Skip("needs root and cgroup v1")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	l, _ := readLayout(realHostEnv())
	if dirs := delegationDirs(realHostEnv(), l, "brig-nobody"); len(dirs) > 0 {
		t.Skipf("brig-nobody exists already (%v); not touching it", dirs)
	}
	dirs, err := Delegate("nobody", cgTestLog(t))
	t.Cleanup(func() {
		if left := delegationDirs(realHostEnv(), l, "brig-nobody"); len(left) > 0 {
			t.Errorf("left behind: %v", left)
			for _, d := range left {
				_ = removeCgroupTree(d)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("delegated: %v", dirs)
	uid, _ := strconv.Atoi(nobody.Uid)
	memDir := ""
	for _, d := range dirs {
		if got, _ := ownerOf(t, d+"/cgroup.procs"); got != uid {
			t.Errorf("%s/cgroup.procs owned by %d, want %d", d, got, uid)
		}
		if strings.Contains(d, "/cpuset/") {
			if b, _ := os.ReadFile(d + "/cpuset.cpus"); strings.TrimSpace(string(b)) == "" {
				t.Errorf("%s/cpuset.cpus is empty", d)
			}
		}
		if strings.HasPrefix(d, "/sys/fs/cgroup/memory/") {
			memDir = d
		}
	}
	if memDir == "" {
		t.Fatal("no memory cgroup delegated")
	}
	if again, err := Delegate("nobody", cgTestLog(t)); err != nil || !slices.Equal(again, dirs) {
		t.Errorf("second Delegate: %v, %v", again, err)
	}

	// A process in a child cgroup blocks the undo, and nothing is removed.
	child := filepath.Join(memDir, "run1")
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Wait()
	defer sleep.Process.Kill()
	if err := writeCgroupFile(child+"/cgroup.procs", strconv.Itoa(sleep.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	if _, err := Undelegate("nobody", cgTestLog(t)); !errors.Is(err, ErrCgroupBusy) {
		t.Errorf("Undelegate with a process inside: %v, want ErrCgroupBusy", err)
	} else {
		t.Logf("refused as it should: %v", err)
	}
	if _, err := os.Stat(memDir); err != nil {
		t.Errorf("a refused undo removed %s", memDir)
	}
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	// The kernel frees the exited process's cgroup membership asynchronously.
	for i := 0; i < 100 && len(readFields(child+"/cgroup.procs")) > 0; i++ {
		unix.Nanosleep(&unix.Timespec{Nsec: 10e6}, nil)
	}
	removed, err := Undelegate("nobody", cgTestLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, dirs) {
		t.Errorf("removed %v, want %v", removed, dirs)
	}
}

// TestPrepareV2Real moves a process out of a v2 cgroup into its brig-self
// leaf. On a hybrid host the v2 hierarchy has no controllers, so enabling
// fails there after the move; on a v2 host pids gets enabled.
func TestPrepareV2Real(t *testing.T) {
	mnt := ""
	for _, m := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(m, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			mnt = m
			break
		}
	}
	if os.Geteuid() != 0 || mnt == "" {
		t.Skip("needs root and a cgroup v2 hierarchy")
	}
	own := filepath.Join(mnt, "brig-test-prepare-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(own, 0o755); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sleep.Process.Kill()
		_ = sleep.Wait()
		for i := 0; i < 100 && len(readFields(own+"/"+v2SelfDir+"/cgroup.procs")) > 0; i++ {
			unix.Nanosleep(&unix.Timespec{Nsec: 10e6}, nil)
		}
		if err := removeCgroupTree(own); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	pid := strconv.Itoa(sleep.Process.Pid)
	if err := writeCgroupFile(own+"/cgroup.procs", pid); err != nil {
		t.Fatal(err)
	}
	hasPids := slices.Contains(readFields(own+"/cgroup.controllers"), "pids")
	err := prepareV2(own, []string{"pids"})
	if hasPids && err != nil {
		t.Errorf("prepareV2: %v", err)
	}
	if !hasPids && err == nil {
		t.Errorf("prepareV2 enabled pids that %s does not offer", own)
	}
	t.Logf("prepareV2: %v", err)
	if got := readFields(own + "/" + v2SelfDir + "/cgroup.procs"); !slices.Equal(got, []string{pid}) {
		t.Errorf("brig-self holds %v, want [%s]", got, pid)
	}
	if got := readFields(own + "/cgroup.procs"); len(got) != 0 {
		t.Errorf("%s still holds %v", own, got)
	}
	if hasPids {
		if err := prepareV2(own, []string{"pids"}); err != nil {
			t.Errorf("second prepareV2: %v", err)
		}
	}
}

func TestPrepareV2DelegatedOtherKinds(t *testing.T) {
	for _, h := range []CgroupHost{{Kind: KindRoot}, {Kind: KindNone}, {Kind: KindSystemdUser}, {Kind: KindV1Delegated}} {
		if err := PrepareV2Delegated(h); err != nil {
			t.Errorf("PrepareV2Delegated(%s) = %v, want nothing done", h.Kind, err)
		}
	}
}

// cgTestLog sends the library's log lines to the test log.
func cgTestLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
