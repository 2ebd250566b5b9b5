package sandbox

import (
	"bufio"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/brigsandbox/brig/spec"
)

// HostLayout reads which of the host paths that host mode shows exist,
// and whether they are directories, files or symlinks.
func HostLayout() spec.HostLayout {
	return spec.HostLayout{System: describe(spec.SystemPaths), Etc: describe(spec.EtcPaths)}
}

func describe(paths []string) []spec.HostEntry {
	var out []spec.HostEntry
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		e := spec.HostEntry{Path: p}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.SymlinkTo, _ = os.Readlink(p)
		case fi.IsDir():
			e.IsDir = true
		case fi.Mode().IsRegular():
			e.IsFile = true
		default:
			continue
		}
		out = append(out, e)
	}
	return out
}

// SubIDs returns the caller's subordinate id ranges from a subuid or
// subgid file, matched by user name or numeric id. It returns nothing when
// newuidmap/newgidmap is missing, since the ranges are then unusable.
func SubIDs(file string, u *user.User) []spec.IDRange {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var ranges []spec.IDRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) != 3 || (fields[0] != u.Username && fields[0] != u.Uid) {
			continue
		}
		start, err1 := strconv.ParseUint(fields[1], 10, 32)
		count, err2 := strconv.ParseUint(fields[2], 10, 32)
		if err1 == nil && err2 == nil && count > 0 {
			ranges = append(ranges, spec.IDRange{Start: uint32(start), Count: uint32(count)})
		}
	}
	return ranges
}
