package spec

import (
	"fmt"
	"path"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// HostEntry says what one top-level host path is, so that host mode can
// reproduce it: Debian and Fedora make /bin, /sbin and /lib symlinks into
// /usr, older systems keep them as directories.
type HostEntry struct {
	Path       string // absolute, e.g. "/lib64"
	SymlinkTo  string // non-empty when the host path is a symlink
	IsDir      bool   // a real directory (bound read-only)
	IsFile     bool   // a regular file (bound read-only)
	IsOptional bool   // absent on some hosts; skipped silently when absent
}

// HostLayout describes the host paths that host mode shows the workload.
// The sandbox package reads it from the host; tests build it by hand.
type HostLayout struct {
	System []HostEntry // /usr, /bin, /sbin, /lib*, shown read-only
	Etc    []HostEntry // the curated part of /etc, shown read-only
}

// SystemPaths are the host directories host mode shows read-only.
var SystemPaths = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// EtcPaths are the host files under /etc that host mode shows read-only:
// what the dynamic linker, TLS clients and Debian's alternatives need.
// passwd, group, hosts and resolv.conf are generated instead (see Skeleton).
var EtcPaths = []string{
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/alternatives",
	"/etc/localtime", "/etc/nsswitch.conf", "/etc/services", "/etc/protocols",
	"/etc/mime.types", "/etc/profile", "/etc/bash.bashrc", "/etc/inputrc",
}

// WithRootfs runs the workload from the directory tree dir (an absolute
// path), read-only unless writable is set.
func WithRootfs(dir string, writable bool) Option {
	return func(s *specs.Spec) error {
		if !path.IsAbs(dir) {
			return fmt.Errorf("%w: rootfs %q is not absolute", ErrInvalid, dir)
		}
		s.Root = &specs.Root{Path: dir, Readonly: !writable}
		return nil
	}
}

// WithHostRoot makes a fresh, read-only root at dir (an empty directory the
// sandbox prepares with Skeleton) and shows the host's system directories
// and curated /etc in it, read-only. Symlinks are recreated by Skeleton,
// and so are the curated /etc files, as copies: a bind mount costs the
// sandbox's init about 0.3 ms, a small file's copy a few microseconds. So
// only real directories, and files outside /etc, are bound here.
func WithHostRoot(dir string, layout HostLayout) Option {
	return func(s *specs.Spec) error {
		if err := WithRootfs(dir, false)(s); err != nil {
			return err
		}
		for _, e := range layout.System {
			if e.SymlinkTo == "" && (e.IsDir || e.IsFile) {
				s.Mounts = append(s.Mounts, readOnlyBind(e.Path, e.Path))
			}
		}
		for _, e := range layout.Etc {
			if e.SymlinkTo == "" && e.IsDir {
				s.Mounts = append(s.Mounts, readOnlyBind(e.Path, e.Path))
			}
		}
		return nil
	}
}

// readOnlyBind shows src at dst, read-only all the way down (rro makes
// submounts read-only too), without devices or setuid.
func readOnlyBind(src, dst string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src,
		Options: []string{"rbind", "rro", "nosuid", "nodev"}}
}

// Bind is a host path shown inside the sandbox.
type Bind struct {
	Source   string // absolute host path; must exist (checked by the caller)
	Target   string // absolute path inside; created if missing
	ReadOnly bool
}

// WithBinds shows each host path at its target, in order.
func WithBinds(binds ...Bind) Option {
	return func(s *specs.Spec) error {
		for _, b := range binds {
			if !path.IsAbs(b.Source) || !path.IsAbs(b.Target) {
				return fmt.Errorf("%w: bind %s:%s needs absolute paths", ErrInvalid, b.Source, b.Target)
			}
			if b.ReadOnly {
				s.Mounts = append(s.Mounts, readOnlyBind(b.Source, path.Clean(b.Target)))
				continue
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: path.Clean(b.Target), Type: "bind",
				Source: b.Source, Options: []string{"rbind", "rw", "nosuid", "nodev"}})
		}
		return nil
	}
}

// Tmpfs is a private in-memory filesystem.
type Tmpfs struct {
	Target    string
	SizeBytes int64 // 0: the kernel's default (half of RAM)
	Inodes    int64 // 0: the kernel's default
}

// WithTmpfs mounts each tmpfs at its target (writable, no devices, no
// setuid), replacing an earlier mount at the same place.
func WithTmpfs(mounts ...Tmpfs) Option {
	return func(s *specs.Spec) error {
		for _, t := range mounts {
			if !path.IsAbs(t.Target) {
				return fmt.Errorf("%w: tmpfs target %q is not absolute", ErrInvalid, t.Target)
			}
			if t.SizeBytes < 0 || t.Inodes < 0 {
				return fmt.Errorf("%w: tmpfs %s: negative size", ErrInvalid, t.Target)
			}
			opts := []string{"nosuid", "nodev", "mode=1777"}
			if t.SizeBytes > 0 {
				opts = append(opts, "size="+strconv.FormatInt(t.SizeBytes, 10))
			}
			if t.Inodes > 0 {
				opts = append(opts, "nr_inodes="+strconv.FormatInt(t.Inodes, 10))
			}
			replaceMount(s, specs.Mount{Destination: path.Clean(t.Target), Type: "tmpfs", Source: "tmpfs", Options: opts})
		}
		return nil
	}
}

// WithMaskedPaths hides paths (they read as empty) and WithReadonlyPaths
// makes paths read-only; both are applied by the runtime after mounting.
func WithMaskedPaths(paths ...string) Option {
	return func(s *specs.Spec) error {
		s.Linux.MaskedPaths = appendUnique(s.Linux.MaskedPaths, paths...)
		return nil
	}
}

// WithReadonlyPaths makes each path read-only inside the sandbox.
func WithReadonlyPaths(paths ...string) Option {
	return func(s *specs.Spec) error {
		s.Linux.ReadonlyPaths = appendUnique(s.Linux.ReadonlyPaths, paths...)
		return nil
	}
}

func appendUnique(list []string, more ...string) []string {
	for _, p := range more {
		if !slices.Contains(list, p) {
			list = append(list, p)
		}
	}
	return list
}
