package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brigsandbox/brig/sandbox"
)

// The namespace demos: user, pid, mount and network.

// idMap is one line of /proc/PID/uid_map or gid_map.
type idMap struct{ inside, outside, count int64 }

func parseIDMaps(lines []string) []idMap {
	var maps []idMap
	for _, l := range lines {
		var m idMap
		if _, err := fmt.Sscan(l, &m.inside, &m.outside, &m.count); err == nil {
			maps = append(maps, m)
		}
	}
	return maps
}

// outside maps an id inside to the host's id; ok is false when unmapped.
func outside(maps []idMap, id int64) (int64, bool) {
	for _, m := range maps {
		if id >= m.inside && id < m.inside+m.count {
			return m.outside + id - m.inside, true
		}
	}
	return 0, false
}

func describeIDMap(m idMap) string {
	if m.count == 1 {
		return fmt.Sprintf("%d %d %d: id %d inside is id %d outside", m.inside, m.outside, m.count, m.inside, m.outside)
	}
	return fmt.Sprintf("%d %d %d: ids %d-%d inside are %d-%d outside", m.inside, m.outside, m.count,
		m.inside, m.inside+m.count-1, m.outside, m.outside+m.count-1)
}

// fileOwner stats a host path: "uid:gid".
func fileOwner(path string) (string, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid), true
}

const usernsScript = `echo "uid $(id -u)"; echo "gid $(id -g)"
while read -r a b c; do echo "uidmap $a $b $c"; done < /proc/self/uid_map
echo root > by-root && echo "byroot $(stat -c %u:%g by-root)"
echo x > by-1000 && chown 1000:1000 by-1000 2>/dev/null &&
  echo "by1000 $(stat -c %u:%g by-1000)"
exit 0`

func demoUserns(d *demoRun) {
	uid, gid := os.Getuid(), os.Getgid()
	name := strconv.Itoa(uid)
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	d.step("Outside the sandbox you are uid %d (%s), gid %d. Your /proc/self/uid_map:", uid, name, gid)
	if b, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		d.show("%s", strings.Join(strings.Fields(string(b)), " "))
		if m := parseIDMaps([]string{string(b)}); len(m) == 1 && m[0].inside == 0 && m[0].outside == 0 {
			d.show("(the host's own user namespace: every id is itself)")
		}
	}
	d.step("brig run starts the workload in a new user namespace, as root. Inside, it asks who it is and reads its own uid_map:")
	res := d.runScript([]string{"--profile", "default"}, "sh", usernsScript, "id -u; cat /proc/self/uid_map; ...")
	if !d.ok() {
		return
	}
	d.show("id -u: %s   id -g: %s", res.value("uid"), res.value("gid"))
	maps := parseIDMaps(res.values("uidmap"))
	for _, m := range maps {
		d.show("uid_map: %s", describeIDMap(m))
	}
	d.check(res.value("uid") == "0", "the workload is uid 0 (root) inside")
	root, ok := outside(maps, 0)
	d.check(ok && root == int64(uid), "uid 0 inside is uid %d (you) outside", uid)

	d.step("A file root creates inside (in this directory, which the sandbox shares) belongs to you on the host:")
	d.show("owner seen inside:  %s", res.value("byroot"))
	host, _ := fileOwner(filepath.Join(d.dir, "by-root"))
	d.show("owner seen outside: %s (stat on the host)", host)
	d.check(host == fmt.Sprintf("%d:%d", uid, gid), "the host sees the file owned by %d:%d", uid, gid)

	d.step("Root inside may give a file to uid 1000; outside, that is the id uid_map maps 1000 to:")
	want, mapped := outside(maps, 1000)
	if !mapped {
		d.show("only uid 0 is mapped here (you have no subordinate ids in /etc/subuid),")
		d.show("so chown to 1000 fails inside: the sandbox owns no other id.")
		d.check(res.value("by1000") == "", "chown to an unmapped uid is refused")
		return
	}
	d.show("owner seen inside:  %s", res.value("by1000"))
	host, _ = fileOwner(filepath.Join(d.dir, "by-1000"))
	d.show("owner seen outside: %s", host)
	d.check(strings.HasPrefix(host, fmt.Sprintf("%d:", want)), "uid 1000 inside is uid %d outside, a subordinate id", want)
}

const pidScript = `echo "self $$"
echo "ns $(readlink /proc/self/ns/pid)"
for p in /proc/[0-9]*; do read -r c < $p/comm; echo "proc ${p#/proc/} $c"; done
set -- /proc/1/task/*; echo "threads $#"
if [ -e /proc/%d ]; then echo "hostpid visible"; else echo "hostpid hidden"; fi
echo ready
read -r _`

func demoPid(d *demoRun) {
	me := os.Getpid()
	ns, _ := os.Readlink("/proc/self/ns/pid")
	d.step("On the host this demo is pid %d, in pid namespace %s, among %d processes you can see.", me, ns, countProcs())
	d.step("Inside a sandbox, a new pid namespace starts from 1. The workload lists every process it can see:")
	l := d.start([]string{"--profile", "default"}, "sh", fmt.Sprintf(pidScript, me), "echo $$; ls /proc; ...")
	if l == nil {
		return
	}
	inside := &sandboxResult{lines: waitFor(l, "ready")}
	if len(inside.values("ready")) > 0 {
		d.pidInside(inside, me)
		d.pidFromOutside(l)
	}
	d.finish(l)
	if !d.ok() {
		return
	}
	d.step("The pid namespace is another one (the number is its inode):")
	d.show("inside:  %s", inside.value("ns"))
	d.show("outside: %s", ns)
	d.check(inside.value("ns") != "" && inside.value("ns") != ns, "inside and outside are different pid namespaces")
}

// pidInside shows what the workload saw.
func (d *demoRun) pidInside(res *sandboxResult, me int) {
	procs := res.values("proc")
	for _, p := range procs {
		d.show("pid %s", p)
	}
	d.show("the shell is pid %s: the numbers in between went to brig's start-up", res.value("self"))
	d.show("and to pid 1's threads (%s now), which count as tasks too", res.value("threads"))
	d.check(len(procs) > 0 && strings.HasPrefix(procs[0], "1 "), "pid 1 inside is brig's init, the workload's parent")
	d.check(len(procs) <= 3, "the sandbox sees only its own %d processes", len(procs))
	if me > 3 {
		d.check(res.value("hostpid") == "hidden", "this demo's pid %d does not exist inside", me)
	}
}

// pidFromOutside finds the running sandbox with `brig ps`'s library and
// shows its init's pids in both namespaces (NSpid in /proc/PID/status).
func (d *demoRun) pidFromOutside(l *liveSandbox) {
	d.step("Meanwhile, seen from the host (brig ps), the sandbox's pid 1 has an ordinary host pid:")
	r, ok := findRun(l.cmd.Args[len(l.cmd.Args)-1])
	if !d.check(ok, "brig ps lists the running sandbox") {
		return
	}
	nspid := statusField(r.InitPID, "NSpid")
	d.show("sandbox %s: init is host pid %d; NSpid (host, inside): %s", r.ID, r.InitPID, nspid)
	f := strings.Fields(nspid)
	d.check(len(f) >= 2 && f[len(f)-1] == "1", "host pid %d is pid 1 inside", r.InitPID)
}

// findRun finds the running sandbox whose command ends with marker. brig
// records a run just after starting it, so the workload may be quicker:
// findRun looks again for a while.
func findRun(marker string) (sandbox.Status, bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		runs, _ := sandbox.List(sandbox.StateDir())
		for _, r := range runs {
			if len(r.Command) > 0 && r.Command[len(r.Command)-1] == marker {
				return r, true
			}
		}
		if time.Now().After(deadline) {
			return sandbox.Status{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor returns the workload's lines up to and including the line
// want, or all of them when its output ends first.
func waitFor(l *liveSandbox, want string) []string {
	var lines []string
	for {
		line, ok := l.next(sandboxTimeout)
		if !ok {
			return lines
		}
		lines = append(lines, line)
		if line == want {
			return lines
		}
	}
}

// statusField reads "Key:\tvalue" from /proc/PID/status.
func statusField(pid int, key string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}

func countProcs() int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	return n
}

const mountScript = `while read -r l; do echo "mnt $l"; done < /proc/self/mountinfo
try() { if err=$(touch "$1" 2>&1); then echo "$2 ok"; else echo "$2 $err"; fi; }
try /brig-demo-file root
try /usr/brig-demo-file usr
echo hello > /tmp/%s && read -r v < /tmp/%[1]s && echo "tmp ok $v"
exit 0`

// mountEntry is one line of /proc/PID/mountinfo.
type mountEntry struct{ point, options, fstype, source string }

func parseMountinfo(lines []string) map[string]mountEntry {
	out := map[string]mountEntry{}
	for _, l := range lines {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 2 {
			continue
		}
		// A later line for the same point is mounted on top.
		out[f[4]] = mountEntry{point: f[4], options: f[5], fstype: g[0], source: g[1]}
	}
	return out
}

func hasOption(options, opt string) bool {
	for _, o := range strings.Split(options, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

func demoMount(d *demoRun) {
	file := d.marker()
	d.step("A sandbox has its own mount namespace: a fresh root, read-only, with the host's /usr shown read-only and a private /tmp in memory. The workload reads its /proc/self/mountinfo, then tries to write:")
	res := d.runScript([]string{"--profile", "default"}, "sh", fmt.Sprintf(mountScript, file),
		"cat /proc/self/mountinfo; touch /x; ...")
	if !d.ok() {
		return
	}
	mounts := parseMountinfo(res.values("mnt"))
	for _, p := range []string{"/", "/usr", "/tmp"} {
		m := mounts[p]
		d.show("%-5s %-6s %s", p, m.fstype, m.options)
	}
	d.check(hasOption(mounts["/"].options, "ro"), "/ is mounted read-only")
	d.check(hasOption(mounts["/usr"].options, "ro"), "/usr is mounted read-only")
	d.check(mounts["/tmp"].fstype == "tmpfs" && hasOption(mounts["/tmp"].options, "rw"), "/tmp is a writable tmpfs")

	d.step("Writing to / and to /usr fails; the kernel says why:")
	d.show("touch /brig-demo-file:     %s", lastPart(res.value("root")))
	d.show("touch /usr/brig-demo-file: %s", lastPart(res.value("usr")))
	d.check(strings.Contains(res.value("root"), "Read-only file system"), "the write to / fails: read-only file system")
	d.check(strings.Contains(res.value("usr"), "Read-only file system"), "the write to /usr fails: read-only file system")

	d.step("Writing to /tmp works, but only inside: the host's /tmp never sees the file.")
	d.show("echo hello > /tmp/%s; read it back: %s", file, strings.TrimPrefix(res.value("tmp"), "ok "))
	d.check(res.value("tmp") == "ok hello", "the tmpfs takes the write")
	_, err := os.Stat(filepath.Join(os.TempDir(), file))
	_, errTmp := os.Stat(filepath.Join("/tmp", file))
	d.check(os.IsNotExist(err) && os.IsNotExist(errTmp), "no /tmp/%s on the host", file)
}

const netScript = `while read -r l; do echo "dev $l"; done < /proc/net/dev
echo "ns $(readlink /proc/self/ns/net)"
if (exec 3<>/dev/tcp/127.0.0.1/%d) 2>/tmp/err; then echo "connect ok"
else read -r e < /tmp/err; echo "connect $e"; fi
exit 0`

// interfacesIn reads the interface names from /proc/net/dev lines.
func interfacesIn(lines []string) []string {
	var names []string
	for _, l := range lines {
		if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
			names = append(names, strings.TrimSpace(name))
		}
	}
	return names
}

func hostInterfaces() []string {
	ifs, _ := net.Interfaces()
	names := make([]string, 0, len(ifs))
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

func demoNet(d *demoRun) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		d.fail(fmt.Errorf("the net demo connects with bash's /dev/tcp, and bash is not installed"))
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.fail(fmt.Errorf("cannot listen on the host's loopback: %w", err))
		return
	}
	defer ln.Close()
	accepted := make(chan struct{}, 16)
	go acceptCount(ln, accepted)
	port := ln.Addr().(*net.TCPAddr).Port
	ns, _ := os.Readlink("/proc/self/ns/net")

	d.step("On the host: your network interfaces, and a listener on 127.0.0.1:%d that this demo opened.", port)
	d.show("interfaces: %s", strings.Join(hostInterfaces(), " "))
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
	if err == nil {
		c.Close()
	}
	d.check(err == nil && received(accepted, 2*time.Second), "from the host, connecting to 127.0.0.1:%d works", port)

	d.step("Inside, a new network namespace: its own interfaces, its own loopback. The workload lists them and connects to 127.0.0.1:%d:", port)
	res := d.runScript([]string{"--profile", "default"}, filepath.Base(bash), fmt.Sprintf(netScript, port),
		fmt.Sprintf("cat /proc/net/dev; echo >/dev/tcp/127.0.0.1/%d", port))
	if !d.ok() {
		return
	}
	inside := interfacesIn(res.values("dev"))
	d.show("interfaces: %s", strings.Join(inside, " "))
	d.show("connect to 127.0.0.1:%d: %s", port, lastPart(res.value("connect")))
	d.check(len(inside) == 1 && inside[0] == "lo", "the only interface inside is lo")
	d.check(res.value("connect") != "ok" && res.value("connect") != "", "the connection to the host's listener fails")
	d.check(!received(accepted, 200*time.Millisecond), "the host's listener received nothing from the sandbox")

	d.step("The network namespace is another one (the number is its inode):")
	d.show("inside:  %s", res.value("ns"))
	d.show("outside: %s", ns)
	d.check(res.value("ns") != "" && res.value("ns") != ns, "inside and outside are different network namespaces")
}

// lastPart keeps the end of an error message "prog: what: why": why.
func lastPart(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

func acceptCount(ln net.Listener, accepted chan<- struct{}) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
		select {
		case accepted <- struct{}{}:
		default:
		}
	}
}

// received reports whether a connection arrived within d.
func received(accepted <-chan struct{}, d time.Duration) bool {
	select {
	case <-accepted:
		return true
	case <-time.After(d):
		return false
	}
}
