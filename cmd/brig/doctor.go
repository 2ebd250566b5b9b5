package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/brigsandbox/brig/sandbox"
)

// doctorCmd checks what this host lets brig enforce for this user. It
// exits 0 when the strict profile can run fully enforced.
func doctorCmd(args []string) int {
	fs := pflag.NewFlagSet("doctor", pflag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	if _, code, done := parseCommandFlags(fs, args, "doctor [--json]"); done {
		return code
	}
	rep := sandbox.Doctor()
	if *asJSON {
		b, err := jsonIndent(rep)
		if err != nil {
			return report(err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		for _, c := range rep.Checks {
			fmt.Fprintf(stdout, "%-4s  %-22s %s\n", c.Status, c.Name, c.Detail)
			if c.Fix != "" && c.Status != "ok" {
				fmt.Fprintf(stdout, "      %-22s fix: %s\n", "", c.Fix)
			}
		}
	}
	if !rep.LimitsEnforceable {
		return 1
	}
	for _, c := range rep.Checks {
		if c.Status == "fail" {
			return 1
		}
	}
	return exitOK
}
