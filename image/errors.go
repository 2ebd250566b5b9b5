package image

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps one of them, so
// callers can tell a bad reference from a tampered image from a broken
// cache with errors.Is.
var (
	// ErrBadRef: the image reference is not PATH, PATH:TAG or
	// PATH@sha256:HEX.
	ErrBadRef = errors.New("bad image reference")
	// ErrNotLayout: the path is not an OCI image layout (no oci-layout
	// file, no index.json, or an unsupported layout version).
	ErrNotLayout = errors.New("not an OCI image layout")
	// ErrUnknownTag: index.json has no image with that tag.
	ErrUnknownTag = errors.New("unknown tag")
	// ErrUnknownDigest: index.json does not list that digest.
	ErrUnknownDigest = errors.New("unknown digest")
	// ErrBlobMissing: a blob the image needs is not in blobs/.
	ErrBlobMissing = errors.New("blob missing")
	// ErrSizeMismatch: a blob's size differs from its descriptor's.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrDigestMismatch: a blob's content does not hash to its digest.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrBadBlob: a blob is not what its descriptor says it is (not
	// JSON, wrong media type, not a regular file, too large).
	ErrBadBlob = errors.New("malformed blob")
	// ErrUnsupported: a valid image this package cannot run (zstd
	// layers, another operating system or architecture, an artifact that
	// is not a container image).
	ErrUnsupported = errors.New("unsupported image")
	// ErrUnsafeLayer: a layer tries to write outside the root file system
	// (".." in a name or link target) or is otherwise not a tree we will
	// unpack.
	ErrUnsafeLayer = errors.New("unsafe layer")
	// ErrCache: the image cache could not be read or written.
	ErrCache = errors.New("image cache error")
)

// BlobError names the blob at fault: what it is for (manifest, config,
// layer N), its digest and its path in the layout. Its text is one line a
// person can act on.
type BlobError struct {
	Role   string // "manifest", "config", "index", "layer 2/5"
	Digest string // "sha256:..."
	Path   string // the blob's file, e.g. "./img/blobs/sha256/ab..."
	Detail string // what is wrong, e.g. "1235 bytes, the manifest says 1234"
	Err    error  // one of the sentinels above
}

func (e *BlobError) Error() string {
	where := e.Path
	if where == "" {
		where = e.Digest
	}
	msg := fmt.Sprintf("%s (blob %s): %v", e.Role, where, e.Err)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	switch e.Err {
	case ErrSizeMismatch, ErrDigestMismatch:
		msg += " (the image was modified or damaged; copy it again from a trusted source)"
	case ErrUnsafeLayer:
		msg += " (brig will not unpack it; the image is malformed or hostile)"
	case ErrBlobMissing:
		msg += " (the layout is incomplete; copy it again, e.g. with skopeo copy)"
	}
	return msg
}

func (e *BlobError) Unwrap() error { return e.Err }
