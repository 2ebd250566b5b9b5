package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	// go-digest hashes with whatever crypto registered; these are the
	// algorithms OCI allows.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Bounds on the JSON documents of a layout. Real ones are a few KiB; the
// bounds keep a hostile layout from making us read gigabytes into memory.
const (
	maxIndexJSON    = 4 << 20
	maxManifestJSON = 4 << 20
	maxConfigJSON   = 8 << 20
	maxLayoutFile   = 4 << 10
)

// Media types of Docker's schema 2, which OCI layouts converted from
// `docker save` or copied by skopeo may still carry.
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerConfig       = "application/vnd.docker.container.image.v1+json"
	dockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	dockerForeignGzip  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// layout is an opened OCI image layout. Every file is read through an
// os.Root, so a symlink in the layout can never lead a read outside it.
type layout struct {
	dir   string // as the user wrote it, for messages
	root  *os.Root
	index ocispec.Index
}

// image is a resolved, verified manifest and config.
type image struct {
	manifestDesc ocispec.Descriptor
	manifest     ocispec.Manifest
	config       ocispec.Image
}

// openLayout opens dir and reads its oci-layout and index.json.
func openLayout(dir string) (*layout, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (point --image at a directory written by skopeo, umoci, buildah or another OCI tool)", ErrNotLayout, dir, plainErr(err))
	}
	l := &layout{dir: dir, root: root}
	if err := l.readHeader(); err != nil {
		root.Close()
		return nil, err
	}
	return l, nil
}

func (l *layout) close() { l.root.Close() }

// readHeader checks oci-layout and parses index.json. Neither file is
// content-addressed: a tag is only as trustworthy as index.json, which is
// why a reference by digest is the strong form.
func (l *layout) readHeader() error {
	raw, err := l.readSmall(ocispec.ImageLayoutFile, maxLayoutFile)
	if err != nil {
		return err
	}
	var hdr ocispec.ImageLayout
	if err := json.Unmarshal(raw, &hdr); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotLayout, l.file(ocispec.ImageLayoutFile), err)
	}
	if !strings.HasPrefix(hdr.Version, "1.") {
		return fmt.Errorf("%w: %s: layout version %q, brig reads 1.x", ErrNotLayout, l.file(ocispec.ImageLayoutFile), hdr.Version)
	}
	raw, err = l.readSmall(ocispec.ImageIndexFile, maxIndexJSON)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &l.index); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotLayout, l.file(ocispec.ImageIndexFile), err)
	}
	if l.index.SchemaVersion != 2 {
		return fmt.Errorf("%w: %s: schemaVersion %d, want 2", ErrNotLayout, l.file(ocispec.ImageIndexFile), l.index.SchemaVersion)
	}
	return nil
}

// readSmall reads one of the layout's own files (not a blob), bounded.
func (l *layout) readSmall(name string, limit int64) ([]byte, error) {
	f, err := l.openRegular(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotLayout, l.file(name), plainErr(err))
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotLayout, l.file(name), err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrNotLayout, l.file(name), limit)
	}
	return raw, nil
}

// openRegular opens name inside the layout, refusing anything but a
// regular file. O_NONBLOCK keeps a FIFO planted in the layout from
// blocking the open.
func (l *layout) openRegular(name string) (*os.File, error) {
	f, err := l.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	return f, nil
}

// file is name inside the layout, for messages.
func (l *layout) file(name string) string { return filepath.Join(l.dir, name) }

// blobPath is where the blob of d lives, relative to the layout. The
// digest was validated, so the path has exactly three clean components.
func blobPath(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// openBlob opens the blob of d and checks its size against the
// descriptor; role ("manifest", "layer 1/3") and parent ("index.json",
// "the manifest") name it in errors.
func (l *layout) openBlob(role, parent string, d ocispec.Descriptor) (*os.File, error) {
	bad := func(sentinel error, format string, args ...any) error {
		e := &BlobError{Role: role, Digest: d.Digest.String(), Detail: fmt.Sprintf(format, args...), Err: sentinel}
		if d.Digest.Validate() == nil {
			e.Path = l.file(blobPath(d.Digest))
		}
		return e
	}
	if err := d.Digest.Validate(); err != nil {
		return nil, bad(ErrBadBlob, "%s gives a malformed digest: %v", parent, err)
	}
	if d.Size < 0 {
		return nil, bad(ErrBadBlob, "%s gives a negative size", parent)
	}
	f, err := l.openRegular(blobPath(d.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bad(ErrBlobMissing, "")
	}
	if err != nil {
		return nil, bad(ErrBadBlob, "%v", plainErr(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, bad(ErrBadBlob, "%v", err)
	}
	if fi.Size() != d.Size {
		f.Close()
		return nil, bad(ErrSizeMismatch, "%d bytes, %s says %d", fi.Size(), parent, d.Size)
	}
	return f, nil
}

// readBlob reads a JSON blob whole and verifies it before returning it.
func (l *layout) readBlob(role, parent string, d ocispec.Descriptor, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, &BlobError{Role: role, Digest: d.Digest.String(), Path: l.file(blobPath(d.Digest)), Err: ErrBadBlob,
			Detail: fmt.Sprintf("%s says %d bytes; a %s is at most %d", parent, d.Size, role, limit)}
	}
	f, err := l.openBlob(role, parent, d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v := newVerifiedReader(f, d, role, l.file(blobPath(d.Digest)))
	raw, err := io.ReadAll(v)
	if err != nil {
		return nil, err
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	return raw, nil
}

// resolve finds the manifest ref names: by tag or digest in index.json,
// through one level of image index (picking this machine's platform).
func (l *layout) resolve(ref Ref) (ocispec.Descriptor, error) {
	d, err := l.lookup(ref)
	if err != nil {
		return d, err
	}
	if !isIndex(d.MediaType) {
		return d, nil
	}
	idx, err := l.readIndexBlob(d)
	if err != nil {
		return d, err
	}
	return pickPlatform(ref, idx)
}

// lookup finds ref's descriptor among index.json's entries.
func (l *layout) lookup(ref Ref) (ocispec.Descriptor, error) {
	entries := l.index.Manifests
	switch {
	case ref.Digest != "":
		return l.lookupDigest(ref)
	case ref.Tag != "":
		var found []ocispec.Descriptor
		for _, d := range entries {
			if d.Annotations[ocispec.AnnotationRefName] == ref.Tag {
				found = append(found, d)
			}
		}
		if len(found) == 0 {
			return ocispec.Descriptor{}, fmt.Errorf("%w: %s has no image tagged %q (%s)", ErrUnknownTag, l.dir, ref.Tag, l.tagHint())
		}
		if found = uniqueDigests(found); len(found) > 1 {
			return pickPlatform(ref, ocispec.Index{Manifests: found})
		}
		return found[0], nil
	}
	switch len(uniqueDigests(entries)) {
	case 0:
		return ocispec.Descriptor{}, fmt.Errorf("%w: %s holds no image (index.json lists nothing)", ErrNotLayout, l.dir)
	case 1:
		return entries[0], nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: %s holds %d images; name one as PATH:TAG or PATH@sha256:HEX (%s)", ErrUnknownTag, l.dir, len(uniqueDigests(entries)), l.tagHint())
}

// uniqueDigests drops entries that repeat a digest: two tags on one image
// are still one image.
func uniqueDigests(ds []ocispec.Descriptor) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, d := range ds {
		if !slices.ContainsFunc(out, func(o ocispec.Descriptor) bool { return o.Digest == d.Digest }) {
			out = append(out, d)
		}
	}
	return out
}

// lookupDigest finds a digest among index.json's entries or, for entries
// that are image indexes, their children.
func (l *layout) lookupDigest(ref Ref) (ocispec.Descriptor, error) {
	for _, d := range l.index.Manifests {
		if d.Digest.String() == ref.Digest {
			return d, nil
		}
	}
	for _, d := range l.index.Manifests {
		if !isIndex(d.MediaType) {
			continue
		}
		idx, err := l.readIndexBlob(d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		for _, c := range idx.Manifests {
			if c.Digest.String() == ref.Digest {
				return c, nil
			}
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: %s lists no manifest %s (check the digest with 'brig image verify %s')", ErrUnknownDigest, l.dir, ref.Digest, l.dir)
}

// tagHint lists the tags index.json knows, for error messages.
func (l *layout) tagHint() string {
	var tags []string
	for _, d := range l.index.Manifests {
		if t := d.Annotations[ocispec.AnnotationRefName]; t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if len(tags) == 0 {
		return "it has no tags; use PATH@sha256:HEX"
	}
	const most = 8
	if len(tags) > most {
		tags = append(tags[:most], "...")
	}
	return "tags: " + strings.Join(tags, ", ")
}

func (l *layout) readIndexBlob(d ocispec.Descriptor) (ocispec.Index, error) {
	var idx ocispec.Index
	raw, err := l.readBlob("index", "index.json", d, maxManifestJSON)
	if err != nil {
		return idx, err
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return idx, l.malformed("index", d, "not an image index: %v", err)
	}
	return idx, nil
}

func (l *layout) malformed(role string, d ocispec.Descriptor, format string, args ...any) error {
	return &BlobError{Role: role, Digest: d.Digest.String(), Path: l.file(blobPath(d.Digest)), Err: ErrBadBlob, Detail: fmt.Sprintf(format, args...)}
}

func isIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == dockerManifestList
}

// pickPlatform chooses this machine's linux image among idx's entries.
func pickPlatform(ref Ref, idx ocispec.Index) (ocispec.Descriptor, error) {
	var have []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH && !isIndex(d.MediaType) {
			return d, nil
		}
		have = append(have, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	return ocispec.Descriptor{}, fmt.Errorf("%w: %s has no image for linux/%s (it has: %s)", ErrUnsupported, ref, runtime.GOARCH, strings.Join(have, ", "))
}

// loadImage resolves ref and reads its manifest and config, verified.
func (l *layout) loadImage(ref Ref) (*image, error) {
	d, err := l.resolve(ref)
	if err != nil {
		return nil, err
	}
	img := &image{manifestDesc: d}
	if err := l.loadManifest(img); err != nil {
		return nil, err
	}
	if err := l.loadConfig(img); err != nil {
		return nil, err
	}
	return img, nil
}

func (l *layout) loadManifest(img *image) error {
	d := img.manifestDesc
	if d.MediaType != ocispec.MediaTypeImageManifest && d.MediaType != dockerManifest {
		return fmt.Errorf("%w: %s is a %q, not an image manifest", ErrUnsupported, d.Digest, d.MediaType)
	}
	raw, err := l.readBlob("manifest", "index.json", d, maxManifestJSON)
	if err != nil {
		return err
	}
	m := &img.manifest
	if err := json.Unmarshal(raw, m); err != nil {
		return l.malformed("manifest", d, "not an image manifest: %v", err)
	}
	if m.SchemaVersion != 2 {
		return l.malformed("manifest", d, "schemaVersion %d, want 2", m.SchemaVersion)
	}
	// A manifest that claims another type than its descriptor is a
	// confusion attempt or a broken tool; either way, refuse it.
	if m.MediaType != "" && m.MediaType != d.MediaType {
		return l.malformed("manifest", d, "says it is %q, index.json says %q", m.MediaType, d.MediaType)
	}
	for i, layer := range m.Layers {
		if _, err := layerFormat(layer.MediaType); err != nil {
			return fmt.Errorf("%w (layer %d/%d, %s)", err, i+1, len(m.Layers), layer.Digest)
		}
	}
	return nil
}

func (l *layout) loadConfig(img *image) error {
	d := img.manifest.Config
	if d.MediaType != ocispec.MediaTypeImageConfig && d.MediaType != dockerConfig {
		return fmt.Errorf("%w: config type %q: %s is not a container image (an artifact?)", ErrUnsupported, d.MediaType, img.manifestDesc.Digest)
	}
	raw, err := l.readBlob("config", "the manifest", d, maxConfigJSON)
	if err != nil {
		return err
	}
	c := &img.config
	if err := json.Unmarshal(raw, c); err != nil {
		return l.malformed("config", d, "not an image config: %v", err)
	}
	if c.OS != "" && c.OS != "linux" {
		return fmt.Errorf("%w: %s is a %s image; brig runs linux images", ErrUnsupported, img.manifestDesc.Digest, c.OS)
	}
	if c.Architecture != "" && c.Architecture != runtime.GOARCH {
		return fmt.Errorf("%w: %s is built for %s; this machine is %s", ErrUnsupported, img.manifestDesc.Digest, c.Architecture, runtime.GOARCH)
	}
	if n, m := len(c.RootFS.DiffIDs), len(img.manifest.Layers); n != m {
		return l.malformed("config", d, "lists %d layer diff_ids, the manifest has %d layers", n, m)
	}
	return nil
}

// layerRole names layer i of n in messages: "layer 2/5".
func layerRole(i, n int) string { return fmt.Sprintf("layer %d/%d", i+1, n) }

// plainErr drops the "openat NAME:" prefix of a *PathError: callers name
// the file themselves.
func plainErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
