package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/brigsandbox/brig/spec"
)

// wantsUserNetwork reports whether the spec asks for a user-mode network.
func wantsUserNetwork(s *specs.Spec) bool {
	return s.Annotations[spec.NetworkAnnotation] == string(spec.NetUser)
}

// pastaArgs give the sandbox outbound IPv4/IPv6 through pasta (from the
// passt package) while keeping the host out of reach: no port is forwarded
// in either direction (-t/-u/-T/-U none), and the gateway address is not
// mapped to the host's loopback (--no-map-gw), so services listening on
// 127.0.0.1 stay unreachable. Abstract unix sockets belong to the network
// namespace and are unreachable anyway. DNS queries to spec.UserNetDNS are
// forwarded to the host's resolver.
func pastaArgs(pid int, pidFile string) []string {
	var runas []string
	if os.Geteuid() == 0 {
		// pasta drops root to nobody, who may not enter the sandbox's
		// user namespace (owned by root); the sandbox is the boundary.
		runas = []string{"--runas", "0:0"}
	}
	return append(runas, "--config-net", "--quiet", "--no-map-gw", "--pid", pidFile,
		"-t", "none", "-u", "none", "-T", "none", "-U", "none",
		"--dns-forward", spec.UserNetDNS,
		strconv.Itoa(pid))
}

// attachUserNetwork runs pasta for the sandbox whose init is pid. pasta
// joins the sandbox's user and network namespaces, configures a tap
// interface, then detaches, writing its pid to pidFile: stopUserNetwork
// ends it with the run.
func attachUserNetwork(pid int, pidFile string) error {
	path, err := exec.LookPath("pasta")
	if err != nil {
		return fmt.Errorf("%w: pasta is not installed (sudo apt-get install passt)", ErrNetworkHelper)
	}
	var out bytes.Buffer
	cmd := exec.Command(path, pastaArgs(pid, pidFile)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := pastaMessage(out.String())
		if unix.Access(tunDevice, unix.R_OK|unix.W_OK) != nil {
			msg += fmt.Sprintf(" (pasta needs %s readable and writable by you; most distributions make it mode 0666: sudo chmod 0666 %s)", tunDevice, tunDevice)
		}
		return fmt.Errorf("%w: pasta: %v: %s", ErrNetworkHelper, err, msg)
	}
	return nil
}

// stopUserNetwork ends the pasta that attachUserNetwork started. pasta
// quits by itself only when its namespace was given as a file; given a
// pid (as here), Debian 12's pasta outlives the sandbox forever.
func stopUserNetwork(pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	// The pid is ours only while it is still a pasta.
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(cmdline, []byte("pasta")) {
		_ = unix.Kill(pid, unix.SIGTERM)
	}
}

const tunDevice = "/dev/net/tun"

// pastaMessage keeps pasta's own complaints, without the noise of a
// missing syslog.
func pastaMessage(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "Failed to send") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "; ")
}
