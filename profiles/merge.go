package profiles

import (
	"reflect"

	"github.com/BurntSushi/toml"
)

// merge lays the keys a file set (md says which) over dst, the resolved
// parent. A set key replaces the parent's value, even when it is false, 0
// or an empty list; lists are replaced as a whole, never appended to, so a
// profile always says exactly what it means. The one exception is
// environment.set, whose variables are merged one by one.
//
// description and extends are left alone: they describe the file, not the
// sandbox, and the resolver handles them.
func merge(dst, src *Profile, md toml.MetaData) {
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for f := range reflect.TypeFor[Profile]().Fields() {
		section := tomlName(f)
		if section == "" || f.Type.Kind() != reflect.Struct {
			continue
		}
		for g := range f.Type.Fields() {
			if key := tomlName(g); key != "" && md.IsDefined(section, key) {
				assign(dv.FieldByIndex(f.Index).FieldByIndex(g.Index), sv.FieldByIndex(f.Index).FieldByIndex(g.Index))
			}
		}
	}
}

// assign copies src into dst without sharing lists, merging maps.
func assign(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Map:
		if dst.IsNil() {
			dst.Set(reflect.MakeMap(src.Type()))
		}
		for k, v := range src.Seq2() {
			dst.SetMapIndex(k, v)
		}
	case reflect.Slice:
		c := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		reflect.Copy(c, src)
		dst.Set(c)
	default:
		dst.Set(src)
	}
}

// normalize gives a resolved profile non-nil lists and maps, so that "no
// capabilities" reads as capabilities = [] in Show and profiles compare
// equal however they were built.
func normalize(p *Profile) {
	pv := reflect.ValueOf(p).Elem()
	for f := range reflect.TypeFor[Profile]().Fields() {
		if f.Type.Kind() != reflect.Struct {
			continue
		}
		for g := range f.Type.Fields() {
			v := pv.FieldByIndex(f.Index).FieldByIndex(g.Index)
			switch {
			case g.Type.Kind() == reflect.Slice && v.IsNil():
				v.Set(reflect.MakeSlice(g.Type, 0, 0))
			case g.Type.Kind() == reflect.Map && v.IsNil():
				v.Set(reflect.MakeMap(g.Type))
			}
		}
	}
}
