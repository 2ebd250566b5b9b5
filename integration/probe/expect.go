package main

import (
	"fmt"
	"io"
	"sort"
)

// dockerCaps is why default and its descendants may keep capabilities.
const dockerCaps = "Docker's default capability set, valid only inside the sandbox's own user namespace"

// profileAllowed lists, per builtin profile, the checks that may report
// "allowed" because the profile lets the workload do that on purpose, with
// the reason. Every other check must be blocked. It is the one source of
// both the security tests' expectations (via `probe -expect`) and the
// README's protection table (see readme_test.go), so they cannot drift.
var profileAllowed = map[string]map[string]string{
	"strict": {},
	"default": {
		"cap_effective": dockerCaps,
		"cap_permitted": dockerCaps,
		"cap_bounding":  dockerCaps,
	},
	"ci": {
		"cap_effective": dockerCaps,
		"cap_permitted": dockerCaps,
		"cap_bounding":  dockerCaps,
	},
	"network": {
		"cap_effective": dockerCaps,
		"cap_permitted": dockerCaps,
		"cap_bounding":  dockerCaps,
		"net_ifaces":    "the profile's point: a user-mode network interface for outbound traffic",
	},
}

// profileOrder is the order of the README's columns: strictest first.
var profileOrder = []string{"strict", "ci", "default", "network"}

func printExpectations(w io.Writer) {
	for _, profile := range profileOrder {
		allowed := profileAllowed[profile]
		names := make([]string, 0, len(allowed))
		for n := range allowed {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			fmt.Fprintf(w, "%s\t\t\n", profile) // a profile that allows nothing
		}
		for _, n := range names {
			fmt.Fprintf(w, "%s\t%s\t%s\n", profile, n, allowed[n])
		}
	}
}
