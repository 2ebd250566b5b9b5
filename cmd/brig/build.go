package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/brigsandbox/brig/image"
	"github.com/brigsandbox/brig/profiles"
	"github.com/brigsandbox/brig/sandbox"
	"github.com/brigsandbox/brig/spec"
)

// plan is everything a run needs, decided before anything starts.
type plan struct {
	id       string
	stateDir string
	profile  *profiles.Profile
	spec     *specs.Spec
	skeleton []spec.SkeletonEntry
	timeout  time.Duration
	// mapping says how ids map, for --verbose: "subordinate range" or
	// "single id".
	mapping string
	// outer: this run must happen in brig's outer user namespace.
	outer bool
	// ident is who the workload is and how ids map.
	ident spec.Identity
	// argv is the workload's command, as the user gave it (or the image).
	argv []string
	// release ends what the plan holds (an image's hold); nil for nothing.
	release func()
}

// close releases what the plan holds; call it once the sandbox is gone.
func (pl *plan) close() {
	if pl.release != nil {
		pl.release()
	}
}

const sandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// sandboxHome is HOME inside: the private /tmp, so tools that write
// caches work without seeing the user's real home.
const sandboxHome = "/tmp"

// makePlan turns the profile, the flags and the command into a spec.
func makePlan(f *runFlags, argv []string) (*plan, error) {
	var img imageRun
	if f.image != "" {
		if f.rootfs != "" {
			return nil, usageErrorf("--image and --rootfs both name the root file system: use one")
		}
		var err error
		if img, err = prepareRunImage(f.image, argv, f.verbose); err != nil {
			return nil, err
		}
		f.rootfs, argv = img.rootfs, img.argv
	}
	if len(argv) == 0 {
		return nil, usageErrorf("no command given: write 'brig %s [flags] -- CMD [ARGS...]'", "run")
	}
	p, err := f.loadProfile()
	if err != nil {
		return nil, err
	}
	if p.Network.Mode == profiles.NetUser {
		if _, err := exec.LookPath("pasta"); err != nil {
			return nil, usageErrorf("profile %q needs pasta for its user-mode network: install the passt package (sudo apt-get install passt), or use --net none", p.Name)
		}
	}
	pl := &plan{id: sandbox.NewID(), stateDir: sandbox.StateDir(), profile: p, timeout: time.Duration(p.Limits.Timeout), release: img.release}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("who am I: %w", err)
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("current directory: %w", err)
	}
	// An unprivileged caller's own id inside needs brig's outer user
	// namespace (see sandbox/outerns.go); runCmd re-executes into it.
	pl.outer = p.Identity.User == profiles.UserSelf && os.Geteuid() != 0
	ident, mapping := identity(p, u)
	pl.ident, pl.mapping = ident, mapping
	workload := spec.Workload{
		Args:     argv,
		Env:      environment(p, f, img.cfg.Env),
		Cwd:      insideCwd(p, f, cwd, img.cfg.WorkingDir),
		Terminal: f.tty,
		Hostname: f.hostname,
	}
	opts, err := pl.options(p, f, ident, u, cwd)
	if err != nil {
		return nil, err
	}
	if img.user != nil && f.user == "" && p.Identity.User == profiles.UserRoot {
		opt, ok := imageUser(ident, *img.user, f.image)
		if ok {
			opts = append(opts, opt)
			pl.mapping += "; the image's user"
		}
	}
	s, err := spec.Build(workload, opts...)
	if err != nil {
		return nil, err
	}
	pl.spec, pl.argv = s, argv
	return pl, nil
}

// options lists the spec options for the profile on this host.
func (pl *plan) options(p *profiles.Profile, f *runFlags, ident spec.Identity, u *user.User, cwd string) ([]spec.Option, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find the brig binary: %w", err)
	}
	self, _ = filepath.EvalSymlinks(self)
	root, err := pl.rootOption(p, f, ident, u)
	if err != nil {
		return nil, err
	}
	workdir := cwd
	if f.rootfs != "" {
		workdir = "" // a --rootfs tree brings its own files
	}
	if workdir != "" && p.Filesystem.Workdir != profiles.WorkdirHidden {
		if err := checkWorkdirShown(workdir, os.Getenv("XDG_RUNTIME_DIR")); err != nil {
			return nil, err
		}
	}
	return p.SpecOptions(profiles.Host{Identity: ident, Root: root, Workdir: workdir, InitBinary: self}), nil
}

// rootOption picks --rootfs or host mode; host mode also plans the
// skeleton of the fresh root.
func (pl *plan) rootOption(p *profiles.Profile, f *runFlags, ident spec.Identity, u *user.User) (spec.Option, error) {
	if f.rootfs != "" {
		dir, err := filepath.Abs(f.rootfs)
		if err != nil {
			return nil, usageErrorf("--rootfs %q: %v", f.rootfs, err)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, usageErrorf("--rootfs %q: not a directory (point it at an unpacked root filesystem)", f.rootfs)
		}
		if err := sandbox.CheckRootfs(dir); err != nil {
			return nil, err
		}
		// An image's tree is shared by every run of it: never writable.
		return spec.WithRootfs(dir, !p.Filesystem.RootReadonly && f.image == ""), nil
	}
	layout := sandbox.HostLayout()
	name := "root"
	if ident.UID != 0 {
		name = u.Username
		if c, ok := sandbox.OuterCaller(); ok {
			name = c.Name // u is the outer namespace's root
		}
	}
	var resolv []byte
	switch p.Network.Mode {
	case profiles.NetHost:
		resolv, _ = os.ReadFile("/etc/resolv.conf")
		if resolv == nil {
			resolv = []byte{}
		}
	case profiles.NetUser:
		resolv = []byte("nameserver " + spec.UserNetDNS + "\n")
	}
	pl.skeleton = spec.Skeleton(spec.SkeletonInput{Layout: layout, UserName: name, UID: ident.UID, GID: ident.GID,
		Home: sandboxHome, Hostname: nonEmpty(f.hostname, spec.DefaultHostname), ResolvConf: resolv})
	return spec.WithHostRoot(sandbox.RootDir(pl.stateDir, pl.id), layout), nil
}

// identity maps the caller to root (or to itself) inside, with the
// caller's subordinate ranges when newuidmap can use them.
func identity(p *profiles.Profile, u *user.User) (spec.Identity, string) {
	if c, ok := sandbox.OuterCaller(); ok {
		return outerIdentity(p, c), "subordinate range, through brig's outer user namespace"
	}
	id := spec.Identity{HostUID: uint32(os.Getuid()), HostGID: uint32(os.Getgid())}
	if p.Identity.User == profiles.UserSelf {
		id.UID, id.GID = id.HostUID, id.HostGID
	}
	if os.Geteuid() == 0 {
		// Root keeps an identity map of the first 65536 ids, so that it
		// still owns its files; the user namespace still confines its
		// capabilities to what the sandbox owns.
		id.SubUIDs = []spec.IDRange{{Start: 1, Count: 65535}}
		id.SubGIDs = id.SubUIDs
		return id, "identity (root caller)"
	}
	if _, err := exec.LookPath("newuidmap"); err == nil {
		id.SubUIDs = sandbox.SubIDs("/etc/subuid", u)
	}
	if _, err := exec.LookPath("newgidmap"); err == nil {
		id.SubGIDs = sandbox.SubIDs("/etc/subgid", u)
	}
	if len(id.SubUIDs) == 0 || len(id.SubGIDs) == 0 {
		id.SubUIDs, id.SubGIDs = nil, nil
		return id, "single id"
	}
	return id, "subordinate range"
}

// imageUser runs the workload as the image's user, when the user
// namespace can hold that user: it needs subordinate ids (or a root
// caller). Without them the run stays root inside and says so.
func imageUser(id spec.Identity, u image.User, ref string) (spec.Option, bool) {
	if len(id.SubUIDs) == 0 || len(id.SubGIDs) == 0 {
		say("image %s asks to run as uid %d; without subordinate ids (see 'brig doctor') it runs as root inside the sandbox (your own uid outside)", ref, u.UID)
		return nil, false
	}
	return spec.WithProcessUser(u.UID, u.GID, u.Groups), true
}

// environment builds the workload's variables, later sources winning:
// brig's base, the image's Env, host variables passed through, the
// profile's, then --env.
func environment(p *profiles.Profile, f *runFlags, imageEnv []string) []string {
	env := []string{"PATH=" + sandboxPath, "HOME=" + sandboxHome}
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, v)
	}
	pass := append([]string{"TERM", "LANG", "LC_ALL", "TZ"}, p.Environment.Pass...)
	pass = append(pass, f.passEnv...)
	for _, k := range pass {
		if v, ok := os.LookupEnv(k); ok {
			env = setEnv(env, k, v)
		}
	}
	for k, v := range p.Environment.Set {
		env = setEnv(env, k, v)
	}
	for _, kv := range f.env {
		k, v, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, v)
	}
	return env
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func insideCwd(p *profiles.Profile, f *runFlags, cwd, imageWorkdir string) string {
	if f.workdir != "" {
		return f.workdir
	}
	if imageWorkdir != "" {
		return imageWorkdir
	}
	if p.Filesystem.Workdir == profiles.WorkdirHidden || f.rootfs != "" {
		return "/"
	}
	return cwd
}

// outerIdentity maps ids inside brig's outer user namespace, where the
// caller is 0 and its subordinate ids follow from 1.
func outerIdentity(p *profiles.Profile, c sandbox.Caller) spec.Identity {
	id := spec.Identity{HostUID: 0, HostGID: 0}
	if p.Identity.User == profiles.UserSelf {
		id.UID, id.GID = uint32(c.UID), uint32(c.GID)
	}
	if u, err := user.LookupId(strconv.Itoa(c.UID)); err == nil {
		id.SubUIDs = sandbox.OuterIDs(sandbox.SubIDs("/etc/subuid", u))
		id.SubGIDs = sandbox.OuterIDs(sandbox.SubIDs("/etc/subgid", u))
	}
	return id
}

// checkWorkdirShown refuses working directories whose bind would undo
// the sandbox: a bind is read-only at most, and that stops neither
// reading the host's process table nor connecting to a unix socket (a
// socket's permission check ignores read-only mounts), so the docker or
// systemd socket under /run, or the session bus in $XDG_RUNTIME_DIR,
// would be one connect away.
func checkWorkdirShown(dir, runtimeDir string) error {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // /var/run is /run
	}
	why := ""
	switch {
	case dir == "/":
		why = "showing it would show the whole host"
	case under(dir, "/proc"), under(dir, "/sys"), under(dir, "/dev"):
		why = "it is the host's; the sandbox has its own"
	case dir == "/etc":
		why = "the profile shows only chosen /etc files"
	case dir == "/tmp", under(dir, "/run"), runtimeDir != "" && under(dir, runtimeDir):
		why = "it holds other programs' sockets, which a read-only bind does not close"
	default:
		return nil
	}
	return usageErrorf("the working directory %s cannot be shown inside: %s (cd to the directory the tool needs, or use --rootfs)", dir, why)
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/")
}
