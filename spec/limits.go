package spec

import (
	"fmt"
	"math"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Limits are the sandbox's cgroup limits. Zero means "not limited".
type Limits struct {
	MemoryBytes int64   // memory.max
	SwapBytes   int64   // swap allowed beyond MemoryBytes (0: no swap)
	Pids        int64   // pids.max
	CPUs        float64 // CPU bandwidth in cores, e.g. 1.5
	CPUWeight   uint64  // relative CPU weight, 1..10000 (cgroup v2 scale)
	IOWeight    uint16  // relative IO weight, 1..10000 (cgroup v2 scale)
	Cpuset      string  // CPUs the workload may run on, e.g. "0-1"
}

// CPUPeriod is the CFS period brig uses: 100 ms, the kernel's default.
const CPUPeriod = 100000

// Any reports whether at least one limit is set.
func (l Limits) Any() bool { return l != Limits{} }

// WithLimits sets the cgroup limits.
func WithLimits(l Limits) Option {
	return func(s *specs.Spec) error {
		if l.MemoryBytes < 0 || l.SwapBytes < 0 || l.Pids < 0 || l.CPUs < 0 {
			return fmt.Errorf("%w: limits cannot be negative", ErrInvalid)
		}
		if l.CPUWeight > 10000 || l.IOWeight > 10000 {
			return fmt.Errorf("%w: weights range from 1 to 10000", ErrInvalid)
		}
		r := &specs.LinuxResources{}
		if l.MemoryBytes > 0 {
			// memory.swap in the OCI spec is memory plus swap.
			swap := l.MemoryBytes + l.SwapBytes
			r.Memory = &specs.LinuxMemory{Limit: &l.MemoryBytes, Swap: &swap}
		}
		if l.Pids > 0 {
			r.Pids = &specs.LinuxPids{Limit: &l.Pids}
		}
		if l.CPUs > 0 || l.CPUWeight > 0 || l.Cpuset != "" {
			r.CPU = cpu(l)
		}
		if l.IOWeight > 0 {
			w := ioWeightV1(l.IOWeight)
			r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
		}
		s.Linux.Resources = r
		return nil
	}
}

func cpu(l Limits) *specs.LinuxCPU {
	c := &specs.LinuxCPU{Cpus: l.Cpuset}
	if l.CPUs > 0 {
		quota := int64(math.Round(l.CPUs * CPUPeriod))
		period := uint64(CPUPeriod)
		c.Quota, c.Period = &quota, &period
	}
	if l.CPUWeight > 0 {
		shares := sharesFromWeight(l.CPUWeight)
		c.Shares = &shares
	}
	return c
}

// sharesFromWeight converts a cgroup v2 weight (1..10000) to v1 shares
// (2..262144); libcontainer converts back on v2 with the inverse formula.
func sharesFromWeight(w uint64) uint64 {
	return 2 + (w-1)*262142/9999
}

// ioWeightV1 converts a v2 IO weight (1..10000) to the OCI scale (10..1000).
func ioWeightV1(w uint16) uint16 {
	return uint16(10 + (uint32(w)-1)*990/9999)
}
