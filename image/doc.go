// Package image runs OCI images that are already on disk: it verifies an
// OCI image layout (as written by skopeo, umoci, buildah, or `docker
// save` converted to OCI), unpacks the image without privileges into a
// content-addressed cache, and hands brig a root file system and the
// image's defaults. It needs no daemon, no registry and no network, and it
// trusts none of the files it reads.
//
// # Naming an image
//
// A reference is the layout directory, optionally with a tag or a
// manifest digest:
//
//	./layout              the only image in the layout
//	./layout:v1           the image index.json tags "v1"
//	                      (the org.opencontainers.image.ref.name annotation)
//	./layout@sha256:4f3c… the manifest with that digest
//
// A tag is only as trustworthy as index.json, which anyone who can write
// the layout can change. A digest pins the exact image: use it when the
// layout comes from somewhere you do not control.
//
// # What is verified
//
// Every blob the image uses (the manifest, the config and each layer) is
// checked against the size and sha256 digest its parent names, and each
// layer's uncompressed content against the config's diff_id. Any
// mismatch, missing blob, or digest that index.json does not list is an
// error that names the blob ([BlobError]); nothing is unpacked or run.
// Blobs are read through an [os.Root], so a blob that is a symlink leading
// out of the layout is refused, and so is anything but a regular file.
// Layers are hashed while they are unpacked, into a temporary directory
// that becomes the cache entry only once every check passed: there is no
// window between checking a blob and using it, and nothing of a tampered
// layer is ever used. Layers may be plain tar or gzip; zstd is refused.
//
// # How layers are unpacked
//
// Unpacking runs as the calling user, which the sandbox maps to root
// inside. So:
//
//   - files belong to the user: the uids and gids recorded in the layers
//     are not applied (the kernel would not let an unprivileged user);
//   - device nodes are skipped, as containerd does rootless; the sandbox's
//     /dev comes from brig;
//   - setuid and setgid bits are dropped: they could grant nothing anyway,
//     since brig's sandboxes run with no_new_privs;
//   - extended attributes, including file capabilities, are dropped;
//   - directories keep their mode plus owner rwx, so that later layers and
//     pruning can always write and delete in them.
//
// Every path is resolved inside the tree with securejoin, and the last
// component is never followed: a symlink planted by a layer cannot send a
// later entry outside the tree, a file entry replaces a symlink instead of
// writing through it, and hard links must point at files of the image.
// Names with ".." are refused outright (no real image has them). Whiteouts
// (".wh.NAME") and opaque directories (".wh..wh..opq") delete what lower
// layers put there, as overlayfs would show it. The unpacked tree also gets
// the mount points brig uses (/proc, /sys, /dev, /tmp).
//
// # The cache
//
// [DefaultCache] lives in $BRIG_CACHE_DIR, else $XDG_CACHE_HOME/brig/images,
// else ~/.cache/brig/images, one entry per manifest digest:
//
//	sha256/HEX/rootfs       the unpacked tree, shared by every run of the image
//	sha256/HEX/entry.json   where it came from, how big it is
//	locks/sha256-HEX        a flock(2) lock per image
//
// [Cache.Prepare] verifies the manifest and config at every call, and
// unpacks only when the cache lacks the image; runs that start together
// wait for one another, so an image is unpacked once. The tree is shared:
// run sandboxes from it with a read-only root. [Cache.List] and
// [Cache.Prune] back `brig image ls` and `brig image prune`; [Verify]
// backs `brig image verify`, checking every blob without unpacking.
//
// # The image's defaults
//
// [Config] carries the image config's Entrypoint, Cmd, Env, WorkingDir and
// User. They are defaults: a command given on the command line replaces
// Cmd (see [Config.Argv]), and the profile still decides isolation and
// limits. [Config.ResolveUser] turns User into ids through the image's own
// /etc/passwd and /etc/group, read without leaving the tree.
package image
