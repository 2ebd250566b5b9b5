// Command benchtool is the measuring half of scripts/bench: it launches
// sandboxes with brig, bwrap, crun and runc, alternating between them, and
// reports wall time, CPU time and peak RSS per launch, and the wall time of
// many launches at once. scripts/bench prepares everything (binaries, a
// busybox rootfs, bundles, users, cgroups) and calls it; it is not meant
// to be run by hand, though it can be:
//
//	benchtool oci -in spec.json -out tmpl.json -cgroups PARENT [-bare]
//	benchtool run -plan plan.json -out result.json   # measure one pass
//	benchtool report result.json...                   # the combined table
//
// Why not hyperfine alone: every runc and crun launch needs its own
// cgroup path (a shared one makes concurrent runs fail), so the bundle's
// config.json is rewritten before each launch, outside the timed window;
// the peak RSS comes from wait4's rusage of each launch; and the parallel
// test needs a count of failures, not only a time.
//
// Peak RSS is the launcher's ru_maxrss, measured in separate, untimed
// launches under GNU time (`/usr/bin/time -f %M`): the largest resident
// set of the launcher and of every process of its tree that it reaped
// (for brig: brig itself, `brig init` and the sandbox's reaper). It is not
// taken from the timed launches: Go starts children with vfork, so a
// child's ru_maxrss includes the resident set of the parent it shared
// memory with until exec (this program's, about 8 MiB); GNU time forks
// from a 2 MiB process instead, which is then the floor of the number.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

// Plan is one pass of measurements (one user), read from -plan.
type Plan struct {
	Label    string     `json:"label"`    // e.g. "root" or "brig-ci (uid 1001)"
	Runs     int        `json:"runs"`     // timed launches per launcher
	Warmup   int        `json:"warmup"`   // untimed launches per launcher first
	Parallel []int      `json:"parallel"` // sizes of the parallel test, e.g. [20, 100]
	ParReps  int        `json:"par_reps"` // repetitions of each parallel test
	WorkDir  string     `json:"work_dir"` // where per-launch bundles are written
	Budget   float64    `json:"budget_s"` // stop the sequential rounds after this many seconds (0: no limit)
	RSSRuns  int        `json:"rss_runs"` // launches per launcher under GNU time for the peak RSS (0: 5)
	TimeBin  string     `json:"time_bin"` // GNU time (default /usr/bin/time)
	Launch   []Launcher `json:"launchers"`
}

// Launcher is one command to measure. In Argv and Template, {id} becomes
// a fresh id per launch and {bundle} the launch's bundle directory.
type Launcher struct {
	Name     string   `json:"name"`     // e.g. "brig host"
	Workload string   `json:"workload"` // e.g. "true"
	Argv     []string `json:"argv"`
	// Template, when set, is a config.json written to {bundle} before
	// each launch (runc, crun).
	Template string `json:"template,omitempty"`
	// Expect is the exact stdout a successful launch prints.
	Expect   string `json:"expect"`
	Parallel bool   `json:"parallel"` // include in the parallel test
}

// Result is what one pass measured.
type Result struct {
	Label    string        `json:"label"`
	Host     string        `json:"host"`
	Runs     []Summary     `json:"runs"`
	Parallel []ParallelRun `json:"parallel"`
}

// Summary describes the sequential launches of one launcher.
type Summary struct {
	Name       string  `json:"name"`
	Workload   string  `json:"workload"`
	N          int     `json:"n"`
	Failures   int     `json:"failures"`
	FirstError string  `json:"first_error,omitempty"`
	MedianMS   float64 `json:"median_ms"`
	P95MS      float64 `json:"p95_ms"`
	MinMS      float64 `json:"min_ms"`
	CPUMS      float64 `json:"cpu_ms"`      // median user+sys of the launcher's tree
	RSSKiB     int64   `json:"rss_kib"`     // median peak RSS under GNU time
	MaxRSSKiB  int64   `json:"max_rss_kib"` // largest peak RSS under GNU time
}

// ParallelRun is one batch of simultaneous launches.
type ParallelRun struct {
	Name       string  `json:"name"`
	Workload   string  `json:"workload"`
	N          int     `json:"n"`
	WallMS     float64 `json:"wall_ms"` // median over the repetitions
	Failures   int     `json:"failures"`
	FirstError string  `json:"first_error,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool oci -in FILE -out FILE -cgroups PARENT [-bare] | run -plan FILE -out FILE | report FILE...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "oci":
		err = ociCmd(os.Args[2:])
	case "run":
		err = runCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

// flags parses "-name value" pairs and the boolean flags in bools.
func flags(args []string, bools ...string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "-")
		switch {
		case !ok:
			return nil, fmt.Errorf("unexpected argument %q", args[i])
		case slices.Contains(bools, name):
			out[name] = "true"
		case i+1 < len(args):
			out[name] = args[i+1]
			i++
		default:
			return nil, fmt.Errorf("flag %q needs a value", args[i])
		}
	}
	return out, nil
}

// ociCmd turns the config.json that `brig spec --rootfs` printed into a
// bundle template for runc and crun: a per-launch cgroup path below
// PARENT ({id} is filled in at each launch), and an ociVersion crun 1.8
// accepts (it refuses 1.3.0 with "unknown version specified"; every
// field brig writes exists in 1.0.2). With -bare, brig's reaper is
// removed too: the workload runs as the sandbox's pid 1 directly.
func ociCmd(args []string) error {
	f, err := flags(args, "bare")
	if err != nil {
		return err
	}
	if f["in"] == "" || f["out"] == "" || f["cgroups"] == "" {
		return errors.New("oci needs -in FILE -out FILE -cgroups PARENT")
	}
	b, err := os.ReadFile(f["in"])
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", f["in"], err)
	}
	cfg["ociVersion"] = "1.0.2"
	linux, _ := cfg["linux"].(map[string]any)
	if linux == nil {
		return fmt.Errorf("%s: no linux section", f["in"])
	}
	linux["cgroupsPath"] = strings.TrimSuffix(f["cgroups"], "/") + "/{id}"
	if f["bare"] != "" {
		stripReaper(cfg)
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(f["out"], out, 0o644)
}

// stripReaper drops brig's reaper from the process args and its bind
// mount (spec.WithInit puts both there).
func stripReaper(cfg map[string]any) {
	const initPath = "/dev/.brig-init"
	if p, ok := cfg["process"].(map[string]any); ok {
		if a, ok := p["args"].([]any); ok && len(a) > 2 && a[0] == initPath {
			p["args"] = a[2:]
		}
	}
	if ms, ok := cfg["mounts"].([]any); ok {
		cfg["mounts"] = slices.DeleteFunc(ms, func(m any) bool {
			mm, _ := m.(map[string]any)
			return mm["destination"] == initPath
		})
	}
}

func runCmd(args []string) error {
	f, err := flags(args)
	if err != nil {
		return err
	}
	planFile, outFile, host := f["plan"], f["out"], f["host"]
	if planFile == "" || outFile == "" {
		return errors.New("run needs -plan FILE and -out FILE")
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		return err
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("%s: %w", planFile, err)
	}
	templates, err := loadTemplates(p.Launch)
	if err != nil {
		return err
	}
	m := &measurer{plan: p, templates: templates}
	res := Result{Label: p.Label, Host: host}
	res.Runs = m.sequential()
	res.Parallel = m.parallel()
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(outFile, out, 0o644)
}

func loadTemplates(ls []Launcher) (map[string]string, error) {
	t := map[string]string{}
	for _, l := range ls {
		if l.Template == "" {
			continue
		}
		b, err := os.ReadFile(l.Template)
		if err != nil {
			return nil, err
		}
		t[l.Template] = string(b)
	}
	return t, nil
}

// measurer runs the launches of one plan.
type measurer struct {
	plan      Plan
	templates map[string]string
	mu        sync.Mutex
	seq       int
}

// launch is the outcome of one launch.
type launch struct {
	wall time.Duration
	cpu  time.Duration
	err  error
}

// newID returns an id unique to this pass: pid and a counter, so that two
// passes at once (or a leftover of an earlier one) never collide.
func (m *measurer) newID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	return fmt.Sprintf("bench%d-%d", os.Getpid(), m.seq)
}

// prepare writes the launch's bundle (when the launcher has a template)
// and returns its argv. It is never timed.
func (m *measurer) prepare(l Launcher) (argv []string, bundle string, err error) {
	id := m.newID()
	bundle = filepath.Join(m.plan.WorkDir, "b-"+id)
	r := strings.NewReplacer("{id}", id, "{bundle}", bundle)
	for _, a := range l.Argv {
		argv = append(argv, r.Replace(a))
	}
	if l.Template == "" {
		return argv, "", nil
	}
	if err := os.Mkdir(bundle, 0o755); err != nil {
		return nil, "", err
	}
	cfg := r.Replace(m.templates[l.Template])
	return argv, bundle, os.WriteFile(filepath.Join(bundle, "config.json"), []byte(cfg), 0o644)
}

// once launches l one time and measures it.
func (m *measurer) once(l Launcher) launch {
	argv, bundle, err := m.prepare(l)
	if bundle != "" {
		defer os.RemoveAll(bundle)
	}
	if err != nil {
		return launch{err: err}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	out := launch{wall: wall}
	if ru, ok := rusage(cmd.ProcessState); ok {
		out.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	switch {
	case err != nil:
		out.err = fmt.Errorf("%s: %w: %s", l.Name, err, firstLine(stderr.String()))
	case stdout.String() != l.Expect:
		out.err = fmt.Errorf("%s: printed %q, want %q (stderr %q)", l.Name, stdout.String(), l.Expect, firstLine(stderr.String()))
	}
	return out
}

func rusage(ps *os.ProcessState) (*syscall.Rusage, bool) {
	if ps == nil {
		return nil, false
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	return ru, ok
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// sequential runs warmup rounds, then timed rounds in which every launcher
// runs once, the order rotating each round so that none always follows
// the same neighbour.
func (m *measurer) sequential() []Summary {
	ls := m.plan.Launch
	for range m.plan.Warmup {
		for _, l := range ls {
			m.once(l)
		}
	}
	got := make([][]launch, len(ls))
	start := time.Now()
	for round := range m.plan.Runs {
		for k := range ls {
			i := (round + k) % len(ls)
			got[i] = append(got[i], m.once(ls[i]))
		}
		if m.plan.Budget > 0 && time.Since(start).Seconds() > m.plan.Budget && round >= 9 {
			fmt.Fprintf(os.Stderr, "benchtool: time budget reached after %d rounds\n", round+1)
			break
		}
	}
	out := make([]Summary, len(ls))
	for i, l := range ls {
		out[i] = summarize(l, got[i])
		out[i].RSSKiB, out[i].MaxRSSKiB = m.peakRSS(l)
	}
	return out
}

// peakRSS launches l a few times under GNU time and returns the median
// and the largest peak RSS, in KiB (0 when none could be measured).
func (m *measurer) peakRSS(l Launcher) (median, largest int64) {
	timeBin := cmp.Or(m.plan.TimeBin, "/usr/bin/time")
	var rss []int64
	for range cmp.Or(m.plan.RSSRuns, 5) {
		out := filepath.Join(m.plan.WorkDir, "rss-"+m.newID())
		timed := l
		timed.Argv = append([]string{timeBin, "-f", "%M", "-o", out}, l.Argv...)
		if x := m.once(timed); x.err == nil {
			if b, err := os.ReadFile(out); err == nil {
				if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
					rss = append(rss, n)
				}
			}
		}
		os.Remove(out)
	}
	if len(rss) == 0 {
		return 0, 0
	}
	slices.Sort(rss)
	return rss[len(rss)/2], rss[len(rss)-1]
}

func summarize(l Launcher, ls []launch) Summary {
	s := Summary{Name: l.Name, Workload: l.Workload, N: len(ls)}
	var walls, cpus []float64
	for _, x := range ls {
		if x.err != nil {
			s.Failures++
			if s.FirstError == "" {
				s.FirstError = x.err.Error()
			}
			continue
		}
		walls = append(walls, ms(x.wall))
		cpus = append(cpus, ms(x.cpu))
	}
	if len(walls) == 0 {
		return s
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	s.MedianMS = quantile(walls, 0.5)
	s.P95MS = quantile(walls, 0.95)
	s.MinMS = walls[0]
	s.CPUMS = quantile(cpus, 0.5)
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// quantile interpolates linearly between the closest ranks of sorted xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(xs)-1)
	return xs[lo] + (xs[hi]-xs[lo])*(pos-float64(lo))
}

// parallel starts n launches of each parallel launcher at once, for each
// size of the plan, and times the whole batch.
func (m *measurer) parallel() []ParallelRun {
	var out []ParallelRun
	for _, n := range m.plan.Parallel {
		for _, l := range m.plan.Launch {
			if !l.Parallel {
				continue
			}
			out = append(out, m.batches(l, n))
		}
	}
	return out
}

func (m *measurer) batches(l Launcher, n int) ParallelRun {
	r := ParallelRun{Name: l.Name, Workload: l.Workload, N: n}
	var walls []float64
	for range max(m.plan.ParReps, 1) {
		wall, errs := m.batch(l, n)
		walls = append(walls, ms(wall))
		r.Failures += len(errs)
		if len(errs) > 0 && r.FirstError == "" {
			r.FirstError = errs[0].Error()
		}
	}
	slices.Sort(walls)
	r.WallMS = quantile(walls, 0.5)
	return r
}

// batch prepares n launches, then starts them together and waits for all.
func (m *measurer) batch(l Launcher, n int) (time.Duration, []error) {
	type job struct {
		cmd            *exec.Cmd
		bundle         string
		stdout, stderr bytes.Buffer
	}
	jobs := make([]*job, n)
	var errs []error
	for i := range jobs {
		argv, bundle, err := m.prepare(l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		j := &job{bundle: bundle}
		j.cmd = exec.Command(argv[0], argv[1:]...)
		j.cmd.Stdout, j.cmd.Stderr = &j.stdout, &j.stderr
		jobs[i] = j
	}
	var wg sync.WaitGroup
	results := make([]error, n)
	start := time.Now()
	for i, j := range jobs {
		if j == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = j.cmd.Run()
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	for i, j := range jobs {
		if j == nil {
			continue
		}
		if j.bundle != "" {
			os.RemoveAll(j.bundle)
		}
		switch {
		case results[i] != nil:
			errs = append(errs, fmt.Errorf("%s: %w: %s", l.Name, results[i], firstLine(j.stderr.String())))
		case j.stdout.String() != l.Expect:
			errs = append(errs, fmt.Errorf("%s: printed %q, want %q", l.Name, j.stdout.String(), l.Expect))
		}
	}
	return wall, errs
}

// reportCmd prints the table of one or more passes, with the ratios of
// brig's medians to the other launchers' of the same pass and workload.
func reportCmd(files []string, w io.Writer) error {
	var results []Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		results = append(results, r)
	}
	if len(results) > 0 && results[0].Host != "" {
		fmt.Fprintf(w, "host: %s\n\n", results[0].Host)
	}
	printLaunches(w, results)
	printRatios(w, results)
	printParallel(w, results)
	printFailures(w, results)
	return nil
}

func printLaunches(w io.Writer, results []Result) {
	fmt.Fprintln(w, "Sequential launches (wall ms; CPU = user+sys of the launcher's process tree; RSS = peak of the tree under GNU time, MiB)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "as\tlauncher\tworkload\truns\tfail\tmedian\tp95\tmin\tCPU\tRSS med\tRSS max\t")
	for _, r := range results {
		for _, s := range r.Runs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", r.Label, s.Name, s.Workload,
				s.N, s.Failures, s.MedianMS, s.P95MS, s.MinMS, s.CPUMS, mib(s.RSSKiB), mib(s.MaxRSSKiB))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// printRatios divides each brig launcher's median by the others' medians
// of the same pass and workload.
func printRatios(w io.Writer, results []Result) {
	fmt.Fprintln(w, "Ratios of medians (brig / other; below 1.0 brig is faster)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var others []string
	for _, r := range results {
		for _, s := range r.Runs {
			if !strings.HasPrefix(s.Name, "brig") && !slices.Contains(others, s.Name) {
				others = append(others, s.Name)
			}
		}
	}
	fmt.Fprint(tw, "as\tbrig\tworkload\t")
	for _, o := range others {
		fmt.Fprintf(tw, "/%s\t", o)
	}
	fmt.Fprintln(tw)
	for _, r := range results {
		for _, b := range r.Runs {
			if !strings.HasPrefix(b.Name, "brig") {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t", r.Label, b.Name, b.Workload)
			for _, o := range others {
				fmt.Fprintf(tw, "%s\t", ratio(b, find(r.Runs, o, b.Workload)))
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func find(ss []Summary, name, workload string) *Summary {
	for i := range ss {
		if ss[i].Name == name && ss[i].Workload == workload {
			return &ss[i]
		}
	}
	return nil
}

func ratio(b Summary, o *Summary) string {
	if o == nil || o.MedianMS == 0 || b.MedianMS == 0 {
		return "-"
	}
	return strconv.FormatFloat(b.MedianMS/o.MedianMS, 'f', 2, 64)
}

func printParallel(w io.Writer, results []Result) {
	fmt.Fprintln(w, "Parallel launches (all started at once; wall ms of the whole batch, median of the repetitions; failures summed)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "as\tlauncher\tworkload\tn\twall\tper launch\tfail\tvs crun\t")
	for _, r := range results {
		for _, p := range r.Parallel {
			vs := "-"
			for _, c := range r.Parallel {
				if c.Name == "crun" && c.N == p.N && c.Workload == p.Workload && c.WallMS > 0 {
					vs = strconv.FormatFloat(p.WallMS/c.WallMS, 'f', 2, 64)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%.1f\t%d\t%s\t\n", r.Label, p.Name, p.Workload, p.N, p.WallMS, p.WallMS/float64(p.N), p.Failures, vs)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func printFailures(w io.Writer, results []Result) {
	for _, r := range results {
		for _, s := range r.Runs {
			if s.FirstError != "" {
				fmt.Fprintf(w, "FAIL %s %s %s: %d of %d, first: %s\n", r.Label, s.Name, s.Workload, s.Failures, s.N, s.FirstError)
			}
		}
		for _, p := range r.Parallel {
			if p.FirstError != "" {
				fmt.Fprintf(w, "FAIL %s %s x%d: %d, first: %s\n", r.Label, p.Name, p.N, p.Failures, p.FirstError)
			}
		}
	}
}
