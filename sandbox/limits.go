package sandbox

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Enforced says, per kind of limit, whether the kernel enforced it.
type Enforced struct {
	Memory bool `json:"memory"`
	Pids   bool `json:"pids"`
	CPU    bool `json:"cpu"`
	IO     bool `json:"io"`
}

// asked lists the kinds of limit the spec sets, with the cgroup
// controller each needs.
func asked(r *specs.LinuxResources) map[string]bool {
	want := map[string]bool{}
	if r == nil {
		return want
	}
	if r.Memory != nil && r.Memory.Limit != nil {
		want["memory"] = true
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		want["pids"] = true
	}
	if r.CPU != nil && (r.CPU.Quota != nil || r.CPU.Shares != nil) {
		want["cpu"] = true
	}
	if r.CPU != nil && r.CPU.Cpus != "" {
		want["cpuset"] = true
	}
	if r.BlockIO != nil && r.BlockIO.Weight != nil {
		want["io"] = true
	}
	return want
}

// planCgroups checks that every limit the spec asks for can be enforced
// on this host. If one cannot, it refuses, unless best effort was asked
// for: then the unenforceable limits are removed from the spec, a warning
// is logged, and the receipt will say so. Never fewer protections than
// asked for without saying so.
func planCgroups(cfg *Config) (Enforced, error) {
	want := asked(cfg.Spec.Linux.Resources)
	var missing []string
	for _, c := range []string{"memory", "pids", "cpu", "cpuset", "io"} {
		if want[c] && (cfg.Cgroups.Driver == DriverNone || !cfg.Cgroups.Has(c)) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 && !cfg.BestEffort {
		return Enforced{}, fmt.Errorf("%w: %s limit%s: %s (fix: %s; or pass --cgroups=best-effort to run without them)",
			ErrLimitsUnenforced, joinWords(missing), plural(missing), problem(cfg.Cgroups), fix(cfg.Cgroups))
	}
	if len(missing) > 0 {
		dropLimits(cfg.Spec.Linux.Resources, missing)
		logger(cfg.Logger).Warn(fmt.Sprintf("running WITHOUT %s limit%s: %s", joinWords(missing), plural(missing), problem(cfg.Cgroups)))
	}
	return Enforced{
		Memory: want["memory"] && !contains(missing, "memory"),
		Pids:   want["pids"] && !contains(missing, "pids"),
		CPU:    (want["cpu"] || want["cpuset"]) && !contains(missing, "cpu") && !contains(missing, "cpuset"),
		IO:     want["io"] && !contains(missing, "io"),
	}, nil
}

func problem(h CgroupHost) string {
	if h.Problem != "" {
		return h.Problem
	}
	return "the cgroup controllers are not delegated to this user"
}

func fix(h CgroupHost) string {
	if h.Fix != "" {
		return h.Fix
	}
	return "run 'brig doctor'"
}

func dropLimits(r *specs.LinuxResources, kinds []string) {
	for _, k := range kinds {
		switch k {
		case "memory":
			r.Memory = nil
		case "pids":
			r.Pids = nil
		case "cpu":
			if r.CPU != nil {
				r.CPU.Quota, r.CPU.Period, r.CPU.Shares = nil, nil, nil
			}
		case "cpuset":
			if r.CPU != nil {
				r.CPU.Cpus = ""
			}
		case "io":
			r.BlockIO = nil
		}
	}
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func joinWords(list []string) string {
	switch len(list) {
	case 0:
		return ""
	case 1:
		return list[0]
	}
	out := list[0]
	for _, w := range list[1 : len(list)-1] {
		out += ", " + w
	}
	return out + " and " + list[len(list)-1]
}

func plural(list []string) string {
	if len(list) == 1 {
		return ""
	}
	return "s"
}
