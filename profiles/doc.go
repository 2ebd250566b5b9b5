// Package profiles reads brig's profiles: named, validated sets of
// protections that say what a sandboxed program may see and do.
//
// # Builtin profiles
//
// brig ships four profiles (their files are in profiles/builtin/):
//
//   - strict: for code you do not trust. No network, every file read-only
//     (the working directory too), a 64 MiB private /tmp, no privileges,
//     the riskiest kernel interfaces blocked, 512 MiB of memory, 256
//     processes, one CPU.
//   - default: for a developer's tool working on the current project. No
//     network, the working directory writable, Docker's usual privileges
//     inside the sandbox, 2 GiB of memory, 1024 processes.
//   - network: default plus outbound network access, with proxy variables
//     passed in.
//   - ci: default with 4 GiB, 4096 processes, a one-hour time limit and the
//     usual CI variables (CI, GITHUB_ACTIONS, ...) passed in.
//
// `brig profile list` shows every profile brig can find, `brig profile
// explain NAME` says in plain words what one does, `brig profile show NAME`
// prints it fully resolved, and `brig profile diff A B` compares two.
//
// # Where profiles come from
//
// A profile is a TOML file called NAME.toml. For a name, brig looks in
// this order and takes the first it finds:
//
//  1. the file given with --profile-file, if its base name (without
//     extension) is NAME; `--profile-file ./my.toml` alone selects it;
//  2. $XDG_CONFIG_HOME/brig/profiles/NAME.toml, or
//     ~/.config/brig/profiles/NAME.toml when XDG_CONFIG_HOME is unset;
//  3. /etc/brig/profiles/NAME.toml;
//  4. the builtin profiles.
//
// So a file of your own called strict.toml replaces the builtin strict
// everywhere, including in other profiles' extends. Names are made of
// letters, digits, '.', '_' and '-'.
//
// # Extends and precedence
//
// A profile builds on another with extends:
//
//	extends = "default"
//	description = "default, with more memory"
//
//	[limits]
//	memory = "8G"
//
// Every key the file sets replaces the parent's value; every key it does
// not set keeps the parent's. A profile without extends builds on the
// builtin strict, so anything it leaves out is as strict as possible. In
// full, from weakest to strongest:
//
//	builtin strict < extends chain (grandparent < parent) < the profile < command-line flags
//
// Details:
//
//   - A set key wins even when it is false, 0 or empty: root_readonly =
//     false in a child turns off the parent's read-only root, memory = 0
//     lifts the parent's memory limit, capabilities = [] drops them all.
//   - Lists replace the parent's list as a whole; they are never appended
//     to. To add one capability, repeat the parent's list with it added
//     (`brig profile show PARENT` prints it).
//   - The exception is [environment.set]: its variables are merged one by
//     one, the child's value winning for a variable both set. A child
//     cannot unset a parent's variable, only change its value.
//   - description describes one file and is not inherited.
//   - extends naming the file's own name means the next profile of that
//     name in the lookup order: ~/.config/brig/profiles/strict.toml with
//     extends = "strict" builds on /etc/brig/profiles/strict.toml if there
//     is one, else on the builtin strict.
//   - Profiles that extend each other in a loop are an error.
//
// # Strictness
//
// brig refuses a profile with anything it does not understand, rather than
// run with less protection than you asked for. Errors name the file, the
// line and the key, and suggest a fix:
//
//	~/.config/brig/profiles/mine.toml:12: limits.pidz: unknown key (did you mean "pids"?)
//	~/.config/brig/profiles/mine.toml:4: limits.memory: "12XB" is not a size (write bytes as 512, or with a unit: ...)
//	profile "strcit" not found (did you mean "strict"? see 'brig profile list')
//
// # Units
//
// Sizes are a number of bytes (512) or a string with a unit: "64K",
// "512M", "1.5G", "2GiB", "512MB". K, M, G, T and P are powers of 1024
// however they are written ("512MB" is 512 MiB, as in docker); fractions
// are rounded down to whole bytes. Durations are Go durations: "30s",
// "5m", "1h30m". For every limit, 0 means no limit.
//
// # The file format, key by key
//
// Top level:
//
//   - description (string): one line shown by `brig profile list`.
//   - extends (string): the profile this one builds on (see above).
//
// [network]
//
//   - mode: "none" gives the program its own network with only a loopback
//     interface: it cannot reach anything. "user" adds outbound access
//     through a user-mode network stack (pasta or slirp4netns); the program
//     still has its own interfaces and cannot see the host's. "host" shares
//     your computer's network, with no isolation at all.
//
// [filesystem]
//
//   - root_readonly (bool): make / read-only.
//   - workdir: how the directory brig was started in appears inside: "rw"
//     (read-write), "ro" (read-only) or "none" (not visible).
//   - tmp_size (size): size of the private in-memory /tmp, emptied at exit;
//     0 leaves the kernel's default (half of memory).
//   - tmp_inodes (integer): how many files /tmp may hold; 0 for the
//     kernel's default.
//   - binds (list of tables): host paths made visible inside, each
//     {source = "/host/path", target = "/inside/path", readonly = true}.
//     Paths must be absolute. Written inline as above or as
//     [[filesystem.binds]] tables.
//   - tmpfs (list of tables): extra in-memory filesystems, each
//     {target = "/path", size = "256M"}.
//   - masked_paths (list of paths): hidden: they read as empty. Used for
//     kernel files that reveal or expose the host (/proc/kcore, /proc/keys).
//   - readonly_paths (list of paths): made read-only, such as /proc/sys.
//
// [identity]
//
//   - user: "root" runs the program as root inside the sandbox, which is
//     your own unprivileged user outside it (a user namespace); "self" runs
//     it as your own user and group id.
//
// [security]
//
//   - capabilities (list): the special privileges of root that the program
//     keeps, written like "CAP_CHOWN" (see capabilities(7)). Inside the
//     sandbox's user namespace they act only on the sandbox's own files
//     and processes. [] keeps none.
//   - no_new_privileges (bool): setuid and file-capability programs cannot
//     raise privileges.
//   - seccomp: the base system call filter. "docker-default" is Docker's
//     default list, which blocks rarely needed, risky calls; "unconfined"
//     filters nothing (seccomp_deny still applies).
//   - seccomp_deny (list): system calls refused on top of the base (they
//     fail with EPERM), such as "ptrace", "keyctl", "bpf", "io_uring_setup",
//     "mount". Any well-formed name is accepted, so a list can name calls
//     that only newer kernels have.
//   - seccomp_deny_ioctls (list): terminal requests refused: "TIOCSTI" and
//     "TIOCLINUX", which let a program type into the terminal it shares
//     with you (the text runs in your shell once the sandbox exits).
//   - deny_namespaces (bool): refuse to create namespaces (unshare, setns,
//     clone with namespace flags), so the program cannot start containers
//     or sandboxes of its own.
//
// [limits]
//
//   - memory (size): memory limit; going over it kills the program.
//   - swap (size): how much may be swapped out on top of memory (needs
//     memory); 0 means no swap.
//   - pids (integer): how many processes and threads may exist at once.
//   - cpus (number): CPU time in cores, like docker's --cpus: 1.5 is one and
//     a half cores' worth. Between 0.01 and 1024.
//   - cpu_weight, io_weight (integer, 1 to 10000): relative share of CPU or
//     disk when they are busy; 100 is the usual default.
//   - cpuset (string): the CPUs the program may run on: "0-1", "0,2".
//   - nofile (integer): how many files may be open at once.
//   - timeout (duration): stop the program after this long.
//
// [environment]
//
// The program starts with a clean environment: TERM, LANG, LC_ALL and TZ
// come from yours when set; PATH is the standard one and HOME is the
// private /tmp.
//
//   - pass (list): names of further variables to pass in when you have
//     them set, like "http_proxy".
//   - set (table): variables to set, as [environment.set] NAME = "value".
//
// # Using the package
//
// [Loader.Load] finds and resolves a profile; [Loader.List] lists them.
// [Explain], [Show] and [Diff] return text for `brig profile` to print.
// Errors about a profile are [*Error] values that unwrap to
// [ErrUnknownKey], [ErrBadValue], [ErrNotFound] or [ErrCycle].
// [ParseSize], [ParseDuration] and [ParseCPUs] read command-line values
// with the same rules as profiles.
package profiles
