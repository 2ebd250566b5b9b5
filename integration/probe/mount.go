package main

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// mountAttempt tries to mount fstype ("tmpfs" or "cgroup", meaning cgroup
// v1) in the current mount namespace, which is new and ours when newNS is
// set. Whatever it mounts it unmounts before returning.
func mountAttempt(fstype string, newNS bool) result {
	if newNS {
		// Keep mounts from propagating to the namespace we came from.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return blocked("make / private: %s", errnoName(err))
		}
	}
	target, cleanup, ok := mountPoint(newNS)
	if !ok {
		return skipped("no directory to mount on")
	}
	defer cleanup()
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	switch fstype {
	case "tmpfs":
		err := unix.Mount("brig-probe", target, "tmpfs", flags, "size=1m")
		if err != nil {
			return blocked("mount tmpfs on %s: %s", target, errnoName(err))
		}
		unix.Unmount(target, unix.MNT_DETACH)
		return allowed("mounted (and unmounted) a tmpfs on %s", target)
	case "cgroup":
		tally := errnoTally{}
		// rdma is the classic choice of the release_agent exploits
		// (CVE-2022-0492), as it is rarely in use.
		for _, c := range []string{"rdma", "memory", "pids", "devices"} {
			err := unix.Mount("cgroup", target, "cgroup", flags, c)
			if err != nil {
				tally.add("mount "+c, err)
				continue
			}
			ra := "writable (nothing written)"
			if err := openForWrite(filepath.Join(target, "release_agent")); err != nil {
				ra = errnoName(err)
			}
			unix.Unmount(target, unix.MNT_DETACH)
			return allowed("mounted (and unmounted) cgroup v1 %q on %s; open release_agent for writing: %s", c, target, ra)
		}
		return blocked("%s", tally)
	}
	return skipped("unknown filesystem %q", fstype)
}

// mountPoint finds a directory to mount on: a fresh one under /tmp, or
// else an existing directory whose contents the mount hides for a moment
// ("/" only in a private namespace of our own).
func mountPoint(newNS bool) (string, func(), bool) {
	if dir, err := os.MkdirTemp("/tmp", ".brig-probe-mnt-"); err == nil {
		return dir, func() { os.Remove(dir) }, true
	}
	candidates := []string{"/tmp", "/mnt", "/run", "/var/tmp", "/media", "/srv", "/opt"}
	if newNS {
		candidates = append(candidates, "/")
	}
	for _, d := range candidates {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d, func() {}, true
		}
	}
	return "", nil, false
}
