package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/runc/libcontainer/seccomp"
	"golang.org/x/sys/unix"
)

// CheckStatus grades one doctor check.
type CheckStatus string

// The grades: ok works; warn works with less (a feature or a limit is
// missing); fail means sandboxes, or the limits they ask for, cannot run.
const (
	CheckOK   CheckStatus = "ok"
	CheckWarn CheckStatus = "warn"
	CheckFail CheckStatus = "fail"
)

// Check is one line of `brig doctor`: what was checked, how it went, what
// was found, and the exact command that fixes it.
type Check struct {
	Name   string      `json:"name"`
	Status CheckStatus `json:"status"`
	Detail string      `json:"detail"`
	Fix    string      `json:"fix,omitempty"`
}

// DoctorReport is what `brig doctor` prints (or writes as JSON).
type DoctorReport struct {
	Checks            []Check    `json:"checks"`
	LimitsEnforceable bool       `json:"limits_enforceable"` // memory, pids and cpu limits can be enforced
	Cgroups           CgroupHost `json:"cgroups"`
}

// Doctor checks what this host offers brig's sandboxes for the calling
// user. Besides reading files it starts /bin/true once in a new user
// namespace, the one thing only trying tells.
func Doctor() DoctorReport {
	return doctorWith(realDoctorEnv())
}

// doctorEnv is what the checks read and probe; tests fake it.
type doctorEnv struct {
	host         hostEnv
	exe          string                       // the running binary, for the AppArmor profile
	lookPath     func(string) (string, error) // exec.LookPath
	userNSProbe  func() error                 // starts a trivial child in a new user namespace
	seccompMode  func() (int, error)          // prctl(PR_GET_SECCOMP)
	landlockABI  func() (int, error)          // landlock_create_ruleset(NULL, 0, VERSION)
	seccompBuilt bool                         // built with cgo and the seccomp tag
	tunAccess    func() error                 // pasta needs /dev/net/tun read-write; nil: assume fine
	stateDir     string                       // where runs keep their state; "" skips the seal check
}

func realDoctorEnv() doctorEnv {
	exe, err := os.Executable()
	if err != nil {
		exe = "/usr/local/bin/brig"
	}
	return doctorEnv{
		host:         realHostEnv(),
		exe:          exe,
		lookPath:     exec.LookPath,
		userNSProbe:  probeUserNS,
		seccompMode:  func() (int, error) { return unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0) },
		landlockABI:  probeLandlock,
		seccompBuilt: seccomp.Enabled,
		tunAccess:    func() error { return unix.Access(tunDevice, unix.R_OK|unix.W_OK) },
		stateDir:     StateDir(),
	}
}

func doctorWith(d doctorEnv) DoctorReport {
	h := detectFrom(d.host)
	return DoctorReport{
		Checks: []Check{
			checkUserNS(d),
			checkSubIDs(d.host),
			checkIDMapTools(d),
			checkCgroupVersion(h),
			checkCgroupControllers(h),
			checkSystemdUser(d.host, h),
			checkSeccomp(d),
			checkLandlock(d),
			checkNetworkHelper(d),
			checkBinarySeal(d),
		},
		LimitsEnforceable: h.Has("memory") && h.Has("pids") && h.Has("cpu"),
		Cgroups:           h,
	}
}

// probeUserNS starts true in a new user namespace with the one-id mapping a
// rootless sandbox uses when it has no subordinate ids.
func probeUserNS() error {
	bin, err := exec.LookPath("true")
	if err != nil {
		bin = "/bin/true"
	}
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
	return cmd.Run()
}

func probeLandlock() (int, error) {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0, errno
	}
	return int(abi), nil
}

// readInt reads a one-number file such as a sysctl.
func readIntFile(p string) (int, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

const sysctlFix = "echo '%s=%s' | sudo tee /etc/sysctl.d/90-brig.conf && sudo sysctl --system"

func checkUserNS(d doctorEnv) Check {
	c := Check{Name: "user namespaces"}
	e := d.host
	max, err := readIntFile(e.p("/proc/sys/user/max_user_namespaces"))
	if err == nil && max == 0 {
		return c.graded(CheckFail, "disabled: user.max_user_namespaces is 0", fmt.Sprintf(sysctlFix, "user.max_user_namespaces", "28633"))
	}
	var notes []string
	if v, err := readIntFile(e.p("/proc/sys/kernel/unprivileged_userns_clone")); err == nil && v != 1 {
		if !e.isRoot() {
			return c.graded(CheckFail, "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)",
				fmt.Sprintf(sysctlFix, "kernel.unprivileged_userns_clone", "1"))
		}
		notes = append(notes, "unprivileged users are blocked by kernel.unprivileged_userns_clone=0")
	}
	if v, err := readIntFile(e.p("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")); err == nil && v != 0 {
		switch {
		case e.exists("/etc/apparmor.d/brig"):
			notes = append(notes, "AppArmor restricts user namespaces; /etc/apparmor.d/brig allows brig's")
		case !e.isRoot():
			return c.graded(CheckFail, "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1) and no profile allows brig's",
				appArmorFix(d.exe))
		default:
			notes = append(notes, "unprivileged users need an AppArmor profile: "+appArmorFix(d.exe))
		}
	}
	if err := d.userNSProbe(); err != nil {
		return c.graded(CheckFail, "cannot start a process in a new user namespace: "+err.Error(),
			"allow unshare(CLONE_NEWUSER): in a container, run it with --security-opt seccomp=unconfined --security-opt apparmor=unconfined (or --privileged)")
	}
	detail := "a process started in a new user namespace"
	if err == nil {
		detail += fmt.Sprintf(" (max %d)", max)
	}
	if e.isRoot() {
		detail += ", tested as root"
	}
	if len(notes) > 0 {
		detail += "; " + strings.Join(notes, "; ")
	}
	return c.graded(CheckOK, detail, "")
}

// appArmorFix writes and loads a profile that lets brig (and its re-exec as
// libcontainer's init) create user namespaces, as Ubuntu 24.04 asks.
func appArmorFix(exe string) string {
	return `printf 'abi <abi/4.0>,\ninclude <tunables/global>\nprofile brig ` + exe +
		` flags=(unconfined) {\n  userns,\n}\n' | sudo tee /etc/apparmor.d/brig && sudo apparmor_parser -r /etc/apparmor.d/brig`
}

func checkSubIDs(e hostEnv) Check {
	c := Check{Name: "subuid/subgid"}
	if e.isRoot() {
		return c.graded(CheckOK, "not needed: running as root", "")
	}
	if e.userName == "" {
		return c.graded(CheckWarn, fmt.Sprintf("uid %d has no user name: sandboxes map only your own uid", e.euid),
			"run brig as a user listed in /etc/passwd")
	}
	uids, uerr := os.ReadFile(e.p("/etc/subuid"))
	gids, gerr := os.ReadFile(e.p("/etc/subgid"))
	nu := subIDCount(string(uids), e.userName, e.euid)
	ng := subIDCount(string(gids), e.userName, e.euid)
	if nu >= 65536 && ng >= 65536 {
		return c.graded(CheckOK, fmt.Sprintf("%s has %d subordinate uids and %d gids", e.userName, nu, ng), "")
	}
	start := freeSubIDStart(string(uids), string(gids))
	fix := fmt.Sprintf("sudo usermod --add-subuids %d-%d --add-subgids %d-%d %s", start, start+65535, start, start+65535, e.userName)
	if uerr != nil && gerr != nil {
		return c.graded(CheckWarn, "no /etc/subuid or /etc/subgid: sandboxes map only your own uid (files owned by other ids show as nobody)", fix)
	}
	return c.graded(CheckWarn, fmt.Sprintf("%s has %d subordinate uids and %d gids (65536 wanted): sandboxes map only your own uid", e.userName, nu, ng), fix)
}

// subIDCount adds up the ids that a subuid(5)/subgid(5) file gives a user,
// named or by number.
func subIDCount(file, name string, uid int) int {
	n := 0
	for _, r := range parseSubIDs(file) {
		if r.owner == name || r.owner == strconv.Itoa(uid) {
			n += r.count
		}
	}
	return n
}

// freeSubIDStart picks the start of a 65536-id range after every range
// already given in either file, at 100000 or above.
func freeSubIDStart(files ...string) int {
	start := 100000
	for _, f := range files {
		for _, r := range parseSubIDs(f) {
			start = max(start, r.start+r.count)
		}
	}
	return start
}

type subIDRange struct {
	owner        string
	start, count int
}

func parseSubIDs(file string) []subIDRange {
	var out []subIDRange
	sc := bufio.NewScanner(strings.NewReader(file))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		count, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && count > 0 {
			out = append(out, subIDRange{owner: f[0], start: start, count: count})
		}
	}
	return out
}

func checkIDMapTools(d doctorEnv) Check {
	c := Check{Name: "newuidmap/newgidmap"}
	var found, missing, weak []string
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		p, err := d.lookPath(tool)
		switch {
		case err != nil:
			missing = append(missing, tool)
		case privilegedHelper(p) == "":
			weak = append(weak, p)
		default:
			found = append(found, p+" ("+privilegedHelper(p)+")")
		}
	}
	if d.host.isRoot() {
		return c.graded(CheckOK, "not needed: running as root", "")
	}
	if len(missing) > 0 {
		return c.graded(CheckWarn, strings.Join(missing, " and ")+" not found: sandboxes map only your own uid", "sudo apt-get install uidmap")
	}
	if len(weak) > 0 {
		return c.graded(CheckWarn, strings.Join(weak, " and ")+" neither setuid root nor given file capabilities: they cannot map subordinate ids",
			"sudo chown root "+strings.Join(weak, " ")+" && sudo chmod u+s "+strings.Join(weak, " "))
	}
	return c.graded(CheckOK, strings.Join(found, ", "), "")
}

// privilegedHelper says how an id-map helper gets its privilege: "setuid
// root", "file capabilities", or "" when it has none.
func privilegedHelper(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return ""
	}
	if st, isStat := fi.Sys().(*syscall.Stat_t); isStat && st.Uid == 0 && fi.Mode()&os.ModeSetuid != 0 {
		return "setuid root"
	}
	if n, err := unix.Getxattr(p, "security.capability", nil); err == nil && n > 0 {
		return "file capabilities"
	}
	return ""
}

func checkCgroupVersion(h CgroupHost) Check {
	c := Check{Name: "cgroup version"}
	switch h.Version {
	case 2:
		return c.graded(CheckOK, "v2 (unified)", "")
	case 1:
		return c.graded(CheckOK, "v1 (legacy or hybrid)", "")
	}
	return c.graded(CheckFail, h.Problem, h.Fix)
}

func checkCgroupControllers(h CgroupHost) Check {
	c := Check{Name: "cgroup controllers"}
	if h.Driver == DriverNone {
		return c.graded(CheckFail, "limits cannot be enforced: "+h.Problem, h.Fix)
	}
	detail := fmt.Sprintf("%s via %s, parent %s: %s", h.Kind, h.Driver, h.Parent, strings.Join(h.Controllers, " "))
	if len(h.Controllers) == 0 {
		detail += "none"
	}
	if h.Problem != "" {
		detail += "; " + h.Problem
	}
	switch {
	case !h.Has("memory") || !h.Has("pids") || !h.Has("cpu"):
		return c.graded(CheckFail, "limits cannot be enforced: "+detail, h.Fix)
	case h.Problem != "":
		return c.graded(CheckWarn, detail, h.Fix)
	}
	return c.graded(CheckOK, detail, "")
}

func checkSystemdUser(e hostEnv, h CgroupHost) Check {
	c := Check{Name: "systemd user manager"}
	switch {
	case h.Version != 2:
		return c.graded(CheckOK, "n/a: cgroup v1 uses the cgroupfs driver", "")
	case h.Kind == KindSystemdUser:
		return c.graded(CheckOK, fmt.Sprintf("user@%d.service and its D-Bus session bus are reachable", e.hostUID()), "")
	case h.Kind == KindRoot || h.Kind == KindV2Delegated:
		return c.graded(CheckOK, "n/a: "+h.Kind+" uses the cgroupfs driver", "")
	case !e.exists("/run/systemd/system"):
		return c.graded(CheckOK, "n/a: the host does not run systemd", "")
	}
	return c.graded(CheckWarn, h.Problem, h.Fix)
}

func checkSeccomp(d doctorEnv) Check {
	c := Check{Name: "seccomp"}
	if !statusHasField(d.host.p("/proc/self/status"), "Seccomp") {
		return c.graded(CheckFail, "the kernel has no seccomp support (no Seccomp field in /proc/self/status)",
			"use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER")
	}
	mode, err := d.seccompMode()
	if err != nil {
		return c.graded(CheckFail, "prctl(PR_GET_SECCOMP) failed: "+err.Error(), "use a kernel built with CONFIG_SECCOMP")
	}
	if !d.seccompBuilt {
		return c.graded(CheckFail, "the kernel supports seccomp, but this brig was built without it, so seccomp profiles cannot be applied",
			"rebuild with cgo and the seccomp tag: sudo apt-get install libseccomp-dev && CGO_ENABLED=1 go build -tags seccomp ./cmd/brig")
	}
	detail := "supported"
	if mode == 2 {
		detail += " (brig itself already runs under a filter)"
	}
	return c.graded(CheckOK, detail, "")
}

// statusHasField reports whether /proc/PID/status has the field.
func statusHasField(p, field string) bool {
	b, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, field+":") {
			return true
		}
	}
	return false
}

func checkLandlock(d doctorEnv) Check {
	c := Check{Name: "landlock"}
	abi, err := d.landlockABI()
	switch {
	case err == nil && abi > 0:
		return c.graded(CheckOK, fmt.Sprintf("ABI version %d", abi), "")
	case errors.Is(err, unix.EOPNOTSUPP):
		return c.graded(CheckWarn, "not available: built into the kernel but not enabled",
			"add landlock to the kernel's lsm= boot parameter (e.g. lsm=landlock,lockdown,yama,apparmor,bpf) and reboot")
	}
	detail := "not available"
	if err != nil {
		detail += ": " + err.Error()
	}
	return c.graded(CheckWarn, detail, "")
}

func checkNetworkHelper(d doctorEnv) Check {
	c := Check{Name: "network helper"}
	p, err := d.lookPath("pasta")
	if err != nil {
		return c.graded(CheckWarn, "pasta not found: the network profile cannot give sandboxes a network",
			"sudo apt-get install passt")
	}
	if d.tunAccess != nil {
		if err := d.tunAccess(); err != nil {
			return c.graded(CheckWarn, fmt.Sprintf("%s, but %s is not read-write for you (%v): the network profile will fail", p, tunDevice, err),
				"sudo chmod 0666 "+tunDevice+" (the usual mode; access to it grants nothing by itself)")
		}
	}
	return c.graded(CheckOK, p, "")
}

// checkBinarySeal says how libcontainer will protect brig's binary from
// the sandbox (CVE-2019-5736) at every start: as root with a read-only
// overlay of the binary's directory, which costs nothing, unless that
// directory contains the state directory (overlayfs refuses nested
// layers); otherwise, and always rootless, by copying the whole binary.
func checkBinarySeal(d doctorEnv) Check {
	c := Check{Name: "binary seal"}
	if d.stateDir == "" {
		return c.graded(CheckOK, "not checked", "")
	}
	dir := filepath.Dir(d.exe)
	if !d.host.isRoot() {
		return c.graded(CheckOK, "rootless: libcontainer copies brig into a sealed memfd at every start (a few ms; the overlay needs root)", "")
	}
	if rel, err := filepath.Rel(dir, d.stateDir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return c.graded(CheckWarn, fmt.Sprintf("%s holds the state directory %s, so libcontainer cannot seal brig with an overlay and copies it at every start", dir, d.stateDir),
			"sudo install -m 0755 "+d.exe+" /usr/local/bin/brig (or set BRIG_STATE_DIR outside "+dir+")")
	}
	return c.graded(CheckOK, "sealed with a read-only overlay of "+dir+" (no copy)", "")
}

// graded fills in the outcome of a check.
func (c Check) graded(s CheckStatus, detail, fix string) Check {
	c.Status, c.Detail, c.Fix = s, detail, fix
	return c
}
