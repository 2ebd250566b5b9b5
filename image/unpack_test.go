package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brigsandbox/brig/image/imagetest"
)

// prepareLayers unpacks an image made of layers (plain tar) and returns
// its rootfs, or the error.
func prepareLayers(t *testing.T, layers ...[]imagetest.Entry) (string, error) {
	t.Helper()
	img := imagetest.Image{Tag: "t"}
	for _, l := range layers {
		img.Layers = append(img.Layers, imagetest.Layer{Entries: l})
	}
	dir, _ := writeLayout(t, img)
	c, _ := testCache(t)
	rootfs, _, _, err := prepare(c, Ref{Layout: dir, Tag: "t"})
	if err == nil {
		requireNoLeftovers(t, c)
	}
	return rootfs, err
}

func requireNoLeftovers(t *testing.T, c Cache) {
	t.Helper()
	if left, _ := os.ReadDir(filepath.Join(c.Dir, tmpDir)); len(left) != 0 {
		t.Errorf("tmp/ leftovers: %v", left)
	}
}

func mustPrepare(t *testing.T, layers ...[]imagetest.Entry) string {
	t.Helper()
	rootfs, err := prepareLayers(t, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return rootfs
}

func wantContent(t *testing.T, p, want string) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: want a regular file, got %v %v", p, fi, err)
		return
	}
	if got := readFile(t, p); got != want {
		t.Errorf("%s = %q, want %q", p, got, want)
	}
}

func wantGone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s should not exist (%v)", p, err)
	}
}

func TestTraversalRefused(t *testing.T) {
	up := strings.Repeat("../", 3)
	tests := []struct {
		name  string
		entry imagetest.Entry
	}{
		{"dotdot file", imagetest.File(up+"escape", []byte("x"), 0o644)},
		{"dotdot deep", imagetest.File("a/"+up+up+"escape", []byte("x"), 0o644)},
		{"dotdot dir", imagetest.Dir("./"+up+"escape/", 0o755)},
		{"dotdot symlink name", imagetest.Symlink(up+"escape", "/etc")},
		{"hard link out", imagetest.Hardlink("escape", up+up+"etc/passwd")},
		{"hard link to a host file", imagetest.Hardlink("escape", "/etc/passwd")},
		{"whiteout out", imagetest.Whiteout(up + "victim")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			victim := filepath.Join(parent, "victim")
			if err := os.WriteFile(victim, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(parent, "layout")
			if _, err := imagetest.Write(dir, imagetest.Image{Tag: "t", Layers: []imagetest.Layer{{Entries: []imagetest.Entry{
				imagetest.File("ok", []byte("ok"), 0o644), tt.entry}}}}); err != nil {
				t.Fatal(err)
			}
			// rootfs is parent/cache/tmp/X/rootfs: three levels up is parent.
			c := Cache{Dir: filepath.Join(parent, "cache")}
			_, _, _, err := prepare(c, Ref{Layout: dir, Tag: "t"})
			var be *BlobError
			if !errors.Is(err, ErrUnsafeLayer) || !errors.As(err, &be) || be.Role != "layer 1/1" {
				t.Fatalf("want an unsafe-layer BlobError for layer 1/1, got %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
			if _, err := os.Stat(victim); err != nil {
				t.Errorf("a file outside the image was removed: %v", err)
			}
			_ = filepath.WalkDir(parent, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Name() == "escape" {
					t.Errorf("something landed outside: %s", p)
				}
				return nil
			})
			requireEmptyCache(t, c)
		})
	}
}

func TestAbsoluteNamesStayInside(t *testing.T) {
	rootfs := mustPrepare(t, []imagetest.Entry{imagetest.File("/abs", []byte("a"), 0o644), imagetest.File("./dot", []byte("d"), 0o644)})
	wantContent(t, filepath.Join(rootfs, "abs"), "a")
	wantContent(t, filepath.Join(rootfs, "dot"), "d")
}

// A symlink to a host directory, then a file "through" it: the file lands
// at the link's target resolved inside the image, never on the host.
func TestSymlinkParentStaysInside(t *testing.T) {
	outside := t.TempDir()
	rel := strings.Repeat("../", 20) + strings.TrimPrefix(outside, "/")
	rootfs := mustPrepare(t,
		[]imagetest.Entry{imagetest.Symlink("abs", outside), imagetest.Symlink("rel", rel)},
		[]imagetest.Entry{imagetest.File("abs/pwned", []byte("1"), 0o644), imagetest.File("rel/pwned2", []byte("2"), 0o644)},
	)
	if left, _ := os.ReadDir(outside); len(left) != 0 {
		t.Fatalf("files written on the host through a symlink: %v", left)
	}
	wantContent(t, filepath.Join(rootfs, outside, "pwned"), "1")
	wantContent(t, filepath.Join(rootfs, outside, "pwned2"), "2")
}

// A file entry over a symlink replaces the symlink; it never writes
// through it.
func TestSymlinkReplacedNotFollowed(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := mustPrepare(t,
		[]imagetest.Entry{imagetest.Symlink("etc/passwd", victim), imagetest.Symlink("same", victim), imagetest.File("same", []byte("s"), 0o644)},
		[]imagetest.Entry{imagetest.File("etc/passwd", []byte("image"), 0o644)},
	)
	wantContent(t, victim, "host")
	wantContent(t, filepath.Join(rootfs, "etc/passwd"), "image")
	wantContent(t, filepath.Join(rootfs, "same"), "s")
}

// Rewriting one name of a hard-linked file must not change the other.
func TestHardlinkRewriteDoesNotLeak(t *testing.T) {
	rootfs := mustPrepare(t,
		[]imagetest.Entry{imagetest.File("a", []byte("orig"), 0o644), imagetest.Hardlink("b", "a"), imagetest.Symlink("s", "a"), imagetest.Hardlink("hs", "/s")},
		[]imagetest.Entry{imagetest.File("b", []byte("changed"), 0o644)},
	)
	wantContent(t, filepath.Join(rootfs, "a"), "orig")
	wantContent(t, filepath.Join(rootfs, "b"), "changed")
	if target, err := os.Readlink(filepath.Join(rootfs, "hs")); err != nil || target != "a" {
		t.Errorf("a hard link to a symlink should be that symlink: %q %v", target, err)
	}
}

func TestModesAndDevices(t *testing.T) {
	rootfs := mustPrepare(t, []imagetest.Entry{
		imagetest.Device("dev/null2"),
		imagetest.File("bin/su", []byte("su"), 0o4755),
		imagetest.File("bin/sg", []byte("sg"), 0o2711),
		imagetest.Dir("tmp/", 0o1777),
		imagetest.Dir("ro/", 0o555),
		imagetest.File("ro/f", []byte("f"), 0o400),
		imagetest.File("deep/a/b/c", []byte("c"), 0o644),
	})
	wantGone(t, filepath.Join(rootfs, "dev/null2"))
	modes := map[string]os.FileMode{
		"bin/su": 0o755, "bin/sg": 0o711, "tmp": os.ModeDir | os.ModeSticky | 0o777,
		"ro": os.ModeDir | 0o755, "ro/f": 0o400,
	}
	for name, want := range modes {
		fi, err := os.Lstat(filepath.Join(rootfs, name))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", name, fi.Mode(), want, err)
		}
	}
	wantContent(t, filepath.Join(rootfs, "deep/a/b/c"), "c")
}

func TestWhiteouts(t *testing.T) {
	lower := []imagetest.Entry{
		imagetest.File("d/a", []byte("a"), 0o644),
		imagetest.File("d/sub/b", []byte("b"), 0o644),
		imagetest.File("e/a", []byte("a"), 0o644),
		imagetest.File("e/sub/b", []byte("b"), 0o644),
		imagetest.File("w/x/y", []byte("y"), 0o644),
		imagetest.File("w/keep", []byte("k"), 0o644),
		imagetest.File("re", []byte("old"), 0o644),
	}
	upper := []imagetest.Entry{
		// opaque marker before the entries it keeps
		imagetest.Opaque("d"),
		imagetest.File("d/new", []byte("n"), 0o644),
		// ... and after
		imagetest.File("e/new", []byte("n"), 0o644),
		imagetest.Dir("e/sub/", 0o755),
		imagetest.File("e/sub/c", []byte("c"), 0o644),
		imagetest.Opaque("e"),
		// a whole directory
		imagetest.Whiteout("w/x"),
		// recreated in the same layer: the whiteout hides only the old one
		imagetest.Whiteout("re"),
		imagetest.File("re", []byte("new"), 0o644),
		imagetest.Whiteout("not-there"),
	}
	rootfs := mustPrepare(t, lower, upper)
	for _, gone := range []string{"d/a", "d/sub", "d/.wh..wh..opq", "e/a", "e/sub/b", "w/x", "w/.wh.x"} {
		wantGone(t, filepath.Join(rootfs, gone))
	}
	wantContent(t, filepath.Join(rootfs, "d/new"), "n")
	wantContent(t, filepath.Join(rootfs, "e/new"), "n")
	wantContent(t, filepath.Join(rootfs, "e/sub/c"), "c")
	wantContent(t, filepath.Join(rootfs, "w/keep"), "k")
	wantContent(t, filepath.Join(rootfs, "re"), "new")
}

// A directory replaced by a file, and a file by a directory.
func TestTypeChanges(t *testing.T) {
	rootfs := mustPrepare(t,
		[]imagetest.Entry{imagetest.File("x/inner", []byte("i"), 0o644), imagetest.File("y", []byte("y"), 0o644)},
		[]imagetest.Entry{imagetest.File("x", []byte("now a file"), 0o644), imagetest.Dir("y/", 0o755), imagetest.File("y/z", []byte("z"), 0o644)},
	)
	wantContent(t, filepath.Join(rootfs, "x"), "now a file")
	wantContent(t, filepath.Join(rootfs, "y/z"), "z")
}
