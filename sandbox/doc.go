// Package sandbox runs a runtime-spec sandbox through runc's libcontainer,
// without root and without a daemon, and reports what happened.
//
// It is brig's mechanism; policy (what the spec says) comes from the
// spec and profiles packages. A run goes:
//
//	Run(ctx, Config{Spec: s, Cgroups: DetectCgroupHost(), ...})
//	  → planCgroups: every limit the spec asks for is enforceable here,
//	    or the run is refused (ErrLimitsUnenforced) unless BestEffort
//	  → a per-run state directory, locked while the run lives
//	  → libcontainer.Create with a cgroup of the run's own
//	  → Container.Run, with brig's reaper as pid 1 (see reaper.go)
//	  → wait, forwarding signals; kill the whole sandbox at Timeout
//	  → statistics from the cgroup (containerd/cgroups), then Destroy
//	  → a Receipt: why it ended, exit code, CPU, peak memory and pids
//
// The binary that starts sandboxes must call MaybeInit first thing in
// main (and in TestMain), because libcontainer re-executes it as the
// container's init. The reaper, the sandbox's pid 1, needs nothing: it
// runs from a C constructor before main (see reaper.go).
//
// Cgroups: DetectCgroupHost finds where this user may create cgroups —
// a systemd user manager on cgroup v2, a delegated subtree (made once by
// root with Delegate, i.e. `brig setup --user NAME`), or root's own
// hierarchy. Doctor checks everything a host needs and says how to fix
// what is missing.
//
// State lives in StateDir(): one directory per run, removed on every path
// out; Collect removes what a killed brig left behind.
package sandbox
