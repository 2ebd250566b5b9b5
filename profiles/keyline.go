package profiles

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// keyPath names a value in a profile: table and key names, with list
// positions as "[0]" elements, e.g. filesystem, binds, [0], source.
type keyPath []string

func (k keyPath) String() string {
	var b strings.Builder
	for i, p := range k {
		if i > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// child returns k extended by name, without sharing k's backing array.
func (k keyPath) child(name string) keyPath {
	return append(slices.Clip(k), name)
}

// index returns k extended by the list position i.
func (k keyPath) index(i int) keyPath {
	return k.child("[" + strconv.Itoa(i) + "]")
}

// generic forgets list positions: filesystem.binds[].source, the form
// value rules are written against.
func (k keyPath) generic() string {
	g := make(keyPath, len(k))
	for i, p := range k {
		if strings.HasPrefix(p, "[") {
			p = "[]"
		}
		g[i] = p
	}
	return g.String()
}

// keyLine finds the 1-based line of text on which the key at path is set,
// or 0. The TOML library reports positions only for syntax errors, so for
// unknown keys and bad values brig finds the line itself. It follows
// [table] and [[array]] headers and dotted keys; a key inside an inline
// table is found by name on or after the line of its enclosing key. Good
// enough for error messages, which is all it is for.
func keyLine(text string, path keyPath) int {
	var (
		table       keyPath
		arrayCounts = map[string]int{}
		enclosing   int // line of the deepest enclosing key seen
		enclosingN  int // its depth
	)
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		t := strings.TrimSpace(line)
		switch {
		case t == "" || strings.HasPrefix(t, "#"):
			continue
		case strings.HasPrefix(t, "[["):
			name := strings.TrimSpace(strings.Trim(stripComment(t), "[] \t"))
			n := arrayCounts[name]
			arrayCounts[name]++
			table = append(splitKey(name), "["+strconv.Itoa(n)+"]")
			if slices.Equal(table[:len(table)-1], path) { // [[x]] where x must be a table
				return i + 1
			}
		case strings.HasPrefix(t, "["):
			table = splitKey(strings.TrimSpace(strings.Trim(stripComment(t), "[] \t")))
		default:
			eq := strings.IndexByte(t, '=')
			if eq < 0 {
				continue
			}
			full := append(slices.Clip(table), splitKey(t[:eq])...)
			if slices.Equal(full, path) {
				return i + 1
			}
			if isPrefix(full, path) && len(full) > enclosingN {
				enclosing, enclosingN = i+1, len(full)
			}
			continue
		}
		if slices.Equal(table, path) {
			return i + 1
		}
	}
	if enclosing == 0 {
		return 0
	}
	return inlineKeyLine(lines, enclosing, path)
}

// inlineKeyLine looks for "name =" from line start (1-based) on, where name
// is the last element of path; it returns start when there is none.
func inlineKeyLine(lines []string, start int, path keyPath) int {
	last := path[len(path)-1]
	if strings.HasPrefix(last, "[") {
		return start
	}
	re := regexp.MustCompile(`(^|[{,\s])"?` + regexp.QuoteMeta(last) + `"?\s*=`)
	for i := start - 1; i < len(lines); i++ {
		if re.MatchString(lines[i]) {
			return i + 1
		}
	}
	return start
}

func isPrefix(prefix, path keyPath) bool {
	return len(prefix) < len(path) && slices.Equal(prefix, path[:len(prefix)])
}

// splitKey splits a dotted TOML key, dropping spaces and simple quotes.
func splitKey(s string) keyPath {
	var parts keyPath
	for p := range strings.SplitSeq(s, ".") {
		parts = append(parts, strings.Trim(strings.TrimSpace(p), `"'`))
	}
	return parts
}

func stripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
}
