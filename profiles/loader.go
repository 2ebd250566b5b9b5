package profiles

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

//go:embed builtin/*.toml
var builtinFS embed.FS

// baseProfile is the builtin profile every chain of extends ends in: a
// profile without extends starts from it, so anything a profile forgets to
// say is as strict as possible.
const baseProfile = "strict"

// Loader finds profiles by name and resolves them.
type Loader struct {
	// ConfigDirs are searched in order for NAME.toml.
	ConfigDirs []string
	// ProfileFile is the file given with --profile-file, if any. It comes
	// first in the lookup order, under the name of its base name without
	// extension; Load("") loads it.
	ProfileFile string
}

// DefaultLoader searches $XDG_CONFIG_HOME/brig/profiles (or
// ~/.config/brig/profiles), then /etc/brig/profiles. It only reads the
// environment.
func DefaultLoader() Loader {
	var dirs []string
	if d := userConfigDir(); d != "" {
		dirs = append(dirs, filepath.Join(d, "brig", "profiles"))
	}
	return Loader{ConfigDirs: append(dirs, "/etc/brig/profiles")}
}

// userConfigDir follows the XDG base directory rules: a relative
// XDG_CONFIG_HOME is ignored.
func userConfigDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(d) {
		return d
	}
	if h := os.Getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".config")
	}
	return ""
}

// Summary describes one profile file for `brig profile list`.
type Summary struct {
	Name string
	// Source is "builtin" or the file's path; " (shadowed)" is appended
	// when a file earlier in the lookup order has the same name, so Load
	// never returns this one.
	Source      string
	Description string
}

// source is a place where a profile file was found. Its rank is its place
// in the lookup order: 0 for the --profile-file, 1.. for ConfigDirs, then
// the builtins.
type source struct {
	name string
	rank int
	path string // "" for a builtin
}

// file names the source in error messages.
func (s source) file() string {
	if s.path == "" {
		return "builtin/" + s.name + ".toml"
	}
	return s.path
}

// origin is the value of Profile.Source.
func (s source) origin() string {
	if s.path == "" {
		return "builtin"
	}
	return s.path
}

func (l Loader) builtinRank() int { return len(l.ConfigDirs) + 1 }

func (l Loader) profileFileName() string {
	base := filepath.Base(l.ProfileFile)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// Load finds the profile called name and resolves it: the file's keys laid
// over its parent's (named by extends, or the builtin strict), and so on
// down the chain. The result has every key set, Extends empty, Name and
// Source filled in.
//
// The lookup order is ProfileFile (when its base name is name), then
// NAME.toml in each of ConfigDirs, then the builtin profiles. Load("")
// loads ProfileFile.
func (l Loader) Load(name string) (*Profile, error) {
	if name == "" {
		if l.ProfileFile == "" {
			return nil, &Error{Msg: "no profile named", Hint: "see 'brig profile list'", err: ErrNotFound}
		}
		name = l.profileFileName()
	} else if e := checkProfileName(name); e != nil {
		return nil, e
	}
	s, ok, err := l.find(name, -1)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Error{Msg: fmt.Sprintf("profile %q not found", name), Hint: l.notFoundHint(name), err: ErrNotFound}
	}
	p, err := l.resolve(s, nil)
	if err != nil {
		return nil, err
	}
	p.Name, p.Source, p.Extends = name, s.origin(), ""
	normalize(p)
	return p, nil
}

// find looks for the profile called name in the places ranked after
// `after`: -1 searches everywhere; a file that extends its own name passes
// its rank, so that ~/.config/brig/profiles/strict.toml can build on the
// builtin strict instead of on itself.
func (l Loader) find(name string, after int) (source, bool, error) {
	for rank := after + 1; rank <= l.builtinRank(); rank++ {
		switch {
		case rank == 0:
			if l.ProfileFile != "" && l.profileFileName() == name {
				return source{name: name, rank: 0, path: l.ProfileFile}, true, nil
			}
		case rank < l.builtinRank():
			path := filepath.Join(l.ConfigDirs[rank-1], name+".toml")
			ok, err := isFile(path)
			if err != nil || ok {
				return source{name: name, rank: rank, path: path}, ok, err
			}
		default:
			if _, err := fs.Stat(builtinFS, "builtin/"+name+".toml"); err == nil {
				return source{name: name, rank: rank}, true, nil
			}
		}
	}
	return source{}, false, nil
}

// isFile reports whether path exists. A missing file or directory is not
// an error; anything else (a permission problem) is, because skipping a
// profile the user wrote would silently change the policy.
func isFile(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return false, nil
	}
	return false, fmt.Errorf("looking for profile: %w", err)
}

func (l Loader) read(s source) (string, error) {
	var b []byte
	var err error
	if s.path == "" {
		b, err = builtinFS.ReadFile("builtin/" + s.name + ".toml")
	} else {
		b, err = os.ReadFile(s.path)
	}
	if err != nil {
		return "", fmt.Errorf("reading profile %q: %w", s.name, err)
	}
	return string(b), nil
}

// resolve decodes the file at s and lays it over its resolved parent.
// chain holds the files that led here, to detect loops.
func (l Loader) resolve(s source, chain []source) (*Profile, error) {
	text, err := l.read(s)
	if err != nil {
		return nil, err
	}
	prof, md, err := decodeLayer(s.file(), text)
	if err != nil {
		return nil, err
	}
	chain = append(chain, s)
	base, err := l.resolveParent(s, prof.Extends, text, chain)
	if err != nil {
		return nil, err
	}
	merge(base, &prof, md)
	base.Description = prof.Description // describes this file only: not inherited
	if key, e := crossCheck(base); e != nil {
		return nil, &Error{File: s.file(), Line: keyLine(text, key), Key: key.String(), Msg: e.Msg, Hint: e.Hint, err: e.err}
	}
	return base, nil
}

// resolveParent returns the resolved profile that the file at s builds on:
// the one its extends names, the builtin strict when it names none, or an
// empty profile for the builtin strict itself.
func (l Loader) resolveParent(s source, extends, text string, chain []source) (*Profile, error) {
	if extends == "" {
		if s.path == "" && s.name == baseProfile {
			return &Profile{}, nil
		}
		return l.resolve(source{name: baseProfile, rank: l.builtinRank()}, chain)
	}
	after := -1
	if extends == s.name {
		after = s.rank
	}
	ps, ok, err := l.find(extends, after)
	if err != nil {
		return nil, err
	}
	at := func(sentinel error, msg, hint string) error {
		return &Error{File: s.file(), Line: keyLine(text, keyPath{"extends"}), Key: "extends", Msg: msg, Hint: hint, err: sentinel}
	}
	switch {
	case !ok && extends == s.name:
		return nil, at(ErrCycle, fmt.Sprintf("profile %q extends itself", extends),
			"a profile may extend its own name only to build on a system or builtin profile of that name")
	case !ok:
		return nil, at(ErrNotFound, fmt.Sprintf("profile %q not found", extends), l.notFoundHint(extends))
	}
	if slices.Contains(chain, ps) {
		names := make([]string, 0, len(chain)+1)
		for _, c := range chain {
			names = append(names, c.name)
		}
		return nil, at(ErrCycle, "profiles extend each other in a loop: "+strings.Join(append(names, ps.name), " → "),
			"remove one of these extends")
	}
	return l.resolve(ps, chain)
}

// notFoundHint suggests the nearest known profile name.
func (l Loader) notFoundHint(name string) string {
	if dym := didYouMean(name, l.knownNames()); dym != "" {
		return dym + " see 'brig profile list'"
	}
	return "see 'brig profile list'"
}

// knownNames lists every profile name the loader can find, for
// suggestions. Unreadable directories are skipped here: this only feeds a
// hint, and the lookup itself reports them.
func (l Loader) knownNames() []string {
	var names []string
	for _, s := range l.all() {
		names = append(names, s.name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// all lists every profile file in lookup order, shadowed ones included.
func (l Loader) all() []source {
	var out []source
	if l.ProfileFile != "" {
		out = append(out, source{name: l.profileFileName(), rank: 0, path: l.ProfileFile})
	}
	for i, dir := range l.ConfigDirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".toml")
			if ok && !e.IsDir() && checkProfileName(name) == nil {
				out = append(out, source{name: name, rank: i + 1, path: filepath.Join(dir, e.Name())})
			}
		}
	}
	builtins, _ := fs.Glob(builtinFS, "builtin/*.toml")
	for _, b := range builtins {
		out = append(out, source{name: strings.TrimSuffix(filepath.Base(b), ".toml"), rank: l.builtinRank()})
	}
	return out
}

// List describes every profile file the loader can see, sorted by name;
// within a name, the one Load uses comes first and the others are marked
// shadowed. A file that does not decode is listed with a note rather than
// failing the whole list.
func (l Loader) List() ([]Summary, error) {
	for _, dir := range l.ConfigDirs {
		if _, err := os.ReadDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("listing profiles: %w", err)
		}
	}
	seen := map[string]bool{}
	var out []Summary
	for _, s := range l.all() {
		sum := Summary{Name: s.name, Source: s.origin(), Description: l.describe(s)}
		if seen[s.name] {
			sum.Source += " (shadowed)"
		}
		seen[s.name] = true
		out = append(out, sum)
	}
	slices.SortStableFunc(out, func(a, b Summary) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// describe returns the description a file gives itself.
func (l Loader) describe(s source) string {
	text, err := l.read(s)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	p, _, err := decodeLayer(s.file(), text)
	switch {
	case err != nil:
		return fmt.Sprintf("(invalid: see 'brig profile show %s')", s.name)
	case p.Description == "" && p.Extends != "":
		return fmt.Sprintf("(no description; extends %q)", p.Extends)
	}
	return p.Description
}
