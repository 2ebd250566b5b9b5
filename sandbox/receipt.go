package sandbox

import (
	"os"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Why a run ended.
const (
	ReasonExited   = "exited"   // the workload exited by itself
	ReasonSignaled = "signaled" // a signal killed it
	ReasonOOM      = "oom"      // the kernel's OOM killer killed it at the memory limit
	ReasonTimeout  = "timeout"  // brig killed it at --timeout
)

// Receipt is what brig reports after every run (--report writes it as
// JSON). Statistics come from the run's cgroup, read just before it is
// removed.
type Receipt struct {
	ID              string    `json:"id"`
	Profile         string    `json:"profile"`
	StartedAt       time.Time `json:"started_at"`
	Reason          string    `json:"reason"`
	ExitCode        int       `json:"exit_code"`
	Signal          int       `json:"signal,omitempty"`
	WallMS          int64     `json:"wall_ms"`
	CPUUserMS       int64     `json:"cpu_user_ms"`
	CPUSystemMS     int64     `json:"cpu_system_ms"`
	MemoryPeakBytes int64     `json:"memory_peak_bytes"`
	PidsPeak        int64     `json:"pids_peak"`
	PidsPeakSampled bool      `json:"pids_peak_sampled,omitempty"` // no kernel counter: sampled
	PidsLimitHits   int64     `json:"pids_limit_hits"`
	OOMKills        int64     `json:"oom_kills"`
	Enforced        Enforced  `json:"enforced"`
	Limits          Limits    `json:"limits"`
	CgroupDriver    string    `json:"cgroup_driver"`
	// ExecFailed: the command could not be started (exit code 126/127).
	ExecFailed bool `json:"exec_failed,omitempty"`
}

// Limits echoes the limits the run asked for (0: none).
type Limits struct {
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
	Pids        int64   `json:"pids,omitempty"`
	CPUs        float64 `json:"cpus,omitempty"`
}

func newReceipt(cfg Config, enforced Enforced) *Receipt {
	return &Receipt{
		ID:           cfg.ID,
		Profile:      cfg.Info.Profile,
		StartedAt:    time.Now(),
		Enforced:     enforced,
		Limits:       askedLimits(cfg.Spec.Linux.Resources),
		CgroupDriver: string(cfg.Cgroups.Driver),
	}
}

func askedLimits(r *specs.LinuxResources) Limits {
	var l Limits
	if r == nil {
		return l
	}
	if r.Memory != nil && r.Memory.Limit != nil {
		l.MemoryBytes = *r.Memory.Limit
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		l.Pids = *r.Pids.Limit
	}
	if r.CPU != nil && r.CPU.Quota != nil && r.CPU.Period != nil && *r.CPU.Period > 0 {
		l.CPUs = float64(*r.CPU.Quota) / float64(*r.CPU.Period)
	}
	return l
}

func (rc *Receipt) setOutcome(o Outcome) {
	rc.ExitCode, rc.ExecFailed = o.Code, o.ExecFail
	if !o.Exited {
		rc.Signal = o.Signal
	}
}

// setProcessState is the fallback when the reaper itself was killed
// (e.g. by the OOM killer) and could not report.
func (rc *Receipt) setProcessState(ps *os.ProcessState) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled():
		rc.Signal = int(ws.Signal())
		rc.ExitCode = 128 + rc.Signal
	default:
		rc.ExitCode = ps.ExitCode()
	}
}

// settle decides the reason. A timeout was set when it fired; an OOM kill
// is read from the cgroup's memory events, never guessed from exit 137.
func (rc *Receipt) settle() {
	switch {
	case rc.Reason == ReasonTimeout:
		rc.ExitCode = 124
	case rc.OOMKills > 0 && rc.Signal == int(syscall.SIGKILL):
		rc.Reason = ReasonOOM
	case rc.Signal != 0:
		rc.Reason = ReasonSignaled
	default:
		rc.Reason = ReasonExited
	}
}
