package main

import (
	"fmt"
	"runtime"
)

func versionCmd([]string) int {
	fmt.Fprintf(stdout, "brig %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
