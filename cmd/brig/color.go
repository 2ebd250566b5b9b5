package main

// Colour and width, an addendum to the output rules in output.go:
//
//   - brig colours its own output only when the stream it writes is a
//     terminal, and never when NO_COLOR is set to anything
//     (https://no-color.org) or TERM is "dumb". Colour only stresses what
//     the words already say: nothing is told by colour alone.
//   - Tables and narration fit the terminal: its width when the stream is
//     one, otherwise $COLUMNS, otherwise 80 columns.

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// defaultWidth is the width of output that is not going to a terminal.
const defaultWidth = 80

// palette paints text for one stream; the zero palette paints nothing.
type palette struct{ on bool }

// paletteFor returns the palette the rules above allow for w.
func paletteFor(w io.Writer) palette {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return palette{}
	}
	_, tty := terminalFd(w)
	return palette{on: tty}
}

func (p palette) paint(sgr, s string) string {
	if !p.on || s == "" {
		return s
	}
	return "\x1b[" + sgr + "m" + s + "\x1b[0m"
}

func (p palette) bold(s string) string   { return p.paint("1", s) }
func (p palette) dim(s string) string    { return p.paint("2", s) }
func (p palette) green(s string) string  { return p.paint("32", s) }
func (p palette) red(s string) string    { return p.paint("31", s) }
func (p palette) yellow(s string) string { return p.paint("33", s) }

// terminalFd returns w's file descriptor and whether it is a terminal.
func terminalFd(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return -1, false
	}
	fd := int(f.Fd())
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return fd, err == nil
}

// widthFor returns how many columns output to w may use.
func widthFor(w io.Writer) int {
	if fd, tty := terminalFd(w); tty {
		if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil && ws.Col >= 40 {
			return int(ws.Col)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 40 {
		return n
	}
	return defaultWidth
}

// clip shortens s to at most width runes, marking the cut with "...".
func clip(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	if width <= 3 {
		return string(r[:width])
	}
	return string(r[:width-3]) + "..."
}
