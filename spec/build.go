package spec

import (
	"fmt"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Workload is what runs inside the sandbox.
type Workload struct {
	Args     []string // command and arguments; Args[0] is looked up in PATH inside
	Env      []string // the complete environment, K=V
	Cwd      string   // absolute working directory inside
	Terminal bool     // give the workload a terminal (brig owns the pty)
	Hostname string
}

// Option changes one aspect of a spec. Options run in order; a later one
// overrides what an earlier one set.
type Option func(*specs.Spec) error

// DefaultHostname is the sandbox's hostname unless the workload names one.
const DefaultHostname = "brig"

// Build returns the spec for w after applying opts to the hardened base.
func Build(w Workload, opts ...Option) (*specs.Spec, error) {
	if len(w.Args) == 0 || w.Args[0] == "" {
		return nil, fmt.Errorf("%w: no command given", ErrInvalid)
	}
	if w.Cwd == "" {
		w.Cwd = "/"
	}
	if !path.IsAbs(w.Cwd) {
		return nil, fmt.Errorf("%w: working directory %q is not absolute", ErrInvalid, w.Cwd)
	}
	if w.Hostname == "" {
		w.Hostname = DefaultHostname
	}
	s := base(w)
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// base is the hardened starting point every sandbox shares.
func base(w Workload) *specs.Spec {
	return &specs.Spec{
		Version:  specs.Version,
		Hostname: w.Hostname,
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal:        w.Terminal,
			Args:            append([]string(nil), w.Args...),
			Env:             append([]string(nil), w.Env...),
			Cwd:             w.Cwd,
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{},
		},
		Mounts: baseMounts(),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.UserNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.CgroupNamespace},
			},
			Resources: &specs.LinuxResources{},
			// On cgroup v1 the runtime builds /sys/fs/cgroup as a tmpfs
			// holding read-only hierarchy mounts; the tmpfs itself would
			// stay writable without this.
			ReadonlyPaths: []string{"/sys/fs/cgroup"},
		},
	}
}

// baseMounts are the kernel filesystems every sandbox gets. They carry
// no uid=/gid= options: in a user namespace those would have to name
// mapped ids, and the defaults are right for both identities.
func baseMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// hasNamespace reports whether s asks for a namespace of type t.
func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// removeNamespace drops the namespace of type t, if present.
func removeNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	kept := s.Linux.Namespaces[:0]
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != t {
			kept = append(kept, ns)
		}
	}
	s.Linux.Namespaces = kept
}

// replaceMount swaps the mount at m.Destination for m, or appends m.
func replaceMount(s *specs.Spec, m specs.Mount) {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == m.Destination {
			s.Mounts[i] = m
			return
		}
	}
	s.Mounts = append(s.Mounts, m)
}
