package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/brigsandbox/brig/profiles"
)

const profileUsage = `usage: brig profile COMMAND
  list              the profiles brig can use, and where each comes from
  show NAME         the fully resolved profile, as TOML
  explain NAME      what the profile means for a workload, in plain words
  diff A B          what differs between two profiles`

func profileCmd(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, profileUsage)
		return exitOK
	}
	l := profiles.DefaultLoader()
	want := map[string]int{"list": 1, "show": 2, "explain": 2, "diff": 3}
	n, ok := want[args[0]]
	if !ok {
		return report(usageErrorf("unknown profile command %q (use list, show, explain or diff)", args[0]))
	}
	if len(args) != n {
		return report(usageErrorf("'brig profile %s' takes %d profile name%s", args[0], n-1, map[bool]string{true: "s"}[n > 2]))
	}
	var err error
	switch args[0] {
	case "list":
		err = profileList(l)
	case "show":
		err = profileShow(l, args[1])
	case "explain":
		err = profileExplain(l, args[1])
	case "diff":
		err = profileDiff(l, args[1], args[2])
	}
	if err != nil {
		return report(err)
	}
	return exitOK
}

func profileList(l profiles.Loader) error {
	list, err := l.List()
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSOURCE\tDESCRIPTION")
	for _, s := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, s.Source, s.Description)
	}
	return w.Flush()
}

func profileShow(l profiles.Loader, name string) error {
	p, err := l.Load(name)
	if err != nil {
		return err
	}
	text, err := profiles.Show(p)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, text)
	return nil
}

func profileExplain(l profiles.Loader, name string) error {
	p, err := l.Load(name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "profile %s (%s): %s\n", p.Name, p.Source, p.Description)
	for _, line := range profiles.Explain(p) {
		fmt.Fprintln(stdout, "  "+line)
	}
	return nil
}

func profileDiff(l profiles.Loader, a, b string) error {
	pa, err := l.Load(a)
	if err != nil {
		return err
	}
	pb, err := l.Load(b)
	if err != nil {
		return err
	}
	lines := profiles.Diff(pa, pb)
	if len(lines) == 0 {
		fmt.Fprintf(stdout, "%s and %s are the same\n", a, b)
		return nil
	}
	fmt.Fprintln(stdout, strings.Join(lines, "\n"))
	return nil
}
