package profiles

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
)

// checkRule applies the value rule for the key whose generic path (list
// positions as "[]") is key. v has already passed the type check, so the
// assertions below cannot fail. It returns nil when the value is fine or
// the key has no rule.
func checkRule(key string, v any) *Error {
	switch key {
	case "description":
		if strings.ContainsAny(v.(string), "\r\n") {
			return badValue("must be one line", "brig profile list shows it next to the name")
		}
	case "extends":
		return checkProfileName(v.(string))
	case "network.mode":
		return oneOf(v.(string), NetNone, NetUser, NetHost)
	case "filesystem.workdir":
		return oneOf(v.(string), WorkdirReadWrite, WorkdirReadOnly, WorkdirHidden)
	case "filesystem.binds[]":
		return requireKeys(v.(map[string]any), "bind", "source", "target")
	case "filesystem.tmpfs[]":
		return requireKeys(v.(map[string]any), "tmpfs", "target")
	case "filesystem.binds[].source", "filesystem.binds[].target", "filesystem.tmpfs[].target",
		"filesystem.masked_paths[]", "filesystem.readonly_paths[]":
		return checkAbsPath(v.(string))
	case "identity.user":
		return oneOf(v.(string), UserRoot, UserSelf)
	case "security.capabilities[]":
		return checkCapability(v.(string))
	case "security.seccomp":
		return oneOf(v.(string), SeccompDockerDefault, SeccompUnconfined)
	case "security.seccomp_deny[]":
		return checkSyscall(v.(string))
	case "security.seccomp_deny_ioctls[]":
		return checkIoctl(v.(string))
	case "limits.memory":
		return checkMemory(v)
	case "limits.cpus":
		return checkCPUs(toFloat(v))
	case "limits.cpu_weight", "limits.io_weight":
		return checkWeight(v.(int64))
	case "limits.cpuset":
		return checkCpuset(v.(string))
	case "environment.pass[]":
		return checkEnvName(v.(string))
	case "environment.set":
		for name := range v.(map[string]any) {
			if err := checkEnvName(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func oneOf(s string, allowed ...string) *Error {
	if slices.Contains(allowed, s) {
		return nil
	}
	hint := didYouMean(s, allowed)
	if hint == "" {
		hint = "use " + quoteList(allowed, "or")
	}
	return badValue(fmt.Sprintf("%q is not one of %s", s, strings.Join(allowed, ", ")), hint)
}

func quoteList(words []string, conj string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}

func requireKeys(m map[string]any, what string, keys ...string) *Error {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return badValue(fmt.Sprintf("this %s has no %s", what, k),
				fmt.Sprintf("a %s needs %s", what, quoteList(keys, "and")))
		}
	}
	return nil
}

// checkAbsPath insists on clean absolute paths: a relative path would be
// resolved against whatever directory brig happens to run in, and ".."
// makes it hard to see which file is really exposed.
func checkAbsPath(p string) *Error {
	switch {
	case !path.IsAbs(p):
		return badValue(fmt.Sprintf("%q is not an absolute path", p), "write the full path, starting with /")
	case path.Clean(p) != p:
		return badValue(fmt.Sprintf("%q is not a clean path", p), fmt.Sprintf("write %q", path.Clean(p)))
	}
	return nil
}

// knownCapabilities lists every capability name the capability library
// knows, "CAP_" prefixed and upper case as profiles write them.
func knownCapabilities() []string {
	caps := capability.ListKnown()
	names := make([]string, len(caps))
	for i, c := range caps {
		names[i] = "CAP_" + strings.ToUpper(c.String())
	}
	return names
}

func checkCapability(name string) *Error {
	known := knownCapabilities()
	if slices.Contains(known, name) {
		return nil
	}
	upper := strings.ToUpper(name)
	if !strings.HasPrefix(upper, "CAP_") {
		upper = "CAP_" + upper
	}
	if slices.Contains(known, upper) {
		return badValue(fmt.Sprintf("%q is not written as brig expects", name), fmt.Sprintf("write %q", upper))
	}
	hint := didYouMean(upper, known)
	if hint == "" {
		hint = "see capabilities(7) for the names"
	}
	return badValue(fmt.Sprintf("%q is not a known capability", name), hint)
}

// syscallRE is the shape of a Linux system call name. Names brig has never
// heard of are allowed (new kernels add calls, and seccomp ignores names
// the running kernel lacks); this only catches typos like "ptrace()".
var syscallRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_]{0,63}$`) })

func checkSyscall(name string) *Error {
	if syscallRE().MatchString(name) {
		return nil
	}
	return badValue(fmt.Sprintf("%q is not a system call name", name),
		"write the bare lower-case name, like \"ptrace\" or \"io_uring_setup\"")
}

// ioctls maps the ioctl requests a profile may deny to their numbers on
// Linux. The numbers are those of x86 and ARM, the architectures brig
// supports (a few others, such as PowerPC and MIPS, number them differently).
var ioctls = map[string]uint64{
	"TIOCSTI":   0x5412, // push a character into a terminal's input: keystroke injection
	"TIOCLINUX": 0x541C, // console tricks, including copy-and-paste injection
}

// IoctlNumber returns the request number of an ioctl that profiles may name
// in security.seccomp_deny_ioctls, and whether the name is known.
func IoctlNumber(name string) (uint64, bool) {
	n, ok := ioctls[name]
	return n, ok
}

func checkIoctl(name string) *Error {
	if _, ok := ioctls[name]; ok {
		return nil
	}
	known := slices.Sorted(maps.Keys(ioctls))
	hint := didYouMean(strings.ToUpper(name), known)
	if hint == "" {
		hint = "brig knows " + quoteList(known, "and")
	}
	return badValue(fmt.Sprintf("%q is not an ioctl brig can deny", name), hint)
}

// minMemory is the smallest memory limit brig accepts: below a few MiB not
// even a shell starts, and such a value is almost always a missing unit.
const minMemory = 4 * MiB

func checkMemory(v any) *Error {
	n, _ := sizeOf(v)
	if n > 0 && Size(n) < minMemory {
		return badValue(fmt.Sprintf("%d bytes is too little memory to run anything", n),
			fmt.Sprintf("did you mean \"%dM\"? 0 means no limit", n))
	}
	return nil
}

func checkWeight(n int64) *Error {
	if n == 0 || (n >= 1 && n <= 10000) {
		return nil
	}
	return badValue(fmt.Sprintf("%d is out of range", n), "use 1 to 10000 (100 is the usual default), or 0 to leave it unset")
}

// cpusetRE: a comma-separated list of CPU numbers and ranges, "0-1,3".
var cpusetRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`) })

func checkCpuset(s string) *Error {
	const hint = `list CPU numbers and ranges, like "0", "0-1" or "0,2-3"; "" means any CPU`
	if s == "" {
		return nil
	}
	if !cpusetRE().MatchString(s) {
		return badValue(fmt.Sprintf("%q is not a CPU list", s), hint)
	}
	for r := range strings.SplitSeq(s, ",") {
		lo, hi, ok := strings.Cut(r, "-")
		if !ok {
			continue
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || a > b {
			return badValue(fmt.Sprintf("range %q in %q is backwards or too large", r, s), hint)
		}
	}
	return nil
}

var envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

func checkEnvName(name string) *Error {
	if envNameRE().MatchString(name) {
		return nil
	}
	return badValue(fmt.Sprintf("%q is not an environment variable name", name),
		"use letters, digits and _, not starting with a digit")
}

// profileNameRE keeps profile names usable as file names and free of path
// tricks: "../x" must not reach outside the profile directories.
var profileNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`) })

func checkProfileName(name string) *Error {
	if profileNameRE().MatchString(name) && !strings.HasSuffix(name, ".toml") {
		return nil
	}
	hint := "use letters, digits, '.', '_' and '-'"
	if strings.HasSuffix(name, ".toml") {
		hint = fmt.Sprintf("write %q, without .toml", strings.TrimSuffix(name, ".toml"))
	}
	return badValue(fmt.Sprintf("%q is not a profile name", name), hint)
}

// crossCheck looks for contradictions between keys of a resolved profile,
// which single-key rules cannot see. It returns the key at fault.
func crossCheck(p *Profile) (keyPath, *Error) {
	if p.Limits.Swap > 0 && p.Limits.Memory == 0 {
		return keyPath{"limits", "swap"}, badValue("swap is limited but memory is not",
			"set limits.memory too, or swap = 0")
	}
	return nil, nil
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int64:
		return float64(n)
	}
	return 0
}

// sizeOf reads a size as the type check accepted it: an integer or a
// string with a unit.
func sizeOf(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		if n < 0 {
			return 0, badValue(fmt.Sprintf("size %d is negative", n), sizeForms)
		}
		return n, nil
	case string:
		return ParseSize(n)
	}
	return 0, badValue("not a size", sizeForms)
}
