package profiles

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/xeipuuv/gojsonschema"

	"github.com/brigsandbox/brig/spec"
)

var updateSpecs = flag.Bool("update-specs", false, "rewrite testdata/spec/*.json")

// fakeHost is a made-up host so that the specs are the same everywhere.
func fakeHost() Host {
	layout := spec.HostLayout{
		System: []spec.HostEntry{{Path: "/usr", IsDir: true}, {Path: "/bin", SymlinkTo: "usr/bin"}, {Path: "/lib", SymlinkTo: "usr/lib"}},
		Etc:    []spec.HostEntry{{Path: "/etc/ld.so.cache", IsFile: true}, {Path: "/etc/ssl", IsDir: true}},
	}
	return Host{
		Identity: spec.Identity{HostUID: 1000, HostGID: 1000,
			SubUIDs: []spec.IDRange{{Start: 100000, Count: 65536}}, SubGIDs: []spec.IDRange{{Start: 100000, Count: 65536}}},
		Root:       spec.WithHostRoot("/run/user/1000/brig/runs/0123456789ab/root", layout),
		Workdir:    "/home/user/project",
		InitBinary: "/usr/local/bin/brig",
	}
}

func builtinSpec(t *testing.T, name string) *specs.Spec {
	t.Helper()
	p := mustLoad(t, Loader{}, name)
	s, err := spec.Build(spec.Workload{Args: []string{"/bin/true"}, Env: []string{"PATH=/usr/bin:/bin", "HOME=/tmp"},
		Cwd: "/home/user/project"}, p.SpecOptions(fakeHost())...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// TestBuiltinSpecsGolden pins the spec of every builtin profile. The
// seccomp rules come from moby/profiles and depend on the kernel version
// (some rules have a minimum kernel), so the golden files leave them out;
// TestStrictSpecHardening checks them.
func TestBuiltinSpecsGolden(t *testing.T) {
	for _, name := range builtinNames {
		t.Run(name, func(t *testing.T) {
			s := builtinSpec(t, name)
			if s.Linux.Seccomp != nil {
				s.Linux.Seccomp.Syscalls = nil
			}
			got, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "spec", name+".json")
			if *updateSpecs {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./profiles -run TestBuiltinSpecsGolden -update-specs)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s; if the change is intended, rerun with -update-specs\n%s", name, golden, got)
			}
		})
	}
}

// TestBuiltinSpecsValidate checks every builtin profile's spec against the
// JSON schema shipped in the runtime-spec module (no network needed).
func TestBuiltinSpecsValidate(t *testing.T) {
	schema := runtimeSpecSchema(t)
	for _, name := range builtinNames {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(builtinSpec(t, name))
			if err != nil {
				t.Fatal(err)
			}
			res, err := schema.Validate(gojsonschema.NewBytesLoader(b))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range res.Errors() {
				t.Errorf("%s does not validate against the runtime-spec schema: %s", name, e)
			}
		})
	}
}

// runtimeSpecSchema loads config-schema.json from the runtime-spec module
// with gojsonschema, the validator runtime-spec's own tool uses (the schema
// has draft-4 quirks that stricter validators reject).
func runtimeSpecSchema(t *testing.T) *gojsonschema.Schema {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runtime-spec").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("cannot locate the runtime-spec module's schema (needs the go command and the module cache): %v", err)
	}
	s, err := gojsonschema.NewSchema(gojsonschema.NewReferenceLoader("file://" + filepath.Join(dir, "schema", "config-schema.json")))
	if err != nil {
		t.Fatalf("load the runtime-spec schema: %v", err)
	}
	return s
}

// TestStrictSpecHardening checks the hardening fields strict promises.
func TestStrictSpecHardening(t *testing.T) {
	s := builtinSpec(t, "strict")
	if !s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges is false")
	}
	c := s.Process.Capabilities
	if c == nil || len(c.Bounding)+len(c.Effective)+len(c.Permitted)+len(c.Inheritable)+len(c.Ambient) != 0 {
		t.Errorf("capabilities are not all empty: %+v", c)
	}
	for _, ns := range []specs.LinuxNamespaceType{specs.UserNamespace, specs.NetworkNamespace, specs.PIDNamespace, specs.MountNamespace, specs.CgroupNamespace} {
		if !slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == ns && n.Path == "" }) {
			t.Errorf("no fresh %s namespace", ns)
		}
	}
	r := s.Linux.Resources
	if r.Memory == nil || *r.Memory.Limit != 512<<20 || *r.Memory.Swap != 512<<20 {
		t.Errorf("memory: want 512M without swap, got %+v", r.Memory)
	}
	if r.Pids == nil || *r.Pids.Limit != 256 {
		t.Errorf("pids: want 256, got %+v", r.Pids)
	}
	if r.CPU == nil || *r.CPU.Quota != 100000 || *r.CPU.Period != 100000 {
		t.Errorf("cpu: want one core, got %+v", r.CPU)
	}
	sc := s.Linux.Seccomp
	if sc == nil || sc.DefaultAction != specs.ActErrno {
		t.Fatalf("no seccomp allowlist: %+v", sc)
	}
	denied := map[string]bool{}
	for _, rule := range sc.Syscalls {
		for _, n := range rule.Names {
			if rule.Action == specs.ActAllow && len(rule.Args) == 0 &&
				slices.Contains([]string{"ptrace", "keyctl", "bpf", "unshare", "setns", "mount", "io_uring_setup", "ioctl", "clone", "clone3"}, n) {
				t.Errorf("%s is allowed unconditionally", n)
			}
			if rule.Action == specs.ActErrno {
				denied[n] = true
			}
		}
	}
	for _, n := range []string{"ptrace", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
		"io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns", "mount", "umount2", "fsopen",
		"fsmount", "open_tree", "move_mount", "open_by_handle_at", "personality", "kexec_load", "init_module", "clone3", "ioctl"} {
		if !denied[n] {
			t.Errorf("strict's filter has no explicit refusal of %s", n)
		}
	}
}
