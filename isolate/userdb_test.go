package isolate

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// userRootfs makes a root filesystem with just the given etc files.
func userRootfs(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLookupUser(t *testing.T) {
	root := userRootfs(t, map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n# alice:x:1:1::/:/bin/sh\nbroken:x:no:1::/:/bin/sh\n" +
			"alice:x:1500:1600:Alice:/home/alice:/bin/sh\nbob:x:1501:1501::/home/bob:/bin/sh\n",
		"etc/group": "root:x:0:\nwheel:x:10:bob,alice\nstaff:x:1600:alice\naudio:x:29:alice\nbob:x:1501:\n",
	})
	for _, c := range []struct {
		spec string
		want specs.User
	}{
		{"1000", specs.User{UID: 1000, GID: 1000}},
		{"1000:5", specs.User{UID: 1000, GID: 5}},
		{"alice", specs.User{UID: 1500, GID: 1600, AdditionalGids: []uint32{10, 29}}}, // not staff: she runs as it
		// A group named runs as; her memberships stay, staff too (it lists her).
		{"alice:audio", specs.User{UID: 1500, GID: 29, AdditionalGids: []uint32{10, 1600}}},
		{"alice:root", specs.User{UID: 1500, GID: 0, AdditionalGids: []uint32{10, 1600, 29}}},
		{"bob:7", specs.User{UID: 1501, GID: 7, AdditionalGids: []uint32{10}}},
		{"1500:wheel", specs.User{UID: 1500, GID: 10}},
	} {
		got, err := LookupUser(root, c.spec)
		if err != nil || got.UID != c.want.UID || got.GID != c.want.GID || !slices.Equal(got.AdditionalGids, c.want.AdditionalGids) {
			t.Errorf("LookupUser(%q) = %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
	for spec, want := range map[string]string{
		"carol":       `no user "carol" in ` + root + "/etc/passwd",
		"broken":      `no user "broken"`, // its uid is not a number
		"alice:nogrp": `no group "nogrp" in ` + root + "/etc/group",
	} {
		if _, err := LookupUser(root, spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LookupUser(%q): %v, want an error with %q", spec, err, want)
		}
	}
}

// The files are the image's: an absolute symlink resolves inside the rootfs, never on the
// host, and a fifo is not read.
func TestLookupUserStaysInTheRootfs(t *testing.T) {
	root := userRootfs(t, map[string]string{"etc/passwd.real": "dave:x:1700:1700::/:/bin/sh\n"})
	// On the host, /contain-no-such-dir/passwd does not exist: only inside the rootfs.
	if err := os.MkdirAll(filepath.Join(root, "contain-no-such-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "etc/passwd.real"), filepath.Join(root, "contain-no-such-dir/passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/contain-no-such-dir/passwd", filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if u, err := LookupUser(root, "dave"); err != nil || u.UID != 1700 {
		t.Errorf("through an absolute symlink: %+v, %v", u, err)
	}
	fifo := userRootfs(t, nil)
	if err := unix.Mkfifo(filepath.Join(fifo, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LookupUser(fifo, "dave"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a fifo for passwd: %v", err)
	}
}

// Not through a magic link (/proc/self/root/... leads out of any root), and not a file of
// procfs (the kernel's, /proc/kmsg among them): both are refused before anything is read.
func TestUserDBRefusesMagicLinksAndProcfs(t *testing.T) {
	host := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(host, []byte("eve:x:1800:1800::/:/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := userRootfs(t, nil)
	if err := os.Symlink("/proc/self/root"+host, filepath.Join(root, "etc/passwd")); err != nil {
		t.Fatal(err)
	}
	if u, err := LookupUser(root, "eve"); err == nil {
		t.Errorf("etc/passwd leading out of the rootfs: %+v", u)
	}
	if home, ok := passwdHome("/proc/self/root"+host, 1800); ok {
		t.Errorf("passwdHome through a magic link: %q", home)
	}
	slash, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(slash)
	if _, err := readUserDB(slash, "/proc/self/root"+host); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("through a magic link: %v, want ELOOP (RESOLVE_NO_MAGICLINKS)", err)
	}
	// The host's own /proc, as the container's is: only a look (O_PATH), never a read.
	if _, err := readUserDB(slash, "/proc/version"); err == nil || !strings.Contains(err.Error(), "not a regular file of an ordinary filesystem") {
		t.Errorf("a procfs file: %v, want it refused", err)
	}
}

// readUpTo reads a file to its end, and no further than its limit.
func TestReadUpTo(t *testing.T) {
	content := strings.Repeat("0123456789", 1000) // more than one read's buffer
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, 3, 4096, 5000, len(content), len(content) + 1} {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readUpTo(fd, "passwd", limit)
		unix.Close(fd)
		if want := content[:min(limit, len(content))]; err != nil || got != want {
			t.Errorf("limit %d: read %d bytes, %v; want %d", limit, len(got), err, len(want))
		}
	}
}

// readFileUpTo reads a kernel file whole (its size says 0 or 4096, not what it holds), and
// names the path when it cannot open it.
func TestReadFileUpTo(t *testing.T) {
	got, err := readFileUpTo("/proc/self/stat", 4096)
	if err != nil || !strings.Contains(got, ") ") || !strings.HasSuffix(got, "\n") {
		t.Errorf("/proc/self/stat: %q, %v", got, err)
	}
	missing := filepath.Join(t.TempDir(), "none")
	if _, err := readFileUpTo(missing, 64); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want an error that names %s and is fs.ErrNotExist", err, missing)
	}
}
