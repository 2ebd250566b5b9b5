package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of /proc/PID/stat times; Linux fixes it at 100 on
// every architecture Go supports.
const userHZ = 100

// Thresholds for "this /proc shows only the sandbox": its pid 1 started
// moments before us and there are few processes.
const (
	maxSandboxInitAge = 30 * time.Second
	maxSandboxProcs   = 64
)

func checkHostPids(*config) result {
	pids, err := numericDirs("/proc")
	if err != nil {
		return skipped("list /proc: %v", err)
	}
	self, err := startTimeOf("self")
	if err != nil {
		return skipped("read /proc/self/stat: %v", err)
	}
	one, err := startTimeOf("1")
	if err != nil {
		return skipped("read /proc/1/stat: %v", err)
	}
	comm, _ := os.ReadFile("/proc/1/comm")
	age := time.Duration(int64(self)-int64(one)) * time.Second / userHZ
	detail := fmt.Sprintf("%d processes visible; pid 1 (%s) started %v before this check", len(pids), strings.TrimSpace(string(comm)), age)
	if age <= maxSandboxInitAge && len(pids) <= maxSandboxProcs {
		return blocked("%s", detail)
	}
	return allowed("%s", detail)
}

func checkSignalHost(cfg *config) result {
	if cfg.hostPID == 0 {
		return skipped("no -hostpid given")
	}
	if cfg.hostPID == os.Getpid() || cfg.hostPID == os.Getppid() || cfg.hostPID == 1 {
		return skipped("pid %d names one of the probe's own processes here; cannot tell", cfg.hostPID)
	}
	err := unix.Kill(cfg.hostPID, 0)
	switch {
	case err == nil:
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cfg.hostPID))
		return allowed("kill(%d, 0) succeeded (%s)", cfg.hostPID, strings.TrimSpace(string(comm)))
	case errors.Is(err, unix.ESRCH):
		return blocked("kill(%d, 0): ESRCH (no such process in this pid namespace)", cfg.hostPID)
	}
	return blocked("kill(%d, 0): %s", cfg.hostPID, errnoName(err))
}

func checkExtraFDs(cfg *config) result {
	if len(cfg.startFDs) == 0 {
		return blocked("only 0, 1 and 2 were open at start")
	}
	parts := make([]string, len(cfg.startFDs))
	for i, f := range cfg.startFDs {
		parts[i] = fmt.Sprintf("%d→%s", f.fd, f.target)
	}
	return allowed("inherited: %s", strings.Join(parts, ", "))
}

// maxExeTargets bounds the /proc/N/exe files tried.
const maxExeTargets = 256

// checkExeWrite opens the executables of our own and every visible process
// for writing, the first step of CVE-2019-5736 (overwriting the runtime's
// binary through /proc/PID/exe). Nothing is ever written.
func checkExeWrite(*config) result {
	paths := []string{"/proc/self/exe", "/proc/1/exe"}
	if pids, err := numericDirs("/proc"); err == nil {
		sort.Slice(pids, func(i, j int) bool {
			return len(pids[i]) < len(pids[j]) || len(pids[i]) == len(pids[j]) && pids[i] < pids[j]
		})
		for i, p := range pids {
			if i >= maxExeTargets {
				break
			}
			if p != "1" && p != strconv.Itoa(os.Getpid()) {
				paths = append(paths, "/proc/"+p+"/exe")
			}
		}
	}
	tally := errnoTally{}
	var first []string
	for _, p := range paths {
		err := openForWrite(p)
		if err == nil {
			t, _ := os.Readlink(p)
			return allowed("opened %s (%s) for writing (nothing written)", p, t)
		}
		if len(first) < 2 {
			first = append(first, p+": "+errnoName(err))
		}
		tally.add("open", err)
	}
	return blocked("%s; all %d: %s", strings.Join(first, "; "), len(paths), tally)
}

func checkEnvLeak(cfg *config) result {
	if cfg.secret == "" {
		return skipped("no -secret given")
	}
	if v, ok := os.LookupEnv(cfg.secret); ok {
		return allowed("%s is set in the probe's environment (%d bytes)", cfg.secret, len(v))
	}
	if b, err := os.ReadFile("/proc/1/environ"); err == nil {
		for _, kv := range bytes.Split(b, []byte{0}) {
			if bytes.HasPrefix(kv, []byte(cfg.secret+"=")) {
				return allowed("%s is set in pid 1's environment", cfg.secret)
			}
		}
	}
	return blocked("%s is not set", cfg.secret)
}

func checkIfaces(*config) result {
	names := map[string]bool{}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			names[i.Name] = true
		}
	}
	if b, err := os.ReadFile("/proc/self/net/dev"); err == nil {
		for _, n := range parseNetDev(string(b)) {
			names[n] = true
		}
	}
	var all, other []string
	for n := range names {
		all = append(all, n)
		if n != "lo" {
			other = append(other, n)
		}
	}
	sort.Strings(all)
	if len(other) > 0 {
		return allowed("interfaces: %s", strings.Join(all, ", "))
	}
	if len(all) == 0 {
		return blocked("no interfaces at all")
	}
	return blocked("only lo")
}

// parseNetDev lists the interface names in /proc/net/dev.
func parseNetDev(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		name, _, ok := strings.Cut(l, ":")
		if ok && !strings.Contains(name, "|") {
			out = append(out, strings.TrimSpace(name))
		}
	}
	return out
}

// dialTimeout bounds every connection attempt.
const dialTimeout = time.Second

func dialCheck(network, addr string) result {
	c, err := net.DialTimeout(network, addr, dialTimeout)
	if err != nil {
		return blocked("connect %s %s: %s", network, addr, errnoName(err))
	}
	c.Close()
	return allowed("connected to %s %s", network, addr)
}

func checkHostTCP(cfg *config) result {
	if cfg.tcp == "" {
		return skipped("no -tcp given")
	}
	return dialCheck("tcp", cfg.tcp)
}

// checkHostTCPGateway catches user-mode networking (pasta, slirp4netns)
// that forwards the gateway's address to the host's loopback.
func checkHostTCPGateway(cfg *config) result {
	if cfg.tcp == "" {
		return skipped("no -tcp given")
	}
	_, port, err := net.SplitHostPort(cfg.tcp)
	if err != nil {
		return skipped("-tcp %q: %v", cfg.tcp, err)
	}
	b, err := os.ReadFile("/proc/self/net/route")
	if err != nil {
		return skipped("read /proc/self/net/route: %v", err)
	}
	gw, ok := defaultGateway(string(b))
	if !ok {
		return skipped("no IPv4 default route")
	}
	return dialCheck("tcp", net.JoinHostPort(gw.String(), port))
}

// defaultGateway finds the IPv4 default route's gateway in /proc/net/route,
// whose addresses are hex in host byte order (little-endian here).
func defaultGateway(s string) (net.IP, bool) {
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[1] != "00000000" {
			continue
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		g, err2 := strconv.ParseUint(f[2], 16, 32)
		if err1 != nil || err2 != nil || flags&unix.RTF_GATEWAY == 0 || g == 0 {
			continue
		}
		return net.IPv4(byte(g), byte(g>>8), byte(g>>16), byte(g>>24)), true
	}
	return nil, false
}

func checkAbstract(cfg *config) result {
	if cfg.abstract == "" {
		return skipped("no -abstract given")
	}
	return dialCheck("unix", "@"+cfg.abstract)
}
