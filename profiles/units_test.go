package profiles

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"512", 512},
		{"512B", 512},
		{"512K", 512 << 10},
		{"512k", 512 << 10},
		{"512M", 512 << 20},
		{"512MB", 512 << 20},
		{"512mb", 512 << 20},
		{"64MiB", 64 << 20},
		{"64Mi", 64 << 20},
		{"1G", 1 << 30},
		{"2GiB", 2 << 30},
		{"1.5G", 3 << 29},
		{"0.1K", 102}, // rounded down to whole bytes
		{"1T", 1 << 40},
		{"2P", 2 << 50},
		{" 512 M ", 512 << 20},
		{"8191P", 8191 << 50},
	}
	for _, tc := range good {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	bad := []string{"", "12XB", "-1", "-512M", "M", "1.5.5G", "1e9", "0x10", "9000P", "99999999999999999999", "512 MB extra", "1iB", ".5G"}
	for _, in := range bad {
		_, err := ParseSize(in)
		if err == nil {
			t.Errorf("ParseSize(%q) succeeded, want an error", in)
			continue
		}
		if !errors.Is(err, ErrBadValue) {
			t.Errorf("ParseSize(%q) error %v does not wrap ErrBadValue", in, err)
		}
		if in != "9000P" && in != "99999999999999999999" && !strings.Contains(err.Error(), "512M") {
			t.Errorf("ParseSize(%q) error %q does not name the accepted forms", in, err)
		}
	}
}

func TestSizeText(t *testing.T) {
	for _, tc := range []struct {
		n    Size
		want string
	}{
		{0, "0"}, {1000, "1000"}, {1024, "1K"}, {512 * MiB, "512M"}, {3 * GiB / 2, "1536M"},
		{2 * GiB, "2G"}, {TiB, "1T"}, {3 * PiB, "3P"}, {1025, "1025"},
	} {
		b, err := tc.n.MarshalText()
		if err != nil || string(b) != tc.want {
			t.Errorf("Size(%d).MarshalText() = %q, %v; want %q", tc.n, b, err, tc.want)
		}
		var back Size
		if err := back.UnmarshalText(b); err != nil || back != tc.n {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", b, back, err, tc.n)
		}
	}
}

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {time.Hour, "1h"}, {90 * time.Minute, "1h30m"}, {90 * time.Second, "1m30s"},
		{time.Minute, "1m"}, {30 * time.Second, "30s"}, {1500 * time.Millisecond, "1.5s"},
		{time.Hour + time.Second, "1h0m1s"},
	} {
		b, _ := Duration(tc.d).MarshalText()
		if string(b) != tc.want {
			t.Errorf("Duration(%v).MarshalText() = %q; want %q", tc.d, b, tc.want)
		}
		var back Duration
		if err := back.UnmarshalText(b); err != nil || time.Duration(back) != tc.d {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, tc.d)
		}
	}
	for _, in := range []string{"", "5", "1x", "-1s", "1 hour"} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); !errors.Is(err, ErrBadValue) {
			t.Errorf("Duration.UnmarshalText(%q) = %v; want ErrBadValue", in, err)
		}
	}
	if d, err := ParseDuration("0"); err != nil || d != 0 {
		t.Errorf(`ParseDuration("0") = %v, %v`, d, err)
	}
}

func TestParseCPUs(t *testing.T) {
	for in, want := range map[string]float64{"0": 0, "1": 1, "1.5": 1.5, "0.01": 0.01, "1024": 1024, " 2 ": 2} {
		if got, err := ParseCPUs(in); err != nil || got != want {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "0.001", "1025", "NaN", "Inf", "1,5"} {
		if _, err := ParseCPUs(in); !errors.Is(err, ErrBadValue) {
			t.Errorf("ParseCPUs(%q) = %v; want ErrBadValue", in, err)
		}
	}
}

func TestIoctlNumber(t *testing.T) {
	if n, ok := IoctlNumber("TIOCSTI"); !ok || n != 0x5412 {
		t.Errorf("IoctlNumber(TIOCSTI) = %#x, %v", n, ok)
	}
	if n, ok := IoctlNumber("TIOCLINUX"); !ok || n != 0x541C {
		t.Errorf("IoctlNumber(TIOCLINUX) = %#x, %v", n, ok)
	}
	if _, ok := IoctlNumber("TIOCSWINSZ"); ok {
		t.Error("IoctlNumber(TIOCSWINSZ) is known; the table should hold only deniable requests")
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"pidz", "pids", 1}, {"pdis", "pids", 1}, {"strcit", "strict", 1}, {"", "abc", 3},
		{"memroy", "memory", 1}, {"kitten", "sitting", 3}, {"same", "same", 0},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d; want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
