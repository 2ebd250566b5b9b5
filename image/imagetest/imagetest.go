// Package imagetest writes small OCI image layouts for tests, the way
// skopeo or umoci would, so that tests of brig's image support need no
// registry, daemon or network.
//
//	layer, _ := imagetest.BusyboxLayer("/bin/busybox", "sh", "echo")
//	w, err := imagetest.Write(dir, imagetest.Image{
//		Tag:    "v1",
//		Config: ocispec.ImageConfig{Cmd: []string{"/bin/echo", "hi"}},
//		Layers: []imagetest.Layer{layer},
//	})
//
// Write can be called again on the same directory to add more images.
// Nothing here checks what it writes: tests use it to make broken images
// too (a ".." entry, a device node, a tampered blob).
package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Entry is one tar entry of a layer.
type Entry struct {
	Header tar.Header
	Body   []byte
}

// modTime is fixed so that the same layer always hashes the same.
var modTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// Dir is a directory entry.
func Dir(name string, mode int64) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: modTime}}
}

// File is a regular file entry.
func File(name string, body []byte, mode int64) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: modTime}, Body: body}
}

// Symlink is a symbolic link entry.
func Symlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: modTime}}
}

// Hardlink is a hard link entry; target is a name in the image.
func Hardlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: modTime}}
}

// Device is a character device entry (1, 3 is /dev/null).
func Device(name string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeChar, Name: name, Mode: 0o666, Devmajor: 1, Devminor: 3, ModTime: modTime}}
}

// Whiteout deletes name ("dir/file") from the layers below.
func Whiteout(name string) Entry {
	dir, base := path.Split(name)
	return File(dir+".wh."+base, nil, 0o644)
}

// Opaque hides everything the layers below put in dir.
func Opaque(dir string) Entry {
	return File(path.Join(dir, ".wh..wh..opq"), nil, 0o644)
}

// Layer is a tar layer, gzip-compressed or not.
type Layer struct {
	Entries []Entry
	Gzip    bool
}

// BusyboxLayer is a gzip layer with busybox (a static one, so that it runs
// in a root file system with no C library) at /bin/busybox and a symlink
// /bin/APPLET for each applet.
func BusyboxLayer(hostBusybox string, applets ...string) (Layer, error) {
	body, err := os.ReadFile(hostBusybox)
	if err != nil {
		return Layer{}, fmt.Errorf("imagetest: %w (install busybox-static)", err)
	}
	l := Layer{Gzip: true, Entries: []Entry{Dir("bin/", 0o755), File("bin/busybox", body, 0o755)}}
	for _, a := range applets {
		l.Entries = append(l.Entries, Symlink("bin/"+a, "busybox"))
	}
	return l, nil
}

// Image is one image to write.
type Image struct {
	Tag    string // the org.opencontainers.image.ref.name annotation; "" for none
	Config ocispec.ImageConfig
	Layers []Layer
	// Architecture defaults to this machine's.
	Architecture string
}

// Written describes what Write stored.
type Written struct {
	Dir      string
	Manifest ocispec.Descriptor
	Config   ocispec.Descriptor
	Layers   []ocispec.Descriptor
}

// BlobPath is the file of the blob d in the layout.
func (w Written) BlobPath(d ocispec.Descriptor) string {
	return filepath.Join(w.Dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded())
}

// Write stores img in the layout at dir, creating the layout if needed,
// and lists it in index.json.
func Write(dir string, img Image) (Written, error) {
	w := Written{Dir: dir}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return w, err
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return w, err
	}
	var diffIDs []digest.Digest
	for _, l := range img.Layers {
		blob, diffID, err := tarLayer(l)
		if err != nil {
			return w, err
		}
		mt := ocispec.MediaTypeImageLayer
		if l.Gzip {
			mt = ocispec.MediaTypeImageLayerGzip
		}
		d, err := writeBlob(dir, mt, blob)
		if err != nil {
			return w, err
		}
		w.Layers = append(w.Layers, d)
		diffIDs = append(diffIDs, diffID)
	}
	arch := img.Architecture
	if arch == "" {
		arch = runtime.GOARCH
	}
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: arch}, Config: img.Config,
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}}
	var err error
	if w.Config, err = writeJSON(dir, ocispec.MediaTypeImageConfig, cfg); err != nil {
		return w, err
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: w.Config, Layers: w.Layers}
	if w.Manifest, err = writeJSON(dir, ocispec.MediaTypeImageManifest, m); err != nil {
		return w, err
	}
	return w, addToIndex(dir, w.Manifest, img.Tag)
}

// tarLayer makes the blob of l and its diff_id.
func tarLayer(l Layer) (blob []byte, diffID digest.Digest, err error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range l.Entries {
		h := e.Header
		if err := tw.WriteHeader(&h); err != nil {
			return nil, "", fmt.Errorf("imagetest: %s: %w", h.Name, err)
		}
		if _, err := tw.Write(e.Body); err != nil {
			return nil, "", fmt.Errorf("imagetest: %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID = digest.FromBytes(raw.Bytes())
	if !l.Gzip {
		return raw.Bytes(), diffID, nil
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), diffID, nil
}

func writeJSON(dir, mediaType string, v any) (ocispec.Descriptor, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return writeBlob(dir, mediaType, raw)
}

func writeBlob(dir, mediaType string, blob []byte) (ocispec.Descriptor, error) {
	sum := sha256.Sum256(blob)
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.NewDigestFromBytes(digest.SHA256, sum[:]), Size: int64(len(blob))}
	p := filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded())
	return d, os.WriteFile(p, blob, 0o644)
}

// addToIndex appends the manifest to index.json.
func addToIndex(dir string, d ocispec.Descriptor, tag string) error {
	p := filepath.Join(dir, ocispec.ImageIndexFile)
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	raw, err := os.ReadFile(p)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &idx); err != nil {
			return fmt.Errorf("imagetest: %s: %w", p, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if tag != "" {
		d.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	}
	idx.Manifests = append(idx.Manifests, d)
	out, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return os.WriteFile(p, out, 0o644)
}
