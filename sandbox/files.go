package sandbox

import (
	"encoding/json"
	"fmt"
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
		default:
			err = os.WriteFile(p, e.Data, 0o644)
		}
		if err != nil {
			return fmt.Errorf("%w: root skeleton: %w", ErrState, err)
		}
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
