package sandbox

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// explainStartError turns libcontainer's start errors into one line that
// says what to fix, keeping the original error wrapped.
func explainStartError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, unix.EPERM) && strings.Contains(msg, "uid_map"),
		strings.Contains(msg, "unprivileged user namespaces"),
		strings.Contains(msg, "clone") && errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w (user namespaces look unavailable to this user: run 'brig doctor')", err)
	case strings.Contains(msg, "cannot set") && strings.Contains(msg, "limit"):
		return fmt.Errorf("%w (limits are not delegated to this user: run 'brig doctor')", err)
	}
	return err
}
