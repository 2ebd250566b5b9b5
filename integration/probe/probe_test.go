package main

// These tests cover the probe's pure helpers only. They never run a check:
// checks change state and belong inside a sandbox (see
// integration/security_test.go).

import (
	"errors"
	"io"
	"net"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func TestIsIdentityUIDMap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"         0          0 4294967295\n", true},
		{"0 0 4294967295", true},
		{"         0       1000          1\n", false},
		{"         0          0          1\n", false}, // unshare -Ur as root
		{"0 1000 1\n1 100000 65536\n", false},
		{"", false}, // unmapped namespace
	} {
		if got := isIdentityUIDMap(tc.in); got != tc.want {
			t.Errorf("isIdentityUIDMap(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseStatusAndCaps(t *testing.T) {
	st := parseStatus("Name:\tprobe\nCapEff:\t0000000000200001\nNoNewPrivs:\t1\nSeccomp:\t2\n")
	if st["CapEff"] != "0000000000200001" || st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" {
		t.Fatalf("parseStatus = %v", st)
	}
	if got := capList(0x200001); got != "CHOWN,SYS_ADMIN" {
		t.Errorf("capList = %q", got)
	}
	if got := capList(1 << 50); got != "cap50" {
		t.Errorf("capList(unknown bit) = %q", got)
	}
}

const sampleMountinfo = `22 1 8:1 / / ro,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec - proc proc rw
24 22 0:22 / /sys ro,nosuid,nodev,noexec - sysfs sysfs ro
25 24 0:23 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
26 25 0:24 / /sys/fs/cgroup/memory ro,nosuid master:3 - cgroup cgroup rw,memory
27 22 0:25 / /home/a\040b rw,nosuid - tmpfs my\040src rw
28 22 0:26 / /usr/bin rw,nosuid - tmpfs tmpfs rw
`

func TestParseMountinfo(t *testing.T) {
	ms := parseMountinfo(sampleMountinfo)
	if len(ms) != 7 {
		t.Fatalf("got %d entries, want 7", len(ms))
	}
	if m := ms[5]; m.mountPoint != "/home/a b" || m.source != "my src" || m.fstype != "tmpfs" {
		t.Errorf("escaped entry = %+v", m)
	}
	if m := ms[4]; m.fstype != "cgroup" || !reflect.DeepEqual(m.superOpts, []string{"rw", "memory"}) || !m.hasOpt("ro") {
		t.Errorf("cgroup entry = %+v", m)
	}
	for path, want := range map[string]string{
		"/usr/bin/su":            "/usr/bin",
		"/usr/binx":              "/",
		"/sys/fs/cgroup/memory/": "/sys/fs/cgroup/memory",
		"/sys/kernel":            "/sys",
	} {
		m, ok := mountOf(ms, strings.TrimSuffix(path, "/"))
		if !ok || m.mountPoint != want {
			t.Errorf("mountOf(%q) = %q, want %q", path, m.mountPoint, want)
		}
	}
}

func TestStatStartTime(t *testing.T) {
	// The command name holds spaces and a ')' to trip naive parsers.
	line := "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1234 56"
	got, err := statStartTime(line)
	if err != nil || got != 987654 {
		t.Fatalf("statStartTime = %d, %v; want 987654", got, err)
	}
	if _, err := statStartTime("42 (x) S 1"); err == nil {
		t.Error("short line: want an error")
	}
}

func TestCgroupPaths(t *testing.T) {
	got := cgroupPaths("12:cpu,cpuacct:/a\n9:name=systemd:/\n0::/user.slice\n")
	want := map[string]string{"cpu,cpuacct": "/a", "name=systemd": "/", "": "/user.slice"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cgroupPaths = %v, want %v", got, want)
	}
	m := mountEntry{fstype: "cgroup", superOpts: []string{"rw", "cpu", "cpuacct"}}
	if p := ownCgroup(m, got); p != "/a" {
		t.Errorf("ownCgroup = %q, want /a", p)
	}
	if p := ownCgroup(mountEntry{fstype: "cgroup2"}, got); p != "/user.slice" {
		t.Errorf("ownCgroup(v2) = %q", p)
	}
}

func TestLineRoundTrip(t *testing.T) {
	r := blocked("open /x: EPERM\nand more")
	l := r.line("write_x")
	if l != "write_x blocked open /x: EPERM and more" {
		t.Fatalf("line = %q", l)
	}
	name, back, ok := parseLine(l)
	if !ok || name != "write_x" || back.status != statusBlocked || back.detail != "open /x: EPERM and more" {
		t.Errorf("parseLine(%q) = %q, %+v, %v", l, name, back, ok)
	}
	if l := (result{status: statusSkip}).line("x"); l != "x skip -" {
		t.Errorf("empty detail line = %q", l)
	}
	for _, bad := range []string{"", "x", "x maybe y", "# memory_bomb: 16 MiB touched"} {
		if _, _, ok := parseLine(bad); ok {
			t.Errorf("parseLine(%q) accepted", bad)
		}
	}
}

func TestCombine(t *testing.T) {
	b, a, s := blocked("EPERM"), allowed("ok"), skipped("?")
	if r := combine([]attempt{{"x", b}, {"y", a}}); r.status != statusAllowed || r.detail != "y: ok" {
		t.Errorf("allowed wins: %+v", r)
	}
	if r := combine([]attempt{{"x", b}, {"y", s}}); r.status != statusSkip {
		t.Errorf("skip beats blocked: %+v", r)
	}
	if r := combine([]attempt{{"x", b}, {"y", b}}); r.status != statusBlocked || r.detail != "x: EPERM; y: EPERM" {
		t.Errorf("all blocked: %+v", r)
	}
}

func TestCatalogue(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	seen := map[string]bool{}
	for _, c := range catalogue() {
		if !name.MatchString(c.name) || seen[c.name] {
			t.Errorf("bad or duplicate name %q", c.name)
		}
		seen[c.name] = true
		if c.desc == "" || strings.ContainsAny(c.desc, "\t\n") {
			t.Errorf("%s: description %q must be one non-empty line without tabs", c.name, c.desc)
		}
		if c.run == nil {
			t.Errorf("%s: no run function", c.name)
		}
		if c.resource && (!c.inProcess || !strings.HasPrefix(c.desc, "[resource] ")) {
			t.Errorf("%s: resource checks run in process and say so in their description", c.name)
		}
	}
	for _, want := range []string{"cap_effective", "write_sysrq", "userns_nested", "tiocsti", "extra_fds", "env_leak", "host_abstract_unix", "fork_bomb", "memory_bomb", "tmpfs_fill"} {
		if !seen[want] {
			t.Errorf("catalogue lacks %s", want)
		}
	}
}

func TestSelectChecks(t *testing.T) {
	def, err := selectChecks(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range def {
		if c.resource {
			t.Errorf("default set includes resource check %s", c.name)
		}
	}
	got, err := selectChecks([]string{"fork_bomb", "bpf"})
	if err != nil || len(got) != 2 || got[0].name != "fork_bomb" || got[1].name != "bpf" {
		t.Errorf("selectChecks(fork_bomb, bpf) = %v, %v", got, err)
	}
	if _, err := selectChecks([]string{"nope"}); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown check: err = %v", err)
	}
}

func TestFlagArgsRoundTrip(t *testing.T) {
	in := &config{home: "/home/u/marker", hostPID: 4242, secret: "S", tcp: "127.0.0.1:80", abstract: "sock"}
	args := append(in.flagArgs(), "-child", "check", "bpf")
	out, rest, list, err := parseArgs(args, io.Discard)
	if err != nil || list {
		t.Fatalf("parseArgs: %v", err)
	}
	if out.home != in.home || out.hostPID != in.hostPID || out.secret != in.secret || out.tcp != in.tcp || out.abstract != in.abstract || out.child != "check" {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
	if !reflect.DeepEqual(rest, []string{"bpf"}) {
		t.Errorf("rest = %v", rest)
	}
	if _, _, _, err := parseArgs([]string{"-hostpid", "-3"}, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("negative pid: err = %v", err)
	}
}

func TestDefaultGateway(t *testing.T) {
	route := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n" +
		"eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n" +
		"eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n"
	gw, ok := defaultGateway(route)
	if !ok || !gw.Equal(net.IPv4(192, 168, 0, 1)) {
		t.Errorf("defaultGateway = %v, %v", gw, ok)
	}
	if _, ok := defaultGateway("Iface\tDestination\tGateway\n"); ok {
		t.Error("no routes: want no gateway")
	}
}

func TestParseNetDev(t *testing.T) {
	dev := "Inter-|   Receive\n face |bytes packets\n    lo: 0 0\n  eth0: 1 2\n"
	if got := parseNetDev(dev); !reflect.DeepEqual(got, []string{"lo", "eth0"}) {
		t.Errorf("parseNetDev = %v", got)
	}
}

func TestIDMaps(t *testing.T) {
	r := parseIDMap("0 1000 1\n1 100000 65536\n")
	if !inRanges(0, r) || !inRanges(65536, r) || inRanges(65537, r) {
		t.Errorf("inRanges wrong for %v", r)
	}
	// An unmapped root owner shows as 65534, outside a one-id map.
	if inRanges(65534, parseIDMap("0 1000 1")) {
		t.Error("overflow id counted as mapped")
	}
}

func TestSuidHarmless(t *testing.T) {
	f := suidFile{mode: syscall.S_ISUID | 0o755, uid: 0, gid: 0}
	if f.harmlessFor(1000, 1000) {
		t.Error("setuid root is not harmless for uid 1000")
	}
	if !f.harmlessFor(0, 1000) {
		t.Error("setuid root is harmless for root")
	}
	g := suidFile{mode: syscall.S_ISGID | 0o755, uid: 0, gid: 5}
	if g.harmlessFor(0, 1000) || !g.harmlessFor(1000, 5) {
		t.Error("setgid judged by the group")
	}
}

func TestErrnoHelpers(t *testing.T) {
	err := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	if got := errnoName(err); got != "ECONNREFUSED" {
		t.Errorf("errnoName = %q", got)
	}
	if got := errnoName(errors.New("plain")); got != "plain" {
		t.Errorf("errnoName(plain) = %q", got)
	}
	tally := errnoTally{}
	tally.add("mkdir", syscall.EROFS)
	tally.add("mkdir", syscall.EROFS)
	tally.add("open", syscall.EACCES)
	if got := tally.String(); got != "mkdir EROFS×2, open EACCES×1" {
		t.Errorf("tally = %q", got)
	}
	if !isErrno(err, syscall.EPERM, syscall.ECONNREFUSED) || isErrno(err, syscall.EPERM) {
		t.Error("isErrno")
	}
}
