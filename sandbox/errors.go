package sandbox

import "errors"

// Sentinel errors of the runner. Errors returned by Run wrap one of these
// (or one of the cgroup detection errors) so that callers can tell what
// went wrong without parsing text.
var (
	// ErrLimitsUnenforced: limits were asked for but this host cannot
	// enforce them for this user, and best effort was not allowed.
	ErrLimitsUnenforced = errors.New("limits cannot be enforced on this host")
	// ErrStart: the sandbox could not be started.
	ErrStart = errors.New("cannot start sandbox")
	// ErrState: the state directory is unusable.
	ErrState = errors.New("state directory unusable")
	// ErrRootfs: a --rootfs tree is unsafe to run from.
	ErrRootfs = errors.New("unsafe root filesystem")
	// ErrNetworkHelper: the user-mode network helper is missing or failed.
	ErrNetworkHelper = errors.New("user-mode network unavailable")

	// Delegation (brig setup).
	// ErrNotRoot: `brig setup` (Delegate, Undelegate) must run as root.
	ErrNotRoot = errors.New("must run as root")
	// ErrUnknownUser: the user named for a delegation does not exist or
	// its name cannot be a cgroup directory name.
	ErrUnknownUser = errors.New("unknown user")
	// ErrCgroupBusy: a cgroup to remove (or to empty) still holds processes.
	ErrCgroupBusy = errors.New("cgroup still has processes")

	// brig ps and brig stop.
	// ErrNoRun: no running sandbox has the given id.
	ErrNoRun = errors.New("no running sandbox")
)
