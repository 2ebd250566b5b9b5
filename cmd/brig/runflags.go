package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/brigsandbox/brig/profiles"
)

// runFlags are the flags `brig run` and `brig spec` share: everything that
// shapes the sandbox. Flags override the profile.
type runFlags struct {
	profile     string
	profileFile string
	binds       []string
	tmpfs       []string
	workdir     string
	env         []string
	passEnv     []string
	hostname    string
	net         string
	memory      string
	pids        string
	cpus        string
	timeout     string
	user        string
	rootfs      string
	image       string
	tty         bool
	cgroups     string
	verbose     bool
}

func (f *runFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.profile, "profile", "default", "hardening profile (see 'brig profile list')")
	fs.StringVar(&f.profileFile, "profile-file", "", "load the profile from this TOML file")
	fs.StringArrayVar(&f.binds, "bind", nil, "show host path SRC at DST: SRC:DST[:ro|rw] (repeatable)")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a private tmpfs: DST[:SIZE] (repeatable)")
	fs.StringVar(&f.workdir, "workdir", "", "working directory inside (default: the current directory)")
	fs.StringArrayVar(&f.env, "env", nil, "set K=V in the workload's environment (repeatable)")
	fs.StringArrayVar(&f.passEnv, "pass-env", nil, "pass the host variable K through (repeatable)")
	fs.StringVar(&f.hostname, "hostname", "", "the sandbox's hostname (default \"brig\")")
	fs.StringVar(&f.net, "net", "", "network: none (loopback only), user (outbound via pasta) or host")
	fs.StringVar(&f.memory, "memory", "", "memory limit, e.g. 512M or 2GiB")
	fs.StringVar(&f.pids, "pids", "", "maximum number of processes")
	fs.StringVar(&f.cpus, "cpus", "", "CPU limit in cores, e.g. 1.5")
	fs.StringVar(&f.timeout, "timeout", "", "kill the sandbox after this long, e.g. 30s")
	fs.StringVar(&f.user, "user", "", "identity inside: root (default) or self")
	fs.StringVar(&f.rootfs, "rootfs", "", "run from this directory tree instead of the host's /usr")
	fs.StringVar(&f.image, "image", "", "run an OCI image layout: PATH[:TAG|@sha256:HEX] (verified, unpacked into the image cache)")
	fs.BoolVarP(&f.tty, "tty", "t", false, "give the workload a terminal")
	fs.StringVar(&f.cgroups, "cgroups", "strict", "strict: refuse limits this host cannot enforce; best-effort: run without them and say so")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "print a summary and debug lines to stderr")
	fs.BoolVar(&f.verbose, "debug", false, "same as --verbose")
}

// newRunFlagSet makes a flag set that stops at the command: everything
// after the first non-flag argument (or "--") belongs to the workload.
func newRunFlagSet(name string, f *runFlags) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.SetOutput(stderr)
	f.register(fs)
	return fs
}

// parseFlags parses args, turning pflag's multi-line complaints into one
// line, and returns the workload's argv.
func parseFlags(fs *pflag.FlagSet, args []string) ([]string, error) {
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, err
		}
		return nil, usageErrorf("%v (see 'brig %s --help')", err, fs.Name())
	}
	return fs.Args(), nil
}

// parseCommandFlags parses a command's flags the way every command does:
// --help prints the flags under synopsis, a bad flag is reported. When
// done is true the command is over, and code is its exit code.
func parseCommandFlags(fs *pflag.FlagSet, args []string, synopsis string) (rest []string, code int, done bool) {
	rest, err := parseFlags(fs, args)
	if errors.Is(err, pflag.ErrHelp) {
		printFlags(fs, synopsis)
		return nil, exitOK, true
	}
	if err != nil {
		return nil, report(err), true
	}
	return rest, exitOK, false
}

// applyFlags overrides the profile with what the flags set.
func (f *runFlags) applyFlags(p *profiles.Profile) error {
	if err := f.applyLimits(p); err != nil {
		return err
	}
	switch f.net {
	case "":
	case profiles.NetNone, profiles.NetHost, profiles.NetUser:
		p.Network.Mode = f.net
	default:
		return usageErrorf("--net %q: use none (loopback only), user (outbound through pasta) or host", f.net)
	}
	switch f.user {
	case "":
	case profiles.UserRoot, profiles.UserSelf:
		p.Identity.User = f.user
	default:
		return usageErrorf("--user %q: use root or self", f.user)
	}
	for _, b := range f.binds {
		bind, err := parseBind(b)
		if err != nil {
			return err
		}
		p.Filesystem.Binds = append(p.Filesystem.Binds, bind)
	}
	for _, t := range f.tmpfs {
		tm, err := parseTmpfs(t)
		if err != nil {
			return err
		}
		p.Filesystem.Tmpfs = append(p.Filesystem.Tmpfs, tm)
	}
	if f.cgroups != "strict" && f.cgroups != "best-effort" {
		return usageErrorf("--cgroups %q: use strict or best-effort", f.cgroups)
	}
	return nil
}

func (f *runFlags) applyLimits(p *profiles.Profile) error {
	if f.memory != "" {
		n, err := profiles.ParseSize(f.memory)
		if err != nil || n <= 0 {
			return usageErrorf("--memory %q: write a size like 512M, 2G or 64MiB", f.memory)
		}
		p.Limits.Memory = profiles.Size(n)
	}
	if f.pids != "" {
		n, err := strconv.ParseInt(f.pids, 10, 64)
		if err != nil || n <= 0 {
			return usageErrorf("--pids %q: write a whole number of processes, e.g. 256", f.pids)
		}
		p.Limits.Pids = n
	}
	if f.cpus != "" {
		n, err := profiles.ParseCPUs(f.cpus)
		if err != nil {
			return usageErrorf("--cpus %q: write a number of cores, e.g. 0.5 or 2", f.cpus)
		}
		p.Limits.CPUs = n
	}
	if f.timeout != "" {
		d, err := time.ParseDuration(f.timeout)
		if err != nil || d <= 0 {
			return usageErrorf("--timeout %q: write a duration like 30s, 5m or 1h", f.timeout)
		}
		p.Limits.Timeout = profiles.Duration(d)
	}
	return nil
}

// parseBind reads SRC:DST[:ro|rw]; SRC must exist.
func parseBind(s string) (profiles.Bind, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return profiles.Bind{}, usageErrorf("--bind %q: write SRC:DST, SRC:DST:ro or SRC:DST:rw", s)
	}
	b := profiles.Bind{Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			b.ReadOnly = true
		case "rw":
		default:
			return profiles.Bind{}, usageErrorf("--bind %q: the mode must be ro or rw", s)
		}
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return profiles.Bind{}, usageErrorf("--bind %q: %v", s, err)
	}
	if _, err := os.Stat(src); err != nil {
		return profiles.Bind{}, usageErrorf("--bind %q: %s does not exist (create it or fix the path)", s, src)
	}
	if !filepath.IsAbs(b.Target) {
		return profiles.Bind{}, usageErrorf("--bind %q: DST must be an absolute path", s)
	}
	b.Source = src
	return b, nil
}

// parseTmpfs reads DST[:SIZE].
func parseTmpfs(s string) (profiles.Tmpfs, error) {
	dst, size, hasSize := strings.Cut(s, ":")
	if !filepath.IsAbs(dst) {
		return profiles.Tmpfs{}, usageErrorf("--tmpfs %q: write an absolute path, optionally :SIZE (e.g. /cache:256M)", s)
	}
	t := profiles.Tmpfs{Target: dst}
	if hasSize {
		n, err := profiles.ParseSize(size)
		if err != nil || n <= 0 {
			return profiles.Tmpfs{}, usageErrorf("--tmpfs %q: write the size like 64M or 1G", s)
		}
		t.Size = profiles.Size(n)
	}
	return t, nil
}

// loadProfile resolves the profile the flags name.
func (f *runFlags) loadProfile() (*profiles.Profile, error) {
	l := profiles.DefaultLoader()
	l.ProfileFile = f.profileFile
	name := f.profile
	if f.profileFile != "" && name == "default" {
		name = ""
	}
	p, err := l.Load(name)
	if err != nil {
		return nil, err
	}
	if err := f.applyFlags(p); err != nil {
		return nil, err
	}
	return p, nil
}

func nonEmpty(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// planFromArgs parses the run flags (plus a command's own, which extra
// registers) and plans the sandbox. When done is true the command is over
// (help was printed, or an error reported) and code is its exit code.
func planFromArgs(name, synopsis string, args []string, extra func(*pflag.FlagSet)) (pl *plan, f *runFlags, code int, done bool) {
	f = &runFlags{}
	fs := newRunFlagSet(name, f)
	if extra != nil {
		extra(fs)
	}
	argv, code, done := parseCommandFlags(fs, args, synopsis)
	if done {
		return nil, nil, code, true
	}
	pl, err := makePlan(f, argv)
	if err != nil {
		return nil, nil, report(err), true
	}
	return pl, f, exitOK, false
}
