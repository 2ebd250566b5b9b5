package sandbox

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor joins the namespaces before the Go runtime
	// starts when this binary is re-executed as libcontainer's init.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	// Without this, cgroup v1 device rules fail with "cgroup manager is
	// not configured to set device rules".
	_ "github.com/opencontainers/cgroups/devices"
)

// MaybeInit turns this process into libcontainer's container init when it
// was re-executed as `brig init`; it never returns in that case. Call it
// first thing in main and in every TestMain of a test binary that starts
// sandboxes.
func MaybeInit() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}
