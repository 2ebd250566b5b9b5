package image

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/brigsandbox/brig/image/imagetest"
)

// simpleImage is a two-layer image: the first writes files, the second
// changes one and deletes another.
func simpleImage(tag string) imagetest.Image {
	return imagetest.Image{
		Tag: tag,
		Config: ocispec.ImageConfig{
			Entrypoint: []string{"/bin/tool"}, Cmd: []string{"--help"},
			Env: []string{"PATH=/bin", "A=1"}, WorkingDir: "/work", User: "1000:1000",
		},
		Layers: []imagetest.Layer{
			{Gzip: true, Entries: []imagetest.Entry{
				imagetest.Dir("bin/", 0o755),
				imagetest.File("bin/tool", []byte("#!/bin/sh\n"), 0o755),
				imagetest.File("etc/motd", []byte("one\n"), 0o644),
				imagetest.File("etc/gone", []byte("x"), 0o644),
			}},
			{Entries: []imagetest.Entry{
				imagetest.File("etc/motd", []byte("two\n"), 0o644),
				imagetest.Whiteout("etc/gone"),
			}},
		},
	}
}

func writeLayout(t *testing.T, imgs ...imagetest.Image) (string, []imagetest.Written) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	var ws []imagetest.Written
	for _, img := range imgs {
		w, err := imagetest.Write(dir, img)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	return dir, ws
}

// countingHandler counts log messages, to see what the cache did.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
}

func newCounter() *countingHandler { return &countingHandler{counts: map[string]int{}} }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}

func testCache(t *testing.T) (Cache, *countingHandler) {
	h := newCounter()
	return Cache{Dir: filepath.Join(t.TempDir(), "cache"), Logger: slog.New(h)}, h
}

// prepare is Prepare for tests that only look at the tree: the hold is
// released at once, so that a later Prune in the test may remove it.
func prepare(c Cache, ref Ref) (string, Config, string, error) {
	rootfs, cfg, dg, release, err := c.Prepare(ref)
	if release != nil {
		release()
	}
	return rootfs, cfg, dg, err
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrepareByTagThenDigestReuses(t *testing.T) {
	dir, ws := writeLayout(t, simpleImage("v1"))
	c, log := testCache(t)
	rootfs, cfg, dg, err := prepare(c, Ref{Layout: dir, Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if dg != ws[0].Manifest.Digest.String() {
		t.Errorf("digest %s, want %s", dg, ws[0].Manifest.Digest)
	}
	if !filepath.IsAbs(rootfs) {
		t.Errorf("rootfs %q is not absolute", rootfs)
	}
	if got := readFile(t, filepath.Join(rootfs, "etc/motd")); got != "two\n" {
		t.Errorf("etc/motd = %q: the upper layer should win", got)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "etc/gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("etc/gone survived its whiteout: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "etc/.wh.gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the whiteout marker itself was extracted: %v", err)
	}
	for _, mp := range []string{"proc", "sys", "dev", "tmp"} {
		if fi, err := os.Stat(filepath.Join(rootfs, mp)); err != nil || !fi.IsDir() {
			t.Errorf("mount point /%s missing: %v", mp, err)
		}
	}
	want := Config{Entrypoint: []string{"/bin/tool"}, Cmd: []string{"--help"}, Env: []string{"PATH=/bin", "A=1"}, WorkingDir: "/work", User: "1000:1000"}
	if strings.Join(cfg.Entrypoint, " ") != "/bin/tool" || strings.Join(cfg.Cmd, " ") != "--help" ||
		strings.Join(cfg.Env, " ") != "PATH=/bin A=1" || cfg.WorkingDir != want.WorkingDir || cfg.User != want.User {
		t.Errorf("config %+v, want %+v", cfg, want)
	}
	again, _, dg2, err := prepare(c, Ref{Layout: dir, Digest: dg})
	if err != nil || again != rootfs || dg2 != dg {
		t.Fatalf("by digest: %q %s %v; want the same entry %q", again, dg2, err, rootfs)
	}
	if n := log.count("image: unpacking"); n != 1 {
		t.Errorf("unpacked %d times, want once", n)
	}
	if n := log.count("image: reusing unpacked image"); n != 1 {
		t.Errorf("reused %d times, want once", n)
	}
}

func TestPrepareWithoutTag(t *testing.T) {
	dir, _ := writeLayout(t, simpleImage(""))
	c, _ := testCache(t)
	if _, _, _, err := prepare(c, Ref{Layout: dir}); err != nil {
		t.Fatalf("a layout with one image needs no tag: %v", err)
	}
	// The same image twice, under two tags, is one image.
	same, _ := writeLayout(t, simpleImage("x"), simpleImage("y"))
	if _, _, _, err := prepare(c, Ref{Layout: same}); err != nil {
		t.Fatalf("one image under two tags needs no tag: %v", err)
	}
	other := simpleImage("b")
	other.Config.Cmd = []string{"other"}
	dir2, _ := writeLayout(t, simpleImage("a"), other)
	_, _, _, err := prepare(c, Ref{Layout: dir2})
	if !errors.Is(err, ErrUnknownTag) || !strings.Contains(err.Error(), "tags: a, b") {
		t.Fatalf("two images and no tag: want ErrUnknownTag listing the tags, got %v", err)
	}
}

func TestUnknownTagAndDigest(t *testing.T) {
	dir, _ := writeLayout(t, simpleImage("v1"))
	c, _ := testCache(t)
	_, _, _, err := prepare(c, Ref{Layout: dir, Tag: "v2"})
	if !errors.Is(err, ErrUnknownTag) || !strings.Contains(err.Error(), "tags: v1") {
		t.Errorf("unknown tag: %v", err)
	}
	unknown := "sha256:" + strings.Repeat("ab", 32)
	_, _, _, err = prepare(c, Ref{Layout: dir, Digest: unknown})
	if !errors.Is(err, ErrUnknownDigest) || !strings.Contains(err.Error(), unknown) {
		t.Errorf("unknown digest: %v", err)
	}
	// The digest of a blob that is in the layout but not a listed
	// manifest (here: a layer) is unknown too.
	_, ws := writeLayout(t, simpleImage("v1"))
	_, err = Verify(Ref{Layout: ws[0].Dir, Digest: ws[0].Layers[0].Digest.String()})
	if !errors.Is(err, ErrUnknownDigest) {
		t.Errorf("a layer's digest as a reference: %v", err)
	}
}

func TestNotALayout(t *testing.T) {
	c, _ := testCache(t)
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
		if _, _, _, err := prepare(c, Ref{Layout: dir}); !errors.Is(err, ErrNotLayout) {
			t.Errorf("%s: want ErrNotLayout, got %v", dir, err)
		}
	}
}

// requireEmptyCache fails unless the cache holds no entry and no leftover.
func requireEmptyCache(t *testing.T, c Cache) {
	t.Helper()
	list, err := c.List()
	if err != nil || len(list) != 0 {
		t.Errorf("cache entries after a failed prepare: %v %v", list, err)
	}
	left, _ := os.ReadDir(filepath.Join(c.Dir, tmpDir))
	if len(left) != 0 {
		t.Errorf("tmp/ leftovers after a failed prepare: %v", left)
	}
}

func appendByte(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
}

// flipByte changes one byte in the middle of p, keeping its size.
func flipByte(t *testing.T, p string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantBlobError(t *testing.T, err error, sentinel error, role string, w imagetest.Written, d ocispec.Descriptor) {
	t.Helper()
	var be *BlobError
	if !errors.As(err, &be) || !errors.Is(err, sentinel) {
		t.Fatalf("want a BlobError wrapping %v, got %v", sentinel, err)
	}
	if be.Role != role || be.Digest != d.Digest.String() || be.Path != w.BlobPath(d) {
		t.Errorf("error names %s %s %s; want %s %s %s", be.Role, be.Digest, be.Path, role, d.Digest, w.BlobPath(d))
	}
	if msg := err.Error(); !strings.Contains(msg, w.BlobPath(d)) || strings.Contains(msg, "\n") {
		t.Errorf("message should be one line naming the blob: %q", msg)
	}
}

func TestTamperedBlobs(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(*testing.T, string)
		blob     func(imagetest.Written) ocispec.Descriptor
		role     string
		sentinel error
	}{
		{"layer grown by a byte", appendByte, func(w imagetest.Written) ocispec.Descriptor { return w.Layers[1] }, "layer 2/2", ErrSizeMismatch},
		{"gzip layer with a flipped byte", flipByte, func(w imagetest.Written) ocispec.Descriptor { return w.Layers[0] }, "layer 1/2", ErrDigestMismatch},
		{"tar layer with a flipped byte", flipByte, func(w imagetest.Written) ocispec.Descriptor { return w.Layers[1] }, "layer 2/2", ErrDigestMismatch},
		{"manifest with a flipped byte", flipByte, func(w imagetest.Written) ocispec.Descriptor { return w.Manifest }, "manifest", ErrDigestMismatch},
		{"config grown by a byte", appendByte, func(w imagetest.Written) ocispec.Descriptor { return w.Config }, "config", ErrSizeMismatch},
		{"layer deleted", func(t *testing.T, p string) { os.Remove(p) }, func(w imagetest.Written) ocispec.Descriptor { return w.Layers[0] }, "layer 1/2", ErrBlobMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, ws := writeLayout(t, simpleImage("v1"))
			d := tt.blob(ws[0])
			tt.tamper(t, ws[0].BlobPath(d))
			c, _ := testCache(t)
			_, _, _, err := prepare(c, Ref{Layout: dir, Tag: "v1"})
			wantBlobError(t, err, tt.sentinel, tt.role, ws[0], d)
			requireEmptyCache(t, c)
			_, err = Verify(Ref{Layout: dir, Tag: "v1"})
			wantBlobError(t, err, tt.sentinel, tt.role, ws[0], d)
		})
	}
}

func TestVerify(t *testing.T) {
	dir, ws := writeLayout(t, simpleImage("v1"))
	dg, err := Verify(Ref{Layout: dir, Tag: "v1"})
	if err != nil || dg != ws[0].Manifest.Digest.String() {
		t.Fatalf("Verify = %s, %v", dg, err)
	}
}

// A blob that is a symlink to a file outside the layout is never read,
// even when the file outside has the right content.
func TestBlobOutsideLayoutRefused(t *testing.T) {
	dir, ws := writeLayout(t, simpleImage("v1"))
	p := ws[0].BlobPath(ws[0].Layers[0])
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.Rename(p, outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, p); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(Ref{Layout: dir, Tag: "v1"})
	wantBlobError(t, err, ErrBadBlob, "layer 1/2", ws[0], ws[0].Layers[0])
	// A symlink inside the layout is fine.
	if err := os.Rename(outside, filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if err := os.Symlink("../../moved", p); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(Ref{Layout: dir, Tag: "v1"}); err != nil {
		t.Errorf("a blob symlinked inside the layout: %v", err)
	}
}

func TestOtherArchitectureRefused(t *testing.T) {
	img := simpleImage("v1")
	img.Architecture = "s390x"
	dir, _ := writeLayout(t, img)
	if _, err := Verify(Ref{Layout: dir, Tag: "v1"}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("want ErrUnsupported, got %v", err)
	}
}

func TestConcurrentPrepareUnpacksOnce(t *testing.T) {
	dir, _ := writeLayout(t, simpleImage("v1"))
	c, log := testCache(t)
	const n = 6
	var wg sync.WaitGroup
	var failed atomic.Int32
	roots := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			roots[i], _, _, err = prepare(c, Ref{Layout: dir, Tag: "v1"})
			if err != nil {
				t.Error(err)
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return
	}
	for _, r := range roots[1:] {
		if r != roots[0] {
			t.Errorf("different roots: %q and %q", r, roots[0])
		}
	}
	if got := log.count("image: unpacking"); got != 1 {
		t.Errorf("unpacked %d times for %d concurrent first runs, want once", got, n)
	}
}

func TestListAndPrune(t *testing.T) {
	dir, ws := writeLayout(t, simpleImage("v1"))
	c, _ := testCache(t)
	rootfs, _, _, err := prepare(c, Ref{Layout: dir, Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.List()
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
	e := list[0]
	if e.Digest != ws[0].Manifest.Digest.String() || e.Size != int64(len("#!/bin/sh\n")+len("two\n")) ||
		!strings.HasSuffix(e.Source, "/layout:v1") || time.Since(e.LastUsed) > time.Minute {
		t.Errorf("entry %+v", e)
	}
	// A crashed unpack's leftover goes with prune.
	stale := filepath.Join(c.Dir, tmpDir, "sha256-"+strings.Repeat("cd", 32)+"-123")
	if err := os.MkdirAll(filepath.Join(stale, "rootfs", "x"), 0o500); err != nil {
		t.Fatal(err)
	}
	if removed, err := c.Prune(time.Hour); err != nil || len(removed) != 0 {
		t.Errorf("Prune(1h) right after use removed %v, %v", removed, err)
	}
	removed, err := c.Prune(0)
	if err != nil || len(removed) != 1 || removed[0].Digest != e.Digest {
		t.Errorf("Prune(0) = %v, %v", removed, err)
	}
	if _, err := os.Stat(rootfs); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rootfs still there after prune: %v", err)
	}
	requireEmptyCache(t, c)
}

func TestStaleUnpackIsReplaced(t *testing.T) {
	dir, ws := writeLayout(t, simpleImage("v1"))
	c, _ := testCache(t)
	stale := filepath.Join(c.Dir, tmpDir, "sha256-"+ws[0].Manifest.Digest.Encoded()+"-999")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := prepare(c, Ref{Layout: dir, Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the interrupted unpack was left behind: %v", err)
	}
}

func TestEmptyCacheIsNotCreated(t *testing.T) {
	c, _ := testCache(t)
	if list, err := c.List(); err != nil || len(list) != 0 {
		t.Errorf("List of a missing cache = %v, %v", list, err)
	}
	if removed, err := c.Prune(0); err != nil || len(removed) != 0 {
		t.Errorf("Prune of a missing cache = %v, %v", removed, err)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("listing or pruning created the cache: %v", err)
	}
}

func TestDefaultCache(t *testing.T) {
	t.Setenv("BRIG_CACHE_DIR", "/x/cache")
	if got := DefaultCache().Dir; got != "/x/cache" {
		t.Errorf("BRIG_CACHE_DIR: %q", got)
	}
	t.Setenv("BRIG_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got := DefaultCache().Dir; got != "/xdg/brig/images" {
		t.Errorf("XDG_CACHE_HOME: %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := DefaultCache().Dir; got != "/home/u/.cache/brig/images" {
		t.Errorf("HOME: %q", got)
	}
}

func TestArgv(t *testing.T) {
	c := Config{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"default"}}
	if got := strings.Join(c.Argv(nil), " "); got != "/entry -x default" {
		t.Errorf("no args: %q", got)
	}
	if got := strings.Join(c.Argv([]string{"mine", "a"}), " "); got != "/entry -x mine a" {
		t.Errorf("args replace Cmd, keep Entrypoint: %q", got)
	}
	if got := (Config{}).Argv(nil); len(got) != 0 {
		t.Errorf("no command at all: %q", got)
	}
}

// A sandbox running from an image holds it: prune leaves it alone, other
// runs of it neither wait nor unpack again, and after release it goes.
func TestHeldImageSurvivesPrune(t *testing.T) {
	dir, _ := writeLayout(t, simpleImage("v1"))
	c, _ := testCache(t)
	rootfs, _, _, release, err := c.Prepare(Ref{Layout: dir, Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	type prepared struct {
		release func()
		err     error
	}
	done := make(chan prepared, 1)
	go func() {
		_, _, _, release, err := c.Prepare(Ref{Layout: dir, Tag: "v1"})
		done <- prepared{release, err}
	}()
	var second func()
	select {
	case p := <-done:
		if p.err != nil {
			t.Fatalf("a second run of a held image: %v", p.err)
		}
		second = p.release
	case <-time.After(5 * time.Second):
		t.Fatal("Prepare waited for the runs holding the image")
	}
	if removed, err := c.Prune(0); err != nil || len(removed) != 0 {
		t.Fatalf("Prune(0) removed a held image: %v, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc/motd")); err != nil {
		t.Fatalf("the held image lost its files: %v", err)
	}
	release()
	if removed, err := c.Prune(0); err != nil || len(removed) != 0 {
		t.Fatalf("Prune(0) removed an image another run still holds: %v, %v", removed, err)
	}
	second()
	if removed, err := c.Prune(0); err != nil || len(removed) != 1 {
		t.Fatalf("Prune(0) after release = %v, %v", removed, err)
	}
	if _, err := os.Stat(rootfs); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the released image is still there after prune: %v", err)
	}
}
