package image

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// verifiedReader reads a blob while hashing it; check, called once the
// consumer is done, drains what is left and compares size and digest with
// the descriptor. Hashing while reading (rather than hashing first and
// reading again) leaves no window in which the file could change between
// the check and the use.
type verifiedReader struct {
	r        io.Reader
	digester digest.Digester
	n        int64
	desc     ocispec.Descriptor
	role     string
	path     string
}

func newVerifiedReader(f *os.File, d ocispec.Descriptor, role, path string) *verifiedReader {
	// One byte more than the descriptor says, so that growth after the
	// size check is seen as a mismatch instead of silently ignored.
	return &verifiedReader{r: io.LimitReader(f, d.Size+1), digester: d.Digest.Algorithm().Digester(), desc: d, role: role, path: path}
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.digester.Hash().Write(p[:n])
	return n, err
}

// check drains the rest of the blob and verifies it.
func (v *verifiedReader) check() error {
	if _, err := io.Copy(io.Discard, v); err != nil {
		return v.fail(ErrBadBlob, "reading: %v", err)
	}
	if v.n != v.desc.Size {
		return v.fail(ErrSizeMismatch, "read %d bytes, expected %d (the file changed while being read)", v.n, v.desc.Size)
	}
	if got := v.digester.Digest(); got != v.desc.Digest {
		return v.fail(ErrDigestMismatch, "content hashes to %s", got)
	}
	return nil
}

func (v *verifiedReader) fail(sentinel error, format string, args ...any) error {
	return &BlobError{Role: v.role, Digest: v.desc.Digest.String(), Path: v.path, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// compression of a layer blob.
type compression int

const (
	uncompressed compression = iota
	gzipped
)

// layerFormat accepts the layer media types brig can unpack. zstd layers
// are refused rather than half-supported: reading them needs a zstd
// decoder this module does not carry.
func layerFormat(mediaType string) (compression, error) {
	switch mediaType {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerNonDistributable: //nolint:staticcheck // still found in old layouts
		return uncompressed, nil
	case ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerNonDistributableGzip, dockerLayerGzip, dockerForeignGzip: //nolint:staticcheck
		return gzipped, nil
	case ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayerNonDistributableZstd: //nolint:staticcheck
		return 0, fmt.Errorf("%w: zstd-compressed layers are not supported yet; convert the image, e.g. skopeo copy --dest-compress-format gzip", ErrUnsupported)
	}
	return 0, fmt.Errorf("%w: layer type %q is not a tar layer brig can unpack", ErrUnsupported, mediaType)
}

// layerReader is the verified tar stream of one layer: the blob is hashed
// as it is read (digest and size), and the decompressed stream is hashed
// too, to match the config's diff_id.
type layerReader struct {
	file   *os.File
	blob   *verifiedReader
	gz     *gzip.Reader
	tar    io.Reader
	diff   digest.Digester
	diffID digest.Digest
}

func (l *layout) openLayer(img *image, i int) (*layerReader, error) {
	d := img.manifest.Layers[i]
	role := layerRole(i, len(img.manifest.Layers))
	comp, err := layerFormat(d.MediaType)
	if err != nil {
		return nil, err
	}
	f, err := l.openBlob(role, "the manifest", d)
	if err != nil {
		return nil, err
	}
	lr := &layerReader{file: f, blob: newVerifiedReader(f, d, role, l.file(blobPath(d.Digest))), diffID: img.config.RootFS.DiffIDs[i]}
	if lr.diffID.Validate() != nil {
		f.Close()
		return nil, lr.blob.fail(ErrBadBlob, "the config gives a malformed diff_id %q", lr.diffID)
	}
	var stream io.Reader = lr.blob
	if comp == gzipped {
		br := bufio.NewReader(lr.blob)
		lr.gz, err = gzip.NewReader(br)
		if err != nil {
			verr := lr.blob.check()
			f.Close()
			if verr != nil {
				return nil, verr
			}
			return nil, lr.blob.fail(ErrBadBlob, "not gzip: %v", err)
		}
		stream = lr.gz
	}
	lr.diff = lr.diffID.Algorithm().Digester()
	lr.tar = io.TeeReader(stream, lr.diff.Hash())
	return lr, nil
}

func (lr *layerReader) Read(p []byte) (int, error) { return lr.tar.Read(p) }

// finish drains the layer and verifies the blob, then the diff_id. Call it
// whether or not unpacking succeeded: a tampered blob usually surfaces as
// a tar or gzip error first, and the digest mismatch is the truer story.
func (lr *layerReader) finish(unpackErr error) error {
	var drainErr error
	if unpackErr == nil {
		_, drainErr = io.Copy(io.Discard, lr.tar)
	}
	if err := lr.blob.check(); err != nil {
		return err
	}
	if unpackErr != nil {
		return unpackErr
	}
	if drainErr != nil {
		return lr.blob.fail(ErrBadBlob, "decompressing: %v", drainErr)
	}
	if got := lr.diff.Digest(); got != lr.diffID {
		return lr.blob.fail(ErrDigestMismatch, "uncompressed content hashes to %s, the config's diff_id is %s", got, lr.diffID)
	}
	return nil
}

func (lr *layerReader) close() {
	if lr.gz != nil {
		lr.gz.Close()
	}
	lr.file.Close()
}

// Verify checks every blob of the image ref names: the manifest, the
// config and each layer, by size and digest, and each layer's
// uncompressed content against the config's diff_id. It unpacks nothing
// and returns the manifest digest.
func Verify(ref Ref) (manifestDigest string, err error) {
	l, err := openLayout(ref.Layout)
	if err != nil {
		return "", err
	}
	defer l.close()
	img, err := l.loadImage(ref)
	if err != nil {
		return "", err
	}
	for i := range img.manifest.Layers {
		lr, err := l.openLayer(img, i)
		if err != nil {
			return "", err
		}
		err = lr.finish(nil)
		lr.close()
		if err != nil {
			return "", err
		}
	}
	return img.manifestDesc.Digest.String(), nil
}
