package sandbox

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/brigsandbox/brig/spec"
)

// writeSkeleton creates a host-mode root: directories, symlinks and the
// generated /etc files, all owned by the caller (root inside).
func writeSkeleton(root string, entries []spec.SkeletonEntry) error {
	if entries == nil {
		return nil
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	for _, e := range entries {
		p := filepath.Join(root, e.Path)
		var err error
		switch {
		case e.Dir:
			err = os.MkdirAll(p, 0o755)
		case e.Symlink != "":
			err = os.Symlink(e.Symlink, p)
		case e.Source != "":
			err = copyFile(e.Source, p)
		default:
			err = os.WriteFile(p, e.Data, 0o644)
		}
		if err != nil {
			return fmt.Errorf("%w: root skeleton: %w", ErrState, err)
		}
	}
	return nil
}

// copyFile copies a small host file (a curated /etc file) into the root;
// a file that vanished since the layout was read is left out.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// CheckRootfs refuses a root filesystem whose /proc, /dev or /sys is a
// symlink: a runtime that followed one would mount procfs or devices
// wherever it points (CVE-2019-19921, CVE-2026-41579). libcontainer
// resolves mount targets inside the root anyway; this early check turns an
// obscure start failure into a clear refusal.
func CheckRootfs(dir string) error {
	for _, name := range []string{"proc", "dev", "sys"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			continue // libcontainer creates it
		}
		if fi.Mode()&os.ModeSymlink != 0 || !fi.IsDir() {
			return fmt.Errorf("%w: %s/%s is not a directory (a symlink there could redirect the sandbox's /%s mount); make it an empty directory", ErrRootfs, dir, name, name)
		}
	}
	return nil
}

// dynamicHint explains the likeliest reason brig's init cannot start in a
// --rootfs tree: a dynamically linked brig needs a C library the tree
// does not have.
func dynamicHint() string {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "; this brig is dynamically linked and runs as the sandbox's pid 1, so a root filesystem without its C library cannot start it: build brig with scripts/build (static)"
		}
	}
	return ""
}
