package spec

import (
	"fmt"
	"path"
	"strings"
)

// SkeletonEntry is one thing the sandbox creates in an empty host-mode
// root before start: a directory, a symlink or a small generated file.
type SkeletonEntry struct {
	Path    string // relative to the root, e.g. "etc/passwd"
	Dir     bool
	Symlink string // target, when the entry is a symlink
	Data    []byte // file contents, when the entry is a file
	// Source is a host file whose contents the entry gets (the curated
	// /etc files): copying a few small files into the fresh root is far
	// cheaper than a bind mount for each.
	Source string
}

// SkeletonInput is what the generated files describe.
type SkeletonInput struct {
	Layout   HostLayout
	UserName string // the workload's user name inside ("root" or the caller's)
	UID, GID uint32 // the workload's ids inside
	Home     string // the workload's HOME inside
	Hostname string
	// ResolvConf is the host's resolver configuration; nil when the
	// sandbox has no network, so that no resolver is shown at all.
	ResolvConf []byte
}

// Skeleton lists what a host-mode root holds before anything is mounted:
// symlinks that mirror the host's merged-/usr layout, mount points, and
// /etc files generated for this sandbox rather than copied from the host,
// so that the host's users, groups and hosts stay private.
func Skeleton(in SkeletonInput) []SkeletonEntry {
	entries := []SkeletonEntry{{Path: "etc", Dir: true}, {Path: "tmp", Dir: true}}
	for _, e := range in.Layout.System {
		if e.SymlinkTo != "" {
			entries = append(entries, SkeletonEntry{Path: relative(e.Path), Symlink: e.SymlinkTo})
		}
	}
	for _, e := range in.Layout.Etc {
		switch {
		case e.SymlinkTo != "":
			entries = append(entries, SkeletonEntry{Path: relative(e.Path), Symlink: e.SymlinkTo})
		case e.IsFile:
			entries = append(entries, SkeletonEntry{Path: relative(e.Path), Source: e.Path})
		}
	}
	hostname := in.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	entries = append(entries,
		SkeletonEntry{Path: "etc/passwd", Data: []byte(passwd(in))},
		SkeletonEntry{Path: "etc/group", Data: []byte(group(in))},
		SkeletonEntry{Path: "etc/hostname", Data: []byte(hostname + "\n")},
		SkeletonEntry{Path: "etc/hosts", Data: []byte(hosts(hostname))},
	)
	if in.ResolvConf != nil {
		entries = append(entries, SkeletonEntry{Path: "etc/resolv.conf", Data: in.ResolvConf})
	}
	return entries
}

func relative(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }

const nobodyID = 65534

func passwd(in SkeletonInput) string {
	lines := "root:x:0:0:root:" + homeFor(in, 0) + ":/bin/sh\n"
	if in.UID != 0 && in.UID != nobodyID {
		lines += fmt.Sprintf("%s:x:%d:%d:%s:%s:/bin/sh\n", in.UserName, in.UID, in.GID, in.UserName, homeFor(in, in.UID))
	}
	return lines + "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
}

func homeFor(in SkeletonInput, uid uint32) string {
	if uid == in.UID && in.Home != "" {
		return in.Home
	}
	return "/root"
}

func group(in SkeletonInput) string {
	lines := "root:x:0:\n"
	if in.GID != 0 && in.GID != nobodyID {
		lines += fmt.Sprintf("%s:x:%d:\n", in.UserName, in.GID)
	}
	return lines + "nogroup:x:65534:\n"
}

func hosts(hostname string) string {
	return "127.0.0.1\tlocalhost " + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback " + hostname + "\n"
}
