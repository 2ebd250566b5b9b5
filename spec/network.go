package spec

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// NetMode says which network the workload sees.
type NetMode string

// Network modes.
const (
	// NetNone gives the sandbox its own network namespace with only a
	// loopback interface: no traffic can leave it, and the host's
	// loopback services and abstract unix sockets are unreachable.
	NetNone NetMode = "none"
	// NetUser is NetNone plus a user-mode network stack (pasta) that the
	// sandbox package attaches for outbound traffic.
	NetUser NetMode = "user"
	// NetHost shares the host's network namespace: an explicit opt-in.
	NetHost NetMode = "host"
)

// NetworkAnnotation marks a spec whose network namespace gets a user-mode
// stack: the sandbox package attaches pasta to it before the workload
// starts. Other runtimes ignore it and run with loopback only.
const NetworkAnnotation = "org.brigsandbox.network"

// UserNetDNS is the address inside a NetUser sandbox where pasta answers
// DNS, forwarding to the host's resolver (which may sit on the host's
// loopback, unreachable from inside).
const UserNetDNS = "169.254.1.1"

// WithNetwork sets the network mode.
func WithNetwork(mode NetMode) Option {
	return func(s *specs.Spec) error {
		switch mode {
		case NetNone, NetUser:
			if !hasNamespace(s, specs.NetworkNamespace) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
			}
			if mode == NetUser {
				if s.Annotations == nil {
					s.Annotations = map[string]string{}
				}
				s.Annotations[NetworkAnnotation] = string(NetUser)
			} else {
				delete(s.Annotations, NetworkAnnotation)
			}
		case NetHost:
			removeNamespace(s, specs.NetworkNamespace)
			// sysfs can only be mounted by the owner of the network
			// namespace; with the host's, show the host's /sys instead,
			// read-only all the way down.
			replaceMount(s, readOnlyBind("/sys", "/sys"))
			dropMount(s, "/sys/fs/cgroup")
		default:
			return fmt.Errorf("%w: network mode %q (use none, user or host)", ErrInvalid, mode)
		}
		return nil
	}
}

func dropMount(s *specs.Spec, dst string) {
	kept := s.Mounts[:0]
	for _, m := range s.Mounts {
		if m.Destination != dst {
			kept = append(kept, m)
		}
	}
	s.Mounts = kept
}
