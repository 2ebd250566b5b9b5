package image

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseRef(t *testing.T) {
	hex := "4f3c0d8e9b1a2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5"
	tests := []struct {
		in   string
		want Ref
	}{
		{"./img", Ref{Layout: "./img"}},
		{"./img:v1", Ref{Layout: "./img", Tag: "v1"}},
		{"img:latest", Ref{Layout: "img", Tag: "latest"}},
		{"/a:b/img:v1", Ref{Layout: "/a:b/img", Tag: "v1"}},
		{"./img:foo:1.0", Ref{Layout: "./img", Tag: "foo:1.0"}},
		{"./img@sha256:" + hex, Ref{Layout: "./img", Digest: "sha256:" + hex}},
		{"/x@y/img@sha256:" + hex, Ref{Layout: "/x@y/img", Digest: "sha256:" + hex}},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("ParseRef(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestParseRefRejects(t *testing.T) {
	for _, in := range []string{
		"", "./img:", ":v1", "@sha256:abc", "./img@sha256:abc", "./img@md5:d41d8cd98f00b204e9800998ecf8427e",
		"./img@sha256:4F3C0D8E9B1A2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5", "./img:a b", "./img:a\x01",
	} {
		if _, err := ParseRef(in); !errors.Is(err, ErrBadRef) {
			t.Errorf("ParseRef(%q): want ErrBadRef, got %v", in, err)
		}
	}
}

// A directory whose name holds a colon is a layout, not a layout and a tag.
func TestParseRefExistingDirWithColon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "img:v1")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := ParseRef(dir)
	if err != nil || got != (Ref{Layout: dir}) {
		t.Errorf("ParseRef(%q) = %+v, %v", dir, got, err)
	}
}
