package profiles

import (
	"github.com/brigsandbox/brig/spec"
)

// Host is what the spec needs from outside the profile: who runs the
// sandbox, where its root comes from and where the brig binary is. The
// caller reads it from the host; tests make it up.
type Host struct {
	Identity spec.Identity
	// Root is spec.WithHostRoot(...) or spec.WithRootfs(...).
	Root spec.Option
	// Workdir is the caller's working directory, shown inside at the same
	// path as the profile's workdir mode says; "" shows nothing.
	Workdir string
	// InitBinary is the absolute path of the brig binary, the sandbox's
	// pid 1; "" runs the workload as pid 1 (for tests only: pid 1 ignores
	// signals it has no handler for).
	InitBinary string
}

// SpecOptions turns the profile into spec options, in an order where later
// ones may rely on earlier ones: seccomp reads the capabilities.
func (p *Profile) SpecOptions(h Host) []spec.Option {
	opts := []spec.Option{
		h.Root,
		spec.WithIdentity(h.Identity),
		spec.WithNetwork(spec.NetMode(p.Network.Mode)),
		spec.WithTmpfs(spec.Tmpfs{Target: "/tmp", SizeBytes: int64(p.Filesystem.TmpSize), Inodes: p.Filesystem.TmpInodes}),
		spec.WithTmpfs(p.tmpfs()...),
		spec.WithBinds(p.workdirBinds(h.Workdir)...),
		spec.WithBinds(p.binds()...),
		spec.WithCapabilities(p.Security.Capabilities...),
		spec.WithSeccomp(p.seccompPolicy()),
		spec.WithNoNewPrivileges(p.Security.NoNewPrivileges),
		spec.WithMaskedPaths(p.Filesystem.MaskedPaths...),
		spec.WithReadonlyPaths(p.Filesystem.ReadonlyPaths...),
		spec.WithLimits(p.SpecLimits()),
	}
	if p.Limits.Nofile > 0 {
		opts = append(opts, spec.WithRlimits(spec.Rlimit{Type: "RLIMIT_NOFILE", Soft: p.Limits.Nofile, Hard: p.Limits.Nofile}))
	}
	if h.InitBinary != "" {
		opts = append(opts, spec.WithInit(h.InitBinary))
	}
	return opts
}

// workdirBinds shows the working directory at the same path, read-write
// or read-only as the profile says.
func (p *Profile) workdirBinds(dir string) []spec.Bind {
	if dir == "" || p.Filesystem.Workdir == WorkdirHidden {
		return nil
	}
	return []spec.Bind{{Source: dir, Target: dir, ReadOnly: p.Filesystem.Workdir == WorkdirReadOnly}}
}

func (p *Profile) binds() []spec.Bind {
	out := make([]spec.Bind, 0, len(p.Filesystem.Binds))
	for _, b := range p.Filesystem.Binds {
		out = append(out, spec.Bind{Source: b.Source, Target: b.Target, ReadOnly: b.ReadOnly})
	}
	return out
}

func (p *Profile) tmpfs() []spec.Tmpfs {
	out := make([]spec.Tmpfs, 0, len(p.Filesystem.Tmpfs))
	for _, t := range p.Filesystem.Tmpfs {
		out = append(out, spec.Tmpfs{Target: t.Target, SizeBytes: int64(t.Size)})
	}
	return out
}

func (p *Profile) seccompPolicy() spec.SeccompPolicy {
	pol := spec.SeccompPolicy{Base: p.Security.Seccomp, Deny: p.Security.SeccompDeny, DenyNamespaces: p.Security.DenyNamespaces}
	for _, name := range p.Security.SeccompDenyIoctls {
		if n, ok := IoctlNumber(name); ok {
			pol.DenyIoctls = append(pol.DenyIoctls, spec.Ioctl{Name: name, Request: n})
		}
	}
	return pol
}

// SpecLimits are the profile's cgroup limits in the spec's terms.
func (p *Profile) SpecLimits() spec.Limits {
	return spec.Limits{
		MemoryBytes: int64(p.Limits.Memory),
		SwapBytes:   int64(p.Limits.Swap),
		Pids:        p.Limits.Pids,
		CPUs:        p.Limits.CPUs,
		CPUWeight:   p.Limits.CPUWeight,
		IOWeight:    p.Limits.IOWeight,
		Cpuset:      p.Limits.Cpuset,
	}
}
