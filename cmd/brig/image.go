package main

import (
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/brigsandbox/brig/image"
)

const imageUsage = `usage: brig image COMMAND
  ls [--json]                       the unpacked images in the cache, their size and last use
  prune [--older-than DURATION]     remove cached images (all, or those unused for DURATION)
  verify PATH[:TAG|@sha256:HEX]     check every blob of an OCI image layout; print its digest

The cache is $BRIG_CACHE_DIR, else $XDG_CACHE_HOME/brig/images, else
~/.cache/brig/images. Run an image with 'brig run --image PATH[:TAG] [-- CMD]'.`

// imageCmd manages the image cache and checks image layouts.
func imageCmd(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, imageUsage)
		return exitOK
	}
	sub := map[string]func([]string) error{"ls": imageList, "list": imageList, "prune": imagePrune, "verify": imageVerify}
	run, ok := sub[args[0]]
	if !ok {
		return report(usageErrorf("unknown image command %q (use ls, prune or verify)", args[0]))
	}
	err := run(args[1:])
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintln(stdout, imageUsage)
		return exitOK
	}
	if err != nil {
		return report(err)
	}
	return exitOK
}

// imageFlags makes the flag set of one image subcommand, with -v.
func imageFlags(name string) (*pflag.FlagSet, *bool) {
	fs := pflag.NewFlagSet("image "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.BoolP("verbose", "v", false, "print debug lines to stderr")
	return fs, verbose
}

func imageCache(verbose bool) image.Cache {
	c := image.DefaultCache()
	c.Logger = newLogger(verbose)
	return c
}

func imageList(args []string) error {
	fs, verbose := imageFlags("ls")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageErrorf("'brig image ls' takes no arguments (got %q)", rest[0])
	}
	list, err := imageCache(*verbose).List()
	if err != nil {
		return err
	}
	if *asJSON {
		return printImagesJSON(list)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DIGEST\tSIZE\tLAST USED\tSOURCE")
	now := time.Now()
	for _, e := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", imageShortDigest(e.Digest), imageSize(e.Size), imageAgo(now, e.LastUsed), e.Source)
	}
	return w.Flush()
}

func printImagesJSON(list []image.Entry) error {
	type entry struct {
		Digest   string    `json:"digest"`
		Size     int64     `json:"size"`
		LastUsed time.Time `json:"last_used"`
		Source   string    `json:"source"`
	}
	out := make([]entry, 0, len(list))
	for _, e := range list {
		out = append(out, entry(e))
	}
	b, err := jsonIndent(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return nil
}

func imagePrune(args []string) error {
	fs, verbose := imageFlags("prune")
	older := fs.String("older-than", "", "remove only images unused for this long, e.g. 720h")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageErrorf("'brig image prune' takes no arguments (got %q)", rest[0])
	}
	var d time.Duration
	if *older != "" {
		d, err = time.ParseDuration(*older)
		if err != nil || d <= 0 {
			return usageErrorf("--older-than %q: write a duration like 24h or 720h", *older)
		}
	}
	removed, err := imageCache(*verbose).Prune(d)
	var freed int64
	for _, e := range removed {
		fmt.Fprintln(stdout, e.Digest)
		freed += e.Size
	}
	if err != nil {
		return err
	}
	say("removed %d image%s, %s", len(removed), imagePlural(len(removed)), imageSize(freed))
	return nil
}

func imageVerify(args []string) error {
	fs, _ := imageFlags("verify")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageErrorf("'brig image verify' takes one image: PATH, PATH:TAG or PATH@sha256:HEX")
	}
	ref, err := image.ParseRef(rest[0])
	if err != nil {
		return err
	}
	dg, err := image.Verify(ref)
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	fmt.Fprintln(stdout, dg)
	return nil
}

// imageShortDigest is the first 12 hex digits, as docker shows image ids.
func imageShortDigest(d string) string {
	const hexStart = len("sha256:")
	if len(d) < hexStart+12 {
		return d
	}
	return d[hexStart : hexStart+12]
}

// imageSize writes bytes in binary units with one decimal: "12.3 MiB".
func imageSize(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// imageAgo says how long before now t was, coarsely: "5 minutes ago".
func imageAgo(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return imageCount(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return imageCount(int(d/time.Hour), "hour") + " ago"
	}
	return imageCount(int(d/(24*time.Hour)), "day") + " ago"
}

func imageCount(n int, what string) string { return strconv.Itoa(n) + " " + what + imagePlural(n) }

func imagePlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// imageRun is what `brig run --image` takes from an image: the unpacked,
// verified root file system, the command, and the config's defaults. The
// zero value means no image.
type imageRun struct {
	rootfs string
	argv   []string
	cfg    image.Config
	digest string
	// user is the image's own user, resolved in its tree; nil for root
	// or none. It applies unless --user or the profile decides.
	user *image.User
	// release ends the hold on the image (see image.Cache.Prepare). The
	// run must call it, after the sandbox is gone: an *os.File nobody
	// references is closed by the garbage collector, and its lock with it.
	release func()
}

// prepareRunImage verifies and unpacks (or reuses) the image ref names,
// and decides the command: the image's Entrypoint, then args if given,
// else its Cmd (as docker and podman do).
func prepareRunImage(ref string, args []string, verbose bool) (imageRun, error) {
	r, err := image.ParseRef(ref)
	if err != nil {
		return imageRun{}, usageErrorf("--image: %v", err)
	}
	log := newLogger(verbose)
	c := image.DefaultCache()
	c.Logger = log
	rootfs, cfg, dg, release, err := c.Prepare(r)
	if err != nil {
		return imageRun{}, fmt.Errorf("image %s: %w", r, err)
	}
	argv := cfg.Argv(args)
	if len(argv) == 0 {
		release()
		return imageRun{}, usageErrorf("image %s names no command (no Entrypoint or Cmd): give one, as in 'brig run --image %s -- CMD'", r, ref)
	}
	run := imageRun{rootfs: rootfs, argv: argv, cfg: cfg, digest: dg, release: release}
	u, ok, err := cfg.ResolveUser(rootfs)
	if err != nil {
		release()
		return imageRun{}, usageErrorf("image %s: %v (name a user with --user root or self)", r, err)
	}
	if ok {
		run.user = &u
	}
	log.Debug("image ready", "image", r.String(), "digest", dg, "rootfs", rootfs, "user", cfg.User)
	return run, nil
}
