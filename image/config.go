package image

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Config is what an image's config supplies as defaults for a run. The
// profile still decides isolation and limits.
type Config struct {
	Entrypoint, Cmd, Env []string
	WorkingDir, User     string
}

func configOf(img *image) Config {
	ic := img.config.Config
	return Config{
		Entrypoint: slices.Clone(ic.Entrypoint),
		Cmd:        slices.Clone(ic.Cmd),
		Env:        slices.Clone(ic.Env),
		WorkingDir: ic.WorkingDir,
		User:       ic.User,
	}
}

// Argv is the command a run executes, as docker and podman decide it: the
// Entrypoint, followed by args when the user gave any, else by Cmd. It is
// empty when the image names no command and the user gave none.
func (c Config) Argv(args []string) []string {
	tail := c.Cmd
	if len(args) > 0 {
		tail = args
	}
	return slices.Concat(c.Entrypoint, tail)
}

// User is the identity an image's config asks its command to run as,
// resolved against the image's own /etc/passwd and /etc/group.
type User struct {
	UID, GID uint32
	// Groups are the supplementary groups /etc/group gives the user,
	// unless the image names a group itself.
	Groups []uint32
	// Home is the user's home in /etc/passwd; "" when unknown.
	Home string
}

// ResolveUser resolves the config's User ("name", "uid", "name:group",
// "uid:gid" and mixes) as the OCI image spec says: names through the
// image's /etc/passwd and /etc/group, read inside rootfs without following
// any symlink out of it; without a group, the user's primary group and
// supplementary groups from those files (gid 0 for a uid they do not
// list). ok is false when the config names no user, or root.
func (c Config) ResolveUser(rootfs string) (u User, ok bool, err error) {
	if c.User == "" {
		return User{}, false, nil
	}
	name, group, hasGroup := strings.Cut(c.User, ":")
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return User{}, false, fmt.Errorf("%w: %v", ErrCache, err)
	}
	defer root.Close()
	passwd := readDB(root, "etc/passwd")
	entry, found := lookupDB(passwd, name)
	uid, numeric := parseID(name)
	switch {
	case found:
		u.UID, u.GID, u.Home = entry.id, entry.gid, entry.home
	case numeric:
		u.UID = uid
	default:
		return User{}, false, fmt.Errorf("%w: the image's user %q is not in its /etc/passwd", ErrUnsupported, name)
	}
	groups := readDB(root, "etc/group")
	if hasGroup {
		g, found := lookupDB(groups, group)
		gid, numeric := parseID(group)
		switch {
		case found:
			u.GID = g.id
		case numeric:
			u.GID = gid
		default:
			return User{}, false, fmt.Errorf("%w: the image's group %q is not in its /etc/group", ErrUnsupported, group)
		}
	} else if found {
		u.Groups = memberOf(groups, entry.name, u.GID)
	}
	if u.UID == 0 && u.GID == 0 && len(u.Groups) == 0 {
		return User{}, false, nil // root, as brig runs an image anyway
	}
	return u, true, nil
}

// dbEntry is a line of /etc/passwd (id, gid, home) or /etc/group (id,
// members).
type dbEntry struct {
	name    string
	id, gid uint32
	home    string
	members []string
}

// readDB reads a passwd or group file inside root; a missing or unreadable
// one is empty (numeric ids still resolve).
func readDB(root *os.Root, name string) []dbEntry {
	b, err := root.ReadFile(name)
	if err != nil {
		return nil
	}
	group := strings.HasSuffix(name, "group")
	var out []dbEntry
	for line := range strings.Lines(string(b)) {
		f := strings.Split(strings.TrimRight(line, "\n"), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		id, ok := parseID(f[2])
		if !ok {
			continue
		}
		e := dbEntry{name: f[0], id: id}
		if group {
			if f[3] != "" {
				e.members = strings.Split(f[3], ",")
			}
		} else if len(f) >= 6 {
			e.gid, _ = parseID(f[3])
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out
}

// lookupDB finds an entry by name, or by id when key is numeric.
func lookupDB(db []dbEntry, key string) (dbEntry, bool) {
	id, numeric := parseID(key)
	for _, e := range db {
		if e.name == key || (numeric && e.id == id) {
			return e, true
		}
	}
	return dbEntry{}, false
}

// memberOf lists the groups that name user as a member, other than its
// primary group.
func memberOf(groups []dbEntry, user string, primary uint32) []uint32 {
	var out []uint32
	for _, g := range groups {
		if g.id != primary && slices.Contains(g.members, user) && !slices.Contains(out, g.id) {
			out = append(out, g.id)
		}
	}
	return out
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}
