package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Caps of the resource checks: high enough that any sane limit stops
// them first, low enough that an unlimited sandbox survives the attempt.
const (
	forkCap      = 5000
	forkDeadline = 20 * time.Second
	memChunk     = 64 << 20
	memCap       = 8 << 30
	memReport    = 16 << 20 // progress line interval
	fillCap      = 2 << 30
	fillChunk    = 1 << 20
	inodeCap     = 1_000_000
	fillDeadline = 2 * time.Minute
)

// checkForkBomb forks bare processes that sleep with every signal
// blocked, until fork fails or forkCap is reached, then kills them all.
// Each fork is one task, so pids limits are met exactly.
func checkForkBomb(*config) result {
	// A fresh thread would be a task too: pin this goroutine, run on one
	// P and allocate nothing in the loop, so the runtime does not need a
	// new thread while the limit is exhausted.
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	pids := make([]int, 0, forkCap)
	mask := ^uint64(0)
	deadline := time.Now().Add(forkDeadline)
	var forkErr syscall.Errno
	for len(pids) < forkCap && time.Now().Before(deadline) {
		pid, e := forkSleeper(&mask)
		if e != 0 {
			forkErr = e
			break
		}
		pids = append(pids, pid)
	}
	// Free the limit before anything else can need a task.
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	for _, pid := range pids {
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}
	switch {
	case forkErr == unix.EAGAIN:
		return blocked("fork failed with EAGAIN after %d processes", len(pids))
	case forkErr != 0:
		return blocked("fork failed with %s after %d processes", errnoName(forkErr), len(pids))
	case len(pids) >= forkCap:
		return allowed("started %d processes without hitting a limit", len(pids))
	}
	return skipped("stopped after %v with %d processes and no limit hit", forkDeadline, len(pids))
}

// forkSleeper forks a child that blocks all signals (mask points to an
// all-ones sigset) and sleeps until SIGKILL, or until its parent dies.
// The child is a one-thread copy of a Go process, so it may only make raw
// system calls from this frame: hence nosplit and no calls into the
// runtime.
//
//go:nosplit
//go:norace
func forkSleeper(mask *uint64) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0)
	if e != 0 {
		return 0, e
	}
	if r != 0 {
		return int(r), 0
	}
	syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(mask)), 0, 8, 0, 0)
	syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)
	for {
		syscall.RawSyscall6(syscall.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
	}
}

// checkMemoryBomb maps and touches memory in 64 MiB steps up to 8 GiB,
// printing a comment line every 16 MiB so that a reader sees how far it
// got when the limit kills the probe. It runs in the probe's own process:
// the process a memory limit kills must be the one brig waits for.
func checkMemoryBomb(cfg *config) result {
	var chunks [][]byte
	defer func() {
		for _, c := range chunks {
			unix.Munmap(c)
		}
	}()
	page := os.Getpagesize()
	for total := 0; total < memCap; total += memChunk {
		c, err := unix.Mmap(-1, 0, memChunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return blocked("mmap failed with %s after %d MiB", errnoName(err), total>>20)
		}
		chunks = append(chunks, c)
		for i := 0; i < len(c); i += page {
			c[i] = 1
			if (i+page)%memReport == 0 {
				fmt.Fprintf(cfg.progress, "# memory_bomb: %d MiB touched\n", (total+i+page)>>20)
			}
		}
	}
	return allowed("touched %d MiB without being stopped", memCap>>20)
}

// checkTmpfsFill writes to /tmp until ENOSPC (bytes), then creates empty
// files until ENOSPC (inodes), and removes everything.
func checkTmpfsFill(cfg *config) result {
	dir, err := os.MkdirTemp("/tmp", ".brig-probe-fill-")
	if err != nil {
		return blocked("cannot write to /tmp: %s", errnoName(err))
	}
	defer os.RemoveAll(dir)
	deadline := time.Now().Add(fillDeadline)
	bytesOK, bytesDetail := fillBytes(cfg.progress, filepath.Join(dir, "data"), deadline)
	inodesOK, inodesDetail := fillInodes(cfg.progress, dir, deadline)
	detail := bytesDetail + "; " + inodesDetail
	if bytesOK && inodesOK {
		return blocked("%s", detail)
	}
	return allowed("%s", detail)
}

// fillBytes reports whether writing stopped at a full filesystem.
func fillBytes(progress io.Writer, path string, deadline time.Time) (bool, string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return true, "create data file: " + errnoName(err)
	}
	defer f.Close()
	buf := make([]byte, fillChunk)
	for i := range buf {
		buf[i] = byte(i) // incompressible enough for any backing store
	}
	written := 0
	for written < fillCap {
		if time.Now().After(deadline) {
			return false, fmt.Sprintf("bytes: still writing after %d MiB at the deadline", written>>20)
		}
		n, err := f.Write(buf)
		written += n
		if isErrno(err, unix.ENOSPC, unix.EDQUOT) {
			return true, fmt.Sprintf("bytes: %s after %d MiB", errnoName(err), written>>20)
		}
		if err != nil {
			return true, fmt.Sprintf("bytes: write failed with %s after %d MiB", errnoName(err), written>>20)
		}
		if written%(256<<20) == 0 {
			fmt.Fprintf(progress, "# tmpfs_fill: %d MiB written\n", written>>20)
		}
	}
	return false, fmt.Sprintf("bytes: wrote %d MiB without ENOSPC", written>>20)
}

// fillInodes reports whether file creation stopped at a full filesystem.
func fillInodes(progress io.Writer, dir string, deadline time.Time) (bool, string) {
	for n := 0; n < inodeCap; n++ {
		if n%4096 == 0 && time.Now().After(deadline) {
			return false, fmt.Sprintf("inodes: still creating after %d files at the deadline", n)
		}
		fd, err := unix.Open(filepath.Join(dir, "f"+strconv.Itoa(n)), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err != nil {
			if isErrno(err, unix.ENOSPC, unix.EDQUOT) {
				return true, fmt.Sprintf("inodes: %s after %d files", errnoName(err), n)
			}
			return true, fmt.Sprintf("inodes: create failed with %s after %d files", errnoName(err), n)
		}
		unix.Close(fd)
		if (n+1)%100_000 == 0 {
			fmt.Fprintf(progress, "# tmpfs_fill: %d files created\n", n+1)
		}
	}
	return false, fmt.Sprintf("inodes: created %d files without ENOSPC", inodeCap)
}
