package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysctl renders " (name=value)" for a detail, or "" when unreadable.
func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (%s=%s)", name, strings.TrimSpace(string(b)))
}

// refused reports whether err is what a seccomp filter or a missing
// capability returns: the kernel never looked at the request.
func refused(err error) bool {
	return isErrno(err, unix.EPERM, unix.ENOSYS, unix.EACCES)
}

func checkUserns(cfg *config) result {
	return combine([]attempt{
		nsAttempt(cfg, "clone(CLONE_NEWUSER)", childAttr{clone: unix.CLONE_NEWUSER}, "user"),
		nsAttempt(cfg, "unshare(CLONE_NEWUSER)", childAttr{unshare: unix.CLONE_NEWUSER}, "user"),
	})
}

func checkCloneNewns(cfg *config) result {
	return combine([]attempt{
		nsAttempt(cfg, "clone(CLONE_NEWNS)", childAttr{clone: unix.CLONE_NEWNS}, "mnt"),
		nsAttempt(cfg, "unshare(CLONE_NEWNS)", childAttr{unshare: unix.CLONE_NEWNS}, "mnt"),
	})
}

// checkMountTmpfs mounts directly, without a nested user namespace:
// that path is userns_nested's to judge.
func checkMountTmpfs(cfg *config) result {
	return combine([]attempt{
		mountChildAttempt(cfg, "new mount namespace", childAttr{unshare: unix.CLONE_NEWNS}, "tmpfs"),
		{"current mount namespace", mountAttempt("tmpfs", false)},
	})
}

// checkCgroupV1 follows CVE-2022-0492: a v1 hierarchy mounted from a new
// cgroup namespace (possibly inside a fresh user namespace) exposes a
// release_agent.
func checkCgroupV1(cfg *config) result {
	return combine([]attempt{
		mountChildAttempt(cfg, "new mount+cgroup namespaces",
			childAttr{unshare: unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP}, "cgroup"),
		mountChildAttempt(cfg, "new user+mount+cgroup namespaces",
			childAttr{clone: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP, mapRoot: true}, "cgroup"),
		{"current namespaces", mountAttempt("cgroup", false)},
	})
}

func checkFsopen(*config) result {
	fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return blocked("fsopen(tmpfs): %s", errnoName(err))
	}
	unix.Close(fd)
	return allowed("fsopen(tmpfs) returned a filesystem context")
}

func checkKeyctl(*config) result {
	id, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
	switch {
	case err == nil:
		return allowed("keyctl(GET_KEYRING_ID, session) = %d", id)
	case isErrno(err, unix.EPERM, unix.ENOSYS):
		return blocked("keyctl: %s", errnoName(err))
	}
	return allowed("keyctl reached the keyring code: %s", errnoName(err))
}

func checkBPF(*config) result {
	// union bpf_attr, BPF_MAP_CREATE part, padded with zeros as the
	// kernel requires.
	attr := struct {
		mapType, keySize, valueSize, maxEntries, mapFlags uint32
		_                                                 [44]byte
	}{mapType: unix.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1}
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if e != 0 {
		return blocked("bpf(BPF_MAP_CREATE): %s%s", errnoName(e), sysctl("kernel.unprivileged_bpf_disabled"))
	}
	unix.Close(int(fd))
	return allowed("created an array map%s", sysctl("kernel.unprivileged_bpf_disabled"))
}

func checkPerf(*config) result {
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_TASK_CLOCK,
		Bits:   unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
	}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return blocked("perf_event_open(task clock, self): %s%s", errnoName(err), sysctl("kernel.perf_event_paranoid"))
	}
	unix.Close(fd)
	return allowed("opened a task-clock event on self%s", sysctl("kernel.perf_event_paranoid"))
}

// uffdUserModeOnly is UFFD_USER_MODE_ONLY: what unprivileged callers may
// ask for even when vm.unprivileged_userfaultfd is 0.
const uffdUserModeOnly = 1

func checkUserfaultfd(*config) result {
	fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK|uffdUserModeOnly, 0, 0)
	if e != 0 {
		return blocked("userfaultfd(UFFD_USER_MODE_ONLY): %s%s", errnoName(e), sysctl("vm.unprivileged_userfaultfd"))
	}
	unix.Close(int(fd))
	return allowed("created a user-mode userfaultfd")
}

func checkIOUring(*config) result {
	var params [120]byte // struct io_uring_params, zeroed
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params)), 0)
	if e != 0 {
		return blocked("io_uring_setup: %s%s", errnoName(e), sysctl("kernel.io_uring_disabled"))
	}
	unix.Close(int(fd))
	return allowed("set up a one-entry io_uring%s", sysctl("kernel.io_uring_disabled"))
}

// checkOpenByHandle opens / by its handle. The kernel demands
// CAP_DAC_READ_SEARCH before decoding, so EPERM means refused even in
// a weak sandbox; any other error means that check passed.
func checkOpenByHandle(*config) result {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, "/", 0)
	what := "the handle of /"
	if err != nil {
		h = unix.NewFileHandle(1, make([]byte, 8)) // FILEID_INO32_GEN, forged
		what = "a forged handle (name_to_handle_at: " + errnoName(err) + ")"
	}
	mfd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return skipped("open /: %s", errnoName(err))
	}
	defer unix.Close(mfd)
	fd, err := unix.OpenByHandleAt(mfd, h, unix.O_RDONLY|unix.O_CLOEXEC)
	switch {
	case err == nil:
		unix.Close(fd)
		return allowed("opened %s", what)
	case refused(err):
		return blocked("open_by_handle_at(%s): %s", what, errnoName(err))
	}
	return allowed("open_by_handle_at(%s) passed the privilege check: %s", what, errnoName(err))
}

// checkInitModule offers a 16-byte non-ELF image. Without CAP_SYS_MODULE
// in the initial user namespace the kernel answers EPERM before reading
// it, so EPERM is expected even from weak sandboxes; anything else means
// the privilege check passed.
func checkInitModule(*config) result {
	err := unix.InitModule(make([]byte, 16), "")
	switch {
	case err == nil:
		return allowed("init_module accepted a bogus image")
	case isErrno(err, unix.EPERM, unix.ENOSYS):
		return blocked("init_module: %s", errnoName(err))
	}
	return allowed("init_module passed the CAP_SYS_MODULE check: %s", errnoName(err))
}

// checkNetfilter asks nf_tables for its generation number, a read-only
// request that nfnetlink nevertheless refuses (EPERM) unless the sender
// holds CAP_NET_ADMIN over the network namespace: creating the socket is
// open to anyone, being heard is the attack surface.
func checkNetfilter(*config) result {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return blocked("socket(AF_NETLINK, NETLINK_NETFILTER): %s", errnoName(err))
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return skipped("set receive timeout: %s", errnoName(err))
	}
	msg := make([]byte, unix.NLMSG_HDRLEN+int(unsafe.Sizeof(unix.Nfgenmsg{})))
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_GETGEN)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], 1) // sequence number
	msg[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	msg[unix.NLMSG_HDRLEN+1] = unix.NFNETLINK_V0
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return blocked("send to nfnetlink: %s", errnoName(err))
	}
	buf := make([]byte, 8192)
	for range 4 {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return skipped("no answer from nfnetlink: %s", errnoName(err))
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return skipped("bad answer from nfnetlink: %v", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NLMSG_ERROR {
				return allowed("nf_tables answered a GETGEN request")
			}
			if len(m.Data) < 4 {
				continue
			}
			errno := syscall.Errno(-int32(binary.NativeEndian.Uint32(m.Data)))
			switch {
			case errno == 0:
				return allowed("nf_tables acknowledged a GETGEN request")
			case errno == unix.EPERM:
				return blocked("nfnetlink refused a GETGEN request: EPERM (no CAP_NET_ADMIN over this network namespace)")
			}
			return allowed("nfnetlink passed the CAP_NET_ADMIN check: %s", errnoName(errno))
		}
	}
	return skipped("nfnetlink sent no acknowledgement")
}

// ttyFD returns the first of cfg.ttyFDs that is a terminal.
func ttyFD(cfg *config) (int, bool) {
	for _, fd := range cfg.ttyFDs {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			return fd, true
		}
	}
	return -1, false
}

// ttyName describes a terminal descriptor.
func ttyName(fd int) string {
	t, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return fmt.Sprintf("fd %d", fd)
	}
	return fmt.Sprintf("fd %d (%s)", fd, t)
}

// checkTIOCSTI pushes one space into the terminal's input queue. On a
// terminal brig allocated (run -t) the space lands in the sandbox's own
// input; on the caller's terminal a space at a prompt does nothing.
func checkTIOCSTI(cfg *config) result {
	fd, ok := ttyFD(cfg)
	if !ok {
		return skipped("no terminal on the probe's stdin, stdout or stderr")
	}
	c := byte(' ')
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	switch e {
	case 0:
		return allowed("pushed a space into the input of %s", ttyName(fd))
	case unix.EIO:
		return blocked("TIOCSTI on %s: EIO%s", ttyName(fd), sysctl("dev.tty.legacy_tiocsti"))
	case unix.EPERM:
		return blocked("TIOCSTI on %s: EPERM (seccomp, or not our controlling terminal)", ttyName(fd))
	}
	return blocked("TIOCSTI on %s: %s", ttyName(fd), errnoName(e))
}

// tioclGetFgConsole is TIOCL_GETFGCONSOLE, a read-only TIOCLINUX subcode.
const tioclGetFgConsole = 12

// checkTIOCLINUX is blocked only when something (seccomp) refused the
// request; on a terminal that is not a virtual console the ioctl does not
// exist, which is a skip, not a block.
func checkTIOCLINUX(cfg *config) result {
	fd, ok := ttyFD(cfg)
	if !ok {
		return skipped("no terminal on the probe's stdin, stdout or stderr")
	}
	arg := [2]byte{tioclGetFgConsole}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCLINUX, uintptr(unsafe.Pointer(&arg[0])))
	switch e {
	case 0:
		return allowed("TIOCLINUX works on %s (a virtual console)", ttyName(fd))
	case unix.EPERM:
		return blocked("TIOCLINUX on %s: EPERM", ttyName(fd))
	case unix.ENOTTY, unix.EINVAL:
		return skipped("%s is not a virtual console (%s): TIOCLINUX does not apply", ttyName(fd), errnoName(e))
	}
	return blocked("TIOCLINUX on %s: %s", ttyName(fd), errnoName(e))
}

// checkPtrace attaches to a sleeping child of ours, the easiest target
// there is, and detaches at once.
func checkPtrace(cfg *config) result {
	cmd := exec.Command(cfg.exe, append(cfg.flagArgs(), "-child", modeSleep)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return skipped("start a target: %v", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pid := cmd.Process.Pid
	// Every ptrace request must come from the thread that attached.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		return blocked("PTRACE_ATTACH to child %d: %s", pid, errnoName(err))
	}
	watchdog := time.AfterFunc(spawnTimeout, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return allowed("attached to child %d (wait for stop: %s)", pid, errnoName(err))
	}
	unix.PtraceDetach(pid)
	return allowed("attached to (and detached from) child %d", pid)
}

// Personality flags (linux/personality.h).
const (
	personalityQuery = 0xffffffff
	readImpliesExec  = 0x0400000
	addrNoRandomize  = 0x0040000
)

// checkPersonality sets and restores flags that make memory executable or
// switch off address randomisation. Personality is per thread, so the
// thread stays locked; should restoring fail, it stays locked for good and
// dies with the goroutine.
func checkPersonality(*config) result {
	runtime.LockOSThread()
	old, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, personalityQuery, 0, 0)
	if e != 0 {
		runtime.UnlockOSThread()
		return blocked("personality(query): %s", errnoName(e))
	}
	var parts []string
	for _, f := range []struct {
		name string
		bit  uintptr
	}{{"READ_IMPLIES_EXEC", readImpliesExec}, {"ADDR_NO_RANDOMIZE", addrNoRandomize}} {
		if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, old|f.bit, 0, 0); e != 0 {
			parts = append(parts, f.name+": "+errnoName(e))
			continue
		}
		if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, old, 0, 0); e != 0 {
			return allowed("set %s (and could not restore: %s)", f.name, errnoName(e))
		}
		runtime.UnlockOSThread()
		return allowed("set (and restored) %s", f.name)
	}
	runtime.UnlockOSThread()
	return blocked("%s", strings.Join(parts, "; "))
}
