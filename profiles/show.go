package profiles

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Show writes the fully resolved profile as TOML: every key, with the
// values extends and the base supplied, and no extends line. Loading the
// output (say with --profile-file) gives the same profile back.
func Show(p *Profile) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# Profile %q (%s), fully resolved: every key is set here.\n\n", p.Name, p.Source)
	fmt.Fprintf(&b, "description = %s\n", tomlString(p.Description))
	pv := reflect.ValueOf(p).Elem()
	for f := range reflect.TypeFor[Profile]().Fields() {
		if name := tomlName(f); name != "" && f.Type.Kind() == reflect.Struct {
			if err := showSection(&b, name, pv.FieldByIndex(f.Index)); err != nil {
				return "", fmt.Errorf("showing profile %q: %w", p.Name, err)
			}
		}
	}
	return b.String(), nil
}

// showSection writes [name] with its plain keys first, then its tables
// ([[filesystem.binds]], [environment.set]), as TOML requires. Empty lists
// are written as [] rather than left out, so that they override a parent
// if the output is used as a profile.
func showSection(b *strings.Builder, name string, v reflect.Value) error {
	fmt.Fprintf(b, "\n[%s]\n", name)
	var tables strings.Builder
	for g := range v.Type().Fields() {
		key := tomlName(g)
		fv := v.FieldByIndex(g.Index)
		switch {
		case key == "":
		case fv.Kind() == reflect.Map:
			fmt.Fprintf(&tables, "\n[%s.%s]\n", name, key)
			for _, k := range slices.Sorted(maps.Keys(fv.Interface().(map[string]string))) {
				fmt.Fprintf(&tables, "%s = %s\n", tomlKey(k), tomlString(fv.MapIndex(reflect.ValueOf(k)).String()))
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct && fv.Len() > 0:
			for i := range fv.Len() {
				fmt.Fprintf(&tables, "\n[[%s.%s]]\n", name, key)
				if err := showPlain(&tables, fv.Index(i)); err != nil {
					return err
				}
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			fmt.Fprintf(b, "%s = []\n", key)
		default:
			s, err := tomlValue(fv)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", name, key, err)
			}
			fmt.Fprintf(b, "%s = %s\n", key, s)
		}
	}
	b.WriteString(tables.String())
	return nil
}

// showPlain writes the keys of a struct whose fields are all plain values.
func showPlain(b *strings.Builder, v reflect.Value) error {
	for g := range v.Type().Fields() {
		if key := tomlName(g); key != "" {
			s, err := tomlValue(v.FieldByIndex(g.Index))
			if err != nil {
				return err
			}
			fmt.Fprintf(b, "%s = %s\n", key, s)
		}
	}
	return nil
}

// maxInlineList is the width beyond which a list is written one item per
// line.
const maxInlineList = 72

// tomlValue writes a plain value (not a table) in TOML syntax.
func tomlValue(v reflect.Value) (string, error) {
	switch x := v.Interface().(type) {
	case Size:
		return tomlString(x.String()), nil
	case Duration:
		return tomlString(x.String()), nil
	case string:
		return tomlString(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0" // TOML reads 1 as an integer
		}
		return s, nil
	case []string:
		items := make([]string, len(x))
		for i, s := range x {
			items[i] = tomlString(s)
		}
		if line := "[" + strings.Join(items, ", ") + "]"; len(line) <= maxInlineList {
			return line, nil
		}
		return "[\n  " + strings.Join(items, ",\n  ") + ",\n]", nil
	}
	switch v.Kind() {
	case reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Uint64, reflect.Uint16:
		return strconv.FormatUint(v.Uint(), 10), nil
	}
	return "", fmt.Errorf("no TOML form for %s", v.Type())
}

// bareKeyRE matches the keys TOML accepts without quotes.
var bareKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

func tomlKey(k string) string {
	if bareKeyRE().MatchString(k) {
		return k
	}
	return tomlString(k)
}

// tomlString quotes s as a TOML basic string. Go's strconv.Quote is close
// but writes escapes (\x00, \a) that TOML does not accept.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Diff lists every key whose value differs between a and b, one line each,
// in the order of the file format: `limits.memory: 512M → 2G`. Variables of
// environment.set are compared one by one; a missing one reads "(unset)".
func Diff(a, b *Profile) []string {
	fa, fb := flatten(a), flatten(b)
	var out []string
	for _, kv := range mergeKeys(fa, fb) {
		va, vb := lookup(fa, kv), lookup(fb, kv)
		if va != vb {
			out = append(out, fmt.Sprintf("%s: %s → %s", kv, va, vb))
		}
	}
	return out
}

// keyValue is one flattened setting.
type keyValue struct{ key, value string }

// flatten turns a profile into its settings in file order, each value
// written as a person would read it.
func flatten(p *Profile) []keyValue {
	var out []keyValue
	pv := reflect.ValueOf(p).Elem()
	for f := range reflect.TypeFor[Profile]().Fields() {
		name := tomlName(f)
		switch {
		case name == "" || name == "extends":
		case f.Type.Kind() != reflect.Struct:
			out = append(out, keyValue{name, formatValue(pv.FieldByIndex(f.Index))})
		default:
			out = append(out, flattenSection(name, pv.FieldByIndex(f.Index))...)
		}
	}
	return out
}

func flattenSection(section string, v reflect.Value) []keyValue {
	var out []keyValue
	for g := range v.Type().Fields() {
		key := tomlName(g)
		if key == "" {
			continue
		}
		fv := v.FieldByIndex(g.Index)
		if m, ok := fv.Interface().(map[string]string); ok { // environment.set: one line per variable
			for _, k := range slices.Sorted(maps.Keys(m)) {
				out = append(out, keyValue{section + "." + key + "." + k, strconv.Quote(m[k])})
			}
			continue
		}
		out = append(out, keyValue{section + "." + key, formatValue(fv)})
	}
	return out
}

// formatValue writes one value for Diff.
func formatValue(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case Size:
		return x.String()
	case Duration:
		return x.String()
	case string:
		if x == "" {
			return `""`
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []Bind:
		items := make([]string, len(x))
		for i, b := range x {
			items[i] = b.Source + ":" + b.Target
			if b.ReadOnly {
				items[i] += ":ro"
			}
		}
		return "[" + strings.Join(items, ", ") + "]"
	case []Tmpfs:
		items := make([]string, len(x))
		for i, t := range x {
			items[i] = t.Target + ":" + t.Size.String()
		}
		return "[" + strings.Join(items, ", ") + "]"
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// mergeKeys lists the keys of a, then those only b has.
func mergeKeys(a, b []keyValue) []string {
	var keys []string
	for _, kv := range a {
		keys = append(keys, kv.key)
	}
	for _, kv := range b {
		if !slices.Contains(keys, kv.key) {
			keys = append(keys, kv.key)
		}
	}
	return keys
}

func lookup(kvs []keyValue, key string) string {
	for _, kv := range kvs {
		if kv.key == key {
			return kv.value
		}
	}
	return "(unset)"
}
