package profiles

import "time"

// Profile is a fully resolved hardening profile: every `extends` link has
// been merged and every value validated. Zero values mean "not limited"
// for limits and "empty" for lists.
type Profile struct {
	// Name is the profile's name ("strict", or the file's base name).
	Name string `toml:"-"`
	// Source says where the profile came from: "builtin" or a file path.
	Source string `toml:"-"`
	// Description is a one-line summary shown by `brig profile list`.
	Description string `toml:"description"`
	// Extends names the parent profile; empty after resolution chains end.
	Extends string `toml:"extends,omitempty"`

	Network     Network     `toml:"network"`
	Filesystem  Filesystem  `toml:"filesystem"`
	Identity    Identity    `toml:"identity"`
	Security    Security    `toml:"security"`
	Limits      Limits      `toml:"limits"`
	Environment Environment `toml:"environment"`
}

// Network modes.
const (
	NetNone = "none" // own network namespace, loopback only
	NetHost = "host" // the host's network namespace (explicit opt-in)
	NetUser = "user" // own namespace plus outbound traffic via pasta/slirp4netns
)

// Network says which network the workload sees.
type Network struct {
	Mode string `toml:"mode"` // NetNone | NetHost | NetUser
}

// Workdir modes: how the caller's working directory appears inside.
const (
	WorkdirReadWrite = "rw"
	WorkdirReadOnly  = "ro"
	WorkdirHidden    = "none"
)

// Filesystem describes the sandbox's view of files.
type Filesystem struct {
	RootReadonly  bool     `toml:"root_readonly"`
	Workdir       string   `toml:"workdir"`  // WorkdirReadWrite | WorkdirReadOnly | WorkdirHidden
	TmpSize       Size     `toml:"tmp_size"` // size of the tmpfs on /tmp
	TmpInodes     int64    `toml:"tmp_inodes"`
	Binds         []Bind   `toml:"binds"`
	Tmpfs         []Tmpfs  `toml:"tmpfs"`
	MaskedPaths   []string `toml:"masked_paths"`
	ReadonlyPaths []string `toml:"readonly_paths"`
}

// Bind makes a host path visible inside the sandbox.
type Bind struct {
	Source   string `toml:"source"`
	Target   string `toml:"target"`
	ReadOnly bool   `toml:"readonly"`
}

// Tmpfs is an extra in-memory filesystem.
type Tmpfs struct {
	Target string `toml:"target"`
	Size   Size   `toml:"size"`
}

// Identity modes.
const (
	UserRoot = "root" // uid 0 inside the user namespace (not root on the host)
	UserSelf = "self" // the caller's own uid and gid inside
)

// Identity says who the workload is inside the sandbox.
type Identity struct {
	User string `toml:"user"` // UserRoot | UserSelf
}

// Seccomp bases.
const (
	SeccompDockerDefault = "docker-default"
	SeccompUnconfined    = "unconfined"
)

// Security holds privilege and kernel-surface settings.
type Security struct {
	// Capabilities kept by the workload, "CAP_" prefixed, upper case.
	Capabilities    []string `toml:"capabilities"`
	NoNewPrivileges bool     `toml:"no_new_privileges"`
	// Seccomp is the base filter: SeccompDockerDefault or SeccompUnconfined.
	Seccomp string `toml:"seccomp"`
	// SeccompDeny lists syscalls refused on top of the base (EPERM),
	// e.g. "ptrace", "keyctl", "io_uring_setup".
	SeccompDeny []string `toml:"seccomp_deny"`
	// SeccompDenyIoctls lists ioctl requests refused, e.g. "TIOCSTI".
	SeccompDenyIoctls []string `toml:"seccomp_deny_ioctls"`
	// DenyNamespaces refuses clone/unshare/setns with namespace flags
	// (and clone3, which returns ENOSYS so libc falls back to clone).
	DenyNamespaces bool `toml:"deny_namespaces"`
}

// Limits are cgroup limits and rlimits. Zero means "no limit".
type Limits struct {
	Memory    Size     `toml:"memory"`
	Swap      Size     `toml:"swap"` // extra swap beyond Memory; 0 = no swap
	Pids      int64    `toml:"pids"`
	CPUs      float64  `toml:"cpus"`
	CPUWeight uint64   `toml:"cpu_weight"` // 1..10000 (cgroup v2 scale)
	IOWeight  uint16   `toml:"io_weight"`  // 1..10000
	Cpuset    string   `toml:"cpuset"`     // e.g. "0-1"
	Nofile    uint64   `toml:"nofile"`     // RLIMIT_NOFILE soft and hard
	Timeout   Duration `toml:"timeout"`
}

// Environment is the workload's environment policy: the environment is
// clean except for PATH, HOME, TERM, LANG, LC_ALL, TZ, what Pass names and
// what Set sets.
type Environment struct {
	Pass []string          `toml:"pass"`
	Set  map[string]string `toml:"set"`
}

// Size is a byte count written as "512M", "2GiB", "64MiB" or a plain number.
type Size int64

// Duration is a Go duration written as "30s", "1h".
type Duration time.Duration
