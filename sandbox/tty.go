package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// The workload's terminal is a pty created inside the sandbox (on its own
// devpts instance) whose master libcontainer hands to brig over a socket.
// brig copies between that master and its own stdio, so the host's
// terminal is never handed to the workload: no TIOCSTI injection into the
// user's shell (CVE-2017-5226).
type ttyCopier struct {
	master  console.Console
	host    console.Console // nil when brig's stdin is not a terminal
	outDone chan struct{}
	once    sync.Once
}

func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-parent"), os.NewFile(uintptr(fds[1]), "console-child"), nil
}

// recvFD receives one file descriptor sent with SCM_RIGHTS.
func recvFD(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("no terminal received from the sandbox")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("no terminal received from the sandbox")
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

func newTTYCopier(sock *os.File, in io.Reader, out io.Writer) (*ttyCopier, error) {
	f, err := recvFD(sock)
	if err != nil {
		return nil, err
	}
	master, err := console.ConsoleFromFile(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &ttyCopier{master: master, outDone: make(chan struct{})}
	if inFile, ok := in.(*os.File); ok {
		if host, err := console.ConsoleFromFile(inFile); err == nil {
			t.host = host
			_ = host.SetRaw()
			t.resize()
		}
	}
	go func() {
		_, _ = io.Copy(master, in)
	}()
	go func() {
		defer close(t.outDone)
		_, _ = io.Copy(out, master) // ends with EIO once the sandbox is gone
	}()
	return t, nil
}

// resize copies the host terminal's size to the workload's (SIGWINCH).
func (t *ttyCopier) resize() {
	if t.host != nil {
		_ = t.master.ResizeFrom(t.host)
	}
}

// finish drains the workload's output and restores the host terminal.
func (t *ttyCopier) finish() {
	t.once.Do(func() {
		<-t.outDone
		_ = t.master.Close()
		if t.host != nil {
			_ = t.host.Reset()
		}
	})
}
