package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The limit demos: memory, pids and cpu. Each reads the sandbox's own
// cgroup from inside: with a cgroup namespace, the run's cgroup is the
// root of /sys/fs/cgroup (v2), or of each /sys/fs/cgroup/<controller>
// (v1).

// memoryScript feeds tail 4 MiB at a time through a fifo: tail keeps a
// line that never ends, so it holds everything it reads. The feeder
// prints memory.current after each step; tail is the workload itself, so
// when the OOM killer takes it, the receipt says so.
const memoryScript = `d=/sys/fs/cgroup
if [ -r $d/memory.current ]; then cur=$d/memory.current; max=$d/memory.max
else cur=$d/memory/memory.usage_in_bytes; max=$d/memory/memory.limit_in_bytes; fi
read -r lim < $max; echo "limit $lim"
mkfifo /tmp/hog
{ i=0; while [ $i -lt 64 ]; do head -c 4194304 /dev/zero || exit; i=$((i+1))
  read -r m < $cur; echo "step $((i*4)) $m" >&3; sleep 0.2; done; } 3>&1 >/tmp/hog &
exec tail /tmp/hog`

const demoMemoryLimit = 32 << 20

func demoMemory(d *demoRun) {
	d.step("Give a sandbox 32 MiB of memory (--memory 32M): the memory cgroup holds it and everything it starts to that, with no swap.")
	d.step("Inside, a hog grows by 4 MiB every 0.2 s; after each step it reads its cgroup's memory.current:")
	l := d.start([]string{"--memory", "32M"}, "sh", memoryScript, "feed tail 4 MiB every 0.2 s")
	if l == nil {
		return
	}
	var samples []int64
	limit := int64(-1)
	for line, ok := l.next(sandboxTimeout); ok; line, ok = l.next(sandboxTimeout) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "limit":
			limit, _ = strconv.ParseInt(f[1], 10, 64)
			d.show("memory limit (read inside): %s", humanBytes(f[1]))
		case len(f) == 3 && f[0] == "step":
			n, _ := strconv.ParseInt(f[2], 10, 64)
			samples = append(samples, n)
			d.show("hog holds %3s MiB   memory.current %10s  %s", f[1], formatBytes(n), bar(n, demoMemoryLimit, 20))
		}
	}
	res := d.finish(l)
	if !d.ok() {
		return
	}
	d.check(limit == demoMemoryLimit, "the cgroup's limit is 32 MiB")
	d.check(len(samples) >= 3 && climbing(samples), "memory.current climbs with the hog")
	d.check(maxOf(samples) <= demoMemoryLimit, "memory.current never passes the limit")

	d.step("At the limit the kernel cannot reclaim anything: its OOM killer kills the hog, and brig's receipt says so:")
	d.show("brig exit code: %d", res.code)
	if msg := firstLine(res.stderr); strings.Contains(msg, "OOM") {
		d.show("brig: %s", msg)
	}
	rc := res.receipt
	d.showReceipt(rc)
	d.check(rc.Reason == "oom" && rc.OOMKills > 0, "the receipt says: killed by the OOM killer")
	d.check(res.code == 137, "brig exits 137 (128 + SIGKILL), like docker")
	d.check(rc.Enforced.Memory && rc.MemoryPeakBytes <= demoMemoryLimit, "the peak stayed within the enforced limit")
}

// bar draws n of total in width columns.
func bar(n, total int64, width int) string {
	k := int(n * int64(width) / max(total, 1))
	k = min(max(k, 0), width)
	return "[" + strings.Repeat("#", k) + strings.Repeat(".", width-k) + "]"
}

// climbing reports whether the samples grow overall and never fall much:
// the kernel may reclaim a little cache between two steps.
func climbing(s []int64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] < s[i-1]-(1<<20) {
			return false
		}
	}
	return len(s) > 1 && s[len(s)-1] > s[0]
}

func maxOf(s []int64) int64 {
	var m int64
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// pidsScript starts a bash fork bomb whose copies never exit (bash
// retries a fork that fails), samples pids.current while it rages, and
// reads pids.events: how often the kernel refused a fork. `read -t` on
// the demo's open stdin is a sleep that needs no new process.
const pidsScript = `d=/sys/fs/cgroup; [ -r $d/pids.max ] || d=/sys/fs/cgroup/pids
read -r max < $d/pids.max; read -r cur < $d/pids.current
echo "max $max"; echo "before $cur"
bomb() { while :; do bomb & done; }
bomb 2>/dev/null &
for i in 1 2 3 4 5 6; do read -r -t 0.25 _; read -r cur < $d/pids.current; echo "during $cur"; done
ev=0; while read -r k v; do [ "$k" = max ] && ev=$v; done < $d/pids.events
echo "events $ev"
kill -9 -1 2>/dev/null
exit 0`

const demoPidsLimit = 32

func demoPids(d *demoRun) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		d.fail(fmt.Errorf("the pids demo's fork bomb is a bash function, and bash is not installed"))
		return
	}
	d.step("Cap a sandbox at %d tasks (--pids %d). pids.current counts every task, threads too: brig's init and the shell come first.", demoPidsLimit, demoPidsLimit)
	l := d.start([]string{"--pids", strconv.Itoa(demoPidsLimit)}, filepath.Base(bash), pidsScript,
		"bomb() { while :; do bomb & done; }; bomb")
	if l == nil {
		return
	}
	var during []int64
	var pidsMax, before string
	hostForked := false
	for line, ok := l.next(sandboxTimeout); ok; line, ok = l.next(sandboxTimeout) {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "max":
			pidsMax = v
		case "before":
			before = v
			d.show("pids.max %s, pids.current %s before the bomb", pidsMax, before)
			d.step("Start a fork bomb: every copy starts copies of itself, forever. Sampled every 0.25 s:")
		case "during":
			n, _ := strconv.ParseInt(v, 10, 64)
			during = append(during, n)
			d.show("pids.current %3d of %s  %s", n, pidsMax, bar(n, demoPidsLimit, 32))
			if len(during) == 3 {
				hostForked = d.hostStillForks()
			}
		}
	}
	res := d.finish(l)
	if !d.ok() {
		return
	}
	d.check(pidsMax == strconv.Itoa(demoPidsLimit), "the cgroup's pids.max is %d", demoPidsLimit)
	d.check(len(during) > 0 && maxOf(during) == demoPidsLimit, "the bomb reaches pids.max")
	d.check(len(during) > 0 && maxOf(during) <= demoPidsLimit, "and never passes it")
	d.check(hostForked, "the host still starts processes during the bomb")

	d.step("pids.events counts the forks the kernel refused; the receipt has the same counter:")
	d.show("pids.events: max %s", res.value("events"))
	rc := res.receipt
	d.showReceipt(rc)
	ev, _ := strconv.ParseInt(res.value("events"), 10, 64)
	d.check(ev > 0 && rc.PidsLimitHits > 0, "fork was refused at the limit")
	d.check(rc.Enforced.Pids && rc.ExitCode == 0, "the workload killed its bomb and exited 0")
}

// hostStillForks starts a process on the host while the bomb rages.
func (d *demoRun) hostStillForks() bool {
	start := time.Now()
	err := exec.Command("true").Run()
	took := time.Since(start)
	tasks := "?"
	if b, rerr := os.ReadFile("/proc/loadavg"); rerr == nil {
		if f := strings.Fields(string(b)); len(f) >= 4 {
			_, tasks, _ = strings.Cut(f[3], "/")
		}
	}
	if err != nil {
		d.show("meanwhile on the host: starting 'true' failed: %v", err)
		return false
	}
	d.show("meanwhile on the host: 'true' started and ran in %s; %s tasks in all",
		took.Round(100*time.Microsecond), tasks)
	return true
}

// cpuScript reads the CFS quota, then measures two 2 s busy loops with
// the cgroup's own CPU counter and the clock. Two loops want two CPUs,
// four times the quota, so that the quota, not a busy host, is what
// holds them back.
const cpuScript = `d=/sys/fs/cgroup
if [ -r $d/cpu.max ]; then read -r q p < $d/cpu.max; st=$d/cpu.stat
else read -r q < $d/cpu/cpu.cfs_quota_us; read -r p < $d/cpu/cpu.cfs_period_us; st=$d/cpu/cpu.stat; fi
echo "quota $q $p"
use() { if [ -r $d/cpu.max ]; then
    while read -r k v; do [ "$k" = usage_usec ] && echo $((v*1000)); done < $d/cpu.stat
  else read -r v < $d/cpuacct/cpuacct.usage; echo $v; fi; }
u0=$(use); t0=$(date +%s%N)
for i in 1 2; do timeout 2 sh -c 'while :; do :; done' & done; wait
u1=$(use); t1=$(date +%s%N)
echo "busy $((u1-u0)) $((t1-t0))"
while read -r k v; do case $k in nr_periods|nr_throttled) echo "$k $v";; esac; done < $st
exit 0`

// cpuTolerance is how far above the quota a measured share may be: the
// quota is enforced per 100 ms period, and the measurement has edges.
const cpuTolerance = 0.1

func demoCPU(d *demoRun) {
	d.step("Give a sandbox half a CPU (--cpus 0.5): the CFS bandwidth controller lets its tasks run 50 ms in every 100 ms period, then throttles them.")
	d.step("Inside, two busy loops run for 2 s, enough to keep two CPUs busy; the cgroup's CPU counter measures what they got together:")
	res := d.runScript([]string{"--cpus", "0.5"}, "sh", cpuScript, "two busy loops for 2 s")
	if !d.ok() {
		return
	}
	q := strings.Fields(res.value("quota"))
	if len(q) == 2 {
		d.show("quota (read inside): %s µs of CPU per %s µs period", q[0], q[1])
	}
	d.check(len(q) == 2 && q[0] == "50000" && q[1] == "100000", "the quota is 50 ms per 100 ms")
	var cpuNS, wallNS int64
	_, _ = fmt.Sscan(res.value("busy"), &cpuNS, &wallNS)
	share := float64(cpuNS) / float64(max(wallNS, 1))
	d.show("busy loops: wall %s, CPU %s: %.2f of a CPU", time.Duration(wallNS).Round(time.Millisecond),
		time.Duration(cpuNS).Round(time.Millisecond), share)
	d.show("throttled in %s of %s periods", nonEmpty(res.value("nr_throttled"), "?"), nonEmpty(res.value("nr_periods"), "?"))
	d.check(wallNS > 0 && share <= 0.5+cpuTolerance, "the loops got at most half a CPU together")
	if res.value("nr_throttled") == "0" {
		d.show("(this host is busy: the loops did not even get their half, so there")
		d.show("was nothing to throttle; run the demo again on a quieter host)")
	}

	d.step("brig's receipt counts the whole run, start-up included:")
	d.showReceipt(res.receipt)
	d.check(res.receipt.Enforced.CPU, "the receipt says the CPU limit was enforced")
}
