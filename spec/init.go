package spec

import (
	"fmt"
	"path"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// InitPath is where the brig binary is shown, read-only, to act as the
// sandbox's pid 1 (see the sandbox package's reaper). It sits on the
// private /dev tmpfs so that its mount point never touches a rootfs.
const InitPath = "/dev/.brig-init"

// InitArg is the reaper's argv[1].
const InitArg = "__brig_reaper__"

// WithInit runs the workload under brig's reaper, taken from the host
// binary at brigBinary. The workload's argv is unchanged after InitArg.
func WithInit(brigBinary string) Option {
	return func(s *specs.Spec) error {
		if !path.IsAbs(brigBinary) {
			return fmt.Errorf("%w: brig binary path %q is not absolute", ErrInvalid, brigBinary)
		}
		s.Process.Args = slices.Concat([]string{InitPath, InitArg}, s.Process.Args)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: InitPath, Type: "bind", Source: brigBinary,
			Options: []string{"bind", "ro", "nosuid", "nodev"}})
		return nil
	}
}
