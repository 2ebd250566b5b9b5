package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/brigsandbox/brig/spec"
)

// Config is one sandbox run.
type Config struct {
	// ID names the run; RootDir(StateDir, ID) is where a host-mode root
	// is prepared. Empty: a fresh id.
	ID string
	// StateDir is brig's per-user state directory (see StateDir()).
	StateDir string
	// Spec is the runtime spec to run, as built by package spec. Run
	// fills in the cgroup path.
	Spec *specs.Spec
	// Skeleton, when set, is created in RootDir(StateDir, ID) before start
	// (host mode); Spec.Root.Path must point there.
	Skeleton []spec.SkeletonEntry
	// Stdin, Stdout and Stderr are the workload's standard streams. With
	// Spec.Process.Terminal they are copied through a pty brig owns.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Cgroups is where this host lets the run's cgroup live.
	Cgroups CgroupHost
	// BestEffort runs even when limits cannot be enforced; the receipt
	// then says which were not.
	BestEffort bool
	// Timeout kills the whole sandbox after this long (0: never).
	Timeout time.Duration
	// Signals are forwarded to the workload while it runs.
	Signals <-chan os.Signal
	// Info is recorded for `brig ps`.
	Info   Info
	Logger *slog.Logger
}

// Info describes a run to `brig ps`.
type Info struct {
	ID        string    `json:"id"`
	Profile   string    `json:"profile"`
	Command   []string  `json:"command"`
	StartedAt time.Time `json:"started_at"`
	BrigPID   int       `json:"brig_pid"`
	InitPID   int       `json:"init_pid,omitempty"`
}

// RootDir is where run id's host-mode root lives.
func RootDir(stateDir, id string) string { return filepath.Join(stateDir, runsDir, id, "root") }

// Run starts the sandbox, waits for the workload, collects statistics and
// removes every trace of the run, on every path out. It returns the
// receipt of a run that started; an error means brig itself failed.
func Run(ctx context.Context, cfg Config) (*Receipt, error) {
	log := logger(cfg.Logger)
	if cfg.ID == "" {
		cfg.ID = NewID()
	}
	if err := ensureStateDir(cfg.StateDir); err != nil {
		return nil, err
	}
	Collect(cfg.StateDir, log)
	if err := PrepareV2Delegated(cfg.Cgroups); err != nil {
		// The delegated subtree cannot host runs: no cgroup of our own,
		// which planCgroups turns into a refusal (or best effort).
		cfg.Cgroups = noneHost(cfg.Cgroups.Version, err.Error(), "run brig from a cgroup it may reorganise, or see 'brig doctor'")
	}
	enforced, err := planCgroups(&cfg)
	if err != nil {
		return nil, err
	}
	rd, err := newRunDir(cfg.StateDir, cfg.ID)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := rd.remove(); err != nil {
			log.Warn("cannot remove run state", "dir", rd.path, "err", err)
		}
	}()
	if err := writeSkeleton(RootDir(cfg.StateDir, cfg.ID), cfg.Skeleton); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, log: log, dir: rd, receipt: newReceipt(cfg, enforced)}
	return r.execute(ctx)
}

// run is one sandbox on its way through start, wait and cleanup.
type run struct {
	cfg       Config
	log       *slog.Logger
	dir       *runDir
	container *libcontainer.Container
	process   *libcontainer.Process
	receipt   *Receipt
	status    *os.File // read end of the reaper's status pipe
	tty       *ttyCopier
	pidsPeak  atomic.Int64      // sampled pids.current maximum
	paths     map[string]string // the run's cgroups, see cgroupPaths
	exited    chan struct{}     // closed once the init process is reaped
	exitState *os.ProcessState  // valid after exited is closed
	// initFailed: the init exited without running the workload.
	initFailed bool
}

func (r *run) execute(ctx context.Context) (*Receipt, error) {
	lcRoot := filepath.Join(r.cfg.StateDir, lcDir)
	config, err := r.libcontainerConfig()
	if err != nil {
		return nil, err
	}
	r.container, err = libcontainer.Create(lcRoot, r.cfg.ID, config)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, explainStartError(err))
	}
	defer r.destroy()
	if err := r.start(); err != nil {
		return nil, err
	}
	r.writeInfo()
	rc, err := r.wait(ctx)
	if err == nil && r.initFailed {
		return nil, fmt.Errorf("%w: the sandbox's init failed before the workload started (exit %d, see its message above)%s",
			ErrStart, rc.ExitCode, dynamicHint())
	}
	return rc, err
}

// libcontainerConfig converts the spec. The cgroup path is per run:
// a shared name makes concurrent runs fail ("cgroup is not empty").
func (r *run) libcontainerConfig() (*configs.Config, error) {
	rootless := os.Geteuid() != 0
	_, outer := OuterCaller()
	s := r.cfg.Spec
	s.Linux.CgroupsPath = cgroupsPath(r.cfg.Cgroups, r.cfg.ID)
	config, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:       r.cfg.ID,
		UseSystemdCgroup: r.cfg.Cgroups.Driver == DriverSystemd,
		Spec:             s,
		RootlessEUID:     rootless,
		// Root of an outer user namespace owns only what was delegated.
		RootlessCgroups: rootless || outer,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	// If brig dies, so does the sandbox: its pid 1 gets SIGKILL, and the
	// kernel then kills every other process of the pid namespace.
	config.ParentDeathSignal = int(unix.SIGKILL)
	return config, nil
}

// cgroupsPath names the run's cgroup for the host's driver; "" lets
// libcontainer ignore cgroups it cannot create (best effort only).
func cgroupsPath(h CgroupHost, id string) string {
	switch h.Driver {
	case DriverSystemd:
		slice := h.Parent
		if slice == "" {
			slice = "user.slice"
		}
		return slice + ":brig:" + id
	case DriverFS:
		return strings.TrimSuffix(h.Parent, "/") + "/" + id
	}
	return ""
}

// start launches the sandbox from a locked OS thread that stays locked
// until the workload ends: the parent-death signal fires when the thread
// that forked the init exits, and the Go runtime may retire idle threads.
func (r *run) start() error {
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer statusW.Close()
	r.status = statusR
	p := &libcontainer.Process{
		Args:            r.cfg.Spec.Process.Args,
		Env:             append(slices.Clone(r.cfg.Spec.Process.Env), fmt.Sprintf("%s=%d", reaperStatusEnv, statusFD)),
		Cwd:             r.cfg.Spec.Process.Cwd,
		UID:             int(r.cfg.Spec.Process.User.UID),
		GID:             int(r.cfg.Spec.Process.User.GID),
		Stdin:           r.cfg.Stdin,
		Stdout:          r.cfg.Stdout,
		Stderr:          r.cfg.Stderr,
		ExtraFiles:      []*os.File{statusW},
		Init:            true,
		NoNewPrivileges: &r.cfg.Spec.Process.NoNewPrivileges,
	}
	for _, g := range r.cfg.Spec.Process.User.AdditionalGids {
		p.AdditionalGroups = append(p.AdditionalGroups, int(g))
	}
	var consoleParent *os.File
	if r.cfg.Spec.Process.Terminal {
		var child *os.File
		if consoleParent, child, err = socketPair(); err != nil {
			return fmt.Errorf("%w: %w", ErrStart, err)
		}
		defer consoleParent.Close()
		defer child.Close()
		p.ConsoleSocket = child
		p.Stdin, p.Stdout, p.Stderr = nil, nil, nil
	}
	started := make(chan error, 1)
	r.exited = make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		err := r.container.Start(p)
		started <- err
		if err == nil {
			// Wait here, holding the thread, until the init is gone.
			r.exitState, _ = p.Wait()
			close(r.exited)
		}
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("%w: %w", ErrStart, explainStartError(err))
	}
	// The sandbox now exists, its init blocked before exec: attach the
	// network before the workload can notice it missing.
	if err := r.beforeExec(p); err != nil {
		_ = r.container.Signal(unix.SIGKILL)
		return err
	}
	if err := r.container.Exec(); err != nil {
		_ = r.container.Signal(unix.SIGKILL)
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	r.process = p
	r.receipt.StartedAt = time.Now()
	r.cgroupPaths()
	if consoleParent != nil {
		if r.tty, err = newTTYCopier(consoleParent, r.cfg.Stdin, r.cfg.Stdout); err != nil {
			_ = r.container.Signal(unix.SIGKILL)
			return fmt.Errorf("%w: terminal: %w", ErrStart, err)
		}
	}
	return nil
}

// beforeExec does what must happen between creating the sandbox and
// letting its workload run.
func (r *run) beforeExec(p *libcontainer.Process) error {
	if !wantsUserNetwork(r.cfg.Spec) {
		return nil
	}
	pid, err := p.Pid()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	return attachUserNetwork(pid, r.pastaPIDFile())
}

// pastaPIDFile is where the run's pasta writes its pid.
func (r *run) pastaPIDFile() string { return filepath.Join(r.dir.path, "pasta.pid") }

func (r *run) wait(ctx context.Context) (*Receipt, error) {
	if r.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
	}
	sampler := newPidsSampler(r)
	defer sampler.stop()
	status := r.readStatus()
	for {
		select {
		case line := <-status:
			return r.finish(line), nil
		case sig := <-r.cfg.Signals:
			if sig == unix.SIGWINCH && r.tty != nil {
				r.tty.resize()
				continue
			}
			_ = r.process.Signal(sig)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				r.receipt.Reason = ReasonTimeout
			}
			_ = r.container.Signal(unix.SIGKILL)
			return r.finish(<-status), nil
		}
	}
}

// readStatus reads the reaper's one status line in the background. The
// line arrives when the workload has ended; "" (EOF) means the reaper died
// without reporting: killed, or out of memory itself.
func (r *run) readStatus() <-chan string {
	ch := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r.status).ReadString('\n')
		ch <- line
	}()
	return ch
}

// finish reads how the workload ended and what it used. The reaper
// lingers after its report, keeping the cgroup populated (systemd removes
// an empty scope the moment its last process exits), so the statistics
// are read first; closing the status pipe then lets the reaper end the
// sandbox.
func (r *run) finish(line string) *Receipt {
	rc := r.receipt
	rc.WallMS = time.Since(rc.StartedAt).Milliseconds()
	out, reported := parseOutcome(line)
	if reported {
		rc.setOutcome(out)
	}
	collectStats(r, rc)
	_ = r.status.Close()
	<-r.exited
	if !reported && r.exitState != nil {
		rc.setProcessState(r.exitState)
		// The reaper reports before it exits; it only stays silent when
		// a signal killed it, or when it never ran at all.
		r.initFailed = rc.Signal == 0 && rc.Reason != ReasonTimeout
	}
	// The terminal drains only once the reaper, which holds it, is gone.
	if r.tty != nil {
		r.tty.finish()
	}
	rc.settle()
	return rc
}

// destroy kills whatever is left and removes libcontainer's state and the
// run's cgroup. It runs on every path out of execute.
func (r *run) destroy() {
	_ = r.container.Signal(unix.SIGKILL)
	if wantsUserNetwork(r.cfg.Spec) {
		stopUserNetwork(r.pastaPIDFile())
	}
	if err := r.container.Destroy(); err != nil {
		r.log.Warn("cannot destroy sandbox", "id", r.cfg.ID, "err", err)
	}
}

func (r *run) writeInfo() {
	info := r.cfg.Info
	info.ID, info.BrigPID, info.StartedAt = r.cfg.ID, os.Getpid(), r.receipt.StartedAt
	if pid, err := r.process.Pid(); err == nil {
		info.InitPID = pid
	}
	if err := writeJSON(filepath.Join(r.dir.path, "info.json"), info); err != nil {
		r.log.Debug("cannot write run info", "err", err)
	}
}
