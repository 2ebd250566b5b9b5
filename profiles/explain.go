package profiles

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Explain says in plain words what the profile means for the workload, one
// line per protection, in the order of the file format. It is written for
// someone who has never heard of namespaces, capabilities or seccomp.
func Explain(p *Profile) []string {
	lines := []string{explainNetwork(p.Network)}
	lines = append(lines, explainFilesystem(p.Filesystem)...)
	lines = append(lines, explainIdentity(p.Identity), explainPrivileges(p.Security),
		explainKernel(p.Security), explainTerminal(p.Security), explainNamespaces(p.Security))
	lines = append(lines, explainLimits(p.Limits)...)
	return append(lines, explainEnvironment(p.Environment))
}

func explainNetwork(n Network) string {
	switch n.Mode {
	case NetNone:
		return "network: cannot open network connections; only a private loopback interface exists"
	case NetUser:
		return "network: can connect out to the internet and the local network through a user-mode network stack (pasta or slirp4netns); has its own network interfaces and cannot see the host's"
	case NetHost:
		return "network: uses your computer's network directly: can connect wherever you can and listen on your ports"
	}
	return fmt.Sprintf("network: unknown mode %q", n.Mode)
}

func explainFilesystem(f Filesystem) []string {
	var lines []string
	if f.RootReadonly {
		lines = append(lines, "files: cannot change the system's files; / is read-only")
	} else {
		lines = append(lines, "files: / is writable: can change system files wherever its user has permission to")
	}
	switch f.Workdir {
	case WorkdirReadOnly:
		lines = append(lines, "working directory: visible read-only")
	case WorkdirReadWrite:
		lines = append(lines, "working directory: visible and writable: files there can be changed, created and deleted")
	case WorkdirHidden:
		lines = append(lines, "working directory: not visible")
	}
	lines = append(lines, "/tmp: "+scratch(f.TmpSize, f.TmpInodes))
	for _, b := range f.Binds {
		mode := "writable"
		if b.ReadOnly {
			mode = "read-only"
		}
		lines = append(lines, fmt.Sprintf("extra files: %s is visible at %s, %s", b.Source, b.Target, mode))
	}
	for _, t := range f.Tmpfs {
		lines = append(lines, fmt.Sprintf("extra space: %s: %s", t.Target, scratch(t.Size, 0)))
	}
	lines = append(lines, explainPaths("hidden paths", "read as empty", f.MaskedPaths),
		explainPaths("protected paths", "are read-only", f.ReadonlyPaths))
	return lines
}

// scratch describes an in-memory filesystem.
func scratch(size Size, inodes int64) string {
	s := "private and in memory"
	switch {
	case size > 0 && inodes > 0:
		s += fmt.Sprintf(", at most %s and %d files", humanSize(size), inodes)
	case size > 0:
		s += ", at most " + humanSize(size)
	case inodes > 0:
		s += fmt.Sprintf(", at most %d files", inodes)
	}
	return s + ", emptied at exit"
}

// explainPaths summarises a list of kernel paths: how many, where, and the
// first few.
func explainPaths(what, effect string, paths []string) string {
	if len(paths) == 0 {
		return what + ": none"
	}
	var roots []string
	for _, p := range paths {
		if r := "/" + strings.SplitN(strings.TrimPrefix(path.Clean(p), "/"), "/", 2)[0]; !slices.Contains(roots, r) {
			roots = append(roots, r)
		}
	}
	shown := paths
	if len(paths) > 3 {
		shown = append(slices.Clone(paths[:3]), "…")
	}
	return fmt.Sprintf("%s: %s under %s %s (%s)", what, plural(len(paths), "path"),
		joinAnd(roots), effect, strings.Join(shown, ", "))
}

func explainIdentity(i Identity) string {
	switch i.User {
	case UserRoot:
		return "identity: runs as root inside the sandbox, which is only you, an ordinary user, outside it"
	case UserSelf:
		return "identity: runs as your own user and group"
	}
	return fmt.Sprintf("identity: unknown user %q", i.User)
}

func explainPrivileges(s Security) string {
	var b strings.Builder
	b.WriteString("privileges: ")
	if len(s.Capabilities) == 0 {
		b.WriteString("has no special privileges (no capabilities)")
	} else {
		fmt.Fprintf(&b, "keeps %s of root's special privileges (%s), which work only on the sandbox's own files and processes",
			strconv.Itoa(len(s.Capabilities)), strings.Join(s.Capabilities, ", "))
	}
	switch {
	case s.NoNewPrivileges && len(s.Capabilities) == 0:
		b.WriteString(" and cannot gain them (setuid programs do not raise privileges)")
	case s.NoNewPrivileges:
		b.WriteString(", and cannot gain more (setuid programs do not raise privileges)")
	default:
		b.WriteString("; setuid programs inside can raise privileges")
	}
	return b.String()
}

// syscallTopic names, in plain words, what a denied system call is for;
// calls it does not know are named as they are.
func syscallTopic(name string) string {
	switch {
	case name == "ptrace" || strings.HasPrefix(name, "process_vm_"):
		return "debugging other processes"
	case name == "keyctl" || name == "add_key" || name == "request_key":
		return "kernel keyrings"
	case name == "bpf":
		return "BPF"
	case name == "perf_event_open":
		return "performance counters"
	case name == "userfaultfd":
		return "userfaultfd"
	case strings.HasPrefix(name, "io_uring"):
		return "io_uring"
	case name == "unshare" || name == "setns":
		return "new namespaces"
	case slices.Contains([]string{"mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick",
		"open_tree", "move_mount", "mount_setattr", "pivot_root", "chroot"}, name):
		return "mounting"
	case name == "open_by_handle_at" || name == "name_to_handle_at":
		return "opening files by handle"
	case strings.HasPrefix(name, "kexec_") || strings.HasSuffix(name, "_module"):
		return "loading kernel code"
	case slices.Contains([]string{"acct", "swapon", "swapoff", "reboot", "syslog", "lookup_dcookie",
		"quotactl", "quotactl_fd", "personality"}, name):
		return "system administration"
	}
	return name
}

func explainKernel(s Security) string {
	var topics []string
	for _, name := range s.SeccompDeny {
		if t := syscallTopic(name); !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	switch {
	case s.Seccomp == SeccompDockerDefault && len(topics) > 0:
		return "kernel: dangerous kernel interfaces are blocked (" + strings.Join(topics, ", ") +
			", and the others Docker blocks by default)"
	case s.Seccomp == SeccompDockerDefault:
		return "kernel: the risky kernel interfaces Docker blocks by default are blocked (kernel keyrings, loading kernel code, rebooting, changing the clock, …)"
	case len(topics) > 0:
		return "kernel: only these kernel interfaces are blocked: " + strings.Join(topics, ", ")
	}
	return "kernel: every kernel interface is available (no system call filter)"
}

func explainTerminal(s Security) string {
	blocked := joinAnd(s.SeccompDenyIoctls) + " is blocked"
	if len(s.SeccompDenyIoctls) > 1 {
		blocked = joinAnd(s.SeccompDenyIoctls) + " are blocked"
	}
	if slices.Contains(s.SeccompDenyIoctls, "TIOCSTI") {
		return "terminal: cannot type into your terminal behind your back (" + blocked + ")"
	}
	if len(s.SeccompDenyIoctls) > 0 {
		return "terminal: may be able to push keystrokes into a terminal it shares with you (TIOCSTI is not blocked; " + blocked + ")"
	}
	return "terminal: may be able to push keystrokes into a terminal it shares with you (TIOCSTI is not blocked)"
}

func explainNamespaces(s Security) string {
	if s.DenyNamespaces {
		return "namespaces: cannot create new namespaces, so cannot start containers or sandboxes of its own"
	}
	return "namespaces: may create new namespaces, to run containers or sandboxes of its own"
}

func explainLimits(l Limits) []string {
	var lines []string
	if l.Memory > 0 {
		lines = append(lines, fmt.Sprintf("memory: at most %s; exceeding it kills the workload", humanSize(l.Memory)))
		if l.Swap > 0 {
			lines = append(lines, "swap: up to "+humanSize(l.Swap)+" more may be swapped out to disk")
		} else {
			lines = append(lines, "swap: none")
		}
	} else {
		lines = append(lines, "memory: no limit")
	}
	lines = append(lines, limitLine("processes", l.Pids, "at most %d at once (counting threads)"))
	switch {
	case l.CPUs > 0:
		lines = append(lines, "CPU: at most "+plural(l.CPUs, "core"))
	default:
		lines = append(lines, "CPU: no limit")
	}
	if l.Cpuset != "" {
		lines = append(lines, "CPU: runs only on CPUs "+l.Cpuset)
	}
	if l.CPUWeight > 0 {
		lines = append(lines, fmt.Sprintf("CPU share: weight %d (100 is normal) when the CPUs are busy", l.CPUWeight))
	}
	if l.IOWeight > 0 {
		lines = append(lines, fmt.Sprintf("disk share: weight %d (100 is normal) when the disks are busy", l.IOWeight))
	}
	if l.Nofile > 0 {
		lines = append(lines, fmt.Sprintf("open files: at most %d at once", l.Nofile))
	} else {
		lines = append(lines, "open files: the system's usual limit")
	}
	if l.Timeout > 0 {
		lines = append(lines, "time: stopped after "+l.Timeout.String())
	} else {
		lines = append(lines, "time: no time limit")
	}
	return lines
}

func limitLine[N int64 | uint64](what string, n N, format string) string {
	if n == 0 {
		return what + ": no limit"
	}
	return what + ": " + fmt.Sprintf(format, n)
}

func explainEnvironment(e Environment) string {
	s := "environment: starts clean; only TERM, LANG, LC_ALL and TZ come from yours (PATH is standard, HOME is the private /tmp)"
	if len(e.Pass) > 0 {
		s += ", plus " + joinAnd(e.Pass)
	}
	if len(e.Set) > 0 {
		s += "; sets " + joinAnd(slices.Sorted(maps.Keys(e.Set)))
	}
	return s
}

// humanSize writes a byte count for people: "512 MiB", "1.5 GiB".
func humanSize(s Size) string {
	for _, u := range sizeUnits {
		if s >= u.mult {
			v := strconv.FormatFloat(float64(s)/float64(u.mult), 'f', 1, 64)
			return strings.TrimSuffix(v, ".0") + " " + u.letter + "iB"
		}
	}
	return plural(int64(s), "byte")
}

// plural writes "1 core", "1.5 cores", "256 paths".
func plural[N int | int64 | float64](n N, word string) string {
	s := strconv.FormatFloat(float64(n), 'f', -1, 64)
	if n != 1 {
		word += "s"
	}
	return s + " " + word
}

// joinAnd writes "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
