package main

import (
	"encoding/json"
	"fmt"
)

// specCmd prints the runtime-spec config.json that `brig run` would use
// with the same flags. With --rootfs it is a complete bundle
// configuration for runc or crun.
func specCmd(args []string) int {
	pl, _, code, done := planFromArgs("spec", "spec [run flags] -- CMD [ARGS...]", args, nil)
	if done {
		return code
	}
	defer pl.close()
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
