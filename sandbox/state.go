package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// State layout, below the state directory:
//
//	lc/<id>/          libcontainer's own state (state.json, exec fifo)
//	runs/<id>/lock    held (flock) by the brig process that owns the run
//	runs/<id>/root/   the host-mode root skeleton
//	runs/<id>/info.json  what `brig ps` shows
//
// A run directory whose lock can be taken belongs to a brig that died:
// Collect removes it and whatever libcontainer left.
const (
	lcDir   = "lc"
	runsDir = "runs"
)

// StateDir returns where brig keeps per-run state for this user:
// $BRIG_STATE_DIR, else $XDG_RUNTIME_DIR/brig, else /run/user/UID/brig when
// that exists, else a 0700 directory in the system temporary directory.
// It never shares a directory with the brig binary: libcontainer's seal
// of /proc/self/exe falls back to copying the whole binary when it does.
func StateDir() string {
	if d := os.Getenv("BRIG_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "brig")
	}
	uid := strconv.Itoa(os.Geteuid())
	if d := filepath.Join("/run/user", uid); isOwnedDir(d) {
		return filepath.Join(d, "brig")
	}
	return filepath.Join(os.TempDir(), "brig-"+uid)
}

func isOwnedDir(d string) bool {
	fi, err := os.Stat(d)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid() && unix.Access(d, unix.W_OK) == nil
}

// ensureStateDir creates dir 0700 and checks that it is ours and private:
// another user must not be able to plant state or read our runs.
func ensureStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s is not a directory owned by uid %d (set BRIG_STATE_DIR)", ErrState, dir, os.Geteuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("%w: %w", ErrState, err)
		}
	}
	for _, sub := range []string{lcDir, runsDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("%w: %w", ErrState, err)
		}
	}
	return nil
}

// NewID returns a fresh run id: 12 hex digits, short enough to type.
func NewID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runDir is one run's private directory, locked while the run lives.
type runDir struct {
	path string
	lock *os.File
}

// newRunDir creates runs/<id> with its lock already held: the directory is
// made and locked under a temporary name, then renamed into place, so that
// a concurrent Collect never sees a run directory whose lock is free.
func newRunDir(stateDir, id string) (*runDir, error) {
	p := filepath.Join(stateDir, runsDir, id)
	tmp := filepath.Join(stateDir, runsDir, tmpPrefix+id)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrState, err)
	}
	lock, err := os.OpenFile(filepath.Join(tmp, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		if lock != nil {
			_ = lock.Close()
		}
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("%w: lock run %s: %w", ErrState, id, err)
	}
	return &runDir{path: p, lock: lock}, nil
}

// tmpPrefix marks a run directory still being made.
const tmpPrefix = ".new-"

// remove deletes the run directory, then drops the lock.
func (r *runDir) remove() error {
	err := os.RemoveAll(r.path)
	_ = r.lock.Close()
	return err
}

// Collect removes the state of runs whose brig process died (SIGKILL, a
// crash, a reboot of the runtime dir is handled by the kernel): it kills
// what is left of their sandboxes and deletes their directories. It is
// cheap when there is nothing to collect: one directory read.
func Collect(stateDir string, log *slog.Logger) {
	entries, err := os.ReadDir(filepath.Join(stateDir, runsDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		if err := collectOne(stateDir, e.Name()); err != nil {
			logger(log).Debug("cannot collect stale run", "id", e.Name(), "err", err)
		}
	}
}

func collectOne(stateDir, id string) error {
	p := filepath.Join(stateDir, runsDir, id)
	if strings.HasPrefix(id, tmpPrefix) {
		// A run being made, or a crash in between mkdir and rename.
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > bornWithin {
			return os.RemoveAll(p)
		}
		return nil
	}
	lock, err := os.OpenFile(filepath.Join(p, "lock"), os.O_RDWR, 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if lock != nil {
		defer lock.Close()
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			return nil // alive: its brig still holds the lock
		}
	}
	if err := destroyContainer(filepath.Join(stateDir, lcDir), id); err != nil {
		return err // keep the run directory: the next Collect tries again
	}
	return os.RemoveAll(p)
}

// bornWithin is how long a run directory may stay half-made.
const bornWithin = time.Minute

// destroyWithin is how long a killed sandbox's init may take to die
// before Collect leaves it to the next run.
const destroyWithin = 2 * time.Second

// destroyContainer kills and removes libcontainer's container id, if any.
// A sandbox whose brig was killed may still be dying when the next run
// collects it: libcontainer refuses to destroy a container whose init is
// alive (ErrRunning), so wait for the SIGKILL to land.
func destroyContainer(lcRoot, id string) error {
	c, err := libcontainer.Load(lcRoot, id)
	if err != nil {
		return os.RemoveAll(filepath.Join(lcRoot, id))
	}
	_ = c.Signal(unix.SIGKILL)
	deadline := time.Now().Add(destroyWithin)
	for {
		err := c.Destroy()
		if !errors.Is(err, libcontainer.ErrRunning) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
