package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Statuses of a check.
const (
	statusBlocked = "blocked" // the sandbox prevented it
	statusAllowed = "allowed" // the workload could do it
	statusSkip    = "skip"    // not testable here; detail says why
)

// checkTimeout bounds a check run in a child; the operations inside are
// bounded more tightly (≤2 s), this is the safety net.
const checkTimeout = 5 * time.Second

// config is what the command line tells the checks.
type config struct {
	expectOnly bool // -expect: print the profiles' expectations and exit
	home       string
	hostPID    int
	secret     string
	tcp        string
	abstract   string
	child      string // helper mode when re-executed; "" for the top level
	exe        string // own executable, for re-exec
	startFDs   []fdInfo
	// ttyFDs are the descriptors the terminal checks look at: 0-2 at top
	// level, 0, 3 and 4 in a check child (see spawn).
	ttyFDs []int
	// progress receives "# ..." lines from long checks.
	progress io.Writer
}

// flagArgs renders the configuration back into flags for a child.
func (c *config) flagArgs() []string {
	var a []string
	if c.home != "" {
		a = append(a, "-home", c.home)
	}
	if c.hostPID != 0 {
		a = append(a, "-hostpid", fmt.Sprint(c.hostPID))
	}
	if c.secret != "" {
		a = append(a, "-secret", c.secret)
	}
	if c.tcp != "" {
		a = append(a, "-tcp", c.tcp)
	}
	if c.abstract != "" {
		a = append(a, "-abstract", c.abstract)
	}
	return a
}

// result is the outcome of one check.
type result struct {
	status string
	detail string
}

func blocked(format string, a ...any) result {
	return result{statusBlocked, fmt.Sprintf(format, a...)}
}

func allowed(format string, a ...any) result {
	return result{statusAllowed, fmt.Sprintf(format, a...)}
}

func skipped(format string, a ...any) result {
	return result{statusSkip, fmt.Sprintf(format, a...)}
}

// line renders the result as one output line; the detail never spans lines.
func (r result) line(name string) string {
	d := strings.Join(strings.Fields(r.detail), " ")
	if d == "" {
		d = "-"
	}
	return name + " " + r.status + " " + d
}

// parseLine is the inverse of line: it reads "NAME STATUS detail".
func parseLine(s string) (name string, r result, ok bool) {
	f := strings.SplitN(strings.TrimSpace(s), " ", 3)
	if len(f) < 2 {
		return "", result{}, false
	}
	switch f[1] {
	case statusBlocked, statusAllowed, statusSkip:
	default:
		return "", result{}, false
	}
	r.status = f[1]
	if len(f) == 3 {
		r.detail = f[2]
	}
	return f[0], r, true
}

// check is one attempt the probe can make.
type check struct {
	name string
	desc string
	// resource checks exhaust a limit; they run only when named.
	resource bool
	// inProcess checks run in the top-level process: extra_fds needs the
	// descriptors the probe started with, and the resource checks must be
	// what the limit kills (brig then reports the probe's own death).
	inProcess bool
	run       func(*config) result
}

// catalogue lists every check in output order. It is a function, not a
// variable, so that nothing can change the table at run time.
func catalogue() []check {
	return []check{
		// Privileges.
		{name: "cap_effective", desc: "effective capability set is empty", run: capCheck("CapEff")},
		{name: "cap_permitted", desc: "permitted capability set is empty", run: capCheck("CapPrm")},
		{name: "cap_bounding", desc: "bounding capability set is empty (no capability can ever be regained)", run: capCheck("CapBnd")},
		{name: "cap_inheritable", desc: "inheritable capability set is empty", run: capCheck("CapInh")},
		{name: "cap_ambient", desc: "ambient capability set is empty", run: capCheck("CapAmb")},
		{name: "no_new_privs", desc: "no_new_privs is set: exec can never grant privileges", run: checkNoNewPrivs},
		{name: "seccomp", desc: "a seccomp filter is installed", run: checkSeccomp},
		{name: "setuid_raise", desc: "setuid/setgid binaries cannot raise privileges (no_new_privs, nosuid mounts or unmapped owners)", run: checkSetuid},

		// Filesystem.
		{name: "write_root", desc: "cannot create files in /", run: writeCheck("/", "")},
		{name: "write_usr", desc: "cannot create files in /usr or open /usr/bin/env for writing", run: writeCheck("/usr", "/usr/bin/env")},
		{name: "write_etc", desc: "cannot create files in /etc or open /etc/passwd for writing", run: writeCheck("/etc", "/etc/passwd")},
		{name: "write_bin", desc: "cannot create files in /bin or open /bin/sh for writing", run: writeCheck("/bin", "/bin/sh")},
		{name: "write_proc_sys", desc: "cannot open /proc/sys files (hostname, core_pattern, drop_caches) for writing", run: checkProcSys},
		{name: "write_sysrq", desc: "cannot open /proc/sysrq-trigger for writing (nothing is ever written)", run: checkSysrq},
		{name: "write_sys_fs_cgroup", desc: "cannot create cgroups or open cgroup.procs or release_agent for writing", run: checkCgroupWrite},
		{name: "sys_mounts_ro", desc: "every mount under /sys is read-only", run: checkSysMountsRO},
		{name: "masked_paths", desc: "/proc/kcore, /proc/keys, /proc/timer_list and other leaky paths are masked", run: checkMaskedPaths},
		{name: "host_home_visible", desc: "the host home directory (-home) is not visible", run: checkHome},

		// Kernel surface.
		{name: "userns_nested", desc: "cannot create a nested user namespace (clone or unshare)", run: checkUserns},
		{name: "mount_tmpfs", desc: "cannot mount a tmpfs (in a new or the current mount namespace)", run: checkMountTmpfs},
		{name: "fsopen", desc: "cannot open a filesystem context with fsopen(2)", run: checkFsopen},
		{name: "keyctl", desc: "the kernel keyring (keyctl) is unreachable", run: checkKeyctl},
		{name: "bpf", desc: "cannot create a BPF map", run: checkBPF},
		{name: "perf_event_open", desc: "cannot open a perf event", run: checkPerf},
		{name: "userfaultfd", desc: "cannot create a userfaultfd", run: checkUserfaultfd},
		{name: "io_uring", desc: "cannot set up an io_uring", run: checkIOUring},
		{name: "open_by_handle_at", desc: "cannot open files by handle (the shocker escape)", run: checkOpenByHandle},
		{name: "init_module", desc: "cannot load kernel modules", run: checkInitModule},
		{name: "netlink_netfilter", desc: "cannot talk to nf_tables over netlink with privilege", run: checkNetfilter},
		{name: "cgroup_v1_release_agent", desc: "cannot mount a cgroup v1 hierarchy (the release_agent escape)", run: checkCgroupV1},
		{name: "tiocsti", desc: "cannot push characters into the terminal's input (TIOCSTI)", run: checkTIOCSTI},
		{name: "tioclinux", desc: "cannot use virtual-console ioctls (TIOCLINUX)", run: checkTIOCLINUX},
		{name: "ptrace", desc: "cannot ptrace another process", run: checkPtrace},
		{name: "personality", desc: "cannot set READ_IMPLIES_EXEC or ADDR_NO_RANDOMIZE personality flags", run: checkPersonality},
		{name: "clone_newns", desc: "cannot create a new mount namespace", run: checkCloneNewns},

		// Processes.
		{name: "host_pids_visible", desc: "host processes are not visible in /proc", run: checkHostPids},
		{name: "signal_host_pid", desc: "cannot signal a host process (-hostpid)", run: checkSignalHost},
		{name: "extra_fds", desc: "no file descriptors beyond 0, 1 and 2 are inherited", inProcess: true, run: checkExtraFDs},
		{name: "proc_self_exe_write", desc: "cannot open /proc/self/exe or /proc/N/exe for writing (CVE-2019-5736)", run: checkExeWrite},

		// Environment.
		{name: "env_leak", desc: "the secret environment variable (-secret) does not leak in", run: checkEnvLeak},

		// Network.
		{name: "net_ifaces", desc: "only the loopback interface exists", run: checkIfaces},
		{name: "host_tcp", desc: "a host loopback TCP listener (-tcp) is unreachable", run: checkHostTCP},
		{name: "host_tcp_gateway", desc: "a host loopback TCP listener (-tcp) is unreachable through the default gateway", run: checkHostTCPGateway},
		{name: "host_abstract_unix", desc: "a host abstract unix socket (-abstract) is unreachable", run: checkAbstract},

		// Resources: only when named.
		{name: "fork_bomb", desc: "[resource] process creation hits a limit (EAGAIN) before 5000 processes", resource: true, inProcess: true, run: checkForkBomb},
		{name: "memory_bomb", desc: "[resource] touching up to 8 GiB of memory fails or gets the probe killed", resource: true, inProcess: true, run: checkMemoryBomb},
		{name: "tmpfs_fill", desc: "[resource] /tmp fills up (ENOSPC) before 2 GiB and before 1e6 files", resource: true, inProcess: true, run: checkTmpfsFill},
	}
}

// runCheck runs c in this process or in a child, per its kind.
func runCheck(cfg *config, c check) result {
	if c.inProcess {
		return c.run(cfg)
	}
	out := spawn(cfg, childAttr{}, checkTimeout, "check", c.name)
	if out.startErr != nil {
		return skipped("cannot start a child for the check: %v", out.startErr)
	}
	if sig, ok := out.signal(); ok {
		// A seccomp filter with a kill action is a perfectly good block.
		if sig == "SIGSYS" {
			return blocked("check process killed by SIGSYS (seccomp kill action)")
		}
		return skipped("check process killed by %s%s", sig, out.stderrTail())
	}
	if out.waitErr != nil {
		return skipped("check process failed: %v%s", out.waitErr, out.stderrTail())
	}
	name, r, ok := parseLine(out.lastLine())
	if !ok || name != c.name {
		return skipped("check process printed no result%s", out.stderrTail())
	}
	return r
}
