package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/brigsandbox/brig/sandbox"
)

// forwardedSignals reach the workload; SIGWINCH resizes its terminal.
var forwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

func runCmd(args []string) int {
	var reportFile string
	var explain, dryRun bool
	pl, f, code, done := planFromArgs("run", "run [flags] -- CMD [ARGS...]", args, func(fs *pflag.FlagSet) {
		fs.StringVar(&reportFile, "report", "", "write the run's receipt as JSON to this file")
		fs.BoolVar(&explain, "explain", false, "first say what the run gets: namespaces, ids, mounts, privileges, limits")
		fs.BoolVar(&dryRun, "dry-run", false, "say what the run would get (as --explain, on stdout) and do not run it")
	})
	if done {
		return code
	}
	defer pl.close()
	if pl.outer {
		// The brig re-executed there plans, explains and runs; this one
		// only relays.
		return runOuter(pl)
	}
	host := sandbox.DetectCgroupHost()
	if explain || dryRun {
		showExplain(pl, host, dryRun)
		if dryRun {
			return exitOK
		}
	}
	log := newLogger(f.verbose)
	log.Debug("sandbox", "id", pl.id, "profile", pl.profile.Name, "ids", pl.mapping, "state", pl.stateDir)

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	rc, err := sandbox.Run(context.Background(), sandbox.Config{
		ID:         pl.id,
		StateDir:   pl.stateDir,
		Spec:       pl.spec,
		Skeleton:   pl.skeleton,
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Cgroups:    host,
		BestEffort: f.cgroups == "best-effort",
		Timeout:    pl.timeout,
		Signals:    sigs,
		Info:       sandbox.Info{Profile: pl.profile.Name, Command: pl.argv},
		Logger:     log,
	})
	if err != nil {
		return report(err)
	}
	return finishRun(rc, reportFile, f.verbose)
}

// finishRun tells what the user must know about how the run ended and
// returns the exit code brig passes on.
func finishRun(rc *sandbox.Receipt, reportFile string, verbose bool) int {
	switch rc.Reason {
	case sandbox.ReasonOOM:
		say("killed by the kernel's OOM killer at the memory limit (%s)", formatBytes(rc.Limits.MemoryBytes))
	case sandbox.ReasonTimeout:
		say("killed after the time limit (--timeout)")
	}
	if verbose {
		say("%s", summary(rc))
	}
	if reportFile != "" {
		if err := writeReceipt(reportFile, rc); err != nil {
			return report(err)
		}
	}
	if rc.Reason == sandbox.ReasonTimeout {
		return exitTimeout
	}
	return rc.ExitCode
}

func summary(rc *sandbox.Receipt) string {
	end := fmt.Sprintf("exit %d", rc.ExitCode)
	if rc.Signal != 0 {
		end = fmt.Sprintf("signal %d", rc.Signal)
	}
	return fmt.Sprintf("%s: %s (%s) wall %s cpu %s user/%s sys, memory peak %s, pids peak %d, pids limit hits %d, oom kills %d",
		rc.ID, rc.Reason, end, time.Duration(rc.WallMS)*time.Millisecond,
		time.Duration(rc.CPUUserMS)*time.Millisecond, time.Duration(rc.CPUSystemMS)*time.Millisecond,
		formatBytes(rc.MemoryPeakBytes), rc.PidsPeak, rc.PidsLimitHits, rc.OOMKills)
}

func writeReceipt(path string, rc *sandbox.Receipt) error {
	b, err := jsonIndent(rc)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printFlags(fs *pflag.FlagSet, synopsis string) {
	fmt.Fprintf(stdout, "usage: brig %s\n\nflags:\n%s", synopsis, fs.FlagUsages())
}

// runOuter runs this same brig command again inside brig's outer user
// namespace, where an unprivileged caller can keep its own id inside the
// sandbox (--user self).
func runOuter(pl *plan) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	code, err := sandbox.RunInOuterUserNS(os.Args[1:], pl.ident.SubUIDs, pl.ident.SubGIDs, sigs)
	if err != nil {
		return report(err)
	}
	return code
}
