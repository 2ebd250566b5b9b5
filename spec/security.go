package spec

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithCapabilities sets the capabilities the workload keeps, in every set
// (effective, permitted, bounding; inheritable and ambient stay empty so
// that exec'd programs gain nothing). Capabilities inside a user namespace
// only act on objects that namespace owns.
func WithCapabilities(caps ...string) Option {
	return func(s *specs.Spec) error {
		for _, c := range caps {
			if !strings.HasPrefix(c, "CAP_") || strings.ToUpper(c) != c {
				return fmt.Errorf("%w: capability %q (write it like CAP_CHOWN)", ErrInvalid, c)
			}
		}
		list := slices.Clone(caps)
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  list,
			Effective: slices.Clone(list),
			Permitted: slices.Clone(list),
		}
		return nil
	}
}

// WithNoNewPrivileges sets PR_SET_NO_NEW_PRIVS: setuid programs and file
// capabilities no longer raise privileges.
func WithNoNewPrivileges(on bool) Option {
	return func(s *specs.Spec) error {
		s.Process.NoNewPrivileges = on
		return nil
	}
}

// Rlimit is a resource limit applied with setrlimit inside.
type Rlimit struct {
	Type       string // e.g. "RLIMIT_NOFILE"
	Soft, Hard uint64
}

// WithRlimits sets the process's rlimits, replacing those of the same type.
func WithRlimits(limits ...Rlimit) Option {
	return func(s *specs.Spec) error {
		for _, l := range limits {
			if !strings.HasPrefix(l.Type, "RLIMIT_") || l.Soft > l.Hard {
				return fmt.Errorf("%w: rlimit %s %d/%d", ErrInvalid, l.Type, l.Soft, l.Hard)
			}
			s.Process.Rlimits = slices.DeleteFunc(s.Process.Rlimits, func(r specs.POSIXRlimit) bool { return r.Type == l.Type })
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: l.Type, Soft: l.Soft, Hard: l.Hard})
		}
		return nil
	}
}
