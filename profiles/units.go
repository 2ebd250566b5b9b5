package profiles

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Binary units. brig follows docker and podman: K, M, G, T and P are powers
// of 1024 whether or not they are written with "i" or "B", so "512M",
// "512MB" and "512MiB" are all 536870912 bytes. There is no decimal
// (powers of 1000) reading, because cgroup limits are almost always
// thought of in MiB and GiB and a silent 5% difference would surprise.
const (
	KiB Size = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
)

// sizeUnits lists the unit letters from largest to smallest, with their
// multipliers; MarshalText uses the largest that divides the value.
var sizeUnits = []struct {
	letter string
	mult   Size
}{{"P", PiB}, {"T", TiB}, {"G", GiB}, {"M", MiB}, {"K", KiB}}

// sizeRE: a decimal number, an optional space, then nothing, "B", or a unit
// letter optionally followed by "i" and/or "B" (any case).
var sizeRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)^([0-9]+(?:\.[0-9]+)?) ?(?:([kmgtp])(i?b?)|(b?))$`)
})

const sizeForms = "write bytes as 512, or with a unit: 64K, 512M, 1.5G, 2GiB, 512MB (K, M, G, T, P are powers of 1024)"

// ParseSize reads a byte count such as "512", "64K", "512M", "1.5G",
// "2GiB", "64MiB" or "512MB". Units are case-insensitive powers of 1024
// (see [KiB]); a fractional result is rounded down to whole bytes. Empty,
// negative, unknown units and values beyond 8 EiB are errors that name the
// accepted forms.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, badValue(fmt.Sprintf("size %q is negative", s), sizeForms)
	}
	m := sizeRE().FindStringSubmatch(t)
	if m == nil {
		return 0, badValue(fmt.Sprintf("%q is not a size", s), sizeForms)
	}
	num, ok := new(big.Rat).SetString(m[1])
	if !ok { // cannot happen: the regexp admits only decimal numbers
		return 0, badValue(fmt.Sprintf("%q is not a size", s), sizeForms)
	}
	if m[2] != "" {
		num.Mul(num, new(big.Rat).SetInt64(int64(unitMultiplier(m[2]))))
	}
	whole := new(big.Int).Quo(num.Num(), num.Denom())
	if !whole.IsInt64() {
		return 0, badValue(fmt.Sprintf("size %q is too large", s), "the largest size is 8191P")
	}
	return whole.Int64(), nil
}

func unitMultiplier(letter string) Size {
	for _, u := range sizeUnits {
		if strings.EqualFold(u.letter, letter) {
			return u.mult
		}
	}
	return 1
}

// String returns the shortest exact form, like "512M" or "1536K"; see
// [Size.MarshalText].
func (s Size) String() string {
	if s <= 0 {
		return strconv.FormatInt(int64(s), 10)
	}
	for _, u := range sizeUnits {
		if s%u.mult == 0 {
			return strconv.FormatInt(int64(s/u.mult), 10) + u.letter
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText writes the size in its shortest exact form: 536870912
// becomes "512M", 1610612736 becomes "1536M", 1000 stays "1000".
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads any form [ParseSize] accepts.
func (s *Size) UnmarshalText(b []byte) error {
	n, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

const durationForms = "use a Go duration such as 30s, 5m, 1h30m; 0 means no limit"

// ParseDuration reads a non-negative Go duration such as "30s", "5m" or
// "1h30m". "0" means no limit.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, badValue(fmt.Sprintf("%q is not a duration", s), durationForms)
	}
	if d < 0 {
		return 0, badValue(fmt.Sprintf("duration %q is negative", s), durationForms)
	}
	return Duration(d), nil
}

// String writes the duration the way a person would: "1h" rather than
// Go's "1h0m0s", "1h30m", "90s" as "1m30s", zero as "0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText writes the duration as [Duration.String] does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads any form [ParseDuration] accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Bounds for CPU limits: the kernel's CFS quota cannot go below 1 ms per
// 100 ms period, and 1024 cores is far beyond any machine brig targets.
const (
	minCPUs = 0.01
	maxCPUs = 1024
)

const cpuForms = "use a number of cores such as 0.5, 1 or 2.5, at most 1024; 0 means no limit"

// ParseCPUs reads a CPU limit in cores, like docker's --cpus: "1.5" is one
// and a half cores' worth of time. "0" means no limit; otherwise the value
// must lie between 0.01 and 1024.
func ParseCPUs(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, badValue(fmt.Sprintf("%q is not a number of CPUs", s), cpuForms)
	}
	if e := checkCPUs(f); e != nil {
		return 0, e
	}
	return f, nil
}

func checkCPUs(f float64) *Error {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return badValue("CPUs must be a finite number", cpuForms)
	case f < 0:
		return badValue(fmt.Sprintf("%g CPUs is negative", f), cpuForms)
	case f > 0 && f < minCPUs:
		return badValue(fmt.Sprintf("%g CPUs is below the kernel's smallest quota (0.01)", f), cpuForms)
	case f > maxCPUs:
		return badValue(fmt.Sprintf("%g CPUs is more than 1024", f), cpuForms)
	}
	return nil
}

// badValue builds an unlocated ErrBadValue; the decoder adds file, line
// and key when the value came from a profile.
func badValue(msg, hint string) *Error {
	return &Error{Msg: msg, Hint: hint, err: ErrBadValue}
}
