package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
)

// specCmd prints the runtime-spec config.json that `brig run` would use
// with the same flags. With --rootfs it is a complete bundle
// configuration for runc or crun.
func specCmd(args []string) int {
	var f runFlags
	fs := newRunFlagSet("spec", &f)
	argv, err := parseFlags(fs, args)
	if errors.Is(err, pflag.ErrHelp) {
		printFlags(fs, "spec [run flags] -- CMD [ARGS...]")
		return exitOK
	}
	if err != nil {
		return report(err)
	}
	pl, err := makePlan(&f, argv)
	if err != nil {
		return report(err)
	}
	b, err := jsonIndent(pl.spec)
	if err != nil {
		return report(err)
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return exitOK
}

func jsonIndent(v any) ([]byte, error) {
	return json.MarshalIndent(v, "", "  ")
}
