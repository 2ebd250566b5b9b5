package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Whiteout markers (the OCI layer spec, after AUFS): ".wh.NAME" deletes
// NAME from the layers below; ".wh..wh..opq" in a directory hides
// everything the layers below put there.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// unpacker applies layers, lowest first, to the directory root. It runs as
// an unprivileged user, so:
//
//   - ownership is not recorded: everything belongs to the user, which the
//     sandbox maps to root inside;
//   - device nodes are skipped (as containerd does rootless) and logged at
//     debug level; the sandbox's /dev comes from brig, not the image;
//   - setuid and setgid bits are stripped; they could not raise privileges
//     anyway, since the sandbox sets no_new_privs;
//   - extended attributes (file capabilities, SELinux labels) are dropped;
//   - directories get at least rwx for the owner, so that later layers,
//     and pruning, can always write and delete in them.
//
// Every path is resolved with securejoin, so a symlink planted by one
// entry (or layer) can never redirect a later entry outside root, and the
// last component is never followed: an entry replaces what is there.
type unpacker struct {
	root     string
	log      *slog.Logger
	dirTimes map[string]time.Time
}

func newUnpacker(root string, log *slog.Logger) *unpacker {
	return &unpacker{root: root, log: log, dirTimes: map[string]time.Time{}}
}

// layerState is what applying one layer remembers: the paths it wrote
// (whiteouts and opaque markers hide only what lower layers wrote) and
// its opaque directories, applied once the whole layer has been read
// because tar order does not promise the marker comes first.
type layerState struct {
	role   string
	seen   map[string]bool
	opaque []string
}

// apply unpacks one layer's tar stream.
func (u *unpacker) apply(r io.Reader, role string) error {
	st := &layerState{role: role, seen: map[string]bool{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &entryError{ErrBadBlob, fmt.Sprintf("reading tar: %v", err)}
		}
		if err := u.entry(tr, hdr, st); err != nil {
			return err
		}
	}
	for _, dir := range st.opaque {
		if err := u.clearLower(dir, st.seen); err != nil {
			return err
		}
	}
	return nil
}

// entry applies one tar header: a whiteout, an opaque marker or a file.
func (u *unpacker) entry(tr *tar.Reader, hdr *tar.Header, st *layerState) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return &entryError{ErrUnsafeLayer, fmt.Sprintf("entry %q: %v", hdr.Name, err)}
	}
	if name == "" {
		return nil // the root itself: keep ours
	}
	dir, base := path.Split(name)
	switch {
	case base == whiteoutOpaque:
		d, err := securejoin.SecureJoin(u.root, dir)
		if err != nil {
			return u.ioErr(st, hdr.Name, err)
		}
		st.opaque = append(st.opaque, d)
		return nil
	case strings.HasPrefix(base, whiteoutMeta):
		u.log.Debug("image: skipping whiteout metadata", "layer", st.role, "entry", hdr.Name)
		return nil
	case strings.HasPrefix(base, whiteoutPrefix):
		return u.whiteout(dir, strings.TrimPrefix(base, whiteoutPrefix), st)
	}
	target, err := u.resolve(name)
	if err != nil {
		return u.ioErr(st, hdr.Name, err)
	}
	created, err := u.create(tr, hdr, target, st)
	if err != nil {
		return err
	}
	if created {
		st.seen[target] = true
	}
	return nil
}

// cleanName turns a tar name into a clean path relative to the root ("" for
// the root). A leading "/" or "./" is common and harmless; ".." never is in
// a real image, so it is refused rather than clamped.
func cleanName(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", errors.New("the name holds a NUL byte")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", errors.New(`".." would leave the root file system`)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// resolve maps a clean relative name to its host path: the parent is
// resolved inside root (symlinks included, never escaping it), the last
// component is kept as is so that it is replaced, never followed.
func (u *unpacker) resolve(name string) (string, error) {
	dir, base := path.Split(name)
	parent, err := securejoin.SecureJoin(u.root, dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, base), nil
}

// create writes one entry at target and says whether it made something.
func (u *unpacker) create(tr *tar.Reader, hdr *tar.Header, target string, st *layerState) (bool, error) {
	existing, err := os.Lstat(target)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, u.ioErr(st, hdr.Name, err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		// Tar streams need not list parent directories before their
		// children. The parent was resolved inside root and what is
		// missing of it is plain directories, so MkdirAll follows nothing.
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return false, u.ioErr(st, hdr.Name, err)
		}
		existing = nil
	}
	if existing != nil && !(hdr.Typeflag == tar.TypeDir && existing.IsDir()) {
		// A directory merges with the one below; anything else replaces
		// what is there, so that we never write through an old symlink or
		// into an old hard link's shared inode.
		if err := removeTree(target); err != nil {
			return false, u.ioErr(st, hdr.Name, err)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = u.mkdir(target, hdr, existing != nil && existing.IsDir())
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse: //nolint:staticcheck // TypeRegA is still written by old tools
		err = u.writeFile(target, hdr, tr)
	case tar.TypeSymlink:
		err = u.symlink(target, hdr)
	case tar.TypeLink:
		err = u.hardlink(target, hdr, st)
	case tar.TypeFifo:
		err = unix.Mkfifo(target, fileMode(hdr))
	case tar.TypeChar, tar.TypeBlock:
		u.log.Debug("image: skipping device node (rootless)", "layer", st.role, "entry", hdr.Name)
		return false, nil
	default:
		u.log.Debug("image: skipping tar entry of unknown type", "layer", st.role, "entry", hdr.Name, "type", string(hdr.Typeflag))
		return false, nil
	}
	if err != nil {
		var ee *entryError
		if errors.As(err, &ee) {
			return false, err
		}
		return false, u.ioErr(st, hdr.Name, err)
	}
	if hdr.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 && hdr.Typeflag != tar.TypeDir {
		u.log.Debug("image: dropped setuid/setgid bit", "layer", st.role, "entry", hdr.Name)
	}
	return true, nil
}

// fileMode keeps the permission bits, without setuid, setgid or sticky.
func fileMode(hdr *tar.Header) uint32 { return uint32(hdr.Mode) & 0o777 }

// dirMode keeps permissions and the sticky bit (/tmp), adds owner rwx and
// drops setgid, which could only matter for group ownership we cannot set.
func dirMode(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode)&(0o777|unix.S_ISVTX) | 0o700
}

func (u *unpacker) mkdir(target string, hdr *tar.Header, exists bool) error {
	if !exists {
		if err := os.Mkdir(target, 0o700); err != nil {
			return err
		}
	}
	u.dirTimes[target] = hdr.ModTime
	return unix.Chmod(target, dirMode(hdr))
}

// writeFile creates target exclusively, never following a symlink, and
// sets the mode after writing so that read-only files can be written.
func (u *unpacker) writeFile(target string, hdr *tar.Header, r io.Reader) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = unix.Fchmod(int(f.Fd()), fileMode(hdr))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return setTimes(target, hdr)
}

// symlink makes a link with any target: it is resolved inside the
// sandbox, against the image's root, never by the unpacker.
func (u *unpacker) symlink(target string, hdr *tar.Header) error {
	if hdr.Linkname == "" {
		return &entryError{ErrUnsafeLayer, fmt.Sprintf("symlink %q has an empty target", hdr.Name)}
	}
	if err := os.Symlink(hdr.Linkname, target); err != nil {
		return err
	}
	return setTimes(target, hdr)
}

// hardlink links target to another entry of the tree. The link target is
// a name relative to the root, like an entry's, and is resolved the same
// way, so it can never name a file outside the tree.
func (u *unpacker) hardlink(target string, hdr *tar.Header, st *layerState) error {
	name, err := cleanName(hdr.Linkname)
	if err != nil || name == "" {
		return &entryError{ErrUnsafeLayer, fmt.Sprintf("hard link %q to %q: the target must be a file inside the image", hdr.Name, hdr.Linkname)}
	}
	src, err := u.resolve(name)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(src)
	if err != nil {
		return &entryError{ErrUnsafeLayer, fmt.Sprintf("hard link %q to %q: the target is not in the image", hdr.Name, hdr.Linkname)}
	}
	if fi.IsDir() {
		return &entryError{ErrUnsafeLayer, fmt.Sprintf("hard link %q to %q: the target is a directory", hdr.Name, hdr.Linkname)}
	}
	// link(2) does not follow a symlink at src: a hard link to a symlink
	// is a second name for the symlink, as tar means.
	return os.Link(src, target)
}

func setTimes(target string, hdr *tar.Header) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// whiteout deletes dir/victim as the layers below left it. An entry this
// layer wrote itself stays: whiteouts only hide lower layers.
func (u *unpacker) whiteout(dir, victim string, st *layerState) error {
	if victim == "" || victim == "." || victim == ".." {
		return &entryError{ErrUnsafeLayer, fmt.Sprintf("whiteout %q names no file", dir+whiteoutPrefix+victim)}
	}
	target, err := u.resolve(path.Join(dir, victim))
	if err != nil {
		return u.ioErr(st, dir+whiteoutPrefix+victim, err)
	}
	if st.seen[target] {
		return nil
	}
	if err := removeTree(target); err != nil {
		return u.ioErr(st, dir+whiteoutPrefix+victim, err)
	}
	return nil
}

// clearLower empties dir of everything lower layers put there, keeping
// what this layer wrote (also below subdirectories this layer wrote).
func (u *unpacker) clearLower(dir string, seen map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: opaque directory %s: %v", ErrCache, dir, err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case !seen[p]:
			if err := removeTree(p); err != nil {
				return fmt.Errorf("%w: %v", ErrCache, err)
			}
		case e.IsDir():
			if err := u.clearLower(p, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish restores directory times, which the entries written into them
// changed; a directory a later layer removed is simply gone.
func (u *unpacker) finish() error {
	for dir, mtime := range u.dirTimes {
		ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		err := unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, unix.AT_SYMLINK_NOFOLLOW)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%w: setting the time of %s: %v", ErrCache, dir, err)
		}
	}
	return nil
}

// entryError is a layer's fault (not the disk's): the caller turns it
// into a BlobError naming the layer's blob.
type entryError struct {
	sentinel error
	detail   string
}

func (e *entryError) Error() string { return e.detail }
func (e *entryError) Unwrap() error { return e.sentinel }

func (u *unpacker) ioErr(st *layerState, entry string, err error) error {
	return fmt.Errorf("%w: %s: unpacking %q: %v", ErrCache, st.role, entry, err)
}

// removeTree removes p and everything below it, without following a
// symlink at p. If a directory lost its owner write bit (a sandbox with a
// writable root can chmod), it restores the bits and tries again.
func removeTree(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
