package spec_test

import (
	"encoding/json"
	"testing"

	"github.com/brigsandbox/brig/spec"
)

// The benchmarks below measure what `brig run --profile strict` spends
// building its spec, the part of a launch brig owns before libcontainer
// takes over. Run them with
//
//	go test -run '^$' -bench . -benchmem ./spec/
//
// docs/performance.md records the numbers and how they compare with the
// rest of a launch. The options mirror cmd/brig's makePlan for the builtin
// strict profile in host mode, with a fixed Debian-like host layout so
// that the numbers do not depend on the machine's files.

// benchLayout is a merged-/usr Debian host.
var benchLayout = spec.HostLayout{
	System: []spec.HostEntry{
		{Path: "/usr", IsDir: true},
		{Path: "/bin", SymlinkTo: "usr/bin"},
		{Path: "/sbin", SymlinkTo: "usr/sbin"},
		{Path: "/lib", SymlinkTo: "usr/lib"},
		{Path: "/lib64", SymlinkTo: "usr/lib64"},
	},
	Etc: []spec.HostEntry{
		{Path: "/etc/ld.so.cache", IsFile: true},
		{Path: "/etc/ld.so.conf", IsFile: true},
		{Path: "/etc/ld.so.conf.d", IsDir: true},
		{Path: "/etc/ssl", IsDir: true},
		{Path: "/etc/ca-certificates", IsDir: true},
		{Path: "/etc/alternatives", IsDir: true},
		{Path: "/etc/localtime", SymlinkTo: "/usr/share/zoneinfo/Etc/UTC"},
		{Path: "/etc/nsswitch.conf", IsFile: true},
		{Path: "/etc/services", IsFile: true},
	},
}

// strictSeccomp is the strict profile's system-call policy.
var strictSeccomp = spec.SeccompPolicy{
	Base: spec.SeccompDockerDefault,
	Deny: []string{"ptrace", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
		"userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns",
		"mount", "umount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
		"move_mount", "mount_setattr", "pivot_root", "chroot", "open_by_handle_at",
		"name_to_handle_at", "kexec_load", "kexec_file_load", "init_module", "finit_module",
		"delete_module", "acct", "swapon", "swapoff", "reboot", "syslog", "lookup_dcookie",
		"quotactl", "quotactl_fd", "personality"},
	DenyIoctls:     []spec.Ioctl{spec.TIOCSTI, spec.TIOCLINUX},
	DenyNamespaces: true,
}

func strictWorkload() spec.Workload {
	return spec.Workload{
		Args: []string{"true"},
		Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", "TERM=xterm"},
		Cwd:  "/home/user/project",
	}
}

// strictOptions are the options makePlan passes for `brig run --profile
// strict` as an unprivileged user with a subordinate id range, with the
// given system-call policy.
func strictOptions(sc spec.SeccompPolicy) []spec.Option {
	ident := spec.Identity{HostUID: 1000, HostGID: 1000,
		SubUIDs: []spec.IDRange{{Start: 100000, Count: 65536}}, SubGIDs: []spec.IDRange{{Start: 100000, Count: 65536}}}
	return []spec.Option{
		spec.WithHostRoot("/run/user/1000/brig/runs/0123456789ab/root", benchLayout),
		spec.WithIdentity(ident),
		spec.WithNetwork(spec.NetMode("none")),
		spec.WithTmpfs(spec.Tmpfs{Target: "/tmp", SizeBytes: 64 << 20, Inodes: 16384}),
		spec.WithBinds(spec.Bind{Source: "/home/user/project", Target: "/home/user/project", ReadOnly: true}),
		spec.WithCapabilities(),
		spec.WithSeccomp(sc),
		spec.WithNoNewPrivileges(true),
		spec.WithMaskedPaths("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
			"/sys/devices/virtual/powercap"),
		spec.WithReadonlyPaths("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"),
		spec.WithLimits(spec.Limits{MemoryBytes: 512 << 20, Pids: 256, CPUs: 1}),
		spec.WithInit("/usr/local/bin/brig"),
		spec.WithRlimits(spec.Rlimit{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}),
	}
}

// BenchmarkBuildStrict is the whole spec of a strict host-mode launch.
func BenchmarkBuildStrict(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := spec.Build(strictWorkload(), strictOptions(strictSeccomp)...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildStrictNoSeccomp is the same spec without its system-call
// filter, to show what the filter's construction costs by difference.
func BenchmarkBuildStrictNoSeccomp(b *testing.B) {
	opts := strictOptions(spec.SeccompPolicy{Base: spec.SeccompUnconfined})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := spec.Build(strictWorkload(), opts...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeccompStrict is the strict filter alone: Docker's default
// profile, built for the spec's capabilities, then hardened.
func BenchmarkSeccompStrict(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := spec.Build(strictWorkload(), spec.WithCapabilities(), spec.WithSeccomp(strictSeccomp)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSkeleton is the list of entries of a host-mode root.
func BenchmarkSkeleton(b *testing.B) {
	in := spec.SkeletonInput{Layout: benchLayout, UserName: "root", Home: "/tmp", Hostname: spec.DefaultHostname}
	b.ReportAllocs()
	for b.Loop() {
		_ = spec.Skeleton(in)
	}
}

// BenchmarkMarshalStrict is the JSON of the strict spec, as `brig spec`
// prints it; libcontainer sends its own converted config to the sandbox's
// init in the same encoding, once per launch.
func BenchmarkMarshalStrict(b *testing.B) {
	s, err := spec.Build(strictWorkload(), strictOptions(strictSeccomp)...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(s); err != nil {
			b.Fatal(err)
		}
	}
}
