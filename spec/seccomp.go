package spec

import (
	"fmt"
	"slices"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Seccomp bases.
const (
	// SeccompDockerDefault is Docker's default filter, as maintained
	// upstream in github.com/moby/profiles/seccomp: an allowlist of about
	// 350 system calls, some allowed only with the capability they need.
	SeccompDockerDefault = "docker-default"
	// SeccompUnconfined installs no filter.
	SeccompUnconfined = "unconfined"
)

// Ioctl is an ioctl request refused by the filter.
type Ioctl struct {
	Name    string
	Request uint64
}

// Known ioctl requests that profiles may deny.
var (
	// TIOCSTI pushes bytes into a terminal's input queue: a workload
	// given the user's terminal could type commands into the user's
	// shell after it exits (CVE-2017-5226).
	TIOCSTI = Ioctl{"TIOCSTI", unix.TIOCSTI}
	// TIOCLINUX can copy and paste on a virtual console (CVE-2023-1523
	// and friends), with the same effect.
	TIOCLINUX = Ioctl{"TIOCLINUX", unix.TIOCLINUX}
)

// SeccompPolicy is the system-call filter of a sandbox.
type SeccompPolicy struct {
	Base string // SeccompDockerDefault or SeccompUnconfined
	// Deny lists system calls refused with EPERM even where the base
	// would allow them.
	Deny []string
	// DenyIoctls lists ioctl requests refused with EPERM.
	DenyIoctls []Ioctl
	// DenyNamespaces refuses unshare, setns and clone with namespace
	// flags, and makes clone3 fail with ENOSYS so that libc falls back
	// to clone, whose flags the filter can inspect.
	DenyNamespaces bool
}

// nsFlags are the clone flags that create namespaces.
const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// WithSeccomp installs the filter p. The Docker base depends on the
// capabilities the workload keeps (it allows e.g. mount only with
// CAP_SYS_ADMIN), so apply it after WithCapabilities.
func WithSeccomp(p SeccompPolicy) Option {
	return func(s *specs.Spec) error {
		switch p.Base {
		case SeccompUnconfined:
			s.Linux.Seccomp = nil
			if len(p.Deny) > 0 || len(p.DenyIoctls) > 0 || p.DenyNamespaces {
				return denyOnly(s, p)
			}
			return nil
		case SeccompDockerDefault:
		default:
			return fmt.Errorf("%w: unknown base %q (use %q or %q)", ErrSeccomp, p.Base, SeccompDockerDefault, SeccompUnconfined)
		}
		filter, err := mobyseccomp.GetDefaultProfile(s)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrSeccomp, err)
		}
		filter.Architectures = nativeOnly(filter.Architectures)
		s.Linux.Seccomp = harden(filter, p)
		return nil
	}
}

// nativeOnly keeps the filter to the architecture brig runs on, the first
// one moby lists. Docker's profile adds the compatible ones (x86 and x32
// on x86_64) so that 32-bit programs work; compiling the filter for x86
// as well triples it (socketcall and ipc multiplex many calls), and
// libseccomp then takes about 30 ms at every start instead of 4. Without
// them, a system call made through a 32-bit entry point kills the thread
// (libseccomp's default action for a foreign architecture): 32-bit
// programs do not run in a sandbox, and their entry points, a frequent
// home of kernel bugs, stay closed.
func nativeOnly(arches []specs.Arch) []specs.Arch {
	if len(arches) > 1 {
		return arches[:1]
	}
	return arches
}

// harden removes the denied calls from every allow rule and adds the
// explicit refusals, so that a denial never depends on rule ordering.
func harden(f *specs.LinuxSeccomp, p SeccompPolicy) *specs.LinuxSeccomp {
	deny := p.deniedCalls()
	f.Syscalls = withoutAllowed(f.Syscalls, deny, p.DenyNamespaces)
	if len(deny) > 0 {
		f.Syscalls = append(f.Syscalls, refusal(deny...))
	}
	if p.DenyNamespaces {
		f.Syscalls = append(f.Syscalls, namespaceRules()...)
	}
	if len(p.DenyIoctls) > 0 {
		f.Syscalls = denyIoctls(f.Syscalls, p.DenyIoctls)
	}
	return f
}

// deniedCalls are the system calls refused by name: the policy's, plus
// unshare and setns when namespaces are denied.
func (p SeccompPolicy) deniedCalls() []string {
	deny := slices.Clone(p.Deny)
	if p.DenyNamespaces {
		deny = appendUnique(deny, "unshare", "setns")
	}
	return deny
}

// refusal refuses the named calls with EPERM.
func refusal(names ...string) specs.LinuxSyscall {
	eperm := uint(unix.EPERM)
	return specs.LinuxSyscall{Names: names, Action: specs.ActErrno, ErrnoRet: &eperm}
}

// ioctlRefusal refuses one ioctl request, compared on its low 32 bits as
// the kernel reads it.
func ioctlRefusal(io Ioctl) specs.LinuxSyscall {
	r := refusal("ioctl")
	r.Args = []specs.LinuxSeccompArg{{Index: 1, Value: 0xffffffff, ValueTwo: uint64(io.Request32()), Op: specs.OpMaskedEqual}}
	return r
}

// withoutAllowed drops names from allow rules. With namespaces denied it
// also drops every clone and clone3 rule, whatever its action: the
// flag-checking rules added by namespaceRules replace them.
func withoutAllowed(rules []specs.LinuxSyscall, names []string, denyNS bool) []specs.LinuxSyscall {
	var kept []specs.LinuxSyscall
	for _, r := range rules {
		r.Names = slices.DeleteFunc(slices.Clone(r.Names), func(n string) bool {
			if denyNS && (n == "clone" || n == "clone3") {
				return true
			}
			return r.Action == specs.ActAllow && slices.Contains(names, n)
		})
		if len(r.Names) > 0 {
			kept = append(kept, r)
		}
	}
	return kept
}

// namespaceRules allow clone without namespace flags and send clone3 to
// ENOSYS (its flags sit in memory the filter cannot read).
func namespaceRules() []specs.LinuxSyscall {
	enosys := uint(unix.ENOSYS)
	return []specs.LinuxSyscall{
		{Names: []string{"clone"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: nsFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
		{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
	}
}

// denyIoctls refuses the given ioctl requests. libseccomp lets an
// unconditional allow rule win over a conditional refusal of the same
// call, and runc ORs conditions on one argument, so "allow ioctl unless the
// request is X" cannot be written directly. Instead ioctl loses its
// unconditional allowance and gets one allow rule per bit pattern of the
// requests that are not denied; the denied ones fall through to the
// filter's default action (EPERM), and an explicit EPERM rule documents
// them. Patterns compare only the low 32 bits, as the kernel does: the
// request is an unsigned int, so a caller setting high bits to dodge an
// exact match (CVE-2019-10063) still hits the refusal.
func denyIoctls(rules []specs.LinuxSyscall, denied []Ioctl) []specs.LinuxSyscall {
	rules = withoutAllowed(rules, []string{"ioctl"}, false)
	var values []uint32
	for _, io := range denied {
		values = append(values, io.Request32())
	}
	for _, pat := range complementPatterns(values) {
		rules = append(rules, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: pat.mask, ValueTwo: pat.value, Op: specs.OpMaskedEqual}}})
	}
	for _, io := range denied {
		rules = append(rules, ioctlRefusal(io))
	}
	return rules
}

// bitPattern matches x when x&mask == value.
type bitPattern struct{ mask, value uint64 }

// complementPatterns covers every 32-bit value except those in denied
// with prefix patterns: walking the binary trie of the denied values from
// the top bit, every branch that holds no denied value becomes a pattern.
// Two denied values need at most 64 patterns.
func complementPatterns(denied []uint32) []bitPattern {
	var out []bitPattern
	var walk func(prefix uint32, depth int, set []uint32)
	walk = func(prefix uint32, depth int, set []uint32) {
		if len(set) == 0 {
			mask := uint64(0)
			if depth > 0 {
				mask = uint64(^uint32(0) << (32 - depth))
			}
			out = append(out, bitPattern{mask: mask, value: uint64(prefix)})
			return
		}
		if depth == 32 {
			return // a denied value itself
		}
		bit := uint32(1) << (31 - depth)
		var zeros, ones []uint32
		for _, v := range set {
			if v&bit == 0 {
				zeros = append(zeros, v)
			} else {
				ones = append(ones, v)
			}
		}
		walk(prefix, depth+1, zeros)
		walk(prefix|bit, depth+1, ones)
	}
	walk(0, 0, slices.Compact(slices.Sorted(slices.Values(denied))))
	return out
}

// Request32 is the request as the kernel sees it: an unsigned int.
func (io Ioctl) Request32() uint32 { return uint32(io.Request) }

// denyOnly is the filter of an unconfined base with denials: everything
// is allowed except what the policy names. Rules with the same action as
// the default would be dropped, so every rule here refuses something.
func denyOnly(s *specs.Spec, p SeccompPolicy) error {
	base, err := mobyseccomp.GetDefaultProfile(s) // for the architectures only
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSeccomp, err)
	}
	enosys := uint(unix.ENOSYS)
	f := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: nativeOnly(base.Architectures)}
	if p.DenyNamespaces {
		// One rule per flag: rules are ORed, so any namespace flag refuses.
		for flag := uint64(1); flag != 0; flag <<= 1 {
			if nsFlags&flag != 0 {
				r := refusal("clone")
				r.Args = []specs.LinuxSeccompArg{{Index: 0, Value: flag, ValueTwo: flag, Op: specs.OpMaskedEqual}}
				f.Syscalls = append(f.Syscalls, r)
			}
		}
		f.Syscalls = append(f.Syscalls, specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys})
	}
	if deny := p.deniedCalls(); len(deny) > 0 {
		f.Syscalls = append(f.Syscalls, refusal(deny...))
	}
	for _, io := range p.DenyIoctls {
		f.Syscalls = append(f.Syscalls, ioctlRefusal(io))
	}
	s.Linux.Seccomp = f
	return nil
}
