package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Cache holds unpacked images, one directory per manifest digest:
//
//	DIR/sha256/HEX/rootfs      the unpacked tree
//	DIR/sha256/HEX/entry.json  where it came from and how big it is
//	DIR/sha256/HEX/last-used   its mtime is the last run's time
//	DIR/locks/sha256-HEX       flock(2) serialising unpack, reuse and prune
//	DIR/tmp/                   trees being unpacked (renamed into place)
type Cache struct {
	Dir    string
	Logger *slog.Logger
}

// Entry is one cached image.
type Entry struct {
	Digest   string    // the manifest digest, "sha256:..."
	Size     int64     // bytes of file content in the unpacked tree
	LastUsed time.Time // the last Prepare that used it
	Source   string    // the reference it was first unpacked from
}

// entryFile is entry.json.
type entryFile struct {
	Digest   string    `json:"digest"`
	Source   string    `json:"source"`
	Size     int64     `json:"size"`
	Unpacked time.Time `json:"unpacked"`
}

const (
	rootfsDir    = "rootfs"
	entryJSON    = "entry.json"
	lastUsedFile = "last-used"
	locksDir     = "locks"
	tmpDir       = "tmp"
)

// DefaultCache is the user's image cache: $BRIG_CACHE_DIR, else
// $XDG_CACHE_HOME/brig/images, else ~/.cache/brig/images.
func DefaultCache() Cache {
	if d := os.Getenv("BRIG_CACHE_DIR"); d != "" {
		return Cache{Dir: d}
	}
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return Cache{Dir: filepath.Join(d, "brig", "images")}
	}
	if home, err := os.UserHomeDir(); err == nil {
		return Cache{Dir: filepath.Join(home, ".cache", "brig", "images")}
	}
	return Cache{}
}

func (c Cache) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// abs returns the cache directory, absolute.
func (c Cache) abs() (string, error) {
	if c.Dir == "" {
		return "", fmt.Errorf("%w: no cache directory (set BRIG_CACHE_DIR or HOME)", ErrCache)
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrCache, c.Dir, err)
	}
	return dir, nil
}

// dir returns the cache directory, absolute, creating it (0700) and its
// subdirectories.
func (c Cache) dir() (string, error) {
	dir, err := c.abs()
	if err != nil {
		return "", err
	}
	for _, sub := range []string{"", locksDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return "", fmt.Errorf("%w: %v (set BRIG_CACHE_DIR to a directory you can write)", ErrCache, err)
		}
	}
	return dir, nil
}

// Prepare verifies the image ref names and returns its unpacked root
// file system, unpacking it first unless the cache already holds it.
//
// The manifest and config are read and verified on every call (they are
// small, and the config supplies cfg); the layers only when unpacking.
// Each layer is hashed as it is unpacked into a temporary directory, and
// that directory becomes the cache entry only after every blob matched:
// nothing of a tampered layer is ever used. Concurrent calls for the same
// image wait for one another while it is unpacked, so it is unpacked once.
//
// The image stays held until release is called (or the process exits):
// Prune skips it meanwhile, and other runs of it do not wait. Keep
// release referenced for as long as a sandbox runs from rootfs: the lock
// is an open file, which the garbage collector would close.
//
// rootfs is absolute. The caller must not write to it (run the sandbox
// with a read-only root): other runs share it.
func (c Cache) Prepare(ref Ref) (rootfs string, cfg Config, manifestDigest string, release func(), err error) {
	dir, err := c.dir()
	if err != nil {
		return "", Config{}, "", nil, err
	}
	l, err := openLayout(ref.Layout)
	if err != nil {
		return "", Config{}, "", nil, err
	}
	defer l.close()
	img, err := l.loadImage(ref)
	if err != nil {
		return "", Config{}, "", nil, err
	}
	key := img.manifestDesc.Digest
	entry := entryDir(dir, key)
	// Held shared; only an unpack needs the key to itself. A prune can
	// slip in between an unpack and the hold that follows it: go round.
	for attempt := range 3 {
		release, err := lockKey(dir, key, lockShared)
		if err != nil {
			return "", Config{}, "", nil, err
		}
		if unpacked(entry) {
			if attempt == 0 {
				c.logger().Debug("image: reusing unpacked image", "digest", key.String(), "dir", entry)
			}
			touch(filepath.Join(entry, lastUsedFile))
			return filepath.Join(entry, rootfsDir), configOf(img), key.String(), release, nil
		}
		release()
		if err := c.unpackOnce(dir, l, img, sourceOf(ref)); err != nil {
			return "", Config{}, "", nil, err
		}
	}
	return "", Config{}, "", nil, fmt.Errorf("%w: %s was removed each time it was unpacked (a prune running in a loop?)", ErrCache, key)
}

// unpackOnce unpacks img under its key's exclusive lock, unless another
// process has unpacked it meanwhile.
func (c Cache) unpackOnce(dir string, l *layout, img *image, source string) error {
	key := img.manifestDesc.Digest
	unlock, err := lockKey(dir, key, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	if unpacked(entryDir(dir, key)) {
		return nil
	}
	return c.unpack(dir, l, img, source)
}

// unpacked reports whether the cache entry is complete: entry.json is
// written last, and the entry renamed into place whole.
func unpacked(entry string) bool {
	_, err := os.Stat(filepath.Join(entry, entryJSON))
	return err == nil
}

// sourceOf is ref with an absolute layout path, for entry.json.
func sourceOf(ref Ref) string {
	if abs, err := filepath.Abs(ref.Layout); err == nil {
		ref.Layout = abs
	}
	return ref.String()
}

func entryDir(dir string, d digest.Digest) string {
	return filepath.Join(dir, d.Algorithm().String(), d.Encoded())
}

// unpack builds the entry for img in a temporary directory and renames it
// into place. The caller holds the key's lock.
func (c Cache) unpack(dir string, l *layout, img *image, source string) (err error) {
	key := img.manifestDesc.Digest
	log := c.logger()
	prefix := key.Algorithm().String() + "-" + key.Encoded() + "-"
	removeStale(filepath.Join(dir, tmpDir), prefix, log)
	if err := checkLayerSizes(l, img); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(dir, tmpDir), prefix)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCache, err)
	}
	defer func() {
		if err != nil {
			_ = removeTree(tmp)
		}
	}()
	start := time.Now()
	log.Debug("image: unpacking", "digest", key.String(), "layers", len(img.manifest.Layers), "into", tmp)
	rootfs := filepath.Join(tmp, rootfsDir)
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrCache, err)
	}
	if err := unpackLayers(l, img, rootfs, log); err != nil {
		return err
	}
	size, err := treeSize(rootfs)
	if err != nil {
		return err
	}
	if err := writeEntry(tmp, entryFile{Digest: key.String(), Source: source, Size: size, Unpacked: time.Now().UTC()}); err != nil {
		return err
	}
	final := entryDir(dir, key)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return fmt.Errorf("%w: %v", ErrCache, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("%w: %v", ErrCache, err)
	}
	log.Debug("image: unpacked", "digest", key.String(), "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// checkLayerSizes compares every layer blob's size with the manifest
// before any is read: a truncated or grown blob fails at once, naming
// itself, instead of after minutes of unpacking.
func checkLayerSizes(l *layout, img *image) error {
	for i, d := range img.manifest.Layers {
		f, err := l.openBlob(layerRole(i, len(img.manifest.Layers)), "the manifest", d)
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// unpackLayers applies each layer in order, verifying each as it goes.
func unpackLayers(l *layout, img *image, rootfs string, log *slog.Logger) error {
	u := newUnpacker(rootfs, log)
	for i := range img.manifest.Layers {
		lr, err := l.openLayer(img, i)
		if err != nil {
			return err
		}
		err = lr.finish(u.apply(lr, layerRole(i, len(img.manifest.Layers))))
		lr.close()
		if err != nil {
			return wrapLayerErr(err, lr)
		}
	}
	if err := u.finish(); err != nil {
		return err
	}
	return mountPoints(rootfs)
}

// wrapLayerErr names the layer blob in a layer's fault, so that the user
// learns which file to distrust.
func wrapLayerErr(err error, lr *layerReader) error {
	var ee *entryError
	if !errors.As(err, &ee) {
		return err
	}
	return &BlobError{Role: lr.blob.role, Digest: lr.blob.desc.Digest.String(), Path: lr.blob.path, Err: ee.sentinel, Detail: ee.detail}
}

// mountPoints makes sure the directories brig mounts over exist, so that
// a run never has to create them in the shared tree. An image that has
// something else there (a symlink) keeps it; the run decides.
func mountPoints(rootfs string) error {
	for _, mp := range []struct {
		name string
		mode uint32
	}{{"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"tmp", 0o1777}} {
		p := filepath.Join(rootfs, mp.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		if err := os.Mkdir(p, 0o700); err != nil {
			return fmt.Errorf("%w: %v", ErrCache, err)
		}
		if err := unix.Chmod(p, mp.mode|0o700); err != nil {
			return fmt.Errorf("%w: %v", ErrCache, err)
		}
	}
	return nil
}

// treeSize adds up the file content below root, each inode once.
func treeSize(root string) (int64, error) {
	var size int64
	inodes := map[uint64]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if inodes[st.Ino] {
				return nil
			}
			inodes[st.Ino] = true
		}
		size += fi.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%w: measuring %s: %v", ErrCache, root, err)
	}
	return size, nil
}

func writeEntry(dir string, e entryFile) error {
	raw, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCache, err)
	}
	if err := os.WriteFile(filepath.Join(dir, entryJSON), append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("%w: %v", ErrCache, err)
	}
	return nil
}

// touch sets p's times to now, creating it if needed. Failing to record a
// use only makes prune think the image older: not worth failing a run.
func touch(p string) {
	now := time.Now()
	if err := os.Chtimes(p, now, now); errors.Is(err, fs.ErrNotExist) {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			f.Close()
		}
	}
}

// Lock modes of a cache key: a writer (unpack, removal) holds it
// exclusively; a prepared image is held shared (see Prepare), which is
// what makes Prune skip an image in use.
const (
	lockWait   = unix.LOCK_EX
	lockTry    = unix.LOCK_EX | unix.LOCK_NB
	lockShared = unix.LOCK_SH
)

// lockKey takes the lock of one cache key in mode how: lockWait (unpack),
// lockTry (prune, which skips what is busy) or lockShared (an image in
// use). Lock files are never removed: removing one while
// another process waits on it would let two holders in.
func lockKey(dir string, key digest.Digest, how int) (unlock func(), err error) {
	p := filepath.Join(dir, locksDir, key.Algorithm().String()+"-"+key.Encoded())
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: lock: %v", ErrCache, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: lock %s: %v", ErrCache, p, err)
	}
	return func() { f.Close() }, nil
}

// removeStale removes leftovers of crashed unpacks of one key from tmp/.
// The caller holds that key's lock, so none of them is in progress.
func removeStale(tmp, prefix string, log *slog.Logger) {
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			log.Debug("image: removing an interrupted unpack", "dir", filepath.Join(tmp, e.Name()))
			_ = removeTree(filepath.Join(tmp, e.Name()))
		}
	}
}

// List returns the cached images, most recently used first. A cache that
// does not exist yet is empty.
func (c Cache) List() ([]Entry, error) {
	dir, err := c.abs()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA384, digest.SHA512} {
		entries, err := os.ReadDir(filepath.Join(dir, alg.String()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCache, err)
		}
		for _, e := range entries {
			if ent, ok := readEntry(filepath.Join(dir, alg.String(), e.Name())); ok {
				out = append(out, ent)
			}
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return b.LastUsed.Compare(a.LastUsed) })
	return out, nil
}

// readEntry reads one entry directory; one without a valid entry.json is
// not an entry (unpacks are renamed into place complete).
func readEntry(p string) (Entry, bool) {
	raw, err := os.ReadFile(filepath.Join(p, entryJSON))
	if err != nil {
		return Entry{}, false
	}
	var ef entryFile
	if json.Unmarshal(raw, &ef) != nil || digest.Digest(ef.Digest).Validate() != nil {
		return Entry{}, false
	}
	e := Entry{Digest: ef.Digest, Size: ef.Size, Source: ef.Source, LastUsed: ef.Unpacked}
	if fi, err := os.Stat(filepath.Join(p, lastUsedFile)); err == nil {
		e.LastUsed = fi.ModTime()
	}
	return e, true
}

// Prune removes the cached images not used for olderThan (all of them
// when olderThan is 0), and leftovers of interrupted unpacks. An image
// being unpacked right now, or held by a caller of Prepare, is skipped.
func (c Cache) Prune(olderThan time.Duration) ([]Entry, error) {
	dir, err := c.abs()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, locksDir)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no cache yet: nothing to prune
	}
	list, err := c.List()
	if err != nil {
		return nil, err
	}
	var removed []Entry
	for _, e := range list {
		if olderThan > 0 && time.Since(e.LastUsed) < olderThan {
			continue
		}
		ok, err := c.remove(dir, e)
		if err != nil {
			return removed, err
		}
		if ok {
			removed = append(removed, e)
		}
	}
	c.pruneTmp(dir)
	return removed, nil
}

// remove deletes one entry under its lock: first renamed into tmp/, so
// that it disappears at once, then deleted.
func (c Cache) remove(dir string, e Entry) (bool, error) {
	key := digest.Digest(e.Digest)
	unlock, err := lockKey(dir, key, lockTry)
	if err != nil {
		c.logger().Debug("image: skipping an image in use", "digest", e.Digest, "err", err)
		return false, nil
	}
	defer unlock()
	doomed, err := os.MkdirTemp(filepath.Join(dir, tmpDir), key.Algorithm().String()+"-"+key.Encoded()+"-removing-")
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrCache, err)
	}
	if err := os.Rename(entryDir(dir, key), filepath.Join(doomed, "entry")); err != nil {
		_ = os.Remove(doomed)
		return false, fmt.Errorf("%w: removing %s: %v", ErrCache, e.Digest, err)
	}
	if err := removeTree(doomed); err != nil {
		return true, fmt.Errorf("%w: removing %s: %v", ErrCache, e.Digest, err)
	}
	return true, nil
}

// pruneTmp removes tmp/ leftovers whose key is not locked by anyone.
func (c Cache) pruneTmp(dir string) {
	entries, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	for _, e := range entries {
		alg, rest, ok := strings.Cut(e.Name(), "-")
		if !ok {
			continue
		}
		hex, _, _ := strings.Cut(rest, "-")
		key := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
		if key.Validate() != nil {
			continue
		}
		unlock, err := lockKey(dir, key, lockTry)
		if err != nil {
			continue
		}
		c.logger().Debug("image: removing an interrupted unpack", "dir", e.Name())
		_ = removeTree(filepath.Join(dir, tmpDir, e.Name()))
		unlock()
	}
}
