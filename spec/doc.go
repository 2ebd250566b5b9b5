// Package spec builds the OCI runtime specification (config.json) that
// describes one brig sandbox. It is pure: it makes no system calls, reads
// no files and starts nothing, so every decision it takes can be tested
// with table tests and golden files.
//
// A spec is built from a [Workload] (what to run) and a list of [Option]s
// (how to confine it):
//
//	s, err := spec.Build(spec.Workload{Args: []string{"id"}, Cwd: "/"},
//		spec.WithHostRoot("/run/user/1000/brig/ID/root", layout),
//		spec.WithIdentity(ids),
//		spec.WithNetwork(spec.NetNone),
//		spec.WithLimits(spec.Limits{MemoryBytes: 512 << 20, Pids: 256}),
//	)
//
// [Build] starts from a hardened base: fresh user, mount, pid, ipc, uts,
// network and cgroup namespaces; a new /proc; a minimal /dev; a read-only
// /sys; no capabilities. Options only ever change what they name, in the
// order given, so a later option wins over an earlier one.
//
// Rootless adjustments live here rather than in libcontainer's
// specconv.ToRootless, which deletes the resource limits and the network
// namespace. This package keeps both: whether a limit can be enforced is
// decided by the sandbox package, which refuses to run rather than drop it.
package spec
