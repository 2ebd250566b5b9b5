package profiles

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/brigsandbox/brig/spec"
)

// The benchmarks below measure what `brig run` spends on profiles before
// anything starts: one Load per launch. Run them with
//
//	go test -run '^$' -bench . -benchmem ./profiles/
//
// docs/performance.md records the numbers and how they compare with the
// rest of a launch.

// benchLoad loads name through l b.N times.
func benchLoad(b *testing.B, l Loader, name string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Load(name); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadStrict is the builtin base profile alone: one TOML decode,
// validation and normalisation.
func BenchmarkLoadStrict(b *testing.B) {
	benchLoad(b, Loader{}, "strict")
}

// BenchmarkLoadDefault resolves a builtin that extends strict: two decodes
// and a merge.
func BenchmarkLoadDefault(b *testing.B) {
	benchLoad(b, Loader{}, "default")
}

// BenchmarkLoadStrictSearched is what a launch really does: the user's and
// the system's profile directories are searched (and found empty) before
// the builtin is taken.
func BenchmarkLoadStrictSearched(b *testing.B) {
	dir := b.TempDir()
	l := Loader{ConfigDirs: []string{filepath.Join(dir, "user"), filepath.Join(dir, "system")}}
	benchLoad(b, l, "strict")
}

// BenchmarkLoadUserFile is a user's profile file that extends a builtin:
// a file read plus the builtin chain.
func BenchmarkLoadUserFile(b *testing.B) {
	dir := b.TempDir()
	writeBenchFile(b, dir, "mine.toml", "extends = \"default\"\n[limits]\nmemory = \"1G\"\npids = 512\n")
	benchLoad(b, Loader{ConfigDirs: []string{dir}}, "mine")
}

func writeBenchFile(b *testing.B, dir, name, text string) {
	b.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoadAndBuildStrict is the whole of what brig owns before a
// launch starts: the profile found and resolved, turned into options,
// and the spec built from them.
func BenchmarkLoadAndBuildStrict(b *testing.B) {
	l := Loader{}
	w := spec.Workload{Args: []string{"true"}, Env: []string{"PATH=/usr/bin:/bin", "HOME=/tmp"}, Cwd: "/home/user/project"}
	h := fakeHost()
	b.ReportAllocs()
	for b.Loop() {
		p, err := l.Load("strict")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := spec.Build(w, p.SpecOptions(h)...); err != nil {
			b.Fatal(err)
		}
	}
}
