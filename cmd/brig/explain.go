package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/brigsandbox/brig/profiles"
	"github.com/brigsandbox/brig/sandbox"
	"github.com/brigsandbox/brig/spec"
)

// explainWidth bounds every line of `brig run --explain`, so that the
// lines still fit 80 columns behind the "brig: " of stderr.
const explainWidth = 74

// showExplain prints what the run gets: to stdout as the command's data
// with --dry-run, else to stderr as brig's own lines, since stdout then
// belongs to the workload.
func showExplain(pl *plan, host sandbox.CgroupHost, dryRun bool) {
	out := stderr
	if dryRun {
		out = stdout
	}
	pal := paletteFor(out)
	for _, line := range explainPlan(pl, host) {
		line = strings.Replace(line, notEnforced, pal.red(notEnforced), 1)
		if dryRun {
			fmt.Fprintln(stdout, line)
		} else {
			say("%s", line)
		}
	}
}

// notEnforced marks a limit this host cannot enforce.
const notEnforced = "NOT enforceable here"

// explainPlan says what a run of pl gets, read from the spec that will
// run: namespaces, ids, mounts, privileges, seccomp and limits, and
// whether this host will enforce each limit. Every line fits
// explainWidth columns.
func explainPlan(pl *plan, host sandbox.CgroupHost) []string {
	s := pl.spec
	lines := []string{
		fmt.Sprintf("what sandbox %s gets (profile %s):", pl.id, pl.profile.Name),
		clip("command: "+commandLine(workloadArgs(s)), explainWidth),
		clip("working directory inside: "+s.Process.Cwd, explainWidth),
	}
	lines = append(lines, explainNamespaces(s)...)
	lines = append(lines, explainNetwork(s, pl.profile))
	lines = append(lines, explainIDs(s, pl.mapping, outerIDMaps())...)
	lines = append(lines, explainMounts(s)...)
	lines = append(lines, explainPrivileges(s)...)
	lines = append(lines, explainSeccomp(s, pl.profile)...)
	return append(lines, explainLimits(s, pl.timeout, host)...)
}

// workloadArgs strips brig's init from the spec's argv.
func workloadArgs(s *specs.Spec) []string {
	args := s.Process.Args
	if len(args) >= 2 && args[0] == spec.InitPath && args[1] == spec.InitArg {
		return args[2:]
	}
	return args
}

// namespaceNames are the runtime-spec namespace types, as people say them.
var namespaceNames = []struct {
	typ  specs.LinuxNamespaceType
	name string
}{
	{specs.UserNamespace, "user"}, {specs.MountNamespace, "mount"}, {specs.PIDNamespace, "pid"},
	{specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"}, {specs.NetworkNamespace, "network"},
	{specs.CgroupNamespace, "cgroup"}, {specs.TimeNamespace, "time"},
}

func explainNamespaces(s *specs.Spec) []string {
	var own, shared []string
	for _, n := range namespaceNames {
		if hasNamespace(s, n.typ) {
			own = append(own, n.name)
		} else if n.typ != specs.TimeNamespace {
			shared = append(shared, n.name)
		}
	}
	lines := wrapWords("namespaces: own ", own, explainWidth)
	if len(shared) > 0 {
		lines = append(lines, wrapWords("shared with the host: ", shared, explainWidth)...)
	}
	return lines
}

func hasNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	return slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
		return n.Type == typ && n.Path == ""
	})
}

func explainNetwork(s *specs.Spec, p *profiles.Profile) string {
	if !hasNamespace(s, specs.NetworkNamespace) {
		return "network: the host's own: can connect wherever you can"
	}
	if p.Network.Mode == profiles.NetUser {
		return "network: own interfaces, outbound through a user-mode stack"
	}
	return "network: none: only a private loopback; nothing reaches the host"
}

// explainIDs shows the id mappings: who root inside is outside. Under
// brig's outer user namespace (rootless --user self) the spec's "outside"
// is that namespace, so each range is carried on through its maps to the
// host's ids: "uid 0 outside" there is the caller.
func explainIDs(s *specs.Spec, mapping string, outer [2][]idMap) []string {
	u := s.Process.User
	lines := []string{fmt.Sprintf("identity inside: uid %d, gid %d (id mapping: %s)", u.UID, u.GID, mapping)}
	for i, kind := range []struct {
		name string
		maps []specs.LinuxIDMapping
	}{{"uid", s.Linux.UIDMappings}, {"gid", s.Linux.GIDMappings}} {
		for _, m := range throughOuter(kind.maps, outer[i]) {
			lines = append(lines, "  "+idRange(kind.name, m))
		}
	}
	return lines
}

// outerIDMaps reads the uid and gid maps of brig's outer user namespace,
// when this brig runs in one; nil maps otherwise.
func outerIDMaps() [2][]idMap {
	var maps [2][]idMap
	if _, ok := sandbox.OuterCaller(); !ok {
		return maps
	}
	for i, f := range []string{"/proc/self/uid_map", "/proc/self/gid_map"} {
		if b, err := os.ReadFile(f); err == nil {
			maps[i] = parseIDMaps(strings.Split(string(b), "\n"))
		}
	}
	return maps
}

// throughOuter carries mappings whose host side is the outer namespace on
// to the host, splitting a range where the outer maps split it. Without
// outer maps the mappings are the host's already.
func throughOuter(maps []specs.LinuxIDMapping, outer []idMap) []specs.LinuxIDMapping {
	if len(outer) == 0 {
		return maps
	}
	var out []specs.LinuxIDMapping
	for _, m := range maps {
		for _, o := range outer {
			lo := max(int64(m.HostID), o.inside)
			hi := min(int64(m.HostID)+int64(m.Size), o.inside+o.count)
			if lo >= hi {
				continue
			}
			out = append(out, specs.LinuxIDMapping{
				ContainerID: m.ContainerID + uint32(lo-int64(m.HostID)),
				HostID:      uint32(o.outside + lo - o.inside),
				Size:        uint32(hi - lo),
			})
		}
	}
	slices.SortFunc(out, func(a, b specs.LinuxIDMapping) int { return int(a.ContainerID) - int(b.ContainerID) })
	return out
}

// idRange writes one mapping: "uid 0 inside is uid 1001 outside".
func idRange(kind string, m specs.LinuxIDMapping) string {
	if m.Size == 1 {
		return fmt.Sprintf("%s %d inside is %s %d outside", kind, m.ContainerID, kind, m.HostID)
	}
	return fmt.Sprintf("%ss %d-%d inside are %ss %d-%d outside", kind, m.ContainerID, m.ContainerID+m.Size-1,
		kind, m.HostID, m.HostID+m.Size-1)
}

// explainMounts lists every mount as "ro|rw  SOURCE → TARGET", after the
// root, then the paths hidden or made read-only on top.
func explainMounts(s *specs.Spec) []string {
	rootMode := "rw"
	if s.Root.Readonly {
		rootMode = "ro"
	}
	lines := []string{"mounts:"}
	lines = append(lines, mountLine(rootMode, s.Root.Path, "/", "")...)
	for _, m := range s.Mounts {
		src, note := m.Source, mountNote(m)
		if m.Type != "bind" && m.Type != "" {
			src = m.Type
		}
		lines = append(lines, mountLine(mountMode(m), src, m.Destination, note)...)
	}
	if s.Linux != nil {
		lines = append(lines, wrapWords("hidden (read as empty): ", s.Linux.MaskedPaths, explainWidth)...)
		lines = append(lines, wrapWords("made read-only: ", s.Linux.ReadonlyPaths, explainWidth)...)
	}
	return lines
}

// mountLine puts a mount on one line, or two when the paths are long.
func mountLine(mode, src, dst, note string) []string {
	if note != "" {
		note = "  (" + note + ")"
	}
	line := fmt.Sprintf("  %s  %s → %s%s", mode, src, dst, note)
	if len([]rune(line)) <= explainWidth {
		return []string{line}
	}
	return []string{
		clip(fmt.Sprintf("  %s  %s", mode, src), explainWidth),
		clip(fmt.Sprintf("        → %s%s", dst, note), explainWidth),
	}
}

func mountMode(m specs.Mount) string {
	if slices.Contains(m.Options, "ro") || slices.Contains(m.Options, "rro") {
		return "ro"
	}
	return "rw"
}

// mountNote says what a mount is for, where that is not plain.
func mountNote(m specs.Mount) string {
	if m.Destination == spec.InitPath {
		return "brig's init"
	}
	var notes []string
	for _, o := range m.Options {
		if v, ok := strings.CutPrefix(o, "size="); ok && m.Type == "tmpfs" {
			notes = append(notes, "at most "+tmpfsSize(v))
		}
		if v, ok := strings.CutPrefix(o, "nr_inodes="); ok && v != "0" {
			notes = append(notes, v+" files")
		}
	}
	return strings.Join(notes, ", ")
}

// tmpfsSize reads tmpfs's size= option: bytes, or with a k/m/g suffix.
func tmpfsSize(v string) string {
	mult := int64(1)
	switch strings.ToLower(v[len(v)-1:]) {
	case "k":
		mult = 1 << 10
	case "m":
		mult = 1 << 20
	case "g":
		mult = 1 << 30
	}
	n, err := strconv.ParseInt(strings.TrimRight(v, "kKmMgG"), 10, 64)
	if err != nil {
		return v
	}
	return formatBytes(n * mult)
}

func explainPrivileges(s *specs.Spec) []string {
	var caps []string
	if c := s.Process.Capabilities; c != nil {
		for _, name := range c.Bounding {
			caps = append(caps, strings.TrimPrefix(name, "CAP_"))
		}
	}
	lines := []string{"capabilities: none (no privileges, even as root inside)"}
	if len(caps) > 0 {
		lines = wrapWords(fmt.Sprintf("capabilities (%d, inside its user namespace only): ", len(caps)), caps, explainWidth)
	}
	if s.Process.NoNewPrivileges {
		return append(lines, "no_new_privs: yes: setuid programs cannot raise privileges")
	}
	return append(lines, "no_new_privs: NO: setuid programs can raise privileges")
}

// explainSeccomp summarises the filter in the spec and the profile's
// additions to its base.
func explainSeccomp(s *specs.Spec, p *profiles.Profile) []string {
	sc := s.Linux.Seccomp
	if sc == nil {
		return []string{"seccomp: none: every system call is allowed"}
	}
	allowed := 0
	for _, r := range sc.Syscalls {
		if r.Action == specs.ActAllow && len(r.Args) == 0 {
			allowed += len(r.Names)
		}
	}
	lines := []string{fmt.Sprintf("seccomp: %s base, %d system calls allowed outright,", p.Security.Seccomp, allowed),
		fmt.Sprintf("  some by argument; anything else fails (%s)", strings.TrimPrefix(string(sc.DefaultAction), "SCMP_ACT_"))}
	lines = append(lines, wrapWords("  also denied: ", p.Security.SeccompDeny, explainWidth)...)
	lines = append(lines, wrapWords("  ioctls denied: ", p.Security.SeccompDenyIoctls, explainWidth)...)
	if p.Security.DenyNamespaces {
		lines = append(lines, "  creating namespaces: denied")
	}
	return lines
}

// explainLimits lists the limits in the spec and, for the cgroup ones,
// whether this host will enforce them, with why not once at the end.
func explainLimits(s *specs.Spec, timeout time.Duration, host sandbox.CgroupHost) []string {
	lines := []string{fmt.Sprintf("limits (cgroups: %s):", cgroupWhere(host))}
	var missing []string
	for _, l := range cgroupLimits(s.Linux.Resources) {
		head := fmt.Sprintf("  %-8s %-22s ", l.name, l.value)
		switch {
		case strings.HasPrefix(l.value, "no limit"):
			lines = append(lines, strings.TrimRight(head, " "))
		case host.Has(l.controller):
			lines = append(lines, head+"enforced")
		default:
			lines = append(lines, head+notEnforced)
			missing = append(missing, l.controller)
		}
	}
	for _, r := range s.Process.Rlimits {
		name := strings.ToLower(strings.TrimPrefix(r.Type, "RLIMIT_"))
		lines = append(lines, fmt.Sprintf("  %-8s %-22s enforced (rlimit)", name, strconv.FormatUint(r.Hard, 10)))
	}
	if timeout > 0 {
		lines = append(lines, fmt.Sprintf("  %-8s %-22s enforced (brig kills the sandbox)", "timeout", timeout))
	} else {
		lines = append(lines, "  timeout  none")
	}
	if len(missing) > 0 {
		lines = append(lines, wrapWords("  why not: ", strings.Fields(unenforcedWhy(host, missing)), explainWidth)...)
	}
	return lines
}

// unenforcedWhy says why limits cannot be enforced and what brig run
// does about it.
func unenforcedWhy(h sandbox.CgroupHost, missing []string) string {
	why := h.Problem
	if why == "" {
		why = fmt.Sprintf("the %s controller is not delegated to you", strings.Join(missing, " and "))
	}
	fix := h.Fix
	if fix == "" {
		fix = "see 'brig doctor'"
	}
	why, fix = strings.TrimRight(why, ". "), strings.TrimRight(fix, ". ")
	return why + ". Fix: " + fix + ". Until then brig run refuses these limits, or runs without them with --cgroups=best-effort."
}

func cgroupWhere(h sandbox.CgroupHost) string {
	if h.Driver == sandbox.DriverNone {
		return "none usable here"
	}
	return fmt.Sprintf("v%d, %s, %s", h.Version, h.Kind, h.Driver)
}

// cgroupLimit is one limit of the spec and the controller enforcing it.
type cgroupLimit struct {
	name, value, controller string
}

func cgroupLimits(r *specs.LinuxResources) []cgroupLimit {
	mem, pids, cpu := "no limit", "no limit", "no limit"
	var out []cgroupLimit
	if r != nil && r.Memory != nil && r.Memory.Limit != nil {
		mem = formatBytes(*r.Memory.Limit)
		if r.Memory.Swap != nil && *r.Memory.Swap == *r.Memory.Limit {
			mem += ", no swap"
		}
	}
	if r != nil && r.Pids != nil && r.Pids.Limit != nil {
		pids = strconv.FormatInt(*r.Pids.Limit, 10) + " processes"
	}
	if r != nil && r.CPU != nil && r.CPU.Quota != nil && r.CPU.Period != nil && *r.CPU.Period > 0 {
		n := float64(*r.CPU.Quota) / float64(*r.CPU.Period)
		cpu = strconv.FormatFloat(n, 'f', -1, 64) + " CPU"
		if n != 1 {
			cpu += "s"
		}
	}
	out = append(out, cgroupLimit{"memory", mem, "memory"}, cgroupLimit{"pids", pids, "pids"}, cgroupLimit{"cpu", cpu, "cpu"})
	if r != nil && r.CPU != nil && r.CPU.Shares != nil {
		out = append(out, cgroupLimit{"cpu share", strconv.FormatUint(*r.CPU.Shares, 10) + " shares", "cpu"})
	}
	if r != nil && r.CPU != nil && r.CPU.Cpus != "" {
		out = append(out, cgroupLimit{"cpuset", "CPUs " + r.CPU.Cpus, "cpuset"})
	}
	if r != nil && r.BlockIO != nil && r.BlockIO.Weight != nil {
		out = append(out, cgroupLimit{"io", "weight " + strconv.Itoa(int(*r.BlockIO.Weight)), "io"})
	}
	return out
}

// wrapWords writes head and the words, wrapped to width columns with
// continuation lines indented under the first word. No words: no lines.
func wrapWords(head string, words []string, width int) []string {
	if len(words) == 0 {
		return nil
	}
	indent := strings.Repeat(" ", min(len([]rune(head)), 8))
	var lines []string
	line := head
	for i, w := range words {
		switch {
		case i == 0:
			line += w
		case len([]rune(line))+1+len([]rune(w)) > width:
			lines = append(lines, line)
			line = indent + w
		default:
			line += " " + w
		}
	}
	return append(lines, line)
}
