package profiles

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// decodeLayer reads one profile file strictly. It decodes in two passes:
// first into plain maps, which it checks against the Profile type (unknown
// keys, wrong types, bad units, bad values) so that every problem can be
// reported with its key and line; then into a Profile, whose MetaData says
// which keys the file set. file names the file in messages.
func decodeLayer(file, text string) (Profile, toml.MetaData, error) {
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return Profile{}, toml.MetaData{}, decodeError(file, err)
	}
	c := checker{file: file, text: text}
	c.table(raw, reflect.TypeFor[Profile](), nil)
	if err := c.first(); err != nil {
		return Profile{}, toml.MetaData{}, err
	}
	var p Profile
	md, err := toml.Decode(text, &p)
	if err != nil { // the checks above should have caught it
		return Profile{}, toml.MetaData{}, decodeError(file, err)
	}
	if und := md.Undecoded(); len(und) > 0 { // likewise
		k := keyPath(und[0])
		return Profile{}, toml.MetaData{}, &Error{File: file, Line: keyLine(text, k), Key: k.String(),
			Msg: "unknown key", err: ErrUnknownKey}
	}
	return p, md, nil
}

// decodeError turns an error of the TOML library into an *Error, keeping
// the position it knows.
func decodeError(file string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: file, Line: pe.Position.Line, Msg: "not valid TOML: " + pe.Message, err: ErrBadValue}
	}
	return &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "toml: "), err: ErrBadValue}
}

// checker walks decoded TOML next to the Go type it must fit, collecting
// located errors.
type checker struct {
	file, text string
	errs       []*Error
}

// fail records problem e (unlocated, from a rule) at path.
func (c *checker) fail(path keyPath, e *Error) {
	c.errs = append(c.errs, &Error{File: c.file, Line: keyLine(c.text, path), Key: path.String(),
		Msg: e.Msg, Hint: e.Hint, err: e.err})
}

// first returns the error that comes first in the file, or nil.
func (c *checker) first() error {
	if len(c.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(c.errs, func(a, b *Error) int {
		return cmp.Compare(lineOrder(a.Line), lineOrder(b.Line))
	})
	return c.errs[0]
}

// lineOrder sorts unknown lines (0) last.
func lineOrder(line int) int {
	if line == 0 {
		return math.MaxInt
	}
	return line
}

// table checks a TOML table against struct type t.
func (c *checker) table(m map[string]any, t reflect.Type, path keyPath) {
	fields := tomlFields(t)
	for _, key := range slices.Sorted(maps.Keys(m)) {
		f, ok := fields[key]
		if !ok {
			c.fail(path.child(key), unknownKey(key, path, fields))
			continue
		}
		c.value(m[key], f.Type, path.child(key))
	}
}

func unknownKey(key string, path keyPath, fields map[string]reflect.StructField) *Error {
	names := fieldNames(fields)
	hint := didYouMean(key, names)
	if hint == "" && len(path) == 0 {
		hint = "the top level has " + strings.Join(names, ", ")
	} else if hint == "" {
		hint = fmt.Sprintf("[%s] has %s", path.generic(), strings.Join(names, ", "))
	}
	return &Error{Msg: "unknown key", Hint: hint, err: ErrUnknownKey}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// value checks that v, found at path, fits Go type t, then applies the
// key's value rule. The rule is skipped when the value's own parts are
// wrong: a bind with "targt" is reported as a misspelt key, not as a bind
// missing its target.
func (c *checker) value(v any, t reflect.Type, path keyPath) {
	before := len(c.errs)
	if !c.fits(v, t, path) || len(c.errs) > before {
		return
	}
	if e := checkRule(path.generic(), v); e != nil {
		c.fail(path, e)
	}
}

// fits reports whether v has the right TOML type for t, recording an
// error when it has not. Lists and tables are checked element by element.
func (c *checker) fits(v any, t reflect.Type, path keyPath) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return c.textValue(v, t, path)
	}
	ok := true
	switch t.Kind() {
	case reflect.Struct:
		m, isMap := v.(map[string]any)
		if ok = isMap; ok {
			c.table(m, t, path)
		}
	case reflect.Slice:
		var list []any
		list, ok = asList(v)
		for i, el := range list {
			c.value(el, t.Elem(), path.index(i))
		}
	case reflect.Map:
		var m map[string]any
		if m, ok = v.(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				c.value(m[k], t.Elem(), path.child(k))
			}
		}
	case reflect.String:
		_, ok = v.(string)
	case reflect.Bool:
		_, ok = v.(bool)
	case reflect.Float64:
		switch n := v.(type) {
		case int64:
		case float64:
			ok = !math.IsNaN(n) && !math.IsInf(n, 0)
		default:
			ok = false
		}
	case reflect.Int64, reflect.Uint64, reflect.Uint16:
		var n int64
		if n, ok = v.(int64); ok {
			return c.integerInRange(n, t, path)
		}
	default:
		panic("profiles: no TOML check for Go type " + t.String())
	}
	if !ok {
		c.fail(path, wrongType(v, t, path))
	}
	return ok
}

// textValue checks the string-like types Size and Duration, parsing them so
// that a bad unit is reported at its key.
func (c *checker) textValue(v any, t reflect.Type, path keyPath) bool {
	var err error
	switch {
	case t == reflect.TypeFor[Size]():
		switch v.(type) {
		case string, int64:
			_, err = sizeOf(v)
		default:
			c.fail(path, wrongType(v, t, path))
			return false
		}
	case t == reflect.TypeFor[Duration]():
		s, isString := v.(string)
		if !isString {
			c.fail(path, wrongType(v, t, path))
			return false
		}
		_, err = ParseDuration(s)
	}
	var e *Error
	if errors.As(err, &e) {
		c.fail(path, e)
		return false
	}
	return true
}

func (c *checker) integerInRange(n int64, t reflect.Type, path keyPath) bool {
	var e *Error
	switch {
	case n < 0:
		e = badValue(fmt.Sprintf("%d is negative", n), "use 0 for no limit, or a positive number")
	case t.Kind() == reflect.Uint16 && n > math.MaxUint16:
		e = badValue(fmt.Sprintf("%d is too large", n), "the largest value is 65535")
	}
	if e != nil {
		c.fail(path, e)
		return false
	}
	return true
}

// asList accepts both shapes the TOML library gives lists: []any for
// arrays and []map[string]any for arrays of tables.
func asList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []map[string]any:
		out := make([]any, len(l))
		for i, m := range l {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

// wrongType describes a type mismatch, with a hint for the usual slips
// (quoting a number or a boolean, a single string where a list is needed).
func wrongType(v any, t reflect.Type, path keyPath) *Error {
	want := describeType(t)
	e := badValue(fmt.Sprintf("must be %s, not %s", want, describeValue(v)), "")
	s, isString := v.(string)
	switch {
	case isString && t.Kind() == reflect.Bool && (s == "true" || s == "false"):
		e.Hint = "write " + s + " without quotes"
	case isString && (t.Kind() == reflect.Int64 || t.Kind() == reflect.Uint64 ||
		t.Kind() == reflect.Uint16 || t.Kind() == reflect.Float64) && isNumber(s):
		e.Hint = "write the number without quotes"
	case isString && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		e.Hint = fmt.Sprintf("write a list: [%q]", s)
	case t.Kind() == reflect.Struct && len(path) == 1:
		e.Hint = fmt.Sprintf("this is a section: start it with [%s] and put its keys below", path[0])
	}
	return e
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func describeType(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Size]():
		return `a size like "512M" or a number of bytes`
	case t == reflect.TypeFor[Duration]():
		return `a duration like "30s" or "1h"`
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a table"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "a list of tables"
		}
		return "a list of strings"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float64:
		return "a number"
	default:
		return "a whole number"
	}
}

func describeValue(v any) string {
	switch n := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", n)
	case int64:
		return fmt.Sprintf("the number %d", n)
	case float64:
		return fmt.Sprintf("the number %v", n)
	case bool:
		return strconv.FormatBool(n)
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date or time"
	}
	return fmt.Sprintf("%T", v)
}

// tomlFields maps the TOML key of each decodable field of struct type t to
// the field.
func tomlFields(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField)
	for f := range t.Fields() {
		if name := tomlName(f); name != "" {
			fields[name] = f
		}
	}
	return fields
}

// tomlName is the TOML key of field f, or "" for fields profiles cannot set.
func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// fieldNames lists the keys of fields in declaration order, which is the
// order the documentation and Show use.
func fieldNames(fields map[string]reflect.StructField) []string {
	names := slices.Collect(maps.Keys(fields))
	slices.SortFunc(names, func(a, b string) int {
		return slices.Compare(fields[a].Index, fields[b].Index)
	})
	return names
}
