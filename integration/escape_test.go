package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// busyboxTree makes a minimal root filesystem owned by the caller.
func busyboxTree(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(hostBusybox); err != nil {
		t.Skipf("%s is missing (install busybox-static): %v", hostBusybox, err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(hostBusybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sh", "ls", "cat", "echo"} {
		if err := os.Symlink("busybox", filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRootfsSymlinkedProcDevRefused: a root filesystem whose /proc or /dev
// is a symlink must be refused (CVE-2019-19921, CVE-2026-41579), and
// nothing may be mounted where the symlink points.
func TestRootfsSymlinkedProcDevRefused(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	for _, name := range []string{"proc", "dev"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tree := busyboxTree(t)
			target := t.TempDir()
			if err := os.Symlink(target, filepath.Join(tree, name)); err != nil {
				t.Fatal(err)
			}
			res := runBrig(t, "", "run", "--rootfs", tree, "--", "sh", "-c", "ls /"+name)
			wantCode(t, res, 125)
			if line := oneLine(t, res.stderr); !strings.Contains(line, name) {
				t.Errorf("refusal does not name /%s: %q", name, line)
			}
			if entries, _ := os.ReadDir(target); len(entries) != 0 {
				t.Errorf("something was created where the symlink points: %v", entries)
			}
		})
	}
}

// TestWorkdirProcSelfFDRefused: a working directory under /proc/self/fd
// would leak a host directory descriptor inherited by the init
// (CVE-2024-21626); it must be refused.
func TestWorkdirProcSelfFDRefused(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	for _, fd := range []int{3, 4, 5, 7, 8} {
		res := runBrig(t, "", "run", "--workdir", fmt.Sprintf("/proc/self/fd/%d", fd), "--", "sh", "-c", "ls ..; pwd")
		if res.code != 125 {
			t.Errorf("--workdir /proc/self/fd/%d: want exit 125, got %v", fd, res)
		}
	}
}

// TestBindThroughPlantedSymlink races two sandboxes that share a
// directory, in the manner of CVE-2021-30465: one keeps replacing shared/sub
// with a symlink that climbs out to the host's root, the other binds a
// directory at shared/sub. The bind must land inside the second sandbox
// (libcontainer resolves mount targets within the root), never expose the
// host: the host-only marker stays invisible and the sandbox's root stays
// its own.
func TestBindThroughPlantedSymlink(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	shared := t.TempDir()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "from-src"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostOnly := filepath.Join(t.TempDir(), "host-only-marker-"+randomHex(6))
	if err := os.WriteFile(hostOnly, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	attacker := brigCommand(ctx, shared, nil, "run", "--timeout", "60s", "--", "sh", "-c",
		`while :; do rm -rf sub; mkdir sub; rm -rf sub; ln -s ../../../../../../../../.. sub; done`)
	if err := attacker.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() { cancel(); _ = attacker.Wait(); wg.Wait() }()

	check := fmt.Sprintf(`test -e %s && echo ESCAPED-HOST; grep -q brig /etc/hostname || echo ESCAPED-ROOT; echo done`, hostOnly)
	deadline := time.Now().Add(8 * time.Second)
	runs, ran := 0, 0
	for time.Now().Before(deadline) && runs < 30 {
		runs++
		res := runBrigIn(t, shared, "", "run", "--bind", src+":"+filepath.Join(shared, "sub")+":ro", "--", "sh", "-c", check)
		if strings.Contains(res.stdout, "ESCAPED") {
			t.Fatalf("the bind through a planted symlink escaped: %v", res)
		}
		if res.code == 0 {
			ran++
		} else if res.code != 125 {
			t.Fatalf("a run failed other than by refusing to start: %v", res)
		}
	}
	if ran == 0 {
		t.Logf("all %d runs were refused at start (the race always won); none escaped", runs)
	}
	if _, err := exec.LookPath("findmnt"); err == nil {
		out, _ := exec.Command("findmnt", "-rno", "TARGET").Output()
		if strings.Contains(string(out), shared) {
			t.Errorf("a mount leaked into the host's mount namespace: %s", out)
		}
	}
}
