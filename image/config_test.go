package image

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestResolveUser(t *testing.T) {
	root := writeFiles(t, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000:app:/home/app:/bin/sh\nsvc:x:999:998::/var/svc:/sbin/nologin\n",
		"etc/group":  "root:x:0:\nstaff:x:50:app\nwheel:x:10:svc,app\napp:x:1000:app\n",
	})
	for _, tc := range []struct {
		user string
		want User
		ok   bool
	}{
		{"", User{}, false},
		{"root", User{}, false},
		{"0:0", User{}, false},
		{"app", User{UID: 1000, GID: 1000, Groups: []uint32{50, 10}, Home: "/home/app"}, true},
		{"1000", User{UID: 1000, GID: 1000, Groups: []uint32{50, 10}, Home: "/home/app"}, true},
		{"svc", User{UID: 999, GID: 998, Groups: []uint32{10}, Home: "/var/svc"}, true},
		{"4242", User{UID: 4242}, true},
		{"app:staff", User{UID: 1000, GID: 50, Home: "/home/app"}, true},
		{"4242:777", User{UID: 4242, GID: 777}, true},
		{"0:staff", User{GID: 50, Home: "/root"}, true},
	} {
		got, ok, err := Config{User: tc.user}.ResolveUser(root)
		if err != nil || ok != tc.ok || got.UID != tc.want.UID || got.GID != tc.want.GID ||
			got.Home != tc.want.Home || !slices.Equal(got.Groups, tc.want.Groups) {
			t.Errorf("%q: got %+v ok=%v err=%v, want %+v ok=%v", tc.user, got, ok, err, tc.want, tc.ok)
		}
	}
	for _, bad := range []string{"ghost", "app:ghosts"} {
		if _, _, err := (Config{User: bad}).ResolveUser(root); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%q: err %v, want ErrUnsupported", bad, err)
		}
	}
}

// An image's /etc/passwd that is a symlink to the host's must not be
// read: names would resolve to the host's users.
func TestResolveUserStaysInTheImage(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/etc/passwd", "../../../../../../etc/passwd"} {
		p := filepath.Join(root, "etc/passwd")
		_ = os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if u, _, err := (Config{User: "daemon"}).ResolveUser(root); err == nil {
			t.Errorf("passwd -> %s: resolved daemon to %+v through the host's file", target, u)
		}
		if u, ok, err := (Config{User: "7"}).ResolveUser(root); err != nil || !ok || u.UID != 7 {
			t.Errorf("passwd -> %s: numeric user: %+v %v %v", target, u, ok, err)
		}
	}
}
