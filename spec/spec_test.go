package spec

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name string
		w    Workload
		opts []Option
	}{
		{"no command", Workload{}, nil},
		{"relative cwd", Workload{Args: []string{"true"}, Cwd: "tmp"}, nil},
		{"relative rootfs", Workload{Args: []string{"true"}}, []Option{WithRootfs("rootfs", false)}},
		{"relative bind", Workload{Args: []string{"true"}}, []Option{WithBinds(Bind{Source: "src", Target: "/x"})}},
		{"relative tmpfs", Workload{Args: []string{"true"}}, []Option{WithTmpfs(Tmpfs{Target: "x"})}},
		{"negative tmpfs", Workload{Args: []string{"true"}}, []Option{WithTmpfs(Tmpfs{Target: "/x", SizeBytes: -1})}},
		{"bad network", Workload{Args: []string{"true"}}, []Option{WithNetwork("wifi")}},
		{"bad capability", Workload{Args: []string{"true"}}, []Option{WithCapabilities("chown")}},
		{"bad rlimit", Workload{Args: []string{"true"}}, []Option{WithRlimits(Rlimit{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1})}},
		{"negative limit", Workload{Args: []string{"true"}}, []Option{WithLimits(Limits{Pids: -1})}},
		{"weight too big", Workload{Args: []string{"true"}}, []Option{WithLimits(Limits{CPUWeight: 10001})}},
		{"relative init", Workload{Args: []string{"true"}}, []Option{WithInit("brig")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Build(c.w, c.opts...); !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
	_, err := Build(Workload{Args: []string{"true"}}, WithSeccomp(SeccompPolicy{Base: "mystery"}))
	if !errors.Is(err, ErrSeccomp) {
		t.Fatalf("unknown seccomp base: want ErrSeccomp, got %v", err)
	}
}

func TestSeccompUnconfinedWithDenials(t *testing.T) {
	s, err := Build(Workload{Args: []string{"true"}}, WithSeccomp(SeccompPolicy{Base: SeccompUnconfined,
		Deny: []string{"ptrace"}, DenyIoctls: []Ioctl{TIOCSTI}, DenyNamespaces: true}))
	if err != nil {
		t.Fatal(err)
	}
	f := s.Linux.Seccomp
	if f == nil || f.DefaultAction != specs.ActAllow || len(f.Architectures) == 0 {
		t.Fatalf("want an allow-by-default filter with architectures, got %+v", f)
	}
	var denied []string
	for _, r := range f.Syscalls {
		if r.Action == specs.ActAllow {
			t.Errorf("rule %+v has the default action", r)
		}
		denied = append(denied, r.Names...)
	}
	for _, n := range []string{"ptrace", "ioctl", "clone", "clone3", "unshare", "setns"} {
		if !slices.Contains(denied, n) {
			t.Errorf("%s is not refused", n)
		}
	}
	s, err = Build(Workload{Args: []string{"true"}}, WithSeccomp(SeccompPolicy{Base: SeccompUnconfined}))
	if err != nil || s.Linux.Seccomp != nil {
		t.Errorf("unconfined without denials must install no filter: %v %+v", err, s.Linux.Seccomp)
	}
}

func TestBaseIsHardened(t *testing.T) {
	s, err := Build(Workload{Args: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Process.NoNewPrivileges || !s.Root.Readonly || s.Hostname != DefaultHostname || s.Process.Cwd != "/" {
		t.Errorf("base is not hardened: %+v %+v", s.Process, s.Root)
	}
	for _, ns := range []specs.LinuxNamespaceType{specs.UserNamespace, specs.MountNamespace, specs.PIDNamespace,
		specs.IPCNamespace, specs.UTSNamespace, specs.NetworkNamespace, specs.CgroupNamespace} {
		if !hasNamespace(s, ns) {
			t.Errorf("base lacks a %s namespace", ns)
		}
	}
	for _, m := range s.Mounts {
		if strings.HasPrefix(m.Destination, "/sys") && !slices.Contains(m.Options, "ro") {
			t.Errorf("%s is not read-only", m.Destination)
		}
	}
	if !slices.Contains(s.Linux.ReadonlyPaths, "/sys/fs/cgroup") {
		t.Error("/sys/fs/cgroup's tmpfs (cgroup v1) would stay writable")
	}
}

func TestNetworkHost(t *testing.T) {
	s, err := Build(Workload{Args: []string{"id"}}, WithNetwork(NetHost))
	if err != nil {
		t.Fatal(err)
	}
	if hasNamespace(s, specs.NetworkNamespace) {
		t.Error("host network still has a network namespace")
	}
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && (m.Type != "bind" || !slices.Contains(m.Options, "rro")) {
			t.Errorf("with the host's network, /sys must be a recursive read-only bind: %+v", m)
		}
		if m.Destination == "/sys/fs/cgroup" {
			t.Error("cgroup mount kept under a /sys bind")
		}
	}
	s, err = Build(Workload{Args: []string{"id"}}, WithNetwork(NetHost), WithNetwork(NetUser))
	if err != nil || !hasNamespace(s, specs.NetworkNamespace) || s.Annotations[NetworkAnnotation] != "user" {
		t.Errorf("user network after host: %v %+v", err, s.Annotations)
	}
}

func TestMapIDs(t *testing.T) {
	cases := []struct {
		name         string
		host, inside uint32
		ranges       []IDRange
		want         []specs.LinuxIDMapping
	}{
		{"single root", 1000, 0, nil, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}},
		{"root with range", 1000, 0, []IDRange{{100000, 65536}},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}},
		{"self with range splits around the caller", 1000, 1000, []IDRange{{100000, 65536}},
			[]specs.LinuxIDMapping{{ContainerID: 1000, HostID: 1000, Size: 1}, {ContainerID: 0, HostID: 100000, Size: 1000},
				{ContainerID: 1001, HostID: 101000, Size: 64536}}},
		{"two ranges", 1000, 0, []IDRange{{100000, 10}, {200000, 5}},
			[]specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 10},
				{ContainerID: 11, HostID: 200000, Size: 5}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := MapIDs(c.host, c.inside, c.ranges)
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
	if _, err := MapIDs(1000, 0, []IDRange{{1, 1<<32 - 1}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("overflowing range: want ErrInvalid, got %v", err)
	}
}

// TestComplementPatterns checks that the ioctl allow patterns match every
// request except the denied ones, including requests with high bits set.
func TestComplementPatterns(t *testing.T) {
	denied := []uint32{TIOCSTI.Request32(), TIOCLINUX.Request32()}
	pats := complementPatterns(denied)
	if len(pats) == 0 || len(pats) > 64 {
		t.Fatalf("%d patterns", len(pats))
	}
	matches := func(x uint64) bool {
		return slices.ContainsFunc(pats, func(p bitPattern) bool { return x&p.mask == p.value })
	}
	for _, d := range denied {
		for _, high := range []uint64{0, 1 << 32, 0xffffffff00000000} {
			if matches(uint64(d) | high) {
				t.Errorf("denied request %#x|%#x is allowed", d, high)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		x := r.Uint64()
		if slices.Contains(denied, uint32(x)) {
			continue
		}
		if !matches(x) {
			t.Fatalf("request %#x is not allowed", x)
		}
	}
	for x := uint64(0x5400); x < 0x5500; x++ {
		if !slices.Contains(denied, uint32(x)) && !matches(x) {
			t.Fatalf("neighbour request %#x is not allowed", x)
		}
	}
}

func TestSeccompDenials(t *testing.T) {
	s, err := Build(Workload{Args: []string{"id"}}, WithCapabilities("CAP_SYS_ADMIN"),
		WithSeccomp(SeccompPolicy{Base: SeccompDockerDefault, Deny: []string{"ptrace", "mount"}, DenyIoctls: []Ioctl{TIOCSTI}, DenyNamespaces: true}))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Linux.Seccomp.Syscalls {
		if r.Action != specs.ActAllow {
			continue
		}
		for _, n := range r.Names {
			switch {
			case n == "ptrace" || n == "mount" || n == "unshare" || n == "setns" || n == "clone3":
				t.Errorf("%s is still allowed (even with CAP_SYS_ADMIN)", n)
			case (n == "ioctl" || n == "clone") && len(r.Args) == 0:
				t.Errorf("%s is allowed unconditionally", n)
			}
		}
	}
}

func TestSkeleton(t *testing.T) {
	layout := HostLayout{System: []HostEntry{{Path: "/usr", IsDir: true}, {Path: "/bin", SymlinkTo: "usr/bin"}}}
	entries := Skeleton(SkeletonInput{Layout: layout, UserName: "root", Home: "/tmp", Hostname: "box"})
	byPath := map[string]SkeletonEntry{}
	for _, e := range entries {
		byPath[e.Path] = e
	}
	if byPath["bin"].Symlink != "usr/bin" {
		t.Errorf("/bin symlink not mirrored: %+v", byPath["bin"])
	}
	if _, ok := byPath["usr"]; ok {
		t.Error("/usr is bound, not created")
	}
	if !strings.HasPrefix(string(byPath["etc/passwd"].Data), "root:x:0:0:root:/tmp:") {
		t.Errorf("passwd: %q", byPath["etc/passwd"].Data)
	}
	if !strings.Contains(string(byPath["etc/hosts"].Data), "box") {
		t.Errorf("hosts: %q", byPath["etc/hosts"].Data)
	}
	if _, ok := byPath["etc/resolv.conf"]; ok {
		t.Error("resolv.conf without a network")
	}
}

func TestLimits(t *testing.T) {
	s, err := Build(Workload{Args: []string{"id"}}, WithLimits(Limits{MemoryBytes: 64 << 20, Pids: 32, CPUs: 0.5, CPUWeight: 100, IOWeight: 100}))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 64<<20 || *r.Pids.Limit != 32 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 {
		t.Errorf("limits: %+v %+v %+v", r.Memory, r.Pids, r.CPU)
	}
	if *r.CPU.Shares != sharesFromWeight(100) || *r.BlockIO.Weight != ioWeightV1(100) {
		t.Errorf("weights: %d %d", *r.CPU.Shares, *r.BlockIO.Weight)
	}
	if sharesFromWeight(1) != 2 || sharesFromWeight(10000) != 262144 || ioWeightV1(1) != 10 || ioWeightV1(10000) != 1000 {
		t.Error("weight conversions do not span the scales")
	}
}

func TestWithProcessUserNeedsMappedIDs(t *testing.T) {
	ranges := []IDRange{{Start: 100000, Count: 65536}}
	id := Identity{HostUID: 1001, HostGID: 1001, SubUIDs: ranges, SubGIDs: ranges}
	s, err := Build(Workload{Args: []string{"true"}}, WithIdentity(id), WithProcessUser(1000, 1000, []uint32{27}))
	if err != nil {
		t.Fatal(err)
	}
	if u := s.Process.User; u.UID != 1000 || u.GID != 1000 || len(u.AdditionalGids) != 1 {
		t.Errorf("process user %+v", u)
	}
	if s.Linux.UIDMappings[0].ContainerID != 0 || s.Linux.UIDMappings[0].HostID != 1001 {
		t.Errorf("the caller is no longer root inside: %+v", s.Linux.UIDMappings[0])
	}
	single := Identity{HostUID: 1001, HostGID: 1001}
	if _, err := Build(Workload{Args: []string{"true"}}, WithIdentity(single), WithProcessUser(1000, 1000, nil)); !errors.Is(err, ErrInvalid) {
		t.Errorf("an unmapped uid: err %v, want ErrInvalid", err)
	}
}
