package spec

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// IDRange is a range of host ids delegated to the caller, as in
// /etc/subuid: Count ids starting at Start.
type IDRange struct {
	Start, Count uint32
}

// Identity says who the workload is and how ids map to the host.
type Identity struct {
	HostUID, HostGID     uint32    // the caller's ids on the host
	UID, GID             uint32    // the workload's ids inside
	SubUIDs, SubGIDs     []IDRange // the caller's subordinate ranges; may be empty
	AdditionalGIDsInside []uint32
}

// WithIdentity sets the workload's ids and the user namespace maps. The
// caller's own id is mapped to the workload's id; when subordinate ranges
// exist they fill the other ids from 0 upwards, so that chown and package
// managers work inside. Without ranges only the one id is mapped, which is
// all an unprivileged process may map without newuidmap.
func WithIdentity(id Identity) Option {
	return func(s *specs.Spec) error {
		uidMap, err := MapIDs(id.HostUID, id.UID, id.SubUIDs)
		if err != nil {
			return fmt.Errorf("uid map: %w", err)
		}
		gidMap, err := MapIDs(id.HostGID, id.GID, id.SubGIDs)
		if err != nil {
			return fmt.Errorf("gid map: %w", err)
		}
		s.Linux.UIDMappings, s.Linux.GIDMappings = uidMap, gidMap
		s.Process.User = specs.User{UID: id.UID, GID: id.GID, AdditionalGids: id.AdditionalGIDsInside}
		return nil
	}
}

// MapIDs maps host id to inside, then lays the subordinate ranges over the
// remaining inside ids from 0 upwards, skipping inside.
func MapIDs(host, inside uint32, ranges []IDRange) ([]specs.LinuxIDMapping, error) {
	maps := []specs.LinuxIDMapping{{ContainerID: inside, HostID: host, Size: 1}}
	next := uint32(0)
	for _, r := range ranges {
		start, left := r.Start, r.Count
		for left > 0 {
			if next == inside {
				next++
			}
			// Fill up to the inside id, or everything after it.
			size := left
			if next < inside && next+size > inside {
				size = inside - next
			}
			if uint64(next)+uint64(size) > 1<<32-1 {
				return nil, fmt.Errorf("%w: subordinate range %d+%d overflows the id space", ErrInvalid, r.Start, r.Count)
			}
			maps = append(maps, specs.LinuxIDMapping{ContainerID: next, HostID: start, Size: size})
			next += size
			start += size
			left -= size
		}
	}
	return maps, nil
}

// WithProcessUser runs the workload as uid and gid inside (an image's own
// user), keeping the maps WithIdentity made: the caller stays root inside,
// owning what it owns outside, as with docker's USER. Each id must be
// mapped, which takes subordinate ranges; apply it after WithIdentity.
func WithProcessUser(uid, gid uint32, groups []uint32) Option {
	return func(s *specs.Spec) error {
		if !mapped(s.Linux.UIDMappings, uid) {
			return fmt.Errorf("%w: uid %d is not mapped into the sandbox", ErrInvalid, uid)
		}
		for _, g := range append([]uint32{gid}, groups...) {
			if !mapped(s.Linux.GIDMappings, g) {
				return fmt.Errorf("%w: gid %d is not mapped into the sandbox", ErrInvalid, g)
			}
		}
		s.Process.User = specs.User{UID: uid, GID: gid, AdditionalGids: groups}
		return nil
	}
}

func mapped(maps []specs.LinuxIDMapping, id uint32) bool {
	for _, m := range maps {
		if id >= m.ContainerID && uint64(id) < uint64(m.ContainerID)+uint64(m.Size) {
			return true
		}
	}
	return false
}
