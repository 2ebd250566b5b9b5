package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeDoctor is a doctor environment over a fake tree where every probe
// succeeds and every tool is found; tests break what they check.
func fakeDoctor(f *fakeTree, euid int) doctorEnv {
	return doctorEnv{
		host:         f.env(euid, "alice", nil),
		exe:          "/usr/local/bin/brig",
		lookPath:     func(name string) (string, error) { return "/usr/bin/" + name, nil },
		userNSProbe:  func() error { return nil },
		seccompMode:  func() (int, error) { return 0, nil },
		landlockABI:  func() (int, error) { return 4, nil },
		seccompBuilt: true,
	}
}

func wantCheck(t *testing.T, c Check, status CheckStatus, detail, fix string) {
	t.Helper()
	if c.Status != status || !strings.Contains(c.Detail, detail) || !strings.Contains(c.Fix, fix) {
		t.Errorf("%s: got %s %q (fix %q)\nwant %s with %q (fix with %q)", c.Name, c.Status, c.Detail, c.Fix, status, detail, fix)
	}
	if c.Status != CheckOK && fix != "" && c.Fix == "" {
		t.Errorf("%s: %s without a fix", c.Name, c.Status)
	}
	if strings.Contains(c.Detail, "\n") || strings.Contains(c.Fix, "\n") {
		t.Errorf("%s: not one line: %q / %q", c.Name, c.Detail, c.Fix)
	}
}

func TestCheckUserNS(t *testing.T) {
	tests := []struct {
		name        string
		euid        int
		files       map[string]string
		probe       error
		status      CheckStatus
		detail, fix string
	}{
		{name: "fine", euid: 1000, files: map[string]string{"/proc/sys/user/max_user_namespaces": "63000\n"},
			status: CheckOK, detail: "(max 63000)"},
		{name: "max zero", euid: 1000, files: map[string]string{"/proc/sys/user/max_user_namespaces": "0\n"},
			status: CheckFail, detail: "max_user_namespaces is 0", fix: "user.max_user_namespaces=28633"},
		{name: "debian knob off", euid: 1000, files: map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0\n"},
			status: CheckFail, detail: "unprivileged_userns_clone=0", fix: "kernel.unprivileged_userns_clone=1"},
		{name: "debian knob off, root", euid: 0, files: map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0\n"},
			status: CheckOK, detail: "unprivileged users are blocked"},
		{name: "ubuntu apparmor restriction", euid: 1000, files: map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n"},
			status: CheckFail, detail: "AppArmor restricts",
			fix: `profile brig /usr/local/bin/brig flags=(unconfined) {\n  userns,\n}\n' | sudo tee /etc/apparmor.d/brig && sudo apparmor_parser -r /etc/apparmor.d/brig`},
		{name: "ubuntu apparmor with a profile", euid: 1000, files: map[string]string{
			"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n", "/etc/apparmor.d/brig": "profile brig"},
			status: CheckOK, detail: "/etc/apparmor.d/brig allows"},
		{name: "probe fails", euid: 1000, probe: unix.EPERM,
			status: CheckFail, detail: "operation not permitted", fix: "seccomp=unconfined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTree(t)
			f.file("/proc/self/uid_map", "0 0 4294967295\n")
			for p, c := range tt.files {
				f.file(p, c)
			}
			d := fakeDoctor(f, tt.euid)
			d.userNSProbe = func() error { return tt.probe }
			wantCheck(t, checkUserNS(d), tt.status, tt.detail, tt.fix)
		})
	}
}

func TestCheckSubIDs(t *testing.T) {
	tests := []struct {
		name           string
		euid           int
		subuid, subgid string // "-" for no file
		status         CheckStatus
		detail, fix    string
	}{
		{name: "root", euid: 0, subuid: "-", subgid: "-", status: CheckOK, detail: "not needed"},
		{name: "by name", euid: 1000, subuid: "alice:100000:65536\n", subgid: "alice:100000:65536\n",
			status: CheckOK, detail: "alice has 65536 subordinate uids and 65536 gids"},
		{name: "by uid", euid: 1000, subuid: "1000:100000:65536\n", subgid: "# comment\n1000:100000:65536\n",
			status: CheckOK, detail: "65536 subordinate uids"},
		{name: "no files", euid: 1000, subuid: "-", subgid: "-", status: CheckWarn, detail: "no /etc/subuid",
			fix: "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice"},
		{name: "someone else's", euid: 1000, subuid: "bob:100000:65536\n", subgid: "bob:100000:65536\n",
			status: CheckWarn, detail: "alice has 0 subordinate uids",
			fix: "--add-subuids 165536-231071 --add-subgids 165536-231071 alice"},
		{name: "too few", euid: 1000, subuid: "alice:100000:1000\n", subgid: "alice:100000:65536\n",
			status: CheckWarn, detail: "1000 subordinate uids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTree(t)
			f.file("/proc/self/uid_map", "0 0 4294967295\n")
			if tt.subuid != "-" {
				f.file("/etc/subuid", tt.subuid)
			}
			if tt.subgid != "-" {
				f.file("/etc/subgid", tt.subgid)
			}
			wantCheck(t, checkSubIDs(f.env(tt.euid, "alice", nil)), tt.status, tt.detail, tt.fix)
		})
	}
}

func TestCheckIDMapTools(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFakeTree(t)
	f.file("/proc/self/uid_map", "0 0 4294967295\n")

	d := fakeDoctor(f, 1000)
	d.lookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	wantCheck(t, checkIDMapTools(d), CheckWarn, "newuidmap and newgidmap not found", "sudo apt-get install uidmap")

	d.lookPath = func(string) (string, error) { return plain, nil }
	wantCheck(t, checkIDMapTools(d), CheckWarn, "neither setuid root nor", "sudo chmod u+s "+plain)

	if os.Geteuid() == 0 {
		suid := filepath.Join(dir, "suid")
		if err := os.WriteFile(suid, nil, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(suid, os.ModeSetuid|0o755); err != nil {
			t.Fatal(err)
		}
		d.lookPath = func(string) (string, error) { return suid, nil }
		wantCheck(t, checkIDMapTools(d), CheckOK, suid+" (setuid root)", "")
	}

	d = fakeDoctor(f, 0)
	d.lookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	wantCheck(t, checkIDMapTools(d), CheckOK, "not needed", "")
}

func TestCheckCgroups(t *testing.T) {
	full := CgroupHost{Version: 1, Driver: DriverFS, Kind: KindV1Delegated, Parent: "brig-alice", Controllers: allControllers}
	wantCheck(t, checkCgroupVersion(full), CheckOK, "v1", "")
	wantCheck(t, checkCgroupControllers(full), CheckOK, "v1-delegated via cgroupfs, parent brig-alice: memory pids cpu io cpuset", "")

	noIO := full
	noIO.Controllers = []string{"memory", "pids", "cpu", "cpuset"}
	noIO.Problem, noIO.Fix = "blkio has no IO weight policy", "sudo modprobe bfq"
	wantCheck(t, checkCgroupControllers(noIO), CheckWarn, "blkio has no IO weight policy", "sudo modprobe bfq")

	none := CgroupHost{Version: 1, Driver: DriverNone, Kind: KindNone, Problem: "no cgroup brig-alice", Fix: "sudo brig setup --user alice"}
	wantCheck(t, checkCgroupControllers(none), CheckFail, "limits cannot be enforced", "sudo brig setup --user alice")

	noMem := CgroupHost{Version: 2, Driver: DriverSystemd, Kind: KindSystemdUser, Controllers: []string{"pids", "cpu"}, Problem: "not delegated memory", Fix: delegateDropIn}
	wantCheck(t, checkCgroupControllers(noMem), CheckFail, "not delegated memory", "Delegate=cpu cpuset io memory pids")

	wantCheck(t, checkCgroupVersion(CgroupHost{Problem: "no cgroup filesystem", Fix: "sudo mount"}), CheckFail, "no cgroup filesystem", "sudo mount")
}

func TestCheckSystemdUser(t *testing.T) {
	f := newFakeTree(t)
	e := f.env(1000, "alice", nil)
	wantCheck(t, checkSystemdUser(e, CgroupHost{Version: 1}), CheckOK, "n/a", "")
	wantCheck(t, checkSystemdUser(e, CgroupHost{Version: 2, Kind: KindSystemdUser}), CheckOK, "user@1000.service", "")
	wantCheck(t, checkSystemdUser(e, CgroupHost{Version: 2, Kind: KindV2Delegated}), CheckOK, "n/a", "")
	none := CgroupHost{Version: 2, Kind: KindNone, Problem: "no systemd user manager runs", Fix: "sudo loginctl enable-linger alice"}
	wantCheck(t, checkSystemdUser(e, none), CheckOK, "does not run systemd", "")
	f.dir("/run/systemd/system")
	wantCheck(t, checkSystemdUser(e, none), CheckWarn, "no systemd user manager", "enable-linger")
}

func TestCheckSeccomp(t *testing.T) {
	f := newFakeTree(t)
	d := fakeDoctor(f, 1000)
	wantCheck(t, checkSeccomp(d), CheckFail, "no Seccomp field", "CONFIG_SECCOMP")
	f.file("/proc/self/status", "Name:\tbrig\nSeccomp:\t0\nSeccomp_filters:\t0\n")
	wantCheck(t, checkSeccomp(d), CheckOK, "supported", "")
	d.seccompMode = func() (int, error) { return 0, unix.EINVAL }
	wantCheck(t, checkSeccomp(d), CheckFail, "PR_GET_SECCOMP", "CONFIG_SECCOMP")
	d = fakeDoctor(f, 1000)
	d.seccompBuilt = false
	wantCheck(t, checkSeccomp(d), CheckFail, "built without it", "-tags seccomp")
}

func TestCheckLandlockAndNetwork(t *testing.T) {
	f := newFakeTree(t)
	d := fakeDoctor(f, 1000)
	wantCheck(t, checkLandlock(d), CheckOK, "ABI version 4", "")
	d.landlockABI = func() (int, error) { return 0, unix.EOPNOTSUPP }
	wantCheck(t, checkLandlock(d), CheckWarn, "not enabled", "lsm=")
	d.landlockABI = func() (int, error) { return 0, unix.ENOSYS }
	wantCheck(t, checkLandlock(d), CheckWarn, "not available: function not implemented", "")

	wantCheck(t, checkNetworkHelper(d), CheckOK, "/usr/bin/pasta", "")
	d.tunAccess = func() error { return unix.EACCES }
	wantCheck(t, checkNetworkHelper(d), CheckWarn, "/dev/net/tun is not read-write", "chmod 0666 /dev/net/tun")
	d.tunAccess = nil
	d.lookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	wantCheck(t, checkNetworkHelper(d), CheckWarn, "pasta not found", "sudo apt-get install passt")
}

func TestDoctorWithFakeHost(t *testing.T) {
	f := newFakeTree(t)
	v1Host(f)
	for _, d := range v1Dirs {
		f.cgroup(ownV1(d)+"/brig-alice", true)
	}
	f.file("/proc/self/status", "Seccomp:\t0\n")
	f.file("/etc/subuid", "alice:100000:65536\n")
	f.file("/etc/subgid", "alice:100000:65536\n")
	d := fakeDoctor(f, 1000)
	d.lookPath = func(name string) (string, error) {
		if name == "pasta" {
			return "/usr/bin/pasta", nil
		}
		return "", exec.ErrNotFound
	}
	r := doctorWith(d)
	if !r.LimitsEnforceable || r.Cgroups.Kind != KindV1Delegated {
		t.Errorf("report: limits %v, cgroups %+v", r.LimitsEnforceable, r.Cgroups)
	}
	want := map[string]CheckStatus{
		"user namespaces": CheckOK, "subuid/subgid": CheckOK, "newuidmap/newgidmap": CheckWarn,
		"cgroup version": CheckOK, "cgroup controllers": CheckOK, "systemd user manager": CheckOK,
		"seccomp": CheckOK, "landlock": CheckOK, "network helper": CheckOK, "binary seal": CheckOK,
	}
	if len(r.Checks) != len(want) {
		t.Errorf("%d checks, want %d", len(r.Checks), len(want))
	}
	for _, c := range r.Checks {
		if want[c.Name] != c.Status {
			t.Errorf("%s: %s (%s), want %s", c.Name, c.Status, c.Detail, want[c.Name])
		}
	}
}

// TestDoctorHere runs the real checks on this host and logs them.
func TestDoctorHere(t *testing.T) {
	r := Doctor()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", b)
	for _, c := range r.Checks {
		if c.Name == "" || c.Detail == "" {
			t.Errorf("check without name or detail: %+v", c)
		}
		switch c.Status {
		case CheckOK, CheckWarn, CheckFail:
		default:
			t.Errorf("%s: status %q", c.Name, c.Status)
		}
		if c.Name == "user namespaces" && c.Status != CheckOK {
			if _, err := os.Stat("/proc/self/ns/user"); !errors.Is(err, os.ErrNotExist) {
				t.Logf("user namespaces unusable here: %s", c.Detail)
			}
		}
	}
}

func TestDoctorBinarySeal(t *testing.T) {
	f := newFakeTree(t)
	d := fakeDoctor(f, 0)
	d.stateDir = "/run/brig"
	wantCheck(t, checkBinarySeal(d), CheckOK, "read-only overlay of /usr/local/bin", "")
	d.exe, d.stateDir = "/tmp/brig", "/tmp/brig-0"
	wantCheck(t, checkBinarySeal(d), CheckWarn, "copies it at every start", "/usr/local/bin/brig")
	d.exe, d.stateDir = "/tmp/x/brig", "/tmp/xy/state"
	wantCheck(t, checkBinarySeal(d), CheckOK, "overlay", "")
	rootless := fakeDoctor(f, 1000)
	rootless.stateDir = "/run/user/1000/brig"
	wantCheck(t, checkBinarySeal(rootless), CheckOK, "sealed memfd", "")
}
