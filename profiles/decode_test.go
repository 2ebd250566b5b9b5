package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes a profile file and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDecodeErrors loads one bad file each and checks the whole one-line
// message (after the file name) and the sentinel.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       string // the message after "PATH:"
		sentinel   error
	}{
		{"unknown key with suggestion", "[limits]\nmemory = \"1G\"\npidz = 5\n",
			`3: limits.pidz: unknown key (did you mean "pids"?)`, ErrUnknownKey},
		{"unknown key without suggestion", "[limits]\nbananas = 5\n",
			`2: limits.bananas: unknown key ([limits] has memory, swap, pids, cpus, cpu_weight, io_weight, cpuset, nofile, timeout)`, ErrUnknownKey},
		{"unknown section", "[limit]\npids = 5\n",
			`1: limit: unknown key (did you mean "limits"?)`, ErrUnknownKey},
		{"unknown top-level key", "descripton = \"x\"\n",
			`1: descripton: unknown key (did you mean "description"?)`, ErrUnknownKey},
		{"dotted unknown key", "limits.pidz = 5\n",
			`1: limits.pidz: unknown key (did you mean "pids"?)`, ErrUnknownKey},
		{"unknown key in array table", "[filesystem]\n[[filesystem.binds]]\nsource = \"/a\"\ntarget = \"/b\"\n[[filesystem.binds]]\nsource = \"/c\"\ntarget = \"/d\"\nread_only = true\n",
			`8: filesystem.binds[1].read_only: unknown key (did you mean "readonly"?)`, ErrUnknownKey},
		{"unknown key in inline table", "[filesystem]\nbinds = [\n  {source = \"/a\", target = \"/b\"},\n  {source = \"/c\", targt = \"/d\"},\n]\n",
			`4: filesystem.binds[1].targt: unknown key (did you mean "target"?)`, ErrUnknownKey},
		{"wrong type", "[limits]\npids = \"many\"\n",
			`2: limits.pids: must be a whole number, not the string "many"`, ErrBadValue},
		{"quoted number", "[limits]\npids = \"256\"\n",
			`2: limits.pids: must be a whole number, not the string "256" (write the number without quotes)`, ErrBadValue},
		{"quoted boolean", "[filesystem]\nroot_readonly = \"false\"\n",
			`2: filesystem.root_readonly: must be true or false, not the string "false" (write false without quotes)`, ErrBadValue},
		{"string for list", "[security]\ncapabilities = \"CAP_KILL\"\n",
			`2: security.capabilities: must be a list of strings, not the string "CAP_KILL" (write a list: ["CAP_KILL"])`, ErrBadValue},
		{"section as value", "network = \"none\"\n",
			`1: network: must be a table, not the string "none" (this is a section: start it with [network] and put its keys below)`, ErrBadValue},
		{"array of sections", "\n[[network]]\nmode = \"none\"\n",
			`2: network: must be a table, not a list (this is a section: start it with [network] and put its keys below)`, ErrBadValue},
		{"bind is not a table", "[filesystem]\nbinds = [1]\n",
			`2: filesystem.binds[0]: must be a table, not the number 1`, ErrBadValue},
		{"float for size", "[limits]\nmemory = 1.5\n",
			`2: limits.memory: must be a size like "512M" or a number of bytes, not the number 1.5`, ErrBadValue},
		{"bad unit", "[limits]\nmemory = \"12XB\"\n",
			`2: limits.memory: "12XB" is not a size (` + sizeForms + `)`, ErrBadValue},
		{"negative size", "[filesystem]\ntmp_size = -5\n",
			`2: filesystem.tmp_size: size -5 is negative (` + sizeForms + `)`, ErrBadValue},
		{"memory without unit", "[limits]\nmemory = 512\n",
			`2: limits.memory: 512 bytes is too little memory to run anything (did you mean "512M"? 0 means no limit)`, ErrBadValue},
		{"bad duration", "[limits]\ntimeout = \"1 hour\"\n",
			`2: limits.timeout: "1 hour" is not a duration (` + durationForms + `)`, ErrBadValue},
		{"negative duration", "[limits]\ntimeout = \"-1s\"\n",
			`2: limits.timeout: duration "-1s" is negative (` + durationForms + `)`, ErrBadValue},
		{"integer duration", "[limits]\ntimeout = 60\n",
			`2: limits.timeout: must be a duration like "30s" or "1h", not the number 60`, ErrBadValue},
		{"bad enum with suggestion", "[network]\nmode = \"nnoe\"\n",
			`2: network.mode: "nnoe" is not one of none, user, host (did you mean "none"?)`, ErrBadValue},
		{"bad enum without suggestion", "[filesystem]\nworkdir = \"readwrite\"\n",
			`2: filesystem.workdir: "readwrite" is not one of rw, ro, none (use "rw", "ro" or "none")`, ErrBadValue},
		{"bad user", "[identity]\nuser = \"nobody\"\n",
			`2: identity.user: "nobody" is not one of root, self (use "root" or "self")`, ErrBadValue},
		{"bad seccomp", "[security]\nseccomp = \"docker\"\n",
			`2: security.seccomp: "docker" is not one of docker-default, unconfined (use "docker-default" or "unconfined")`, ErrBadValue},
		{"relative bind source", "[[filesystem.binds]]\nsource = \"src\"\ntarget = \"/src\"\n",
			`2: filesystem.binds[0].source: "src" is not an absolute path (write the full path, starting with /)`, ErrBadValue},
		{"unclean bind target", "[[filesystem.binds]]\nsource = \"/src\"\ntarget = \"/a/../etc\"\n",
			`3: filesystem.binds[0].target: "/a/../etc" is not a clean path (write "/etc")`, ErrBadValue},
		{"bind without target", "[[filesystem.binds]]\nsource = \"/src\"\n",
			`1: filesystem.binds[0]: this bind has no target (a bind needs "source" and "target")`, ErrBadValue},
		{"relative tmpfs", "[filesystem]\ntmpfs = [{target = \"cache\", size = \"1G\"}]\n",
			`2: filesystem.tmpfs[0].target: "cache" is not an absolute path (write the full path, starting with /)`, ErrBadValue},
		{"relative masked path", "[filesystem]\nmasked_paths = [\n  \"/proc/kcore\",\n  \"proc/keys\",\n]\n",
			`2: filesystem.masked_paths[1]: "proc/keys" is not an absolute path (write the full path, starting with /)`, ErrBadValue},
		{"unknown capability", "[security]\ncapabilities = [\"CAP_SYS_ADMN\"]\n",
			`2: security.capabilities[0]: "CAP_SYS_ADMN" is not a known capability (did you mean "CAP_SYS_ADMIN"?)`, ErrBadValue},
		{"lower-case capability", "[security]\ncapabilities = [\"chown\"]\n",
			`2: security.capabilities[0]: "chown" is not written as brig expects (write "CAP_CHOWN")`, ErrBadValue},
		{"bad syscall", "[security]\nseccomp_deny = [\"ptrace()\"]\n",
			`2: security.seccomp_deny[0]: "ptrace()" is not a system call name (write the bare lower-case name, like "ptrace" or "io_uring_setup")`, ErrBadValue},
		{"unknown ioctl", "[security]\nseccomp_deny_ioctls = [\"TIOCST\"]\n",
			`2: security.seccomp_deny_ioctls[0]: "TIOCST" is not an ioctl brig can deny (did you mean "TIOCSTI"?)`, ErrBadValue},
		{"too many cpus", "[limits]\ncpus = 2000\n",
			`2: limits.cpus: 2000 CPUs is more than 1024 (` + cpuForms + `)`, ErrBadValue},
		{"negative cpus", "[limits]\ncpus = -1.5\n",
			`2: limits.cpus: -1.5 CPUs is negative (` + cpuForms + `)`, ErrBadValue},
		{"nan cpus", "[limits]\ncpus = nan\n",
			`2: limits.cpus: must be a number, not the number NaN`, ErrBadValue},
		{"weight out of range", "[limits]\ncpu_weight = 20000\n",
			`2: limits.cpu_weight: 20000 is out of range (use 1 to 10000 (100 is the usual default), or 0 to leave it unset)`, ErrBadValue},
		{"io weight overflow", "[limits]\nio_weight = 70000\n",
			`2: limits.io_weight: 70000 is too large (the largest value is 65535)`, ErrBadValue},
		{"negative pids", "[limits]\npids = -1\n",
			`2: limits.pids: -1 is negative (use 0 for no limit, or a positive number)`, ErrBadValue},
		{"bad cpuset", "[limits]\ncpuset = \"0-1;3\"\n",
			`2: limits.cpuset: "0-1;3" is not a CPU list (list CPU numbers and ranges, like "0", "0-1" or "0,2-3"; "" means any CPU)`, ErrBadValue},
		{"backwards cpuset", "[limits]\ncpuset = \"3-1\"\n",
			`2: limits.cpuset: range "3-1" in "3-1" is backwards or too large (list CPU numbers and ranges, like "0", "0-1" or "0,2-3"; "" means any CPU)`, ErrBadValue},
		{"bad env name", "[environment]\npass = [\"OK\", \"NOT-OK\"]\n",
			`2: environment.pass[1]: "NOT-OK" is not an environment variable name (use letters, digits and _, not starting with a digit)`, ErrBadValue},
		{"bad env set name", "[environment.set]\n\"1X\" = \"y\"\n",
			`1: environment.set: "1X" is not an environment variable name (use letters, digits and _, not starting with a digit)`, ErrBadValue},
		{"env set value type", "[environment.set]\nX = 1\n",
			`2: environment.set.X: must be a string, not the number 1`, ErrBadValue},
		{"multi-line description", "description = \"\"\"\na\nb\"\"\"\n",
			`1: description: must be one line (brig profile list shows it next to the name)`, ErrBadValue},
		{"extends with .toml", "extends = \"strict.toml\"\n",
			`1: extends: "strict.toml" is not a profile name (write "strict", without .toml)`, ErrBadValue},
		{"swap without memory", "[limits]\nmemory = 0\nswap = \"1G\"\n",
			`3: limits.swap: swap is limited but memory is not (set limits.memory too, or swap = 0)`, ErrBadValue},
		{"syntax error", "[limits]\npids = = 5\n",
			`2: not valid TOML: expected value but found '=' instead`, ErrBadValue},
		{"first error in the file wins", "[network]\nmode = \"x\"\n[limits]\npidz = 1\n",
			`2: network.mode: "x" is not one of none, user, host (use "none", "user" or "host")`, ErrBadValue},
		{"extends a missing profile", "extends = \"defualt\"\n",
			`1: extends: profile "defualt" not found (did you mean "default"? see 'brig profile list')`, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "bad.toml", tc.text)
			_, err := Loader{ProfileFile: path}.Load("")
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if got := strings.TrimPrefix(err.Error(), path+":"); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tc.sentinel)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.File != path {
				t.Errorf("error %#v is not an *Error naming %s", err, path)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "strict.toml", Line: 12, Key: "limits.pidz", Msg: "unknown key", Hint: `did you mean "pids"?`},
			`strict.toml:12: limits.pidz: unknown key (did you mean "pids"?)`},
		{Error{File: "a.toml", Msg: "not valid TOML"}, "a.toml: not valid TOML"},
		{Error{Msg: `profile "x" not found`}, `profile "x" not found`},
		{Error{Key: "k", Msg: "m"}, "k: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %s\nwant %s", got, tc.want)
		}
	}
}

func TestKeyLine(t *testing.T) {
	text := `# comment
description = "x"
limits.pids = 5

[filesystem]
workdir = "rw" # trailing
"tmp_size" = "1G"
binds = [
  { source = "/a", target = "/b" },
]

[[filesystem.tmpfs]]
target = "/x"

[[filesystem.tmpfs]]
target = "/y"
`
	for _, tc := range []struct {
		key  keyPath
		want int
	}{
		{keyPath{"description"}, 2},
		{keyPath{"limits", "pids"}, 3},
		{keyPath{"filesystem"}, 5},
		{keyPath{"filesystem", "workdir"}, 6},
		{keyPath{"filesystem", "tmp_size"}, 7},
		{keyPath{"filesystem", "binds"}, 8},
		{keyPath{"filesystem", "binds", "[0]", "target"}, 9},
		{keyPath{"filesystem", "tmpfs", "[0]"}, 12},
		{keyPath{"filesystem", "tmpfs", "[1]", "target"}, 16},
		{keyPath{"security", "seccomp"}, 0},
	} {
		if got := keyLine(text, tc.key); got != tc.want {
			t.Errorf("keyLine(%s) = %d; want %d", tc.key, got, tc.want)
		}
	}
}
