package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/brigsandbox/brig/sandbox"
)

// `brig demo NAME` teaches what a sandbox is by running real ones: each
// demo starts `brig run` (this very binary, so the same code path as a
// user's run), narrates each step in one line, and prints the real values
// the kernel shows, read from /proc and the cgroup files inside and from
// the host outside. It checks every claim it narrates and exits 0 only
// when the kernel behaved as told; otherwise it says which claim failed
// and exits 1.

// demo is one lesson.
type demo struct {
	name    string
	summary string
	// needs are the cgroup controllers whose limits the demo shows.
	needs []string
	run   func(d *demoRun)
}

// demoList returns the demos in teaching order.
func demoList() []demo {
	return []demo{
		{"userns", "uid/gid inside vs outside: the id map, and who owns a file", nil, demoUserns},
		{"pid", "pid 1 inside, the host's processes invisible, the namespace", nil, demoPid},
		{"mount", "a read-only root, a write that fails, the tmpfs that works", nil, demoMount},
		{"net", "interfaces inside vs outside; the host's loopback unreachable", nil, demoNet},
		{"memory", "a hog under a 32 MiB limit: memory.current, the OOM kill", []string{"memory"}, demoMemory},
		{"pids", "a fork bomb meets pids.max; the host is unaffected", []string{"pids"}, demoPids},
		{"cpu", "a busy loop under --cpus 0.5: CPU time vs wall time", []string{"cpu"}, demoCPU},
	}
}

// demoExitFailed is the exit code of a demo whose claims did not hold.
const demoExitFailed = 1

func demoCmd(args []string) int {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	list := fs.Bool("list", false, "list the demos")
	rest, code, done := parseCommandFlags(fs, args, "demo --list | NAME")
	if done {
		return code
	}
	if *list || len(rest) == 0 {
		printDemos(len(rest) == 0 && !*list)
		return exitOK
	}
	if len(rest) > 1 {
		return report(usageErrorf("one demo at a time: write 'brig demo NAME' (see 'brig demo --list')"))
	}
	dm, ok := findDemo(rest[0])
	if !ok {
		return report(usageErrorf("unknown demo %q (see 'brig demo --list')", rest[0]))
	}
	return runDemo(dm)
}

func printDemos(hint bool) {
	pal := paletteFor(stdout)
	width := widthFor(stdout)
	for _, dm := range demoList() {
		line := clip(fmt.Sprintf("%-7s  %s", dm.name, dm.summary), width)
		fmt.Fprintln(stdout, pal.bold(line[:7])+line[7:])
	}
	if hint {
		fmt.Fprintln(stdout, "\nrun one with 'brig demo NAME'")
	}
}

func findDemo(name string) (demo, bool) {
	for _, dm := range demoList() {
		if dm.name == name {
			return dm, true
		}
	}
	return demo{}, false
}

// runDemo checks what the demo needs, runs it, and turns its checks into
// the exit code.
func runDemo(dm demo) int {
	if err := demoNeeds(dm); err != nil {
		report(err)
		return demoExitFailed
	}
	d, err := newDemoRun(dm.name)
	if err != nil {
		return report(err)
	}
	defer d.cleanup()
	dm.run(d)
	switch {
	case d.err != nil:
		report(fmt.Errorf("demo %s stopped: %w", dm.name, d.err))
		return demoExitFailed
	case len(d.failed) > 0:
		report(fmt.Errorf("demo %s: the kernel did not behave as narrated: %s (see 'brig doctor')",
			dm.name, strings.Join(d.failed, "; ")))
		return demoExitFailed
	}
	fmt.Fprintf(d.out, "\n%s\n", d.pal.green(fmt.Sprintf("demo %s: the kernel behaved as narrated.", dm.name)))
	return exitOK
}

// demoNeeds refuses a limits demo up front, with the fix, when this host
// cannot enforce the limit it shows.
func demoNeeds(dm demo) error {
	if len(dm.needs) == 0 {
		return nil
	}
	host := sandbox.DetectCgroupHost()
	for _, c := range dm.needs {
		if host.Has(c) {
			continue
		}
		why, fix := host.Problem, host.Fix
		if why == "" {
			why = "the " + c + " controller is not delegated to you"
		}
		if fix == "" {
			fix = "run 'brig doctor'"
		}
		return fmt.Errorf("demo %s needs %s limits, which this host cannot enforce for you: %s (fix: %s; 'brig doctor' checks everything)",
			dm.name, c, why, fix)
	}
	return nil
}

// demoRun is one demo in progress: where it prints, the sandboxes it
// starts, and the checks that failed.
type demoRun struct {
	name   string
	self   string // the brig binary: sandboxes run through `brig run`
	dir    string // private working directory, bound into the sandboxes
	out    io.Writer
	pal    palette
	width  int
	failed []string
	err    error // brig itself failed: the demo cannot go on
	runs   int
	host   sandbox.CgroupHost
}

func newDemoRun(name string) (*demoRun, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find the brig binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "brig-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo working directory: %w", err)
	}
	return &demoRun{name: name, self: self, dir: dir, out: stdout, pal: paletteFor(stdout), width: widthFor(stdout),
		host: sandbox.DetectCgroupHost()}, nil
}

func (d *demoRun) cleanup() { _ = os.RemoveAll(d.dir) }

// ok reports whether the demo can go on.
func (d *demoRun) ok() bool { return d.err == nil }

// step narrates what comes next.
func (d *demoRun) step(format string, args ...any) {
	fmt.Fprintln(d.out)
	for i, line := range wrapWords("", strings.Fields(fmt.Sprintf(format, args...)), d.width-4) {
		lead := "==> "
		if i > 0 {
			lead = "    "
		}
		fmt.Fprintln(d.out, d.pal.bold(lead+line))
	}
}

// show prints a value the kernel reported.
func (d *demoRun) show(format string, args ...any) {
	fmt.Fprintln(d.out, clip("    "+fmt.Sprintf(format, args...), d.width))
}

// check prints a claim and whether it held; a failed one fails the demo.
func (d *demoRun) check(held bool, format string, args ...any) bool {
	claim := fmt.Sprintf(format, args...)
	mark := d.pal.green("ok  ")
	if !held {
		mark = d.pal.red("FAIL")
		d.failed = append(d.failed, claim)
	}
	fmt.Fprintln(d.out, "    "+mark+" "+clip(claim, d.width-9))
	return held
}

// fail stops the demo: brig itself could not do what the demo needed.
func (d *demoRun) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// marker returns a word unique to this run of the demo, passed as the
// workload's $0 so that the sandbox can be found in `brig ps`.
func (d *demoRun) marker() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "brig-demo-" + d.name + "-" + hex.EncodeToString(b[:])
}

// sandboxTimeout bounds every sandbox a demo starts.
const sandboxTimeout = 60 * time.Second

// liveSandbox is a `brig run` in progress, its stdout read line by line.
type liveSandbox struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stdin  io.WriteCloser
	lines  chan string // closed at EOF
	stderr bytes.Buffer
	report string // --report file
	mu     sync.Mutex
	all    []string // every line so far, under mu
}

// start runs `brig run FLAGS -- SHELL -c SCRIPT MARKER` from the demo's
// directory, shows the command with display for the script, and returns
// at once.
func (d *demoRun) start(flags []string, shell, script, display string) *liveSandbox {
	d.runs++
	flags = d.withoutOtherLimits(flags)
	rep := filepath.Join(d.dir, fmt.Sprintf("receipt-%d.json", d.runs))
	args := append(append([]string{"run"}, flags...), "--report", rep, "--")
	argv := []string{shell, "-c", script, d.marker()}
	shown := fmt.Sprintf("    $ brig run %s -- %s -c '%s'", strings.Join(flags, " "), shell, display)
	fmt.Fprintln(d.out, d.pal.dim(clip(shown, d.width)))
	ctx, cancel := context.WithTimeout(context.Background(), sandboxTimeout)
	l := &liveSandbox{cancel: cancel, lines: make(chan string, 256), report: rep}
	l.cmd = exec.CommandContext(ctx, d.self, append(args, argv...)...)
	l.cmd.Dir = d.dir
	l.cmd.Stderr = &l.stderr
	l.cmd.WaitDelay = 5 * time.Second
	var out io.ReadCloser
	var err error
	l.stdin, err = l.cmd.StdinPipe()
	if err == nil {
		out, err = l.cmd.StdoutPipe()
	}
	if err == nil {
		err = l.cmd.Start()
	}
	if err != nil {
		cancel()
		d.fail(fmt.Errorf("cannot start %s run: %w", d.self, err))
		return nil
	}
	go l.read(out)
	return l
}

func (l *liveSandbox) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		l.mu.Unlock()
		l.lines <- sc.Text()
	}
	close(l.lines)
}

// next returns the workload's next line; ok is false at the end of its
// output or after timeout.
func (l *liveSandbox) next(timeout time.Duration) (string, bool) {
	select {
	case line, ok := <-l.lines:
		return line, ok
	case <-time.After(timeout):
		return "", false
	}
}

// sandboxResult is a finished `brig run`: the workload's stdout lines,
// brig's stderr, brig's exit code and the receipt.
type sandboxResult struct {
	lines   []string
	stderr  string
	code    int
	receipt *sandbox.Receipt
}

// finish closes the workload's stdin, waits for brig and reads the
// receipt. A run brig could not start fails the demo.
func (d *demoRun) finish(l *liveSandbox) *sandboxResult {
	if l == nil {
		return &sandboxResult{code: -1}
	}
	defer l.cancel()
	_ = l.stdin.Close()
	for range l.lines { // drain: Wait needs stdout read to its end
	}
	err := l.cmd.Wait()
	l.mu.Lock()
	res := &sandboxResult{lines: l.all, stderr: l.stderr.String(), code: l.cmd.ProcessState.ExitCode()}
	l.mu.Unlock()
	if b, rerr := os.ReadFile(l.report); rerr == nil {
		var rc sandbox.Receipt
		if json.Unmarshal(b, &rc) == nil {
			res.receipt = &rc
		}
	}
	if res.receipt == nil {
		d.fail(fmt.Errorf("brig run did not run the sandbox (%v): %s (see 'brig doctor')", err, firstLine(res.stderr)))
	}
	return res
}

// runScript runs `SHELL -c SCRIPT MARKER` in a sandbox to its end.
func (d *demoRun) runScript(flags []string, shell, script, display string) *sandboxResult {
	return d.finish(d.start(flags, shell, script, display))
}

// withoutOtherLimits adds --cgroups=best-effort when this host cannot
// enforce a limit the default profile sets (memory, pids) and the demo
// does not show: a namespace demo must not fail for want of cgroups. The
// limit a demo shows was checked before it started (demoNeeds), and its
// receipt says whether it was enforced.
func (d *demoRun) withoutOtherLimits(flags []string) []string {
	for _, c := range []string{"memory", "pids"} {
		if !d.host.Has(c) {
			return append(flags, "--cgroups", "best-effort")
		}
	}
	return flags
}

// value returns the rest of the first line "KEY rest" the workload printed.
func (r *sandboxResult) value(key string) string {
	if v := r.values(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// values returns the rest of every line "KEY rest".
func (r *sandboxResult) values(key string) []string {
	var out []string
	for _, line := range r.lines {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			out = append(out, v)
		} else if line == key {
			out = append(out, "")
		}
	}
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "no message"
	}
	return strings.TrimPrefix(s, "brig: ")
}

// showReceipt prints the receipt's main lines.
func (d *demoRun) showReceipt(rc *sandbox.Receipt) {
	end := fmt.Sprintf("exit code %d", rc.ExitCode)
	if rc.Signal != 0 {
		end = fmt.Sprintf("signal %d", rc.Signal)
	}
	d.show("receipt: reason %s (%s), wall %s, cpu %s", rc.Reason, end,
		time.Duration(rc.WallMS)*time.Millisecond, time.Duration(rc.CPUUserMS+rc.CPUSystemMS)*time.Millisecond)
	d.show("         memory peak %s, pids peak %d, fork refused %d, oom kills %d",
		formatBytes(rc.MemoryPeakBytes), rc.PidsPeak, rc.PidsLimitHits, rc.OOMKills)
}

// humanBytes reads a decimal byte count printed by the workload.
func humanBytes(s string) string {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return s
	}
	return formatBytes(n)
}
