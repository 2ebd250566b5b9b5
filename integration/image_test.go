package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/brigsandbox/brig/image"
	"github.com/brigsandbox/brig/image/imagetest"
)

// These tests cover running OCI images from a layout on disk: `brig run
// --image`, `brig image ls|prune|verify`, and the image package's cache
// as the unprivileged user. Each test builds its own small layout from the
// host's static busybox, in-process (the test user has no Go toolchain and
// no network), and uses its own empty cache (BRIG_CACHE_DIR).

const hostBusybox = "/bin/busybox"

// testImage is a busybox image whose default command prints a greeting;
// its config also sets Env and WorkingDir, which the tests check.
func testImage(t *testing.T, tag string, extra ...imagetest.Layer) imagetest.Image {
	t.Helper()
	if _, err := os.Stat(hostBusybox); err != nil {
		t.Skipf("%s is missing (install busybox-static): %v", hostBusybox, err)
	}
	bb, err := imagetest.BusyboxLayer(hostBusybox, "sh", "echo", "cat", "pwd", "ls", "id", "true")
	if err != nil {
		t.Fatal(err)
	}
	files := imagetest.Layer{Gzip: true, Entries: []imagetest.Entry{
		imagetest.Dir("work/", 0o755),
		imagetest.File("etc/greeting", []byte("hello from the image\n"), 0o644),
		imagetest.File("etc/stale", []byte("deleted by the next layer\n"), 0o644),
	}}
	wh := imagetest.Layer{Entries: []imagetest.Entry{imagetest.Whiteout("etc/stale")}}
	return imagetest.Image{
		Tag: tag,
		Config: ocispec.ImageConfig{
			Cmd:        []string{"/bin/cat", "/etc/greeting"},
			Env:        []string{"PATH=/bin", "GREETING=hi"},
			WorkingDir: "/work",
		},
		Layers: append([]imagetest.Layer{bb, files, wh}, extra...),
	}
}

// writeImage writes img into a fresh layout "layout" in a fresh working
// directory, and returns both.
func writeImage(t *testing.T, img imagetest.Image) (cwd string, w imagetest.Written) {
	t.Helper()
	cwd = t.TempDir()
	w, err := imagetest.Write(filepath.Join(cwd, "layout"), img)
	if err != nil {
		t.Fatal(err)
	}
	return cwd, w
}

// prepareImage unpacks an image in-process, without holding it.
func prepareImage(c image.Cache, ref image.Ref) (string, image.Config, string, error) {
	rootfs, cfg, dg, release, err := c.Prepare(ref)
	if release != nil {
		release()
	}
	return rootfs, cfg, dg, err
}

// cacheEnv gives the test an empty image cache.
func cacheEnv(t *testing.T) (string, []string) {
	dir := filepath.Join(t.TempDir(), "cache")
	return dir, []string{"BRIG_CACHE_DIR=" + dir}
}

var (
	brigFeaturesOnce sync.Once
	runHasImage      bool
	hasImageCmd      bool
)

// requireImageFlag skips until `brig run` has --image (the image package
// lands before the flag is wired into brig run).
func requireImageFlag(t *testing.T) {
	t.Helper()
	probeBrigFeatures(t)
	if !runHasImage {
		t.Skip("brig run --help lists no --image flag yet: the image package is not wired into brig run")
	}
}

// requireImageCmd skips until brig has the `image` command.
func requireImageCmd(t *testing.T) {
	t.Helper()
	probeBrigFeatures(t)
	if !hasImageCmd {
		t.Skip("brig has no 'image' command yet (brig image --help fails)")
	}
}

func probeBrigFeatures(t *testing.T) {
	brigFeaturesOnce.Do(func() {
		res := runBrig(t, "", "run", "--help")
		runHasImage = strings.Contains(res.stdout+res.stderr, "--image")
		hasImageCmd = runBrig(t, "", "image", "--help").code == 0
	})
}

// TestImageUnpackedTreeRuns unpacks an image as this user with the image
// package, then runs the tree with --rootfs: layers, whiteouts and the
// mount points are all as a sandbox needs them.
func TestImageUnpackedTreeRuns(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	_, w := writeImage(t, testImage(t, "v1"))
	cache := image.Cache{Dir: filepath.Join(t.TempDir(), "cache")}
	rootfs, cfg, dg, err := prepareImage(cache, image.Ref{Layout: w.Dir, Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if dg != w.Manifest.Digest.String() || strings.Join(cfg.Cmd, " ") != "/bin/cat /etc/greeting" {
		t.Errorf("Prepare: digest %s, config %+v", dg, cfg)
	}
	res := runBrig(t, "", "run", "--rootfs", rootfs, "--", "/bin/sh", "-c", "cat /etc/greeting; ls /etc")
	wantOutput(t, res, 0, "hello from the image\ngreeting\n")
}

func TestImageRunByTag(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	requireImageFlag(t)
	cwd, _ := writeImage(t, testImage(t, "v1"))
	_, env := cacheEnv(t)
	res := runBrigEnv(t, cwd, env, "", "run", "--image", "./layout:v1")
	wantOutput(t, res, 0, "hello from the image\n")
}

// TestImageRunByDigest also checks the image's defaults: Env and
// WorkingDir apply, and a command after -- replaces Cmd.
func TestImageRunByDigest(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	requireImageFlag(t)
	cwd, w := writeImage(t, testImage(t, "v1"))
	_, env := cacheEnv(t)
	ref := "./layout@" + w.Manifest.Digest.String()
	res := runBrigEnv(t, cwd, env, "", "run", "--image", ref, "--", "sh", "-c", "echo $GREETING; pwd")
	wantOutput(t, res, 0, "hi\n/work\n")
	// The second run reuses the unpacked image.
	res = runBrigEnv(t, cwd, env, "", "run", "--image", ref)
	wantOutput(t, res, 0, "hello from the image\n")
}

// TestImageRootIsReadOnly: every run shares the cached tree, so no run may
// change it.
func TestImageRootIsReadOnly(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	requireImageFlag(t)
	cwd, _ := writeImage(t, testImage(t, "v1"))
	_, env := cacheEnv(t)
	res := runBrigEnv(t, cwd, env, "", "run", "--image", "./layout:v1", "--", "sh", "-c", "echo x > /etc/greeting")
	if res.code == 0 {
		t.Fatalf("writing the image's root succeeded: %v", res)
	}
	res = runBrigEnv(t, cwd, env, "", "run", "--image", "./layout:v1")
	wantOutput(t, res, 0, "hello from the image\n")
}

// wantRefused checks a brig failure of its own: exit 125 and one line on
// stderr that names want (a blob's path, a digest).
func wantRefused(t *testing.T, res result, want string) {
	t.Helper()
	wantCode(t, res, 125)
	line := oneLine(t, res.stderr)
	if !strings.Contains(line, want) {
		t.Errorf("the error should name %q: %q", want, line)
	}
	if res.stdout != "" {
		t.Errorf("the workload ran: stdout %q", res.stdout)
	}
}

func appendOneByte(t *testing.T, p string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestImageTamperedLayer(t *testing.T) {
	t.Parallel()
	cwd, w := writeImage(t, testImage(t, "v1"))
	blob := w.BlobPath(w.Layers[1])
	appendOneByte(t, blob)
	cacheDir, env := cacheEnv(t)
	// The library, as this user.
	_, _, _, err := prepareImage(image.Cache{Dir: cacheDir}, image.Ref{Layout: w.Dir, Tag: "v1"})
	if err == nil || !strings.Contains(err.Error(), blob) {
		t.Errorf("Prepare of a tampered image: %v", err)
	}
	requireNoImages(t, cacheDir)
	t.Run("run", func(t *testing.T) {
		requireImageFlag(t)
		wantRefused(t, runBrigEnv(t, cwd, env, "", "run", "--image", "./layout:v1"), w.Layers[1].Digest.Encoded())
		requireNoImages(t, cacheDir)
	})
	t.Run("verify", func(t *testing.T) {
		requireImageCmd(t)
		wantRefused(t, runBrigEnv(t, cwd, env, "", "image", "verify", "./layout:v1"), w.Layers[1].Digest.Encoded())
	})
}

func TestImageTamperedManifest(t *testing.T) {
	t.Parallel()
	cwd, w := writeImage(t, testImage(t, "v1"))
	blob := w.BlobPath(w.Manifest)
	raw, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	// Same size, different content: only the digest can tell.
	tampered := strings.Replace(string(raw), `"schemaVersion":2`, `"schemaVersion":3`, 1)
	if tampered == string(raw) {
		t.Fatalf("manifest has no schemaVersion to change: %s", raw)
	}
	if err := os.WriteFile(blob, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir, env := cacheEnv(t)
	if _, err := image.Verify(image.Ref{Layout: w.Dir, Tag: "v1"}); err == nil || !strings.Contains(err.Error(), blob) {
		t.Errorf("Verify of a tampered manifest: %v", err)
	}
	t.Run("run", func(t *testing.T) {
		requireImageFlag(t)
		wantRefused(t, runBrigEnv(t, cwd, env, "", "run", "--image", "./layout@"+w.Manifest.Digest.String()), w.Manifest.Digest.Encoded())
		requireNoImages(t, cacheDir)
	})
}

func TestImageUnknownDigest(t *testing.T) {
	t.Parallel()
	cwd, w := writeImage(t, testImage(t, "v1"))
	_, env := cacheEnv(t)
	// A blob that exists but is not a manifest index.json lists.
	unknown := w.Layers[0].Digest.String()
	if _, err := image.Verify(image.Ref{Layout: w.Dir, Digest: unknown}); err == nil || !strings.Contains(err.Error(), unknown) {
		t.Errorf("Verify of an unknown digest: %v", err)
	}
	t.Run("run", func(t *testing.T) {
		requireImageFlag(t)
		wantRefused(t, runBrigEnv(t, cwd, env, "", "run", "--image", "./layout@"+unknown), unknown)
	})
}

// TestImageTraversalLayer: a layer that tries to write outside the tree
// is refused whole; one that writes through a symlink to a host path only
// writes inside the tree.
func TestImageTraversalLayer(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	evil := imagetest.Layer{Entries: []imagetest.Entry{
		imagetest.File(strings.Repeat("../", 8)+strings.TrimPrefix(outside, "/")+"/dotdot", []byte("x"), 0o644),
	}}
	cwd, w := writeImage(t, testImage(t, "evil", evil))
	cacheDir, env := cacheEnv(t)
	_, _, _, err := prepareImage(image.Cache{Dir: cacheDir}, image.Ref{Layout: w.Dir, Tag: "evil"})
	if err == nil || !strings.Contains(err.Error(), w.BlobPath(w.Layers[3])) {
		t.Errorf("Prepare of a layer with ..: %v", err)
	}
	requireNoImages(t, cacheDir)

	sneaky := imagetest.Layer{Entries: []imagetest.Entry{
		imagetest.Symlink("hostdir", outside),
		imagetest.File("hostdir/through-symlink", []byte("x"), 0o644),
		imagetest.Hardlink("etc/hostfile", "/etc/passwd"),
	}}
	_, w2 := writeImage(t, testImage(t, "sneaky", sneaky))
	_, _, _, err = prepareImage(image.Cache{Dir: cacheDir}, image.Ref{Layout: w2.Dir, Tag: "sneaky"})
	if err == nil || !strings.Contains(err.Error(), "hard link") {
		t.Errorf("Prepare of a hard link to a host file: %v", err)
	}
	if left, _ := os.ReadDir(outside); len(left) != 0 {
		t.Fatalf("a layer wrote outside its tree: %v", left)
	}
	t.Run("run", func(t *testing.T) {
		requireImageFlag(t)
		wantRefused(t, runBrigEnv(t, cwd, env, "", "run", "--image", "./layout:evil"), w.Layers[3].Digest.Encoded())
		if left, _ := os.ReadDir(outside); len(left) != 0 {
			t.Fatalf("a layer wrote outside its tree: %v", left)
		}
	})
}

// TestImageConcurrentFirstRuns starts several runs of one image at once
// on an empty cache: all succeed, and the cache holds one entry.
func TestImageConcurrentFirstRuns(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	requireImageFlag(t)
	cwd, _ := writeImage(t, testImage(t, "v1"))
	cacheDir, env := cacheEnv(t)
	const n = 4
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runBrigEnv(t, cwd, env, "", "run", "--image", "./layout:v1")
		}()
	}
	wg.Wait()
	for _, res := range results {
		wantOutput(t, res, 0, "hello from the image\n")
	}
	entries, _ := os.ReadDir(filepath.Join(cacheDir, "sha256"))
	if len(entries) != 1 {
		t.Errorf("want one cached image, got %v", entries)
	}
	if left, _ := os.ReadDir(filepath.Join(cacheDir, "tmp")); len(left) != 0 {
		t.Errorf("unpack leftovers: %v", left)
	}
}

// requireNoImages fails if the cache holds an image or a leftover unpack.
func requireNoImages(t *testing.T, cacheDir string) {
	t.Helper()
	for _, sub := range []string{"sha256", "tmp"} {
		if left, _ := os.ReadDir(filepath.Join(cacheDir, sub)); len(left) != 0 {
			t.Errorf("cache %s/ holds %v after a refused image", sub, left)
		}
	}
}

func TestImageCommands(t *testing.T) {
	t.Parallel()
	requireImageCmd(t)
	cwd, w := writeImage(t, testImage(t, "v1"))
	cacheDir, env := cacheEnv(t)
	res := runBrigEnv(t, cwd, env, "", "image", "verify", "./layout:v1")
	wantOutput(t, res, 0, w.Manifest.Digest.String()+"\n")

	if _, _, _, err := prepareImage(image.Cache{Dir: cacheDir}, image.Ref{Layout: w.Dir, Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	res = runBrigEnv(t, cwd, env, "", "image", "ls", "--json")
	wantCode(t, res, 0)
	var list []struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("image ls --json: %v\n%v", err, res)
	}
	if list[0].Digest != w.Manifest.Digest.String() || list[0].Size < 1000 || list[0].Source != w.Dir+":v1" {
		t.Errorf("image ls --json: %+v", list[0])
	}
	res = runBrigEnv(t, cwd, env, "", "image", "ls")
	if res.code != 0 || !strings.Contains(res.stdout, w.Manifest.Digest.Encoded()[:12]) {
		t.Errorf("image ls: %v", res)
	}
	res = runBrigEnv(t, cwd, env, "", "image", "prune", "--older-than", "1h")
	wantOutput(t, res, 0, "")
	res = runBrigEnv(t, cwd, env, "", "image", "prune")
	wantOutput(t, res, 0, w.Manifest.Digest.String()+"\n")
	requireNoImages(t, cacheDir)
	wantRefused(t, runBrigEnv(t, cwd, env, "", "image", "verify", "./layout:v2"), "v2")
}

// TestImagePruneSkipsARunningImage: a sandbox running from an image holds
// it; prune leaves it alone, and removes it once the run is over.
func TestImagePruneSkipsARunningImage(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	requireImageFlag(t)
	requireImageCmd(t)
	sleep, err := imagetest.BusyboxLayer(hostBusybox, "sleep")
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := writeImage(t, testImage(t, "v1", sleep))
	_, env := cacheEnv(t)
	// GOGC=1 collects garbage at every chance: a hold that nothing
	// references would be closed by the collector during the run.
	env = append(env, "GOGC=1")
	pause := strconv.Itoa(int(scaled(3 * time.Second).Seconds()))
	b := startBrig(t, cwd, env, "run", "--image", "./layout:v1", "--", "sh", "-c", "echo up; sleep "+pause+"; cat /etc/greeting")
	b.waitLine(t, "up", 20*time.Second)
	res := runBrigEnv(t, cwd, env, "", "image", "prune")
	wantCode(t, res, 0)
	if !strings.Contains(res.stderr, "removed 0 images") {
		t.Errorf("prune during the run: %q, want it to remove nothing", res.stderr)
	}
	run := b.wait(t, 30*time.Second)
	wantCode(t, run, 0)
	if !strings.Contains(run.stdout, "hello from the image") {
		t.Errorf("the run lost its image: stdout %q, stderr %q", run.stdout, run.stderr)
	}
	res = runBrigEnv(t, cwd, env, "", "image", "prune")
	if !strings.Contains(res.stderr, "removed 1 image") {
		t.Errorf("prune after the run: %q, want it to remove the image", res.stderr)
	}
}

// TestImageUser: an image that names a user runs as that user, named in
// its own /etc/passwd; --user overrides it, and a user the image does not
// know is refused.
func TestImageUser(t *testing.T) {
	t.Parallel()
	requireUserNS(t)
	requireImageFlag(t)
	passwd := imagetest.Layer{Entries: []imagetest.Entry{
		imagetest.File("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n"), 0o644),
		imagetest.File("etc/group", []byte("root:x:0:\napp:x:1001:\n"), 0o644),
	}}
	for _, tc := range []struct {
		user string
		args []string
		code int
		want string
	}{
		{"app", nil, 0, "1000 1001\n"},
		{"1000:1001", nil, 0, "1000 1001\n"},
		{"app", []string{"--user", "root"}, 0, "0 0\n"},
		{"ghost", nil, 125, ""},
	} {
		img := testImage(t, "v1", passwd)
		img.Config.User = tc.user
		cwd, _ := writeImage(t, img)
		_, env := cacheEnv(t)
		args := append(append([]string{"run", "--image", "./layout:v1"}, tc.args...), "--", "sh", "-c", `echo "$(id -u) $(id -g)"`)
		res := runBrigEnv(t, cwd, env, "", args...)
		if res.code != tc.code || res.stdout != tc.want {
			t.Errorf("image user %q %v: want exit %d and %q, got %v", tc.user, tc.args, tc.code, tc.want, res)
		}
		if tc.code == 125 && !strings.Contains(res.stderr, "ghost") {
			t.Errorf("image user %q: the error does not name the user: %q", tc.user, res.stderr)
		}
	}
}
