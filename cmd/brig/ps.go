package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/brigsandbox/brig/sandbox"
)

// psCmd lists the caller's running sandboxes: what runs where, and what
// it uses now, read from each run's cgroup.
func psCmd(args []string) int {
	fs := pflag.NewFlagSet("ps", pflag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the sandboxes as a JSON array")
	rest, code, done := parseCommandFlags(fs, args, "ps [--json]")
	if done {
		return code
	}
	if len(rest) > 0 {
		return report(usageErrorf("ps takes no arguments, got %q (see 'brig ps --help')", rest[0]))
	}
	runs, err := sandbox.List(sandbox.StateDir())
	if err != nil {
		return report(err)
	}
	if *asJSON {
		if runs == nil {
			runs = []sandbox.Status{} // "[]", never "null"
		}
		b, err := jsonIndent(runs)
		if err != nil {
			return report(err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	for _, line := range psTable(runs, widthFor(stdout), paletteFor(stdout)) {
		fmt.Fprintln(stdout, line)
	}
	return exitOK
}

// psTable renders the runs, one per line under a header, each line at
// most width columns: the command is cut to fit.
func psTable(runs []sandbox.Status, width int, pal palette) []string {
	profW := len("PROFILE")
	for _, r := range runs {
		profW = max(profW, len(r.Profile))
	}
	row := func(id, prof, pid, up, mem, peak, pids, cpu, cmd string) string {
		head := fmt.Sprintf("%-12s  %-*s %7s %6s %6s %6s %4s %6s  ", id, profW, prof, pid, up, mem, peak, pids, cpu)
		return head + clip(cmd, max(width-len(head), 8))
	}
	lines := []string{pal.bold(row("ID", "PROFILE", "PID", "UPTIME", "MEM", "PEAK", "PIDS", "CPU", "COMMAND"))}
	for _, r := range runs {
		mem, peak, pids, cpu := "-", "-", "-", "-"
		if u := r.Usage; u != nil {
			mem, peak = shortBytes(u.MemoryBytes), shortBytes(u.MemoryPeakBytes)
			pids = fmt.Sprint(u.Pids)
			cpu = shortDuration(time.Duration(u.CPUMS) * time.Millisecond)
		}
		pid := "-"
		if r.InitPID > 0 {
			pid = fmt.Sprint(r.InitPID)
		}
		up := shortDuration(time.Duration(r.UptimeMS) * time.Millisecond)
		lines = append(lines, row(r.ID, r.Profile, pid, up, mem, peak, pids, cpu, commandLine(r.Command)))
	}
	return lines
}

// shortBytes writes n in at most 6 columns: 512B, 4.8K, 312M, 1.5G.
func shortBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, suffix := range "KMGTPE" {
		f /= unit
		if f < unit || suffix == 'E' {
			if f < 10 {
				return fmt.Sprintf("%.1f%c", f, suffix)
			}
			return fmt.Sprintf("%.0f%c", f, suffix)
		}
	}
	return "?"
}

// shortDuration writes d in at most 6 columns: 0.25s, 45s, 12m03s, 3h04m,
// 2d03h.
func shortDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// commandLine joins argv for people, quoting what a shell would split.
func commandLine(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts[i] = strings.ReplaceAll(a, "\n", " ")
	}
	return strings.Join(parts, " ")
}
