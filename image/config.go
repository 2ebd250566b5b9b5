package image

import (
	"slices"
)

// Config is what an image's config supplies as defaults for a run. The
// profile still decides isolation and limits.
type Config struct {
	Entrypoint, Cmd, Env []string
	WorkingDir, User     string
}

func configOf(img *image) Config {
	ic := img.config.Config
	return Config{
		Entrypoint: slices.Clone(ic.Entrypoint),
		Cmd:        slices.Clone(ic.Cmd),
		Env:        slices.Clone(ic.Env),
		WorkingDir: ic.WorkingDir,
		User:       ic.User,
	}
}

// Argv is the command a run executes, as docker and podman decide it: the
// Entrypoint, followed by args when the user gave any, else by Cmd. It is
// empty when the image names no command and the user gave none.
func (c Config) Argv(args []string) []string {
	tail := c.Cmd
	if len(args) > 0 {
		tail = args
	}
	return slices.Concat(c.Entrypoint, tail)
}
