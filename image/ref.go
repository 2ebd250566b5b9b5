package image

import (
	"fmt"
	"os"
	"strings"
	"unicode"

	digest "github.com/opencontainers/go-digest"
)

// Ref names one image in an OCI image layout on disk: the layout
// directory and, optionally, a tag (the org.opencontainers.image.ref.name
// annotation in index.json) or a manifest digest. With neither, the layout
// must hold exactly one image.
type Ref struct {
	Layout string // the layout directory, as the user wrote it
	Tag    string // e.g. "latest"; empty when Digest is set or neither is
	Digest string // e.g. "sha256:4f3c..."; empty when Tag is set or neither is
}

// maxTagLen bounds a tag; the OCI annotation has no limit, but nothing
// sensible is longer.
const maxTagLen = 255

// ParseRef reads PATH, PATH:TAG or PATH@ALG:HEX.
//
// The tag starts at the first ":" after the last "/", so a tag may itself
// hold colons ("./img:foo:1.0" is tag "foo:1.0"). A PATH that is an
// existing directory is taken whole even when its name holds a colon.
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("%w: empty; write PATH, PATH:TAG or PATH@sha256:HEX", ErrBadRef)
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return parseDigestRef(s, s[:i], s[i+1:])
	}
	if fi, err := os.Stat(s); err == nil && fi.IsDir() {
		return Ref{Layout: s}, nil
	}
	slash := strings.LastIndex(s, "/")
	colon := strings.Index(s[slash+1:], ":")
	if colon < 0 {
		return Ref{Layout: s}, nil
	}
	layout, tag := s[:slash+1+colon], s[slash+1+colon+1:]
	if layout == "" {
		return Ref{}, fmt.Errorf("%w: %q has no layout path before the tag; write PATH:TAG", ErrBadRef, s)
	}
	if err := checkTag(tag); err != nil {
		return Ref{}, fmt.Errorf("%w: %q: %v", ErrBadRef, s, err)
	}
	return Ref{Layout: layout, Tag: tag}, nil
}

func parseDigestRef(s, layout, dgst string) (Ref, error) {
	if layout == "" {
		return Ref{}, fmt.Errorf("%w: %q has no layout path before the digest; write PATH@sha256:HEX", ErrBadRef, s)
	}
	d, err := digest.Parse(dgst)
	if err != nil {
		return Ref{}, fmt.Errorf("%w: %q: the digest must be sha256: followed by 64 lowercase hex digits", ErrBadRef, s)
	}
	return Ref{Layout: layout, Digest: d.String()}, nil
}

func checkTag(tag string) error {
	if tag == "" {
		return fmt.Errorf("empty tag after ':' (drop the ':' or name a tag)")
	}
	if len(tag) > maxTagLen {
		return fmt.Errorf("tag longer than %d characters", maxTagLen)
	}
	for _, r := range tag {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("tag holds a blank or control character")
		}
	}
	return nil
}

// String writes the reference back in the form ParseRef reads.
func (r Ref) String() string {
	switch {
	case r.Digest != "":
		return r.Layout + "@" + r.Digest
	case r.Tag != "":
		return r.Layout + ":" + r.Tag
	}
	return r.Layout
}
